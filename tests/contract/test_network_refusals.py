"""Contract: what Neutron (and Nova, for networks) refuses, with the measured status codes, types and texts."""

import pytest
from neutronclient.common import exceptions as neutron_exc
from novaclient import exceptions as nova_exc


def first_line(err):
    """The cloud's message without the request ids neutronclient appends."""
    return str(err.value).split("\n")[0]


@pytest.fixture(scope="module")
def tenant(cloud):
    """A network with subnet, router (gateway on public, interface), a security group and a port on it."""
    net, sub = cloud.make_network("ref")
    router = cloud.make_router("ref", sub["id"])
    sg = cloud.neutron.create_security_group({"security_group": {"name": f"{cloud.prefix}-ref-sg"}})["security_group"]
    cloud.track("security_group", sg["id"])
    port = cloud.make_port(net["id"], security_groups=[sg["id"]])
    interface = cloud.neutron.list_ports(device_id=router["id"], device_owner="network:router_interface")["ports"][0]
    yield {"net": net, "sub": sub, "router": router, "sg": sg, "port": port, "interface": interface}
    errors = cloud.cleanup() + cloud.cleanup_network()
    assert not errors, f"cleanup left resources behind: {errors}"


@pytest.fixture
def admin(cloud):
    """Neutron as admin, or skip."""
    client = cloud.admin_neutron()
    if client is None:
        pytest.skip("needs OS_ADMIN_USERNAME / OS_ADMIN_PASSWORD / OS_ADMIN_PROJECT_NAME")
    return client


def test_overlapping_subnet_on_the_same_network_is_400(cloud, tenant):
    with pytest.raises(neutron_exc.BadRequest) as err:
        cloud.neutron.create_subnet({"subnet": {"network_id": tenant["net"]["id"], "ip_version": 4,
                                                "cidr": "10.20.0.128/25"}})
    assert first_line(err) == ("Invalid input for operation: Requested subnet with cidr: 10.20.0.128/25 for network: "
                               f"{tenant['net']['id']} overlaps with another subnet.")


def test_bad_cidr_is_400(cloud, tenant):
    with pytest.raises(neutron_exc.BadRequest) as err:
        cloud.neutron.create_subnet({"subnet": {"network_id": tenant["net"]["id"], "ip_version": 4, "cidr": "bogus"}})
    assert first_line(err) == "Invalid input for operation: bogus is not in a CIDR format."


def test_second_interface_on_the_same_subnet_is_400(cloud, tenant):
    with pytest.raises(neutron_exc.BadRequest) as err:
        cloud.neutron.add_interface_router(tenant["router"]["id"], {"subnet_id": tenant["sub"]["id"]})
    assert first_line(err) == f"Bad router request: Router already has a port on subnet {tenant['sub']['id']}."


def test_interface_on_an_overlapping_subnet_is_400(cloud, tenant):
    other, other_sub = cloud.make_network("ref-overlap")
    with pytest.raises(neutron_exc.BadRequest) as err:
        cloud.neutron.add_interface_router(tenant["router"]["id"], {"subnet_id": other_sub["id"]})
    assert first_line(err) == (f"Bad router request: Cidr 10.20.0.0/24 of subnet {other_sub['id']} overlaps with "
                               f"cidr 10.20.0.0/24 of subnet {tenant['sub']['id']}.")


def test_router_with_interfaces_is_not_deleted(cloud, tenant):
    with pytest.raises(neutron_exc.Conflict) as err:
        cloud.neutron.delete_router(tenant["router"]["id"])
    assert first_line(err) == (f"Router {tenant['router']['id']} has ports still attached: "
                               f"{tenant['interface']['id']}")


def test_network_with_ports_is_not_deleted(cloud, tenant):
    with pytest.raises(neutron_exc.NetworkInUseClient) as err:
        cloud.neutron.delete_network(tenant["net"]["id"])
    assert err.value.status_code == 409
    head, ids = first_line(err).split(" id for these ports is: ")
    assert head == (f"Unable to complete operation on network {tenant['net']['id']}. There are one or more ports "
                    "still in use on the network,")
    assert set(ids.rstrip(".").split(",")) == {tenant["port"]["id"], tenant["interface"]["id"]}


