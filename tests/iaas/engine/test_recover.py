"""Recovery is an operation of the engine (issue 22): recorded on the row, claimed once, swept after a worker's
death, busy while it runs (409 to every other action), and printed by its plan, as every other operation."""

import os
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from nodeconductor.events.models import Event
from nodeconductor.iaas.engine import leases, operations, sweeper
from nodeconductor.iaas.models import Instance, InstanceState
from tests.iaas.test_instance_plans import NoWrites, assert_plan_matches, cloud_writes, dry
from tests.iaas.views.test_instances import provision, run_tasks, url

S = InstanceState
BUSY = "A recovery of the instance is under way; retry once it is done."


@pytest.fixture
def erred(iaas, roles):
    """A provisioned VM that went Erred although its server and volumes are healthy."""
    instance = provision(iaas, roles)
    Instance.objects.filter(pk=instance.pk).update(state=S.ERRED, error_message="a worker died")
    return Instance.objects.get(pk=instance.pk)


def schedule(roles, instance, django_capture_on_commit_callbacks):
    """POST recover as staff, keeping the message unsent (no worker has run): the row as recorded."""
    with django_capture_on_commit_callbacks(execute=False) as sends:
        response = roles.client_as("staff").post(url(instance, "recover"))
    assert (response.status_code, response.json()) == (202, {"status": "recover was scheduled"})
    assert len(sends) == 1
    return Instance.objects.get(pk=instance.pk)


def test_a_recovery_is_recorded_on_the_row_and_the_instance_is_busy_until_it_ends(
        erred, roles, django_capture_on_commit_callbacks):
    row = schedule(roles, erred, django_capture_on_commit_callbacks)
    assert (row.state, row.operation_name, row.operation_seq, row.operation_started) == (S.ERRED, "recover", 0, None)
    assert len(row.operation_token) == 32
    body = roles.client_as("staff").get(url(erred)).json()
    assert body["operation"]["name"] == "recover" and body["operation"]["state"] == "queued"
    assert body["operation"]["steps_total"] == 1
    for action in ("delete", "recover"):
        assert body["actions"][action] == {"enabled": False, "reason": BUSY}
    for method, path in (("delete", url(erred)), ("post", url(erred, "recover"))):
        response = getattr(roles.client_as("staff"), method)(path)
        assert (response.status_code, response.json()) == (409, {"detail": BUSY, "code": "invalid_state"}), path
    outcome = operations.run_step(str(erred.uuid), row.operation_token, 0)
    assert outcome.finished
    row.refresh_from_db()
    assert (row.state, row.error_message, row.operation_token, row.operation_name) == (S.ONLINE, "", "", "")
    assert roles.client_as("staff").get(url(erred)).json()["actions"]["stop"] == {"enabled": True, "reason": ""}


def test_a_recovery_step_is_claimed_once(erred, roles, django_capture_on_commit_callbacks):
    row = schedule(roles, erred, django_capture_on_commit_callbacks)
    first = operations.run_step(str(erred.uuid), row.operation_token, 0)
    again = operations.run_step(str(erred.uuid), row.operation_token, 0)  # a redelivered message
    assert first.finished and again.finished
    assert Event.objects.filter(event_type="instance_recover_succeeded").count() == 1
    assert Instance.objects.get(pk=erred.pk).state == S.ONLINE


def test_a_recovery_whose_worker_died_is_swept_and_resumed(erred, roles, django_capture_on_commit_callbacks):
    row = schedule(roles, erred, django_capture_on_commit_callbacks)
    dead = subprocess.Popen(["true"])
    dead.wait()
    # The worker claimed the step a while ago, then died: its lease is still held by a process that is gone.
    claimed = timezone.now() - timedelta(seconds=leases.in_flight_window() + 1)
    Instance.objects.filter(pk=erred.pk).update(operation_holder=f"{os.uname().nodename}:{dead.pid}",
                                                operation_lease_until=claimed + timedelta(seconds=leases.step_lease()))
    sent = []
    assert sweeper.sweep(lambda *step: sent.append(step)) == 1
    assert sent == [(str(erred.uuid), row.operation_token, 0)]
    assert operations.run_step(*sent[0]).finished
    assert Instance.objects.get(pk=erred.pk).state == S.ONLINE
    assert sweeper.stalled() == []


