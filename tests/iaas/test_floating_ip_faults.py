"""Floating IP faults on the simulator, with the real cloud's texts: an exhausted pool at every step that
allocates, no router, Neutron's quota, a tag that fails after the allocation. Each checks what is left in the
cloud (nothing of ours) and the instance's state and events afterwards."""

import pytest
from neutronclient.common import exceptions as neutron_exc

from nodeconductor.iaas.backend.networking import port_name
from nodeconductor.iaas.models import FloatingIP, InstanceState
from tests.iaas.test_floating_ips_worker import act, events_of, tenant_fips
from tests.iaas.test_instance_network import admin_neutron, net_iaas  # noqa: F401 - fixture
from tests.iaas.views.test_instances import provision

pytestmark = pytest.mark.django_db(transaction=True)
S = InstanceState


def exhaust_pool(env):
    """Take every free address of `public` as the admin (another project); returns the message Neutron gave."""
    admin = admin_neutron(env)
    admin_project = env.sim.project_id("admin")
    admin.update_quota(admin_project, {"quota": {"floatingip": -1}})
    public = env.sim.public_network()["id"]
    while True:
        try:
            admin.create_floatingip({"floatingip": {"floating_network_id": public, "project_id": admin_project}})
        except neutron_exc.IpAddressGenerationFailureClient as exc:
            return str(exc).split("\n")[0]


def nothing_of_ours_left(sim, membership, instance):
    """No server, volume, port or floating IP of the instance is left in the simulator."""
    assert sim.servers() == [] and sim.volumes() == []
    assert [p for p in sim.networking()["ports"] if p["name"] == port_name(instance)] == []
    assert tenant_fips(sim, membership) == []


def test_create_flag_with_the_pool_exhausted_is_erred_with_nothing_left(net_iaas, roles):  # noqa: F811
    sim, membership = net_iaas.env.sim, net_iaas.membership
    message = exhaust_pool(net_iaas.env)
    assert message == f"No more IP addresses available on network {sim.public_network()['id']}."
    instance = provision(net_iaas, roles, assign_floating_ip=True)
    assert instance.state == S.ERRED
    assert message in instance.error_message
    nothing_of_ours_left(sim, membership, instance)
    assert instance.backend_id == instance.port_id == instance.external_ips == ""
    assert events_of(instance, "instance_provision_failed") == ["instance_provision_failed"]
    assert FloatingIP.objects.count() == 0
    body = roles.client_as("admin").get(f"/api/instances/{instance.uuid}/").json()
    assert body["operation"]["state"] == "failed" and message in body["operation"]["failure"]


def test_assign_with_the_pool_exhausted_fails_and_the_instance_stays(net_iaas, roles):  # noqa: F811
    sim, membership = net_iaas.env.sim, net_iaas.membership
    instance = provision(net_iaas, roles)
    message = exhaust_pool(net_iaas.env)
    response = act(roles, instance, "assign_floating_ip")
    assert response.status_code == 202, response.json()
    instance.refresh_from_db()
    assert instance.state == S.ONLINE and instance.external_ips == "" and instance.operation_token == ""
    assert tenant_fips(sim, membership) == [] and FloatingIP.objects.count() == 0
    assert events_of(instance, "instance_assign_floating_ip") == [
        "instance_assign_floating_ip_scheduled", "instance_assign_floating_ip_failed"]
    from nodeconductor.events.models import Event

    failed = Event.objects.get(event_type="instance_assign_floating_ip_failed")
    assert message in failed.message and failed.level == "error"
    assert roles.client_as("admin").get(f"/api/instances/{instance.uuid}/").json()["actions"][
        "assign_floating_ip"] == {"enabled": True, "reason": ""}, "it can be tried again"


