"""The periodic pull moves instances changed behind our back through transitions, never by assignment."""

import time

import pytest

from nodeconductor.events.models import Event
from nodeconductor.iaas.engine import operations
from nodeconductor.iaas.models import InstanceState
from nodeconductor.iaas.pull.instances import NOT_FOUND
from nodeconductor.iaas.resource_operations import run_cloud_pull
from nodeconductor.iaas.tasks import pull_cloud_account
from tests.iaas.backend.test_instances import force_state, make_instance, run

pytestmark = pytest.mark.django_db(transaction=True)
S = InstanceState


@pytest.fixture
def online(iaas):
    """A provisioned instance."""
    instance = run(operations.PROVISION, make_instance(iaas), backend_flavor_id=iaas.flavor.backend_id)
    assert instance.state == S.ONLINE
    return instance


def wait_for_server(sim, server_id, status):
    """Poll the simulator until a server reaches a status."""
    for _ in range(200):
        if [s["status"] for s in sim.servers() if s["id"] == server_id] == [status]:
            return
        time.sleep(0.02)
    raise AssertionError(f"server {server_id} never reached {status}")


def nova_of(iaas):
    """A Nova client in the instance's tenant (to act behind our back)."""
    backend = iaas.cloud.get_backend()
    return backend.nova(iaas.membership.tenant_id)


def test_vm_stopped_behind_our_back_goes_offline(iaas, online):
    nova_of(iaas).servers.stop(online.backend_id)
    wait_for_server(iaas.env.sim, online.backend_id, "SHUTOFF")
    diff = run_cloud_pull(iaas.cloud)
    online.refresh_from_db()
    assert online.state == S.OFFLINE
    assert any("recover_offline" in line for line in diff.lines())
    assert Event.objects.filter(event_type="instance_pull_recover_offline", resource_uuid=online.uuid).exists()


def test_vm_started_behind_our_back_goes_online(iaas, online):
    force_state(online, S.STOPPING_SCHEDULED)
    instance = run(operations.STOP, online)
    nova_of(iaas).servers.start(instance.backend_id)
    wait_for_server(iaas.env.sim, instance.backend_id, "ACTIVE")
    run_cloud_pull(iaas.cloud)
    instance.refresh_from_db()
    assert instance.state == S.ONLINE


def test_vanished_vm_becomes_erred_with_not_found(iaas, online):
    nova_of(iaas).servers.delete(online.backend_id)
    for _ in range(200):
        if not iaas.env.sim.servers():
            break
        time.sleep(0.02)
    iaas.cloud.schedule_syncing()
    iaas.cloud.save()
    pull_cloud_account(str(iaas.cloud.uuid))
    online.refresh_from_db()
    assert online.state == S.ERRED and online.error_message == NOT_FOUND


def test_erred_vm_found_healthy_recovers(iaas, online):
    from nodeconductor.iaas.models import Instance

    instance = Instance.objects.get(pk=online.pk)
    instance.set_erred("a transient failure")
    instance.save()
    run_cloud_pull(iaas.cloud)
    instance.refresh_from_db()
    assert instance.state == S.ONLINE and instance.error_message == ""


def test_server_in_error_marks_instance_erred_with_the_fault(iaas, online):
    iaas.env.sim.fail_next("compute.server_reboot", mode="error_state")
    nova_of(iaas).servers.reboot(online.backend_id)
    wait_for_server(iaas.env.sim, online.backend_id, "ERROR")
    run_cloud_pull(iaas.cloud)
    online.refresh_from_db()
    assert online.state == S.ERRED and "ERROR" in online.error_message


def test_instances_in_flight_are_left_to_their_worker(iaas, online):
    force_state(online, S.STOPPING_SCHEDULED)
    nova_of(iaas).servers.stop(online.backend_id)
    wait_for_server(iaas.env.sim, online.backend_id, "SHUTOFF")
    run_cloud_pull(iaas.cloud)
    online.refresh_from_db()
    assert online.state == S.STOPPING_SCHEDULED


def test_unchanged_instances_are_not_written(iaas, online):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        run_cloud_pull(iaas.cloud)
    writes = [q["sql"] for q in queries if q["sql"].split()[0] in ("INSERT", "DELETE")]
    assert writes == []
    online.refresh_from_db()
    assert online.state == S.ONLINE
