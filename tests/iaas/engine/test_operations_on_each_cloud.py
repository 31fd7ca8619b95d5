"""Plans, progress and recovery on the simulator and on the real cloud: the same scenario, both clouds."""

import time

import pytest

from nodeconductor.events.models import Event
from nodeconductor.iaas.engine import operations
from nodeconductor.iaas.models import Instance, InstanceState
from tests.iaas.steps import advance
from tests.iaas.views.test_instances import create_body, run_tasks, url

S = InstanceState


def tenant_resources(iaas):
    """Server and volume ids in the test tenant, read with the real clients."""
    backend = iaas.cloud.get_backend()
    tenant = iaas.membership.tenant_id
    servers = set(backend.list_servers(tenant))
    volumes = {v.id for v in backend.cinder(tenant).volumes.list()}
    return servers, volumes


@pytest.mark.django_db(transaction=False)  # on-commit work is not sent: the test runs the worker's steps itself
def test_plan_then_provision_step_by_step_with_progress_then_recover(iaas_any, roles):
    iaas = iaas_any
    client = roles.client_as("admin")
    body = create_body(iaas, hostname="nc-plan-progress")
    before = tenant_resources(iaas)
    plan = client.post("/api/instances/?dry_run=true", body, format="json")
    assert plan.status_code == 200, plan.json()
    assert tenant_resources(iaas) == before, "a dry run made something in the cloud"
    assert Instance.objects.count() == 0
    image = iaas.template.images.get(cloud=iaas.cloud).backend_id
    first_call = plan.json()["steps"][0]["actions"][0]["call"]
    assert first_call.startswith(f"cinder volumes.create size=1 GiB imageRef={image}")

    created = client.post("/api/instances/", body, format="json")
    assert created.status_code == 201, created.json()
    uuid = created.json()["uuid"]
    assert created.json()["operation"]["state"] == "queued"
    # The progress counts the plan's steps but for the retry after Nova's transient build failure, unless it happens.
    retried = False
    counted = [step for step in plan.json()["steps"] if step["phase"] not in ("rebuild", "rebuilt")]
    seen = []
    deadline = time.monotonic() + 600
    while True:
        outcome = advance(operations.PROVISION, uuid)
        shown = client.get(f"/api/instances/{uuid}/").json()
        if shown["operation"] is None:
            break
        seen.append((shown["operation"]["steps_done"], shown["operation"]["step"], shown["operation"]["waiting_for"]))
        retried = retried or shown["operation"]["steps_total"] == len(plan.json()["steps"])
        assert shown["operation"]["steps_total"] == len(plan.json()["steps"] if retried else counted)
        assert time.monotonic() < deadline, seen
        time.sleep(outcome.retry_after)
    assert shown["state"] == "Online", shown["error_message"]
    done = [n for n, _, _ in seen]
    assert done == sorted(done) and done[-1] == len(plan.json()["steps"] if retried else counted) - 1, seen
    assert seen[-1][1] == plan.json()["steps"][-1 if retried else 2]["does"]
    steps = Event.objects.filter(resource_uuid=uuid, event_type="instance_provision_step_done")
    assert steps.count() >= 2
    assert all(e.context["seconds"] >= 0 for e in steps)
    # Each step's event says when it began and ended; the steps follow one another.
    spans = sorted((e.context["started"], e.context["ended"]) for e in steps)
    assert all(a <= b for a, b in spans) and all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1))

    # A healthy instance marked Erred (say, by a worker that lost its database) is reconciled by staff.
    instance = Instance.objects.get(uuid=uuid)
    instance.set_erred("lost track of it")
    instance.save()
    with run_tasks():
        response = roles.client_as("staff").post(url(instance, "recover"))
    assert response.status_code == 202, response.json()
    recovered = client.get(f"/api/instances/{uuid}/").json()
    assert (recovered["state"], recovered["error_message"]) == ("Online", ""), recovered

    # The delete plan names the server and both volumes the cloud has; then stop and delete for real.
    instance.refresh_from_db()
    with run_tasks():
        assert client.post(url(instance, "stop")).status_code == 202
    delete_plan = client.delete(f"{url(instance)}?dry_run=true").json()
    assert delete_plan["steps"][0]["actions"] == [{"call": f"nova servers.delete {instance.backend_id}"}]
    assert instance.system_volume_id in str(delete_plan["steps"][2])
    with run_tasks():
        assert client.delete(url(instance)).status_code == 202
    assert not Instance.objects.filter(uuid=uuid).exists()
    servers, volumes = tenant_resources(iaas)
    assert instance.backend_id not in servers
    assert {instance.system_volume_id, instance.data_volume_id} & volumes == set()
