"""Floating IPs on the simulator: the create flag's phase, the assign/unassign jobs, the pull, the delete."""

from datetime import timedelta

import pytest
from django.utils import timezone

from nodeconductor.iaas import floating_ip_sync
from nodeconductor.iaas.backend.floating_ips import instance_tag
from nodeconductor.iaas.engine import leases, operations
from nodeconductor.iaas.models import FloatingIP, Instance, InstanceState
from tests.iaas.backend.test_instances import make_instance, run
from tests.iaas.steps import advance
from tests.iaas.test_instance_network import admin_neutron, net_iaas  # noqa: F401 - fixture
from tests.iaas.views.test_instances import provision, run_tasks, stop, url

pytestmark = pytest.mark.django_db(transaction=True)
S = InstanceState


def tenant_fips(sim, membership):
    """The simulator's floating IPs of the membership's tenant (the cloud's own state)."""
    return sim.networking(membership.tenant_id)["floatingips"]


def events_of(instance, prefix):
    """Event types of the instance starting with prefix, oldest first."""
    from nodeconductor.events.models import Event

    return list(Event.objects.filter(resource_uuid=instance.uuid, event_type__startswith=prefix)
                .order_by("created").values_list("event_type", flat=True))  # fmt: skip


def act(roles, instance, action, body=None, role="admin"):
    """POST an instance action and run what it enqueued; returns the response."""
    with run_tasks():
        return roles.client_as(role).post(url(instance, action), body or {}, format="json")


ASSIGNED = ["instance_assign_floating_ip_scheduled", "instance_assign_floating_ip_step_done",
            "instance_assign_floating_ip_succeeded"]  # fmt: skip


def test_create_with_the_flag_gets_an_ip_tagged_for_it_and_shows_it(net_iaas, roles):  # noqa: F811
    sim, membership = net_iaas.env.sim, net_iaas.membership
    instance = provision(net_iaas, roles, assign_floating_ip=True)
    assert instance.state == S.ONLINE, instance.error_message
    (fip,) = tenant_fips(sim, membership)
    assert fip["port_id"] == instance.port_id and fip["floating_network_id"] == membership.external_network_id
    assert sorted(fip["tags"]) == sorted(["nodeconductor", instance_tag(instance.uuid.hex)])
    assert instance.external_ips == fip["floating_ip_address"]
    row = FloatingIP.objects.get()
    assert (row.backend_id, row.address, row.instance_id, row.allocated_for, row.status) == (
        fip["id"], fip["floating_ip_address"], instance.pk, instance.uuid.hex, "ACTIVE")
    body = roles.client_as("manager").get(url(instance)).json()
    assert body["external_ips"] == fip["floating_ip_address"] and "assign_floating_ip" not in body


def test_unassign_keeps_the_ip_for_the_tenant_and_assign_reuses_it(net_iaas, roles):  # noqa: F811
    sim, membership = net_iaas.env.sim, net_iaas.membership
    instance = provision(net_iaas, roles, assign_floating_ip=True)
    (before,) = tenant_fips(sim, membership)
    response = act(roles, instance, "unassign_floating_ip")
    assert response.status_code == 202 and response.json() == {"status": "unassign_floating_ip was scheduled"}
    instance.refresh_from_db()
    (fip,) = tenant_fips(sim, membership)
    assert fip["id"] == before["id"] and fip["port_id"] is None and instance.external_ips == ""
    assert instance.state == S.ONLINE and FloatingIP.objects.get().instance is None
    response = act(roles, instance, "assign_floating_ip")
    assert response.status_code == 202 and response.json() == {"status": "assign_floating_ip was scheduled"}
    instance.refresh_from_db()
    (fip,) = tenant_fips(sim, membership)
    assert fip["id"] == before["id"] and fip["port_id"] == instance.port_id, "the free IP of ours is reused"
    assert instance.external_ips == fip["floating_ip_address"] and FloatingIP.objects.get().instance == instance
    assert events_of(instance, "instance_unassign_floating_ip") == ["instance_unassign_floating_ip_scheduled",
        "instance_unassign_floating_ip_step_done", "instance_unassign_floating_ip_succeeded"]  # fmt: skip
    assert events_of(instance, "instance_assign_floating_ip") == ASSIGNED
    assert (instance.operation_token, instance.operation_name) == ("", "")


