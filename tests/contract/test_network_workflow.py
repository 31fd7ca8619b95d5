"""Contract: a tenant network end to end, as a broker builds it (mini-openstack NOTES.md, "What a broker does")."""

import ipaddress
import time

import pytest
from novaclient import exceptions as nova_exc


def floating_entries(server):
    """The floating addresses Nova lists for a server."""
    return [a["addr"] for entries in server.addresses.values() for a in entries if a["OS-EXT-IPS:type"] == "floating"]


def test_network_router_port_boot_floating_ip_and_teardown(netfresh):
    c = netfresh
    timings = {}

    def timed(step, fn, *args, **kwargs):
        t0 = time.monotonic()
        result = fn(*args, **kwargs)
        timings[step] = round(time.monotonic() - t0, 2)
        return result

    pub = c.public_network()
    net, sub = timed("network+subnet", c.make_network, "wf")
    assert (net["status"], net["router:external"], net["shared"], net["mtu"]) == ("ACTIVE", False, False, 1442)
    assert (sub["cidr"], sub["gateway_ip"], sub["ip_version"], sub["enable_dhcp"]) == ("10.20.0.0/24", "10.20.0.1",
                                                                                       4, True)
    assert sub["allocation_pools"] == [{"start": "10.20.0.2", "end": "10.20.0.254"}]
    assert c.neutron.show_network(net["id"])["network"]["subnets"] == [sub["id"]]

    router = timed("router+interface", c.make_router, "wf", sub["id"])
    gateway = router["external_gateway_info"]
    assert router["status"] == "ACTIVE" and gateway["network_id"] == pub["id"] and gateway["enable_snat"] is True
    gateway_ip = ipaddress.ip_address(gateway["external_fixed_ips"][0]["ip_address"])
    assert ipaddress.ip_address("203.0.113.10") <= gateway_ip <= ipaddress.ip_address("203.0.113.250")
    interface = c.neutron.list_ports(device_id=router["id"], device_owner="network:router_interface")["ports"]
    assert [(p["fixed_ips"][0]["ip_address"], p["status"]) for p in interface] == [("10.20.0.1", "DOWN")]
    assert not c.neutron.list_ports(device_owner="network:router_gateway")["ports"], "the gateway port is nobody's"

    sg = c.neutron.create_security_group({"security_group": {"name": f"{c.prefix}-sg", "description": "ssh"}})
    sg = sg["security_group"]
    c.track("security_group", sg["id"])
    assert {(r["direction"], r["ethertype"]) for r in sg["security_group_rules"]} == {("egress", "IPv4"),
                                                                                     ("egress", "IPv6")}
    rule = c.neutron.create_security_group_rule({"security_group_rule": {
        "security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
        "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}})["security_group_rule"]
    assert (rule["protocol"], rule["port_range_min"], rule["normalized_cidr"]) == ("tcp", 22, "0.0.0.0/0")

    port = timed("port", c.make_port, net["id"], security_groups=[sg["id"]], name=f"{c.prefix}-port")
    fixed = port["fixed_ips"][0]["ip_address"]
    assert port["status"] == "DOWN" and port["device_id"] == "" and port["security_groups"] == [sg["id"]]
    assert port["fixed_ips"][0]["subnet_id"] == sub["id"] and ipaddress.ip_address(fixed) in ipaddress.ip_network(
        "10.20.0.0/24")
    assert port["mac_address"].startswith("fa:16:3e:")

    t0 = time.monotonic()
    srv, failed = c.boot_on([{"port-id": port["id"]}], suffix="vm")
    timings["boot"] = round(time.monotonic() - t0, 2)
    assert not failed or not c.sim, f"the simulator has no transient build failures: {failed}"
    assert srv.addresses == {net["name"]: [{"version": 4, "addr": fixed, "OS-EXT-IPS:type": "fixed",
                                            "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]}]}
    assert srv.security_groups == [{"name": sg["name"]}]
    bound = c.neutron.show_port(port["id"])["port"]
    assert (bound["device_id"], bound["device_owner"], bound["status"]) == (srv.id, "compute:nova", "DOWN"), \
        "ports stay DOWN: wait for the server, never for the port"

    fip = timed("allocate floating IP", c.make_floatingip)
    assert (fip["status"], fip["port_id"], fip["router_id"], fip["floating_network_id"]) == ("DOWN", None, None,
                                                                                           pub["id"])
    address = fip["floating_ip_address"]
    assert ipaddress.ip_address("203.0.113.10") <= ipaddress.ip_address(address) <= ipaddress.ip_address(
        "203.0.113.250")

    t0 = time.monotonic()
    assoc = c.neutron.update_floatingip(fip["id"], {"floatingip": {"port_id": port["id"]}})["floatingip"]
    assert (assoc["port_id"], assoc["fixed_ip_address"], assoc["router_id"]) == (port["id"], fixed, router["id"])
    assert assoc["port_details"]["device_id"] == srv.id
    srv, _ = c.wait_for(lambda: c.get_server(srv.id), lambda s: floating_entries(s), describe=floating_entries)
    timings["floating IP in addresses"] = round(time.monotonic() - t0, 2)
    assert srv.addresses[net["name"]][-1] == {"version": 4, "addr": address, "OS-EXT-IPS:type": "floating",
                                              "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]}
    c.wait_for(lambda: c.neutron.show_floatingip(fip["id"])["floatingip"], lambda f: f["status"] == "ACTIVE",
               describe=lambda f: f["status"])

    t0 = time.monotonic()
    gone = c.neutron.update_floatingip(fip["id"], {"floatingip": {"port_id": None}})["floatingip"]
    assert (gone["port_id"], gone["fixed_ip_address"], gone["router_id"]) == (None, None, None)
    c.wait_for(lambda: c.get_server(srv.id), lambda s: not floating_entries(s), describe=floating_entries)
    timings["floating IP gone from addresses"] = round(time.monotonic() - t0, 2)
    c.wait_for(lambda: c.neutron.show_floatingip(fip["id"])["floatingip"], lambda f: f["status"] == "DOWN",
               describe=lambda f: f["status"])

    timed("release", c.neutron.delete_floatingip, fip["id"])
    c.forget("floatingip", fip["id"])
    assert not c.neutron.list_floatingips(floating_ip_address=address)["floatingips"]

    t0 = time.monotonic()
    c.nova.servers.delete(srv.id)
    assert c.wait_gone(lambda: c.nova.servers.get(srv.id))[-1] == "GONE"
    timings["server delete"] = round(time.monotonic() - t0, 2)
    c.servers.remove(srv.id)
    kept = c.neutron.show_port(port["id"])["port"]
    assert (kept["device_id"], kept["device_owner"], kept["status"]) == ("", "", "DOWN"), "a pre-made port survives"
    assert kept["fixed_ips"][0]["ip_address"] == fixed

    t0 = time.monotonic()
    errors = c.cleanup_network()
    timings["teardown"] = round(time.monotonic() - t0, 2)
    assert not errors
    assert not c.neutron.list_networks(name=net["name"])["networks"]
    assert not c.neutron.list_routers(name=router["name"])["routers"]
    assert not c.neutron.list_ports(network_id=net["id"])["ports"]
    print(f"[{c.name}] Neutron timings (s): {timings}")


def test_boot_on_a_network_makes_a_port_that_goes_with_the_server(netfresh):
    c = netfresh
    net, sub = c.make_network("auto-port", cidr="10.21.0.0/24")
    srv, failed = c.boot_on([{"net-id": net["id"]}])
    assert not failed or not c.sim, f"the simulator has no transient build failures: {failed}"
    ports = c.neutron.list_ports(device_id=srv.id)["ports"]
    assert len(ports) == 1 and ports[0]["device_owner"] == "compute:nova" and ports[0]["network_id"] == net["id"]
    default = c.neutron.list_security_groups(name="default")["security_groups"][0]
    assert ports[0]["security_groups"] == [default["id"]]
    assert srv.addresses[net["name"]][0]["addr"] == ports[0]["fixed_ips"][0]["ip_address"]
    c.nova.servers.delete(srv.id)
    c.wait_gone(lambda: c.nova.servers.get(srv.id))
    c.servers.remove(srv.id)
    c.wait_for(lambda: c.neutron.list_ports(network_id=net["id"])["ports"], lambda ports: not ports,
               describe=len)
    if failed:
        print(f"[{c.name}] transient build failures retried: {failed}")


def test_auto_networks_need_exactly_one_tenant_network(netfresh):
    c = netfresh
    mine = [n for n in c.neutron.list_networks(project_id=c.project_id)["networks"] if not n["router:external"]]
    if mine:
        pytest.skip(f"the tenant already has networks of its own: {[n['name'] for n in mine]}")
    with pytest.raises(nova_exc.BadRequest) as err:
        c.boot_on("auto", attempts=1)
    assert f"Unable to automatically allocate a network for project {c.project_id}" in str(err.value)
    net, _ = c.make_network("auto-one", cidr="10.26.0.0/24")
    srv, failed = c.boot_on("auto")
    assert not failed or not c.sim, f"the simulator has no transient build failures: {failed}"
    assert list(srv.addresses) == [net["name"]]
    c.make_network("auto-two", cidr="10.27.0.0/24")
    with pytest.raises(nova_exc.Conflict) as err:
        c.boot_on("auto", attempts=1)
    assert "Multiple possible networks found, use a Network ID to be more specific." in str(err.value)
