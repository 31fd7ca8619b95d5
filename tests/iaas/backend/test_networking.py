"""Backend networking (NetworkingMixin) on the simulator and, marked realcloud, on the mini OpenStack."""

import ipaddress
import uuid

import pytest

from nodeconductor.iaas.backend import CloudBackendError, OpenStackBackend, networking
from nodeconductor.iaas.backend.networking import free_subnet
from nodeconductor.iaas.backend_specs import cloud_access
from tests.iaas import factories
from tests.iaas.cleanup import remove_network

SSH = {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
       "remote_ip_prefix": "0.0.0.0/0"}


@pytest.fixture
def backend(db, cloud_env):
    """A backend on the cloud of the test."""
    cloud = factories.CloudFactory(auth_url=cloud_env.credentials["auth_url"])
    return OpenStackBackend(cloud_access(cloud))


@pytest.fixture
def tenant(backend, cloud_env):
    """The tenant the test works in, and a unique name; everything made under that name is deleted afterwards."""
    name = f"nc-test-{uuid.uuid4().hex[:8]}"
    tenant_id = cloud_env.tenant_id
    backend.ensure_tenant_access(tenant_id)
    yield tenant_id, name
    neutron = backend.neutron(tenant_id)
    for port in neutron.list_ports(project_id=tenant_id)["ports"]:
        if port["name"].startswith(name):
            for fip in neutron.list_floatingips(project_id=tenant_id, port_id=port["id"])["floatingips"]:
                neutron.delete_floatingip(fip["id"])
            backend.delete_port(tenant_id, port["id"])
    remove_network(neutron, tenant_id, name)
    for group in neutron.list_security_groups(project_id=tenant_id)["security_groups"]:
        if group["name"].startswith(name):
            neutron.delete_security_group(group["id"])
    left = {kind: [i for i in getattr(neutron, f"list_{kind}")(project_id=tenant_id)[kind]
                   if (i.get("name") or "").startswith(name)]
            for kind in ("networks", "subnets", "routers", "ports", "security_groups")}
    assert not any(left.values()), f"left behind: {left}"


def test_external_network_found_or_refused_clearly(backend, cloud_env):
    public = backend.find_external_network()
    assert public["name"] == "public" and len(public["subnet_ids"]) == 1
    assert backend.find_external_network("public")["id"] == public["id"]
    with pytest.raises(CloudBackendError) as err:
        backend.find_external_network("no-such-net")
    assert str(err.value) == "The cloud has no external network named 'no-such-net'; fix 'external_network' in its " \
                             "credentials."


def test_ensure_tenant_network_is_idempotent(backend, tenant):
    tenant_id, name = tenant
    first = backend.ensure_tenant_network(tenant_id, name)
    assert first["created"] == ["network", "subnet", "router", "interface"]
    assert first["external_network_id"] == backend.find_external_network()["id"]
    second = backend.ensure_tenant_network(tenant_id, name)
    assert second["created"] == [] and {k: v for k, v in second.items() if k != "created"} == {
        k: v for k, v in first.items() if k != "created"}
    neutron = backend.neutron(tenant_id)
    assert len(neutron.list_networks(project_id=tenant_id, name=name)["networks"]) == 1
    assert len(neutron.list_routers(project_id=tenant_id, name=f"{name}-router")["routers"]) == 1
    router = neutron.show_router(first["router_id"])["router"]
    assert router["external_gateway_info"]["network_id"] == first["external_network_id"]
    interfaces = neutron.list_ports(device_id=first["router_id"], device_owner="network:router_interface")["ports"]
    assert [ip["subnet_id"] for p in interfaces for ip in p["fixed_ips"]] == [first["subnet_id"]]


def test_what_is_made_is_tagged(backend, tenant):
    tenant_id, name = tenant
    neutron = backend.neutron(tenant_id)
    made = backend.ensure_tenant_network(tenant_id, name)
    assert neutron.show_network(made["network_id"])["network"]["tags"] == ["nodeconductor"]
    assert neutron.show_subnet(made["subnet_id"])["subnet"]["tags"] == ["nodeconductor"]
    assert neutron.show_router(made["router_id"])["router"]["tags"] == ["nodeconductor"]
    group = backend.push_security_group(tenant_id, "", f"{name}-sg", "", [SSH])
    assert neutron.show_security_group(group["id"])["security_group"]["tags"] == ["nodeconductor"]
    port = backend.ensure_port(tenant_id, made["network_id"], f"{name}-port")
    assert neutron.show_port(port["id"])["port"]["tags"] == ["nodeconductor"]


def test_of_two_networks_with_the_name_the_tagged_one_is_adopted(backend, tenant):
    tenant_id, name = tenant
    neutron = backend.neutron(tenant_id)
    older = neutron.create_network({"network": {"name": name}})["network"]
    ours = neutron.create_network({"network": {"name": name}})["network"]
    neutron.add_tag("networks", ours["id"], "nodeconductor")
    try:
        assert backend.ensure_tenant_network(tenant_id, name)["network_id"] == ours["id"]
        assert neutron.show_network(older["id"])["network"]["subnets"] == [], "the other one is left alone"
    finally:
        neutron.delete_network(older["id"])


def test_second_tenant_network_gets_a_cidr_that_overlaps_nothing(backend, tenant):
    tenant_id, name = tenant
    first = backend.ensure_tenant_network(tenant_id, name)
    second = backend.ensure_tenant_network(tenant_id, f"{name}-b")
    try:
        assert not ipaddress.ip_network(first["cidr"]).overlaps(ipaddress.ip_network(second["cidr"]))
        with pytest.raises(CloudBackendError) as err:
            backend.ensure_tenant_network(tenant_id, f"{name}-c", cidr=first["cidr"])
        assert f"Subnet {first['cidr']} overlaps a subnet the tenant {tenant_id} already has" in str(err.value)
    finally:
        neutron = backend.neutron(tenant_id)
        remove_network(neutron, tenant_id, f"{name}-c")
        remove_network(neutron, tenant_id, f"{name}-b")