def test_assign_on_an_offline_instance_allocates_one(net_iaas, roles):  # noqa: F811
    sim, membership = net_iaas.env.sim, net_iaas.membership
    instance = stop(net_iaas, roles, provision(net_iaas, roles))
    sim.clear_call_log()
    response = act(roles, instance, "assign_floating_ip")
    assert response.status_code == 202, response.json()
    instance.refresh_from_db()
    (fip,) = tenant_fips(sim, membership)
    assert instance.state == S.OFFLINE and fip["port_id"] == instance.port_id
    assert sim.call_counts().get("network.floatingip_create") == 1


def test_delete_releases_the_ips_it_allocated_and_leaves_the_tenants_own(net_iaas, roles):  # noqa: F811
    sim, membership = net_iaas.env.sim, net_iaas.membership
    neutron = admin_neutron(net_iaas.env)
    theirs = neutron.create_floatingip({"floatingip": {"floating_network_id": membership.external_network_id,
                                                       "project_id": membership.tenant_id}})["floatingip"]
    ours = provision(net_iaas, roles, hostname="ours", assign_floating_ip=True)
    other = provision(net_iaas, roles, hostname="other")
    floating_ip_sync.reconcile_membership(net_iaas.cloud.get_backend(), membership)
    row = FloatingIP.objects.get(backend_id=theirs["id"])
    assert row.allocated_for == "" and row.instance is None
    response = act(roles, other, "assign_floating_ip", {"floating_ip": str(row.uuid)})
    assert response.status_code == 202, response.json()
    other.refresh_from_db()
    assert other.external_ips == theirs["floating_ip_address"]
    for instance in (ours, other):
        stop(net_iaas, roles, instance)
        with run_tasks():
            assert roles.client_as("admin").delete(url(instance)).status_code == 202
        assert not Instance.objects.filter(pk=instance.pk).exists()
    (left,) = tenant_fips(sim, membership)
    assert left["id"] == theirs["id"] and left["port_id"] is None, "the tenant's own IP is only disassociated"
    assert list(FloatingIP.objects.values_list("backend_id", "instance")) == [(theirs["id"], None)]
    assert [p for p in sim.networking(membership.tenant_id)["ports"] if p["device_owner"].startswith("compute")] == []


def test_the_pull_follows_the_cloud(net_iaas, roles):  # noqa: F811
    sim, membership = net_iaas.env.sim, net_iaas.membership
    backend = net_iaas.cloud.get_backend()
    instance = provision(net_iaas, roles)
    neutron = admin_neutron(net_iaas.env)
    made = neutron.create_floatingip({"floatingip": {"floating_network_id": membership.external_network_id,
                                                     "project_id": membership.tenant_id}})["floatingip"]
    lines = floating_ip_sync.reconcile_membership(backend, membership)
    assert lines == [f"floating IP {made['floating_ip_address']} of {membership.project.name} found"]
    assert FloatingIP.objects.get().instance is None
    neutron.update_floatingip(made["id"], {"floatingip": {"port_id": instance.port_id}})
    floating_ip_sync.reconcile_membership(backend, membership)
    instance.refresh_from_db()
    assert FloatingIP.objects.get().instance == instance and instance.external_ips == made["floating_ip_address"]
    neutron.delete_floatingip(made["id"])
    lines = floating_ip_sync.reconcile_membership(backend, membership)
    instance.refresh_from_db()
    assert FloatingIP.objects.count() == 0 and instance.external_ips == ""
    assert f"floating IP {made['floating_ip_address']} of {membership.project.name} is gone from the cloud: " \
        "forgotten" in lines  # fmt: skip
    assert floating_ip_sync.reconcile_membership(backend, membership) == [], "nothing changed: nothing to say"
    assert sim is not None


