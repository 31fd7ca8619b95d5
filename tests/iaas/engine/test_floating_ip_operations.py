"""Floating IP changes are operations of the engine (issue 22): recorded on the row, printed by their plan (which
is what the worker then does in the cloud), on an Online or an Offline VM alike, and refused alike in a dry run."""

import pytest

from nodeconductor.iaas.models import FloatingIP, Instance, InstanceState
from tests.iaas.test_floating_ips_worker import act, tenant_fips
from tests.iaas.test_instance_network import net_iaas  # noqa: F401 - fixture
from tests.iaas.test_instance_plans import NoWrites, assert_plan_matches, cloud_writes, dry
from tests.iaas.views.test_instances import provision, run_tasks, stop, url

pytestmark = pytest.mark.django_db(transaction=True)
S = InstanceState


def test_the_assign_plan_is_what_the_worker_does_and_is_the_provisions_step(net_iaas, roles,  # noqa: F811
                                                                            django_capture_on_commit_callbacks):
    sim, client, membership = net_iaas.env.sim, roles.client_as("admin"), net_iaas.membership
    instance = provision(net_iaas, roles)
    with NoWrites(sim, django_capture_on_commit_callbacks):
        plan = dry(client, url(instance, "assign_floating_ip"))
    assert plan.status_code == 200, plan.json()
    plan = plan.json()
    assert (plan["operation"], plan["state_path"]) == ("assign_floating_ip", ["Online", "Online", "Online"])
    assert plan["on_failure"] == {"state_path": ["Online", "Online"], "steps": []}
    (step,) = plan["steps"]
    assert step["does"] == "give the instance's port a floating IP"
    assert step["actions"] == [
        {"call": f"neutron update_floatingip (a free IP of ours) port_id={instance.port_id}",
         "if": "the tenant has a free floating IP of ours (or the one asked for)"},
        {"call": f"neutron create_floatingip floating_network_id={membership.external_network_id} "
                 f"port_id={instance.port_id}", "if": "the tenant has no free floating IP of ours"},
        {"call": f"neutron replace_tag floatingips (the IP) [nodeconductor, nc-instance-{instance.uuid.hex}]",
         "if": "the IP is ours (tagged nodeconductor)"},
    ]  # fmt: skip
    # The provision's floating IP calls are the same ones, from the same place in the table.
    created = dry(client, "/api/instances/", _create_body(net_iaas)).json()
    provision_calls = [a for a in created["steps"][2]["actions"] if "call" in a]
    assert [a["if"] for a in provision_calls] == [a["if"] for a in step["actions"]]
    sim.clear_call_log()
    assert act(roles, instance, "assign_floating_ip").status_code == 202
    assert_plan_matches(plan, cloud_writes(sim))
    assert cloud_writes(sim)[0] == "network.floatingip_create"
    instance.refresh_from_db()
    (fip,) = tenant_fips(sim, membership)
    assert (instance.state, instance.external_ips, instance.operation_token) == (
        S.ONLINE, fip["floating_ip_address"], "")


def _create_body(iaas):
    from tests.iaas.views.test_instances import create_body

    return create_body(iaas, assign_floating_ip=True)


def test_an_offline_vm_keeps_its_state_and_a_chosen_ip_is_named_in_the_plan(net_iaas, roles,  # noqa: F811
                                                                           django_capture_on_commit_callbacks):
    sim, client, membership = net_iaas.env.sim, roles.client_as("admin"), net_iaas.membership
    instance = provision(net_iaas, roles, assign_floating_ip=True)
    assert act(roles, instance, "unassign_floating_ip").status_code == 202
    instance = stop(net_iaas, roles, instance)
    free = FloatingIP.objects.get()
    assert free.instance is None and instance.state == S.OFFLINE
    body = {"floating_ip": str(free.uuid)}
    with NoWrites(sim, django_capture_on_commit_callbacks):
        plan = dry(client, url(instance, "assign_floating_ip"), body).json()
    assert plan["state_path"] == ["Offline", "Offline", "Offline"]
    calls = [a["call"] for a in plan["steps"][0]["actions"]]
    assert calls == [
        f"neutron update_floatingip {free.backend_id} ({free.address}) port_id={instance.port_id}",
        f"neutron replace_tag floatingips (the IP) [nodeconductor, nc-instance-{instance.uuid.hex}]",
    ], "a chosen IP is never a new one"
    sim.clear_call_log()
    with run_tasks():
        response = client.post(url(instance, "assign_floating_ip"), body, format="json")
    assert (response.status_code, response.json()) == (202, {"status": "assign_floating_ip was scheduled"})
    assert_plan_matches(plan, cloud_writes(sim))
    instance.refresh_from_db()
    assert (instance.state, instance.external_ips) == (S.OFFLINE, free.address)

    with NoWrites(sim, django_capture_on_commit_callbacks):
        plan = dry(client, url(instance, "unassign_floating_ip")).json()
    assert plan["state_path"] == ["Offline", "Offline", "Offline"]
    assert plan["steps"][0]["actions"] == [{"call": "neutron update_floatingip (each IP on the port) port_id=None",
                                            "if": "the IP is on the port"}]  # fmt: skip
    sim.clear_call_log()
    assert act(roles, instance, "unassign_floating_ip").status_code == 202
    assert_plan_matches(plan, cloud_writes(sim))
    assert cloud_writes(sim) == ["network.floatingip_update"]
    instance.refresh_from_db()
    assert (instance.state, instance.external_ips, tenant_fips(sim, membership)[0]["port_id"]) == (
        S.OFFLINE, "", None)


def test_a_floating_ip_dry_run_answers_what_the_request_answers(net_iaas, roles):  # noqa: F811
    instance = provision(net_iaas, roles)
    erred = provision(net_iaas, roles, hostname="erred")
    Instance.objects.filter(pk=erred.pk).update(state=S.ERRED)
    cases = [("manager", instance, "assign_floating_ip"), ("admin", erred, "assign_floating_ip"),
             ("admin", instance, "unassign_floating_ip")]  # fmt: skip
    for role, target, action in cases:
        planned = dry(roles.client_as(role), url(target, action))
        real = roles.client_as(role).post(url(target, action), {}, format="json")
        assert (planned.status_code, planned.json()) == (real.status_code, real.json())
        assert real.status_code in (403, 409), (role, action, real.json())
