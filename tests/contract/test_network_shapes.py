"""Contract: the exact attribute sets of Neutron's resources as a tenant sees them (measured on Neutron 21 / OVN)."""

import pytest
from neutronclient.common import exceptions as neutron_exc

COMMON = {"id", "tenant_id", "project_id", "description", "tags", "created_at", "updated_at", "revision_number"}
NETWORK = COMMON | {"name", "admin_state_up", "mtu", "status", "subnets", "shared", "availability_zone_hints",
                    "availability_zones", "ipv4_address_scope", "ipv6_address_scope", "router:external",
                    "port_security_enabled", "qos_policy_id", "is_default"}
SUBNET = COMMON | {"name", "network_id", "ip_version", "subnetpool_id", "enable_dhcp", "ipv6_ra_mode",
                   "ipv6_address_mode", "gateway_ip", "cidr", "allocation_pools", "host_routes", "dns_nameservers",
                   "service_types"}
ROUTER = COMMON | {"name", "admin_state_up", "status", "external_gateway_info", "availability_zones",
                   "availability_zone_hints", "routes"}
PORT = COMMON | {"name", "network_id", "mac_address", "admin_state_up", "status", "device_id", "device_owner",
                 "fixed_ips", "port_security_enabled", "qos_policy_id", "security_groups", "binding:vnic_type",
                 "allowed_address_pairs", "extra_dhcp_opts", "qos_network_policy_id"}
GROUP = COMMON | {"name", "stateful", "shared", "security_group_rules"}
# A rule on its own (create, show, list) has no tags, and no description unless one was given;
# inside its group it also has tags and standard_attr_id.
RULE_CREATED = (COMMON - {"tags", "description"}) | {
    "security_group_id", "ethertype", "direction", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix",
    "remote_address_group_id", "normalized_cidr", "remote_group_id"}
RULE_EMBEDDED = RULE_CREATED | {"tags", "standard_attr_id"}
FLOATINGIP = COMMON | {"floating_ip_address", "floating_network_id", "router_id", "port_id", "fixed_ip_address",
                       "status", "qos_policy_id", "port_details", "dns_domain", "dns_name", "port_forwardings"}
INTERFACE = {"id", "tenant_id", "port_id", "network_id", "subnet_id", "subnet_ids"}


def test_resource_attributes(netfresh):
    c = netfresh
    assert set(c.public_network()) == NETWORK
    net, sub = c.make_network("shape", cidr="10.23.0.0/24")
    assert set(net) == NETWORK and set(sub) == SUBNET
    # is_default belongs to external networks; a tenant network shows it only in the answer to its create.
    assert set(c.neutron.show_network(net["id"])["network"]) == NETWORK - {"is_default"}
    assert set(c.neutron.list_networks(id=net["id"])["networks"][0]) == NETWORK - {"is_default"}
    router = c.neutron.create_router({"router": {"name": f"{c.prefix}-shape", "external_gateway_info": {
        "network_id": c.public_network()["id"]}}})["router"]
    c.track("router", router["id"])
    assert set(router) == ROUTER
    assert set(router["external_gateway_info"]) == {"network_id", "external_fixed_ips", "enable_snat"}
    interface = c.neutron.add_interface_router(router["id"], {"subnet_id": sub["id"]})
    c.track("interface", (router["id"], sub["id"]))
    assert set(interface) == INTERFACE and interface["subnet_ids"] == [sub["id"]]
    group = c.neutron.create_security_group({"security_group": {"name": f"{c.prefix}-shape"}})["security_group"]
    c.track("security_group", group["id"])
    assert set(group) == GROUP and all(set(r) == RULE_EMBEDDED for r in group["security_group_rules"])
    rule = c.neutron.create_security_group_rule({"security_group_rule": {
        "security_group_id": group["id"], "direction": "ingress", "protocol": "tcp", "port_range_min": 443,
        "port_range_max": 443}})["security_group_rule"]
    assert set(rule) == RULE_CREATED and rule["ethertype"] == "IPv4" and rule["normalized_cidr"] is None
    assert set(c.neutron.show_security_group_rule(rule["id"])["security_group_rule"]) == RULE_CREATED
    listed = c.neutron.list_security_group_rules(id=rule["id"])["security_group_rules"]
    assert [set(r) for r in listed] == [RULE_CREATED]
    embedded = c.neutron.show_security_group(group["id"])["security_group"]["security_group_rules"]
    assert {frozenset(r) for r in embedded} == {frozenset(RULE_EMBEDDED)}
    port = c.make_port(net["id"])
    assert set(port) == PORT and port["security_groups"] == [
        c.neutron.list_security_groups(name="default")["security_groups"][0]["id"]], "the default group by default"
    fip = c.make_floatingip()
    assert set(fip) == FLOATINGIP and fip["port_details"] is None
    fip = c.neutron.update_floatingip(fip["id"], {"floatingip": {"port_id": port["id"]}})["floatingip"]
    assert set(fip["port_details"]) == {"name", "network_id", "mac_address", "admin_state_up", "status", "device_id",
                                        "device_owner"}


def test_tags_are_set_after_creation_and_filter_lists(netfresh):
    c = netfresh
    with pytest.raises(neutron_exc.BadRequest) as err:
        c.neutron.create_network({"network": {"name": f"{c.prefix}-tagged", "tags": ["x"]}})
    assert str(err.value).split("\n")[0] == "Attribute 'tags' not allowed in POST"
    net, sub = c.make_network("tags", cidr="10.25.0.0/24")
    assert not c.neutron.add_tag("networks", net["id"], "nodeconductor"), "201 with a null body"
    assert c.neutron.show_network(net["id"])["network"]["tags"] == ["nodeconductor"]
    assert c.neutron.replace_tag("subnets", sub["id"], {"tags": ["a", "b"]})["tags"] == ["a", "b"]
    # The shared tenant may hold other tenant networks with our tag (made by the sync): the filter lists ours,
    # and only networks that carry the tag.
    tagged = c.neutron.list_networks(tags="nodeconductor")["networks"]
    assert net["id"] in [n["id"] for n in tagged] and all("nodeconductor" in n["tags"] for n in tagged)
    assert len(tagged) < len(c.neutron.list_networks()["networks"])
    assert [s["id"] for s in c.neutron.list_subnets(tags="a,b")["subnets"]] == [sub["id"]]
    c.neutron.remove_tag("subnets", sub["id"], "a")
    with pytest.raises(neutron_exc.NotFound) as err:
        c.neutron.remove_tag("subnets", sub["id"], "a")
    assert str(err.value).split("\n")[0] == "Tag a could not be found."