def test_a_redelivered_assign_message_gives_one_ip(net_iaas, roles):  # noqa: F811
    sim, membership = net_iaas.env.sim, net_iaas.membership
    instance = provision(net_iaas, roles)
    step = _assign_with_the_message_lost(roles, instance)
    assert operations.run_step(*step).finished
    assert operations.run_step(*step).finished  # the broker delivers it again: not claimed, nothing done
    assert len(tenant_fips(sim, membership)) == 1
    assert events_of(instance, "instance_assign_floating_ip") == ASSIGNED


def test_provision_phase_run_twice_makes_no_second_ip(net_iaas):  # noqa: F811
    sim, membership = net_iaas.env.sim, net_iaas.membership
    instance = run(operations.PROVISION, make_instance(net_iaas), backend_flavor_id=net_iaas.flavor.backend_id,
                   assign_floating_ip=True)  # fmt: skip
    assert instance.state == S.ONLINE, instance.error_message
    backend = net_iaas.cloud.get_backend()
    again = backend.provision_step(instance, net_iaas.flavor.backend_id, phase="server", assign_floating_ip=True)
    assert again.phase == "floating_ip" and len(tenant_fips(sim, membership)) == 1


def test_the_plans_with_a_floating_ip_are_what_the_worker_does(net_iaas, roles):  # noqa: F811
    from tests.iaas.test_instance_plans import assert_plan_matches, cloud_writes, dry
    from tests.iaas.views.test_instances import create_body

    sim, client, membership = net_iaas.env.sim, roles.client_as("admin"), net_iaas.membership
    plan = dry(client, "/api/instances/", create_body(net_iaas, assign_floating_ip=True)).json()
    # rebuild and rebuilt happen only after Nova's transient build failure (operation_table: happens_if).
    assert [s["phase"] for s in plan["steps"]] == ["", "volumes", "server", "rebuild", "rebuilt", "floating_ip"]
    calls = [a for a in plan["steps"][2]["actions"] if "call" in a]
    assert calls == [
        {"call": "neutron update_floatingip (a free IP of ours) port_id=(the new port)",
         "if": "the tenant has a free floating IP of ours (or the one asked for)"},
        {"call": f"neutron create_floatingip floating_network_id={membership.external_network_id} "
                 "port_id=(the new port)", "if": "the tenant has no free floating IP of ours"},
        {"call": "neutron replace_tag floatingips (the IP) [nodeconductor, nc-instance-<new instance uuid>]",
         "if": "the IP is ours (tagged nodeconductor)"},
    ]  # fmt: skip
    assert plan["steps"][5]["actions"] == [{"wait": "server's addresses → the floating IP"}]
    without = dry(client, "/api/instances/", create_body(net_iaas)).json()
    assert [s["phase"] for s in without["steps"]] == ["", "volumes", "server", "rebuild", "rebuilt"], \
        "no flag: no floating IP phase"  # fmt: skip
    assert not [a for s in without["steps"] for a in s["actions"] if "floatingip" in a.get("call", "")]
    sim.clear_call_log()
    instance = provision(net_iaas, roles, assign_floating_ip=True)
    assert instance.state == S.ONLINE, instance.error_message
    assert_plan_matches(plan, cloud_writes(sim))
    assert "network.floatingip_create" in cloud_writes(sim)

    stop(net_iaas, roles, instance)
    plan = dry(client, url(instance), method="delete").json()
    assert plan["steps"][-1]["actions"][-2] == {
        "call": f"neutron delete_floatingip (each IP tagged nc-instance-{instance.uuid.hex})",
        "if": "we allocated it for this instance and it is on its port or free"}
    sim.clear_call_log()
    with run_tasks():
        assert roles.client_as("admin").delete(url(instance)).status_code == 202
    assert_plan_matches(plan, cloud_writes(sim))
    assert "network.floatingip_delete" in cloud_writes(sim) and tenant_fips(sim, membership) == []