def test_the_recover_plan_is_what_the_worker_then_does(iaas, erred, roles, django_capture_on_commit_callbacks):
    client = roles.client_as("staff")
    with NoWrites(iaas.env.sim, django_capture_on_commit_callbacks):
        plan = dry(client, url(erred, "recover"))
    assert plan.status_code == 200, plan.json()
    plan = plan.json()
    assert plan["operation"] == "recover"
    assert plan["state_path"] == ["Erred", "Erred", "Online or Offline"]
    assert [step["does"] for step in plan["steps"]] == [
        "look the server and both volumes up: healthy means Online or Offline"]
    assert plan["steps"][0]["actions"] == [{"wait": f"server {erred.backend_id}, root volume and data volume → "
                                                    "ACTIVE or SHUTOFF, both volumes in-use on it"}]
    iaas.env.sim.clear_call_log()
    with run_tasks():
        assert client.post(url(erred, "recover")).status_code == 202
    assert Instance.objects.get(pk=erred.pk).state == S.ONLINE
    assert_plan_matches(plan, cloud_writes(iaas.env.sim))  # it changes nothing in the cloud


def test_a_recover_dry_run_answers_the_same_403_and_409(iaas, erred, roles):
    online = provision(iaas, roles, hostname="up")
    for role, instance in (("admin", erred), ("staff", online)):
        planned = dry(roles.client_as(role), url(instance, "recover"))
        real = roles.client_as(role).post(url(instance, "recover"))
        assert (planned.status_code, planned.json()) == (real.status_code, real.json())
        assert real.status_code in (403, 409)


# ------------------------------------------------------------------------------ the security groups of a running VM
SG_BUSY = "A security groups update of the instance is under way; retry once it is done."


@pytest.fixture
def running(iaas, roles):
    """A provisioned Online VM, and a group of its membership pushed to the cloud."""
    from tests.iaas.views.test_security_groups import make_group

    instance = provision(iaas, roles)
    group = make_group(iaas.membership)
    group.backend_id = iaas.cloud.get_backend().push_security_group(
        iaas.membership.tenant_id, "", group.name, "", [])["id"]
    group.save()
    return instance, group


def test_a_groups_update_is_an_operation_busy_claimed_once_and_swept(iaas, roles, running,
                                                                      django_capture_on_commit_callbacks):
    from tests.iaas.views.test_instances import link

    instance, group = running
    body = {"security_groups": [link("securitygroup", group)]}
    with django_capture_on_commit_callbacks(execute=False):
        response = roles.client_as("admin").post(url(instance, "update_security_groups"), body, format="json")
    assert (response.status_code, response.json()) == (202, {"status": "update_security_groups was scheduled"})
    row = Instance.objects.get(pk=instance.pk)
    assert (row.state, row.operation_name, row.operation_params["security_group_ids"]) == (
        S.ONLINE, "update_security_groups", [group.backend_id])
    assert list(row.security_groups.all()) == []  # written once the cloud's ports have it
    response = roles.client_as("admin").post(url(instance, "stop"))
    assert (response.status_code, response.json()) == (409, {"detail": SG_BUSY, "code": "invalid_state"})
    # The worker died with the step claimed: the sweeper sends it again, and it runs once.
    dead = subprocess.Popen(["true"])
    dead.wait()
    claimed = timezone.now() - timedelta(seconds=leases.in_flight_window() + 1)
    lease_until = claimed + timedelta(seconds=leases.step_lease())
    Instance.objects.filter(pk=instance.pk).update(operation_holder=f"{os.uname().nodename}:{dead.pid}",
                                                   operation_lease_until=lease_until)
    sent = []
    assert sweeper.sweep(lambda *step: sent.append(step)) == 1
    assert operations.run_step(*sent[0]).finished
    assert operations.run_step(*sent[0]).finished  # the same message again: not claimed, nothing done
    row.refresh_from_db()
    assert (row.state, row.operation_token, list(row.security_groups.all())) == (S.ONLINE, "", [group])
    assert Event.objects.filter(event_type="instance_update_security_groups_succeeded").count() == 1
    ports = iaas.cloud.get_backend().list_server_security_groups(iaas.membership.tenant_id)
    assert ports.get(instance.backend_id, [group.backend_id]) == [group.backend_id]


def test_the_groups_update_plan_names_the_groups_and_writes_nothing(iaas, roles, running,
                                                                    django_capture_on_commit_callbacks):
    from tests.iaas.views.test_instances import link

    instance, group = running
    body = {"security_groups": [link("securitygroup", group)]}
    with NoWrites(iaas.env.sim, django_capture_on_commit_callbacks):
        plan = dry(roles.client_as("admin"), url(instance, "update_security_groups"), body)
    assert plan.status_code == 200, plan.json()
    assert plan.json()["state_path"] == ["Online", "Online", "Online"]
    assert plan.json()["steps"][0]["actions"] == [{
        "call": f"neutron update_port (each port of server {instance.backend_id}) "
                f"security_groups={[group.backend_id]}", "if": "the port has other groups"}]


def test_every_operation_name_fits_the_column_that_records_it():
    # PostgreSQL refuses a longer value (SQLite does not): update_security_groups is 22 characters.
    from nodeconductor.iaas.engine.operation_table import OPERATIONS

    longest = max(OPERATIONS, key=len)
    assert len(longest) <= Instance._meta.get_field("operation_name").max_length, longest
