"""Backend floating IPs (FloatingIPsMixin) on the simulator and, marked realcloud, on the mini OpenStack."""

import uuid

import pytest
from neutronclient.common import exceptions as neutron_exc

from nodeconductor.iaas.backend import CloudResourceNotFound
from nodeconductor.iaas.backend.floating_ips import instance_tag
from tests.iaas.backend.test_networking import backend, tenant  # noqa: F401 - fixtures


def test_assigned_once_reused_for_another_instance_and_released_only_for_its_own(backend, tenant):  # noqa: F811
    tenant_id, name = tenant
    first, second, third = (uuid.uuid4().hex for _ in range(3))
    net = backend.ensure_tenant_network(tenant_id, name)
    ext = net["external_network_id"]
    port = backend.ensure_port(tenant_id, net["network_id"], f"{name}-port")
    fip = backend.assign_floating_ip(tenant_id, port["id"], ext, first)
    assert (fip["port_id"], fip["allocated_for"]) == (port["id"], first)
    assert fip["address"].startswith("203.0.113.")
    again = backend.assign_floating_ip(tenant_id, port["id"], ext, first)
    assert {**again, "status": ""} == {**fip, "status": ""}, "the port's IP is found first (its status may follow)"
    neutron = backend.neutron(tenant_id)
    assert len(neutron.list_floatingips(project_id=tenant_id, port_id=port["id"])["floatingips"]) == 1
    assert sorted(neutron.show_floatingip(fip["id"])["floatingip"]["tags"]) == sorted(["nodeconductor",
                                                                                      instance_tag(first)])

    (freed,) = backend.unassign_floating_ips(tenant_id, port["id"])
    assert (freed["id"], freed["port_id"]) == (fip["id"], "")
    assert backend.unassign_floating_ips(tenant_id, port["id"]) == []
    other = backend.ensure_port(tenant_id, net["network_id"], f"{name}-port2")
    reused = backend.assign_floating_ip(tenant_id, other["id"], ext, second)
    assert (reused["id"], reused["port_id"], reused["allocated_for"]) == (fip["id"], other["id"], second), \
        "a free IP of ours is reused and tagged for its new holder"  # fmt: skip

    spare = neutron.create_floatingip({"floatingip": {"floating_network_id": ext}})["floatingip"]
    try:
        third_port = backend.ensure_port(tenant_id, net["network_id"], f"{name}-port3")
        fresh = backend.assign_floating_ip(tenant_id, third_port["id"], ext, third)
        assert fresh["id"] != spare["id"], "a floating IP the tenant holds itself is never taken unasked"
        assert backend.release_instance_floating_ips(tenant_id, third_port["id"], first) == [], "not first's now"
        assert backend.release_instance_floating_ips(tenant_id, third_port["id"], third) == [fresh["address"]]
        # Asked by id, the tenant's own IP is associated but stays untagged: a delete only disassociates it.
        theirs = backend.assign_floating_ip(tenant_id, third_port["id"], ext, third, spare["id"])
        assert (theirs["id"], theirs["allocated_for"]) == (spare["id"], "")
        assert backend.release_instance_floating_ips(tenant_id, third_port["id"], third) == []
    finally:
        neutron.delete_floatingip(spare["id"])
    assert backend.release_instance_floating_ips(tenant_id, other["id"], second) == [fip["address"]]
    assert backend.release_instance_floating_ips(tenant_id, other["id"], second) == []
    with pytest.raises(neutron_exc.NotFound):
        neutron.show_floatingip(fip["id"])


def test_without_router_it_is_not_found_with_neutrons_reason(backend, tenant):  # noqa: F811
    tenant_id, name = tenant
    neutron = backend.neutron(tenant_id)
    net = neutron.create_network({"network": {"name": name}})["network"]
    neutron.create_subnet({"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.99.0.0/24",
                                      "name": f"{name}-subnet"}})  # fmt: skip
    port = backend.ensure_port(tenant_id, net["id"], f"{name}-port")
    with pytest.raises(CloudResourceNotFound) as err:
        backend.assign_floating_ip(tenant_id, port["id"], backend.find_external_network()["id"], uuid.uuid4().hex)
    message = str(err.value)
    assert message.startswith(f"allocate a floating IP for port {port['id']} failed: External network ")
    assert "is not reachable from subnet" in message and "request_ids" not in message
    assert neutron.list_floatingips(project_id=tenant_id)["floatingips"] == [], "nothing allocated"