@pytest.mark.django_db(transaction=False)  # the test is the worker and the poller
def test_the_tenant_poller_sees_the_address_show_while_the_server_stays_active(roles, sim_env, settings):
    """The poller skips a look while what it sees is unchanged: the floating address must count as a change."""
    from nodeconductor.iaas.engine import poller
    from tests.fixtures.iaas import build_iaas
    from tests.iaas.test_instance_network import tenant_mode
    from tests.iaas.views.test_instances import create_body

    tenant_mode(settings)
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_WAIT_TIMEOUT": 30}
    iaas = build_iaas(roles, sim_env)
    sim_env.sim.set_delay("floatingip_status", 1.0)
    response = roles.client_as("admin").post("/api/instances/", create_body(iaas, assign_floating_ip=True),
                                             format="json")  # fmt: skip
    assert response.status_code == 201, response.json()
    uuid = response.json()["uuid"]
    outcome = advance(operations.PROVISION, uuid)
    assert not outcome.finished and outcome.waits
    import time

    deadline = time.monotonic() + 25
    while True:
        result = poller.tick(iaas.membership.pk)
        if not result.remaining:
            break
        assert time.monotonic() < deadline, "the poller never saw the address"
        time.sleep(result.next_in)
    instance = Instance.objects.get(uuid=uuid)
    assert instance.state == S.ONLINE, instance.error_message
    (fip,) = tenant_fips(sim_env.sim, iaas.membership)
    assert instance.external_ips == fip["floating_ip_address"]


def test_the_cloud_pull_reconciles_the_floating_ips(net_iaas, roles):  # noqa: F811
    from nodeconductor.iaas.resource_operations import run_cloud_pull

    membership = net_iaas.membership
    made = admin_neutron(net_iaas.env).create_floatingip({"floatingip": {
        "floating_network_id": membership.external_network_id, "project_id": membership.tenant_id}})["floatingip"]
    diff = run_cloud_pull(net_iaas.cloud)
    assert f"floating IP {made['floating_ip_address']} of {membership.project.name} found" in diff.updated
    row = FloatingIP.objects.get()
    assert (row.backend_id, row.status, row.instance, row.allocated_for) == (made["id"], "DOWN", None, "")


def _assign_with_the_message_lost(roles, instance, action="assign_floating_ip"):
    """Ask for an IP (or to give it up) while the broker takes the message and loses it; the step it carried."""
    import unittest.mock as mock

    from nodeconductor.iaas import tasks

    lost = []
    with mock.patch.object(tasks, "send_operation_step", side_effect=lambda *a, **kw: lost.append(a)):
        with run_tasks():
            response = roles.client_as("admin").post(url(instance, action), {}, format="json")
    assert response.status_code == 202, response.json()
    (step,) = lost
    return str(step[0]), step[1], step[2]


def _age(instance, seconds):
    """Make the instance's operation look `seconds` overdue, as if its message went missing that long ago."""
    due = Instance.objects.get(pk=instance.pk).operation_due
    Instance.objects.filter(pk=instance.pk).update(operation_due=due - timedelta(seconds=seconds))


def test_a_lost_assign_message_is_sent_again_by_the_sweeper(net_iaas, roles, settings):  # noqa: F811
    from nodeconductor.iaas import tasks

    sim, membership = net_iaas.env.sim, net_iaas.membership
    instance = provision(net_iaas, roles)
    lost = _assign_with_the_message_lost(roles, instance)
    assert tasks.resume_stalled_work() == 0, "a fresh operation may still have its message on the way"
    _age(instance, 60)
    with run_tasks():
        assert tasks.resume_stalled_work() == 1
    instance.refresh_from_db()
    (fip,) = tenant_fips(sim, membership)
    assert fip["port_id"] == instance.port_id and instance.external_ips == fip["floating_ip_address"]
    assert instance.operation_token == ""
    assert operations.run_step(*lost).finished  # the lost message shows up after all: fenced off
    assert len(tenant_fips(sim, membership)) == 1
    assert events_of(instance, "instance_assign_floating_ip") == ASSIGNED


