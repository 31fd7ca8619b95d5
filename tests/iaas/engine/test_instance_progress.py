"""`operation` shows how far an operation got and what it waits for; staff recover Erred instances."""

import time

import pytest

from nodeconductor.events.models import Event
from nodeconductor.iaas.engine import operations
from nodeconductor.iaas.models import Instance, InstanceState
from tests.iaas.steps import advance
from tests.iaas.views.test_instances import create_body, provision, run_tasks, stop, url

pytestmark = pytest.mark.django_db(transaction=True)
S = InstanceState


@pytest.mark.django_db(transaction=False)  # the create's task is not run on commit: the test runs its steps
def test_a_provision_shows_its_steps_from_queued_to_done(iaas, roles):
    client = roles.client_as("admin")
    body = client.post("/api/instances/", create_body(iaas), format="json").json()
    assert body["operation"]["name"] == "provision" and body["operation"]["state"] == "queued"
    assert (body["operation"]["steps_done"], body["operation"]["steps_total"]) == (0, 3)
    advance(operations.PROVISION, body["uuid"])  # one task run: the volumes are asked for
    shown = client.get(f"/api/instances/{body['uuid']}/").json()["operation"]
    assert shown["state"] == "running" and shown["steps_done"] == 1
    assert shown["step"] == "wait for both volumes to be available, then boot the server from the root volume"
    assert shown["waiting_for"] == "volumes to become available" and shown["waiting_since"].endswith("Z")
    assert shown["started"] is not None and shown["failure"] == ""
    operations.run_blocking(operations.PROVISION, body["uuid"])
    done = client.get(f"/api/instances/{body['uuid']}/").json()
    assert done["state"] == "Online" and done["operation"] is None


def test_an_erred_instance_keeps_the_failed_step_and_the_clouds_message(iaas, roles):
    iaas.env.sim.fail_next("compute.server_create", status=500, message="No valid host was found")
    instance = provision(iaas, roles)
    shown = roles.client_as("manager").get(url(instance)).json()
    assert shown["state"] == "Erred"
    assert shown["operation"]["name"] == "provision" and shown["operation"]["state"] == "failed"
    assert "No valid host was found" in shown["operation"]["failure"]
    assert shown["operation"]["step"].startswith("wait for both volumes")  # the boot is in the volumes phase


def test_every_phase_a_step_returns_is_declared(iaas):
    """The progress labels come from the operation's declared phases: a step never reports another phase."""
    seen = set()
    original = operations._release

    def spy(instance, token, seq, phase, params, changes, retry_after):
        op = operations.OPERATIONS[Instance.objects.get(pk=instance.pk).operation_name]
        table = op.phase_table(bool(params.get("compensating")))
        seen.add((op.name, phase, phase in table))
        return original(instance, token, seq, phase, params, changes, retry_after)

    operations._release = spy
    try:
        from tests.iaas.backend.test_instances import force_state, make_instance, run

        instance = run(operations.PROVISION, make_instance(iaas), backend_flavor_id=iaas.flavor.backend_id)
        for state, op, params in (
            (S.STOPPING_SCHEDULED, operations.STOP, {}),
            (S.RESIZING_SCHEDULED, operations.RESIZE_DISK, {"new_size_mib": 2048}),
            (S.STARTING_SCHEDULED, operations.START, {}),
            (S.RESTARTING_SCHEDULED, operations.RESTART, {}),
            (S.STOPPING_SCHEDULED, operations.STOP, {}),
            (S.DELETION_SCHEDULED, operations.DELETE, {}),
        ):
            force_state(instance, state)
            run(op, instance, **params)
    finally:
        operations._release = original
    assert {name for name, _, _ in seen} >= {"provision", "stop", "resize_disk", "start", "restart", "delete"}
    assert all(declared for _, _, declared in seen), sorted(seen)


def recover(roles, instance):
    with run_tasks():
        response = roles.client_as("staff").post(url(instance, "recover"))
    assert response.status_code == 202, response.json()
    instance.refresh_from_db()
    return instance


def test_recover_brings_a_healthy_erred_vm_back_online_or_offline(iaas, roles):
    online = provision(iaas, roles)
    Instance.objects.filter(pk=online.pk).update(state=S.ERRED, error_message="a worker died")
    assert recover(roles, online).state == S.ONLINE and online.error_message == ""
    stopped = stop(iaas, roles, provision(iaas, roles, hostname="web-2"))
    Instance.objects.filter(pk=stopped.pk).update(state=S.ERRED, error_message="a worker died")
    assert recover(roles, stopped).state == S.OFFLINE
    assert Event.objects.filter(event_type="instance_recover_succeeded").count() == 2


def test_recover_of_a_vm_whose_server_is_gone_stays_erred_saying_why(iaas, roles):
    instance = provision(iaas, roles)
    backend = iaas.cloud.get_backend()
    backend.nova(iaas.membership.tenant_id).servers.delete(instance.backend_id)
    for _ in range(200):
        if backend.get_server(instance) is None:
            break
        time.sleep(0.05)
    Instance.objects.filter(pk=instance.pk).update(state=S.ERRED, error_message="a worker died")
    instance = recover(roles, instance)
    assert instance.state == S.ERRED
    assert instance.error_message == f"Not recovered: server {instance.backend_id} is not in the cloud."
    failed = Event.objects.get(event_type="instance_recover_failed")
    assert instance.backend_id in failed.message