def test_subnet_with_addresses_in_use_is_not_deleted(cloud, tenant):
    with pytest.raises(neutron_exc.Conflict) as err:
        cloud.neutron.delete_subnet(tenant["sub"]["id"])
    assert first_line(err) == (f"Unable to complete operation on subnet {tenant['sub']['id']}: One or more ports have "
                               "an IP allocation from this subnet.")


def test_router_interface_port_is_not_deleted_directly(cloud, tenant):
    with pytest.raises(neutron_exc.Conflict) as err:
        cloud.neutron.delete_port(tenant["interface"]["id"])
    assert first_line(err) == (f"Port {tenant['interface']['id']} cannot be deleted directly via the port API: has "
                               "device owner network:router_interface.")


def test_security_group_in_use_is_not_deleted(cloud, tenant):
    with pytest.raises(neutron_exc.Conflict) as err:
        cloud.neutron.delete_security_group(tenant["sg"]["id"])
    assert first_line(err) == f"Security Group {tenant['sg']['id']} in use."


def test_default_security_group_is_not_deleted(cloud, tenant):
    default = cloud.neutron.list_security_groups(name="default")["security_groups"][0]
    with pytest.raises(neutron_exc.Conflict) as err:
        cloud.neutron.delete_security_group(default["id"])
    assert first_line(err) == "Insufficient rights for removing default security group."


