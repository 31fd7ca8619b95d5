"""The simulator's Neutron beyond the contract suite: knobs, faults, call names, state snapshots and timing."""

import pytest
import requests
from neutronclient.common import exceptions as neutron_exc
from neutronclient.v2_0 import client as neutron_client

from .helpers import clients, session, wait


def neutron(sim, **kw):
    """A neutronclient on a demo (or given) session."""
    return neutron_client.Client(session=session(sim, **kw))


def tenant_network(client, cidr="10.30.0.0/24"):
    """network + subnet + router (gateway on public) + interface; returns (net, sub, router)."""
    pub = client.list_networks(name="public")["networks"][0]
    net = client.create_network({"network": {"name": "n"}})["network"]
    sub = client.create_subnet({"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": cidr}})["subnet"]
    router = client.create_router({"router": {"name": "r", "external_gateway_info": {"network_id": pub["id"]}}})
    client.add_interface_router(router["router"]["id"], {"subnet_id": sub["id"]})
    return net, sub, router["router"]


def test_injected_fault_has_neutrons_error_shape_and_changes_nothing(cloudsim):
    client = neutron(cloudsim)
    cloudsim.fail_next("network.network_create", status=503, message="neutron is restarting")
    with pytest.raises(neutron_exc.ServiceUnavailable) as err:
        client.create_network({"network": {"name": "x"}})
    assert str(err.value).split("\n")[0] == "neutron is restarting"
    assert cloudsim.networking()["networks"] == [cloudsim.public_network()]
    resp = requests.post(cloudsim.base_url + "/network/v2.0/networks", json={"network": {}},
                         headers={"X-Auth-Token": session(cloudsim).get_token()}, timeout=5)
    assert resp.status_code == 201 and resp.json()["network"]["status"] == "ACTIVE"


def test_operation_names_are_counted(cloudsim):
    client = neutron(cloudsim)
    cloudsim.clear_call_log()
    net, sub, router = tenant_network(client)
    client.list_ports()
    counts = cloudsim.call_counts()
    assert counts["network.network_create"] == 1 and counts["network.subnet_create"] == 1
    assert counts["network.router_create"] == 1 and counts["network.router_add_interface"] == 1
    assert counts["network.port_list"] == 1


def test_quota_knob_through_handle_and_control_api(cloudsim):
    demo = cloudsim.project_id("demo")
    client = neutron(cloudsim)
    pub = cloudsim.public_network()
    cloudsim.set_quota(demo, network={"floatingip": 1})
    client.create_floatingip({"floatingip": {"floating_network_id": pub["id"]}})
    with pytest.raises(neutron_exc.OverQuotaClient):
        client.create_floatingip({"floatingip": {"floating_network_id": pub["id"]}})
    assert requests.put(f"{cloudsim.base_url}/_sim/quotas/{demo}", json={"network": {"floatingip": 2}},
                        timeout=5).status_code == 204
    assert client.create_floatingip({"floatingip": {"floating_network_id": pub["id"]}})["floatingip"]["status"] == \
        "DOWN"
    snap = requests.get(f"{cloudsim.base_url}/_sim/networking", params={"project_id": demo}, timeout=5).json()
    assert len(snap["networking"]["floatingips"]) == 2
    assert not [p for p in snap["networking"]["ports"]], "floating IP addresses are held by ports of no project"


def test_floating_ip_status_and_novas_view_lag_behind_by_the_delay(cloudsim):
    cloudsim.set_delay("floatingip_status", 0.3)
    client = neutron(cloudsim)
    nova, cinder = clients(cloudsim)
    net, sub, router = tenant_network(client)
    port = client.create_port({"port": {"network_id": net["id"]}})["port"]
    from nodeconductor.cloudsim.state import TINY_IMAGE_ID

    srv = nova.servers.create("vm", image=None, flavor="1", nics=[{"port-id": port["id"]}], block_device_mapping_v2=[
        {"uuid": TINY_IMAGE_ID, "source_type": "image", "destination_type": "volume", "volume_size": 1,
         "boot_index": 0, "delete_on_termination": True}])
    wait(lambda: nova.servers.get(srv.id), lambda s: s.status == "ACTIVE")
    pub = cloudsim.public_network()
    fip = client.create_floatingip({"floatingip": {"floating_network_id": pub["id"]}})["floatingip"]
    answer = client.update_floatingip(fip["id"], {"floatingip": {"port_id": port["id"]}})["floatingip"]
    assert answer["status"] == "DOWN", "Neutron answers with the status from before the change"
    addresses = nova.servers.get(srv.id).addresses[net["name"]]
    assert [a["OS-EXT-IPS:type"] for a in addresses] == ["fixed"], "Nova has not heard of it yet"
    wait(lambda: client.show_floatingip(fip["id"])["floatingip"], lambda f: f["status"] == "ACTIVE")
    types = [a["OS-EXT-IPS:type"] for a in nova.servers.get(srv.id).addresses[net["name"]]]
    assert types == ["fixed", "floating"]