def test_router_without_gateway_is_adopted_and_given_one(backend, tenant):
    tenant_id, name = tenant
    neutron = backend.neutron(tenant_id)
    bare = neutron.create_router({"router": {"name": f"{name}-router"}})["router"]
    result = backend.ensure_tenant_network(tenant_id, name)
    assert result["router_id"] == bare["id"] and "router" not in result["created"]
    assert neutron.show_router(bare["id"])["router"]["external_gateway_info"]["network_id"] == \
        result["external_network_id"]


def test_ports_take_exactly_the_groups_asked(backend, tenant):
    tenant_id, name = tenant
    net = backend.ensure_tenant_network(tenant_id, name)
    group = backend.push_security_group(tenant_id, "", f"{name}-sg", "", [SSH])
    neutron = backend.neutron(tenant_id)
    port = backend.ensure_port(tenant_id, net["network_id"], f"{name}-port", [group["id"]])
    assert port["security_group_ids"] == [group["id"]] and port["device_id"] == ""
    assert ipaddress.ip_address(port["fixed_ips"][0]) in ipaddress.ip_network(net["cidr"])
    assert backend.ensure_port(tenant_id, net["network_id"], f"{name}-port", [group["id"]]) == port
    default = neutron.list_security_groups(project_id=tenant_id, name="default")["security_groups"][0]
    regrouped = backend.ensure_port(tenant_id, net["network_id"], f"{name}-port", [group["id"], default["id"]])
    assert regrouped["id"] == port["id"] and sorted(regrouped["security_group_ids"]) == sorted(
        [group["id"], default["id"]])
    assert len(neutron.list_ports(project_id=tenant_id, name=f"{name}-port")["ports"]) == 1


def test_free_subnet_skips_taken_blocks(settings):
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_TENANT_SUBNET_POOL": "10.50.0.0/22"}
    assert free_subnet([]) == "10.50.0.0/24"
    assert free_subnet(["10.50.0.0/23", "192.168.0.0/16"]) == "10.50.2.0/24"
    with pytest.raises(CloudBackendError) as err:
        free_subnet(["10.50.0.0/22"])
    assert str(err.value) == ("No free /24 is left in 10.50.0.0/22 for a tenant subnet: every block overlaps one of "
                              "the tenant's subnets (10.50.0.0/22).")


@pytest.fixture
def sim_backend(db, sim_env, monkeypatch):
    """A backend on the simulator (fault injection), pausing only briefly between read retries."""
    monkeypatch.setattr(networking, "READ_RETRY_PAUSE", 0.01)
    return OpenStackBackend(cloud_access(factories.CloudFactory(auth_url=sim_env.credentials["auth_url"])))


def test_reads_retry_the_transient_500(sim_backend, sim_env):
    sim_env.sim.fail_next("network.network_list", times=2, status=500, message="'NoneType' object has no attribute "
                                                                               "'flush'")
    assert sim_backend.find_external_network()["name"] == "public"
    assert sim_env.sim.call_counts()["network.network_list"] == 3


def test_persistent_500_and_writes_fail_with_the_clouds_words_and_no_secret(sim_backend, sim_env):
    sim_env.sim.fail_next("network.network_list", times=4, status=500, message="still broken")
    with pytest.raises(CloudBackendError) as err:
        sim_backend.find_external_network()
    assert str(err.value) == "list external networks failed: still broken"
    password = sim_env.credentials["password"]
    tenant_id = sim_env.tenant_id
    sim_backend.ensure_tenant_access(tenant_id)
    sim_env.sim.fail_next("network.network_create", status=409, message=f"token for {password} refused")
    with pytest.raises(CloudBackendError) as err:
        sim_backend.ensure_tenant_network(tenant_id, "nc-secret")
    assert str(err.value) == f"create network nc-secret in tenant {tenant_id} failed: token for *** refused"
    assert sim_env.sim.call_counts()["network.network_create"] == 1, "writes are never retried"


def test_several_external_networks_need_a_name(sim_backend, sim_env):
    from neutronclient.v2_0 import client as neutron_client

    from nodeconductor.iaas.backend.session import get_session

    admin = neutron_client.Client(session=get_session(sim_env.credentials))
    admin.create_network({"network": {"name": "second-ext", "router:external": True}})
    with pytest.raises(CloudBackendError) as err:
        sim_backend.find_external_network()
    assert str(err.value) == ("The cloud has several external networks (public, second-ext); name one with "
                              "'external_network' in its credentials.")
    sim_backend.credentials = {**sim_backend.credentials, "external_network": "second-ext"}
    assert sim_backend.find_external_network()["name"] == "second-ext"


def test_deletes_retry_the_transient_500_and_tolerate_absence(sim_backend, sim_env):
    tenant_id = sim_env.tenant_id
    sim_backend.ensure_tenant_access(tenant_id)
    net = sim_backend.ensure_tenant_network(tenant_id, "nc-retry")
    port = sim_backend.ensure_port(tenant_id, net["network_id"], "nc-retry-port")
    sim_env.sim.fail_next("network.port_delete", times=1, status=500, message="'NoneType' object has no attribute "
                                                                              "'flush'")
    assert sim_backend.delete_port(tenant_id, port["id"]) is True
    assert sim_env.sim.call_counts()["network.port_delete"] == 2
    assert sim_backend.delete_port(tenant_id, port["id"]) is False, "already gone"
    assert not any(p["id"] == port["id"] for p in sim_env.sim.networking(tenant_id)["ports"])