def test_duplicate_rule_is_409_naming_the_existing_one(cloud, tenant):
    body = {"security_group_rule": {"security_group_id": tenant["sg"]["id"], "direction": "ingress",
                                    "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22,
                                    "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}}
    rule = cloud.neutron.create_security_group_rule(body)["security_group_rule"]
    with pytest.raises(neutron_exc.Conflict) as err:
        cloud.neutron.create_security_group_rule(body)
    assert first_line(err) == f"Security group rule already exists. Rule id is {rule['id']}."
    cloud.neutron.delete_security_group_rule(rule["id"])


def test_bad_rules_are_400(cloud, tenant):
    base = {"security_group_id": tenant["sg"]["id"], "ethertype": "IPv4"}
    with pytest.raises(neutron_exc.BadRequest) as err:
        cloud.neutron.create_security_group_rule({"security_group_rule": {
            **base, "direction": "ingress", "protocol": "tcp", "port_range_min": 30, "port_range_max": 20}})
    assert first_line(err) == "For TCP/UDP protocols, port_range_min must be <= port_range_max"
    with pytest.raises(neutron_exc.BadRequest) as err:
        cloud.neutron.create_security_group_rule({"security_group_rule": {**base, "direction": "sideways"}})
    assert first_line(err) == "Invalid input for direction. Reason: sideways is not in valid_values."


def test_taken_fixed_ip_is_409(cloud, tenant):
    taken = tenant["port"]["fixed_ips"][0]["ip_address"]
    with pytest.raises(neutron_exc.IpAddressAlreadyAllocatedClient) as err:
        cloud.make_port(tenant["net"]["id"], fixed_ips=[{"ip_address": taken}])
    assert err.value.status_code == 409
    assert first_line(err) == f"IP address {taken} already allocated in subnet {tenant['sub']['id']}"


def test_gateway_on_a_tenant_network_is_400(cloud, tenant):
    with pytest.raises(neutron_exc.BadRequest) as err:
        cloud.neutron.create_router({"router": {"name": f"{cloud.prefix}-bad-gw",
                                                "external_gateway_info": {"network_id": tenant["net"]["id"]}}})
    assert first_line(err) == f"Bad router request: Network {tenant['net']['id']} is not an external network."


def test_floating_ip_on_a_tenant_network_is_400(cloud, tenant):
    with pytest.raises(neutron_exc.BadRequest) as err:
        cloud.make_floatingip(tenant["net"]["id"])
    assert first_line(err) == (f"Bad floatingip request: Network {tenant['net']['id']} is not a valid external "
                               "network.")


def test_floating_ip_without_a_router_path_is_404(cloud, tenant):
    lonely, lonely_sub = cloud.make_network("ref-lonely", cidr="10.22.0.0/24")
    port = cloud.make_port(lonely["id"])
    pub = cloud.public_network()
    expected = (f"External network {pub['id']} is not reachable from subnet {lonely_sub['id']}.  Therefore, cannot "
                f"associate Port {port['id']} with a Floating IP.")
    with pytest.raises(neutron_exc.NotFound) as err:
        cloud.make_floatingip(port_id=port["id"])
    assert err.value.status_code == 404 and first_line(err) == expected
    fip = cloud.make_floatingip()
    with pytest.raises(neutron_exc.NotFound) as err:
        cloud.neutron.update_floatingip(fip["id"], {"floatingip": {"port_id": port["id"]}})
    assert err.value.status_code == 404 and first_line(err) == expected
    assert cloud.neutron.show_floatingip(fip["id"])["floatingip"]["port_id"] is None


def test_second_floating_ip_on_a_fixed_ip_is_409_and_interface_is_held(cloud, tenant):
    port = cloud.make_port(tenant["net"]["id"])
    fixed = port["fixed_ips"][0]["ip_address"]
    first = cloud.make_floatingip(port_id=port["id"])
    assert (first["port_id"], first["fixed_ip_address"], first["router_id"]) == (port["id"], fixed,
                                                                               tenant["router"]["id"])
    second = cloud.make_floatingip()
    with pytest.raises(neutron_exc.Conflict) as err:
        cloud.neutron.update_floatingip(second["id"], {"floatingip": {"port_id": port["id"]}})
    assert first_line(err) == (f"Cannot associate floating IP {second['floating_ip_address']} ({second['id']}) with "
                               f"port {port['id']} using fixed IP {fixed}, as that fixed IP already has a floating "
                               f"IP on external network {first['floating_network_id']}.")
    with pytest.raises(neutron_exc.Conflict) as err:
        cloud.neutron.remove_interface_router(tenant["router"]["id"], {"subnet_id": tenant["sub"]["id"]})
    assert first_line(err) == (f"Router interface for subnet {tenant['sub']['id']} on router "
                               f"{tenant['router']['id']} cannot be deleted, as it is required by one or more "
                               "floating IPs.")
    cloud.neutron.delete_port(port["id"])
    cloud.forget("port", port["id"])
    loose = cloud.neutron.show_floatingip(first["id"])["floatingip"]
    assert (loose["port_id"], loose["fixed_ip_address"]) == (None, None), "deleting the port frees its floating IP"


def test_boot_on_the_external_network_is_accepted_then_errors(cloud, tenant):
    pub = cloud.public_network()
    bdm = [{"uuid": cloud.image().id, "source_type": "image", "destination_type": "volume", "volume_size": 1,
            "boot_index": 0, "delete_on_termination": True}]
    srv = cloud.nova.servers.create(f"{cloud.prefix}-on-public", image=None, flavor=cloud.flavor("m1.tiny").id,
                                    nics=[{"net-id": pub["id"]}], block_device_mapping_v2=bdm)
    cloud.servers.append(srv.id)
    srv, _ = cloud.wait_for(lambda: cloud.get_server(srv.id), lambda s: s.status in ("ERROR", "ACTIVE"))
    assert srv.status == "ERROR"
    assert srv.fault["message"] == (f"Build of instance {srv.id} aborted: Failed to allocate the network(s), not "
                                    "rescheduling.")


def test_boot_on_an_unknown_port_or_network_is_400(cloud, tenant):
    missing = "0f0e0d0c-0b0a-4909-8807-060504030201"
    with pytest.raises(nova_exc.BadRequest) as err:
        cloud.boot_on([{"port-id": missing}], attempts=1)
    assert f"Port id {missing} could not be found." in str(err.value)
    with pytest.raises(nova_exc.BadRequest) as err:
        cloud.boot_on([{"net-id": missing}], attempts=1)
    assert f"Network {missing} could not be found." in str(err.value)


def test_removing_an_absent_interface_is_404(cloud, tenant):
    other, other_sub = cloud.make_network("ref-absent", cidr="10.24.0.0/24")
    with pytest.raises(neutron_exc.NotFound) as err:
        cloud.neutron.remove_interface_router(tenant["router"]["id"], {"subnet_id": other_sub["id"]})
    assert first_line(err) == f"Router {tenant['router']['id']} has no interface on subnet {other_sub['id']}"


def test_fixed_ip_outside_the_subnets_is_400(cloud, tenant):
    with pytest.raises(neutron_exc.BadRequest) as err:
        cloud.make_port(tenant["net"]["id"], fixed_ips=[{"ip_address": "192.0.2.5"}])
    assert first_line(err) == ("IP address 192.0.2.5 is not a valid IP for any of the subnets on the specified "
                               "network.")


def test_port_range_without_protocol_and_unknown_protocol_are_400(cloud, tenant):
    base = {"security_group_id": tenant["sg"]["id"], "direction": "ingress"}
    with pytest.raises(neutron_exc.BadRequest) as err:
        cloud.neutron.create_security_group_rule({"security_group_rule": {**base, "port_range_min": 22,
                                                                          "port_range_max": 22}})
    assert first_line(err) == "Must also specify protocol if port range is given."
    with pytest.raises(neutron_exc.BadRequest) as err:
        cloud.neutron.create_security_group_rule({"security_group_rule": {**base, "protocol": "carrier-pigeon"}})
    assert first_line(err) == (
        "Security group rule protocol carrier-pigeon not supported. Only protocol values [None, 'ah', 'dccp', 'egp', "
        "'esp', 'gre', 'hopopt', 'icmp', 'igmp', 'ip', 'ipip', 'ipv6-encap', 'ipv6-frag', 'ipv6-icmp', 'icmpv6', "
        "'ipv6-nonxt', 'ipv6-opts', 'ipv6-route', 'ospf', 'pgm', 'rsvp', 'sctp', 'tcp', 'udp', 'udplite', 'vrrp'] and "
        "integer representations [0 to 255] are supported.")


def test_second_default_group_is_refused(cloud, tenant):
    with pytest.raises(neutron_exc.NeutronClientException) as err:
        cloud.neutron.create_security_group({"security_group": {"name": "default"}})
    assert (err.value.status_code, first_line(err)) == (409, "Default security group already exists.")


def test_tenant_may_not_pick_a_floating_address(cloud, tenant):
    with pytest.raises(neutron_exc.Forbidden) as err:
        cloud.make_floatingip(floating_ip_address="203.0.113.200")
    assert first_line(err) == ("(rule:create_floatingip and rule:create_floatingip:floating_ip_address) is "
                               "disallowed by policy")


def test_tenant_may_not_make_external_networks_or_ports_on_public(cloud, tenant):
    with pytest.raises(neutron_exc.Forbidden) as err:
        cloud.neutron.create_network({"network": {"name": f"{cloud.prefix}-ext", "router:external": True}})
    assert first_line(err) == ("(rule:create_network and rule:create_network:router:external) is disallowed by "
                               "policy")
    with pytest.raises(neutron_exc.NeutronClientException) as err:
        cloud.make_port(cloud.public_network()["id"])
    assert (err.value.status_code, first_line(err)) == (
        403, f"Tenant {cloud.project_id} not allowed to create port on this network")


def test_full_subnet_refuses_another_port_with_409(cloud, tenant):
    small, small_sub = cloud.make_network("ref-small", cidr="10.28.0.0/29")
    assert small_sub["allocation_pools"] == [{"start": "10.28.0.2", "end": "10.28.0.6"}]
    got = {cloud.make_port(small["id"])["fixed_ips"][0]["ip_address"] for _ in range(5)}
    assert got == {f"10.28.0.{i}" for i in range(2, 7)}
    with pytest.raises(neutron_exc.IpAddressGenerationFailureClient) as err:
        cloud.make_port(small["id"])
    assert (err.value.status_code, first_line(err)) == (409, f"No more IP addresses available on network "
                                                             f"{small['id']}.")