def test_the_reuse_path_needs_no_address_from_the_pool(net_iaas, roles):  # noqa: F811
    """A free IP of ours is reused even when the pool is exhausted: no allocation is tried."""
    sim, membership = net_iaas.env.sim, net_iaas.membership
    first = provision(net_iaas, roles, hostname="first", assign_floating_ip=True)
    (spare,) = tenant_fips(sim, membership)
    assert act(roles, first, "unassign_floating_ip").status_code == 202
    exhaust_pool(net_iaas.env)
    second = provision(net_iaas, roles, hostname="second")
    sim.clear_call_log()
    assert act(roles, second, "assign_floating_ip").status_code == 202
    second.refresh_from_db()
    assert second.external_ips == spare["floating_ip_address"] and second.state == S.ONLINE
    assert "network.floatingip_create" not in sim.call_counts()
    (fip,) = tenant_fips(sim, membership)
    assert fip["port_id"] == second.port_id and f"nc-instance-{second.uuid.hex}" in fip["tags"]
    # With the spare taken and the pool exhausted, the next one fails with the cloud's reason.
    assert act(roles, first, "assign_floating_ip").status_code == 202
    assert events_of(first, "instance_assign_floating_ip")[-1] == "instance_assign_floating_ip_failed"
    assert len(tenant_fips(sim, membership)) == 1


def _cut_the_router(env, membership):
    """Take the tenant subnet off its router, as an admin might: no path to `public` any more."""
    admin_neutron(env).remove_interface_router(membership.router_id, {"subnet_id": membership.subnet_id})


def test_no_router_on_create_is_erred_with_the_clouds_reason_and_nothing_left(net_iaas, roles):  # noqa: F811
    sim, membership = net_iaas.env.sim, net_iaas.membership
    _cut_the_router(net_iaas.env, membership)
    instance = provision(net_iaas, roles, assign_floating_ip=True)
    assert instance.state == S.ERRED
    assert f"External network {membership.external_network_id} is not reachable from subnet " \
        f"{membership.subnet_id}." in instance.error_message  # fmt: skip
    nothing_of_ours_left(sim, membership, instance)


def test_no_router_on_assign_is_a_failed_event(net_iaas, roles):  # noqa: F811
    sim, membership = net_iaas.env.sim, net_iaas.membership
    instance = provision(net_iaas, roles)
    _cut_the_router(net_iaas.env, membership)
    assert act(roles, instance, "assign_floating_ip").status_code == 202
    instance.refresh_from_db()
    from nodeconductor.events.models import Event

    failed = Event.objects.get(event_type="instance_assign_floating_ip_failed")
    assert "is not reachable from subnet" in failed.message and instance.state == S.ONLINE
    assert tenant_fips(sim, membership) == []


def test_neutrons_quota_refusal_is_a_failed_event(net_iaas, roles):  # noqa: F811
    sim, membership = net_iaas.env.sim, net_iaas.membership
    instance = provision(net_iaas, roles)
    admin_neutron(net_iaas.env).update_quota(membership.tenant_id, {"quota": {"floatingip": 0}})
    assert act(roles, instance, "assign_floating_ip").status_code == 202
    from nodeconductor.events.models import Event

    failed = Event.objects.get(event_type="instance_assign_floating_ip_failed")
    assert "Quota exceeded for resources: ['floatingip']." in failed.message
    assert tenant_fips(sim, membership) == []


def test_a_tag_that_fails_after_the_allocation_releases_the_ip(net_iaas, roles):  # noqa: F811
    sim, membership = net_iaas.env.sim, net_iaas.membership
    instance = provision(net_iaas, roles)
    sim.fail_next("network.tag_replace", status=503, message="Service Unavailable")
    assert act(roles, instance, "assign_floating_ip").status_code == 202
    instance.refresh_from_db()
    assert events_of(instance, "instance_assign_floating_ip")[-1] == "instance_assign_floating_ip_failed"
    assert sim.call_counts()["network.floatingip_create"] == 1 and sim.call_counts()["network.floatingip_delete"] == 1
    assert tenant_fips(sim, membership) == [] and instance.external_ips == ""


def test_a_failed_wait_for_the_address_releases_the_ip_in_the_cleanup(net_iaas, roles, settings):  # noqa: F811
    """The IP is allocated, the address never shows (timeout): the compensation releases it with the rest."""
    sim, membership = net_iaas.env.sim, net_iaas.membership
    sim.set_delay("floatingip_status", 60)
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_WAIT_TIMEOUT": 1}
    instance = provision(net_iaas, roles, assign_floating_ip=True)
    assert instance.state == S.ERRED and "Timed out" in instance.error_message
    assert "the floating IP on the server" in instance.error_message
    nothing_of_ours_left(sim, membership, instance)