def test_an_assign_whose_worker_died_is_run_again_without_a_second_ip(net_iaas, roles, settings):  # noqa: F811
    from nodeconductor.iaas import tasks
    from nodeconductor.iaas.engine import sweeper

    sim, membership = net_iaas.env.sim, net_iaas.membership
    instance = provision(net_iaas, roles)
    _assign_with_the_message_lost(roles, instance)
    # A worker on another host claimed the step and allocated the IP in the cloud, then died before it wrote
    # anything: its lease is held until it runs out.
    net_iaas.cloud.get_backend().assign_floating_ip(membership.tenant_id, instance.port_id,
                                                    membership.external_network_id, instance.uuid.hex, "")  # fmt: skip
    lease_until = timezone.now() + timedelta(seconds=leases.step_lease())
    Instance.objects.filter(pk=instance.pk).update(operation_holder="elsewhere:1", operation_lease_until=lease_until)
    assert len(tenant_fips(sim, membership)) == 1 and FloatingIP.objects.count() == 0
    _age(instance, 60)
    assert sweeper.stalled() == [], "a claimed step is its worker's until its lease runs out"
    Instance.objects.filter(pk=instance.pk).update(operation_lease_until=timezone.now() - timedelta(seconds=1))
    with run_tasks():
        assert tasks.resume_stalled_work() == 1
    instance.refresh_from_db()
    (fip,) = tenant_fips(sim, membership)
    assert fip["port_id"] == instance.port_id and instance.external_ips == fip["floating_ip_address"]
    assert FloatingIP.objects.get().instance == instance and instance.operation_token == ""


def test_a_pending_floating_ip_change_makes_the_instance_busy_for_every_action(net_iaas, roles):  # noqa: F811
    # Issue 22's defect: "busy" lived outside the state machine, so a stop or delete went ahead of an assign.
    sim, membership = net_iaas.env.sim, net_iaas.membership
    instance = provision(net_iaas, roles)
    step = _assign_with_the_message_lost(roles, instance)  # scheduled, its message not yet run
    busy = {"detail": "A floating IP assignment of the instance is under way; retry once it is done.",
            "code": "invalid_state"}  # fmt: skip
    for action in ("stop", "restart", "update_security_groups", "assign_floating_ip"):
        response = act(roles, instance, action, {"security_groups": []})
        assert (response.status_code, response.json()) == (409, busy), action
    shown = roles.client_as("admin").get(url(instance)).json()["actions"]
    assert shown["stop"] == {"enabled": False, "reason": busy["detail"]}
    assert shown["restart"] == {"enabled": False, "reason": busy["detail"]}
    instance.refresh_from_db()
    assert instance.state == S.ONLINE
    # The message arrives: the IP is assigned, and the instance is free again.
    assert operations.run_step(*step).finished
    response = act(roles, instance, "stop")
    assert (response.status_code, response.json()) == (202, {"status": "stop was scheduled"})
    instance.refresh_from_db()
    assert instance.state == S.OFFLINE and len(tenant_fips(sim, membership)) == 1
    # Offline, a pending unassign blocks the delete and the start in the same way.
    step = _assign_with_the_message_lost(roles, instance, "unassign_floating_ip")
    busy["detail"] = "A floating IP removal of the instance is under way; retry once it is done."
    response = act(roles, instance, "start")
    assert (response.status_code, response.json()) == (409, busy)
    with run_tasks():
        response = roles.client_as("admin").delete(url(instance))
    assert (response.status_code, response.json()) == (409, busy)
    assert operations.run_step(*step).finished
    instance.refresh_from_db()
    assert (instance.state, instance.external_ips) == (S.OFFLINE, "")
    with run_tasks():
        response = roles.client_as("admin").delete(url(instance))
    assert response.status_code == 202, response.json()