def test_server_delete_removes_ports_nova_made_and_keeps_user_ports(cloudsim):
    client = neutron(cloudsim)
    nova, _ = clients(cloudsim)
    net, sub, router = tenant_network(client)
    mine = client.create_port({"port": {"network_id": net["id"]}})["port"]
    from nodeconductor.cloudsim.state import TINY_IMAGE_ID

    bdm = [{"uuid": TINY_IMAGE_ID, "source_type": "image", "destination_type": "volume", "volume_size": 1,
            "boot_index": 0, "delete_on_termination": True}]
    srv = nova.servers.create("vm", image=None, flavor="1", block_device_mapping_v2=bdm,
                              nics=[{"port-id": mine["id"]}, {"net-id": net["id"]}])
    srv = wait(lambda: nova.servers.get(srv.id), lambda s: s.status == "ACTIVE")
    assert len(srv.addresses[net["name"]]) == 2
    ports = client.list_ports(device_id=srv.id)["ports"]
    assert {p["id"] == mine["id"] for p in ports} == {True, False}
    with pytest.raises(Exception) as err:
        nova.servers.create("vm2", image=None, flavor="1", block_device_mapping_v2=bdm, nics=[{"port-id": mine["id"]}])
    assert getattr(err.value, "code", None) == 409 and f"Port {mine['id']} is still in use." in str(err.value)
    nova.servers.delete(srv.id)
    wait(lambda: client.list_ports(network_id=net["id"], device_owner="compute:nova")["ports"], lambda p: not p)
    kept = client.show_port(mine["id"])["port"]
    assert (kept["device_id"], kept["device_owner"]) == ("", "")


def test_admin_sees_every_project_and_tenants_only_their_own(cloudsim):
    demo, admin = neutron(cloudsim), neutron(cloudsim, user="admin", password="admin", project="admin")
    net = demo.create_network({"network": {"name": "mine"}})["network"]
    other = admin.create_network({"network": {"name": "admins"}})["network"]
    assert net["id"] in {n["id"] for n in admin.list_networks()["networks"]}
    assert other["id"] not in {n["id"] for n in demo.list_networks()["networks"]}
    with pytest.raises(neutron_exc.NotFound):
        demo.show_network(other["id"])
    assert "provider:network_type" in admin.show_network(net["id"])["network"]
    with pytest.raises(neutron_exc.Forbidden):
        demo.create_network({"network": {"name": "ext", "router:external": True}})
    with pytest.raises(neutron_exc.Conflict) as err:
        admin.create_network({"network": {"name": "flat2", "provider:network_type": "flat"}})
    assert "Physical network physnet1 is in use." in str(err.value)


def test_network_latency_knob(cloudsim):
    import time

    client = neutron(cloudsim)
    client.list_networks()
    cloudsim.set_latency("network", 0.2)
    t0 = time.monotonic()
    client.list_networks()
    assert time.monotonic() - t0 >= 0.2


def test_admin_listing_groups_of_a_project_makes_its_default_group(cloudsim):
    admin = neutron(cloudsim, user="admin", password="admin", project="admin")
    stranger = "0123456789abcdef0123456789abcdef"
    assert not [g for g in cloudsim.networking()["security_groups"] if g["project_id"] == stranger]
    groups = admin.list_security_groups(project_id=stranger)["security_groups"]
    assert [(g["name"], g["project_id"]) for g in groups] == [("default", stranger)]
    assert admin.list_security_groups(project_id=stranger)["security_groups"][0]["id"] == groups[0]["id"]


def test_updates_and_odd_requests_answer_4xx_never_500(cloudsim):
    client = neutron(cloudsim)
    net, sub, router = tenant_network(client)
    assert client.update_network(net["id"], {"network": {"name": "renamed"}})["network"]["name"] == "renamed"
    assert client.update_subnet(sub["id"], {"subnet": {"name": "s2"}})["subnet"]["name"] == "s2"
    assert client.update_router(router["id"], {"router": {"name": "r2"}})["router"]["name"] == "r2"
    cleared = client.update_router(router["id"], {"router": {"external_gateway_info": {}}})["router"]
    assert cleared["external_gateway_info"] is None
    port = client.create_port({"port": {"network_id": net["id"], "name": "p"}})["port"]
    assert client.update_port(port["id"], {"port": {"security_groups": []}})["port"]["security_groups"] == []
    group = client.create_security_group({"security_group": {"name": "g"}})["security_group"]
    assert client.update_security_group(group["id"], {"security_group": {"description": "d"}})[
        "security_group"]["description"] == "d"
    other = client.create_network({"network": {"name": "other"}})["network"]
    client.create_subnet({"subnet": {"network_id": other["id"], "ip_version": 4, "cidr": "10.31.0.0/24"}})
    spare = client.create_port({"port": {"network_id": other["id"]}})["port"]
    attached = client.add_interface_router(router["id"], {"port_id": spare["id"]})
    assert attached["port_id"] == spare["id"]
    with pytest.raises(neutron_exc.BadRequest):
        client.add_interface_router(router["id"], {})
    removed = client.remove_interface_router(router["id"], {"port_id": spare["id"]})
    assert removed["port_id"] == spare["id"]
    with pytest.raises(neutron_exc.NotFound):
        client.remove_interface_router(router["id"], {"port_id": spare["id"]})
    token = session(cloudsim).get_token()
    base = cloudsim.base_url + "/network/v2.0"
    for method, path, body, status in (
            ("POST", "/networks", None, 400), ("POST", "/subnets", {"subnet": {"network_id": net["id"]}}, 400),
            ("POST", "/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.9.0.0/24", "ip_version": 6}}, 400),
            ("POST", "/ports", {"port": {}}, 400), ("POST", "/floatingips", {"floatingip": {}}, 400),
            ("PUT", f"/quotas/{cloudsim.project_id('demo')}", {"quota": {"port": 1}}, 403),
            ("DELETE", f"/quotas/{cloudsim.project_id('demo')}", None, 403),
            ("GET", "/quotas/someone-else", None, 403), ("GET", "/nothing-here", None, 404),
            ("PATCH", "/networks", None, 405)):
        resp = requests.request(method, base + path, json=body, headers={"X-Auth-Token": token}, timeout=5)
        assert resp.status_code == status, (method, path, resp.text)
        assert set(resp.json()["NeutronError"]) == {"type", "message", "detail"}
