"""A fault injected at every backend step ends in a defined state, with the cloud's message, nothing orphaned."""

import time

import pytest

from nodeconductor.iaas.backend.instances import InstanceOperationsMixin
from nodeconductor.iaas.engine import operations
from nodeconductor.iaas.models import Instance, InstanceState
from nodeconductor.iaas.resource_operations import run_cloud_pull
from nodeconductor.iaas.services.instances import membership_usage
from tests.iaas.backend.test_instances import force_state, make_instance, run
from tests.iaas.steps import advance

pytestmark = pytest.mark.django_db(transaction=True)
S = InstanceState


def assert_nothing_in_cloud(sim):
    """No server and no volume is left in the simulated cloud."""
    assert sim.servers() == []
    assert [v["status"] for v in sim.volumes()] == []


def provision(iaas):
    """Provision an instance as the worker would, to its end."""
    instance = make_instance(iaas)
    return run(operations.PROVISION, instance, backend_flavor_id=iaas.flavor.backend_id)


@pytest.mark.parametrize(
    "operation, kwargs, expected",
    [
        ("volume.create", {"status": 500, "message": "Volume backend exploded"}, "Volume backend exploded"),
        ("volume.create", {"mode": "error_state"}, "went to status error"),
        ("compute.keypair_create", {"status": 400, "message": "Keypair data is invalid"}, "push SSH key"),
        ("compute.server_create", {"status": 500, "message": "No valid host was found"}, "No valid host was found"),
        ("compute.server_create", {"status": 403, "message": "Quota exceeded for instances"}, "Quota exceeded"),
        ("compute.server_create", {"mode": "error_state"}, "went to ERROR"),
        ("volume.get", {"status": 503, "message": "Service Unavailable"}, "Service Unavailable"),
        # One 500 on a server read is the transient race and is retried; a lasting one fails the provision.
        ("compute.server_get", {"status": 500, "message": "Unexpected API Error", "times": 4}, "Unexpected API Error"),
    ],
)
def test_provision_fault_ends_erred_and_cleans_up(iaas, operation, kwargs, expected):
    sim = iaas.env.sim
    sim.fail_next(operation, **{"times": 1, **kwargs})
    instance = provision(iaas)
    assert instance.state == S.ERRED
    assert expected in instance.error_message
    assert "admin" not in instance.error_message.split("password")[-1] or "password" not in instance.error_message
    assert sim.fault_log and sim.fault_log[-1]["operation"] == operation
    assert_nothing_in_cloud(sim)
    # What it made is gone, so it no longer holds quota.
    assert (instance.backend_id, instance.system_volume_id, instance.data_volume_id) == ("", "", "")
    assert membership_usage(iaas.membership)["max_instances"] == 0


def test_data_volume_fault_deletes_the_root_volume(iaas, monkeypatch):
    sim = iaas.env.sim
    original = InstanceOperationsMixin._ensure_volume

    def arm_before_data(self, instance, role, *args, **kwargs):
        if role == "data" and not instance.data_volume_id:
            sim.fail_next("volume.create", status=413, message="VolumeSizeExceedsAvailableQuota")
        return original(self, instance, role, *args, **kwargs)

    monkeypatch.setattr(InstanceOperationsMixin, "_ensure_volume", arm_before_data)
    instance = provision(iaas)
    assert instance.state == S.ERRED and "VolumeSizeExceedsAvailableQuota" in instance.error_message
    assert_nothing_in_cloud(sim)


def test_provision_times_out_and_cleans_up(iaas, settings):
    sim = iaas.env.sim
    sim.set_delay("server_build", 30)
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_WAIT_TIMEOUT": 1}
    instance = provision(iaas)
    assert instance.state == S.ERRED and "Timed out" in instance.error_message
    assert "server BUILD" in instance.error_message
    assert_nothing_in_cloud(sim)


def test_a_failed_provision_cleans_up_in_steps_that_never_sleep(iaas, monkeypatch):
    """The cleanup of a failed provision waits for the cloud like every other wait: between task runs, each
    of which returns at once, never by sleeping in the worker."""
    import time as real_time
    import types

    def no_sleep(seconds):
        raise AssertionError(f"a step slept {seconds} s inside the worker")

    monkeypatch.setattr(operations, "time", types.SimpleNamespace(time=real_time.time, sleep=no_sleep))
    sim = iaas.env.sim
    sim.set_delay("server_delete", 0.5)
    sim.set_delay("volume_delete", 0.5)
    sim.fail_next("compute.server_create", mode="error_state")
    instance = make_instance(iaas)
    seen = []
    outcome = advance(operations.PROVISION, instance.uuid, {"backend_flavor_id": iaas.flavor.backend_id})
    for _ in range(400):
        if outcome.finished:
            break
        row = Instance.objects.get(pk=instance.pk)
        seen.append((row.state, row.operation_phase, bool(row.operation_params.get("compensating"))))
        real_time.sleep(0.02)
        outcome = advance(operations.PROVISION, instance.uuid)
    instance.refresh_from_db()
    assert instance.state == S.ERRED and "went to ERROR" in instance.error_message
    cleaning = [phase for state, phase, compensating in seen if compensating]
    assert {"server_gone", "volumes"} <= set(cleaning), seen
    assert all(state == S.PROVISIONING for state, _, compensating in seen if compensating)
    assert_nothing_in_cloud(sim)


def test_cleanup_failure_says_what_is_left(iaas):
    sim = iaas.env.sim
    sim.fail_next("compute.server_create", mode="error_state")
    sim.fail_next("compute.server_delete", times=50, status=500, message="Cannot delete")
    instance = provision(iaas)
    assert instance.state == S.ERRED
    assert "Cleanup could not remove" in instance.error_message and instance.backend_id in instance.error_message
    # What is left stays tracked: the ids are kept, so it still counts and can be deleted later.
    assert instance.backend_id and len(sim.servers()) == 1
    sim.reset_faults() if hasattr(sim, "reset_faults") else sim.state.faults.clear()
    force_state(instance, S.DELETION_SCHEDULED)
    assert run(operations.DELETE, instance) is None
    assert_nothing_in_cloud(sim)


def test_redelivered_provision_creates_nothing_twice(iaas):
    sim = iaas.env.sim
    instance = make_instance(iaas)
    params = {"backend_flavor_id": iaas.flavor.backend_id}
    outcome = advance(operations.PROVISION, instance.uuid, params)
    assert not outcome.finished
    first_token = Instance.objects.get(pk=instance.pk).operation_token
    # A worker that made the volumes and died before it saved their ids: the step is run again from its phase.
    Instance.objects.filter(pk=instance.pk).update(
        system_volume_id="", data_volume_id="", backend_id="", operation_phase="", operation_seq=0
    )
    for _ in range(3):
        advance(operations.PROVISION, instance.uuid)
    operations.run_blocking(operations.PROVISION, instance.uuid)
    instance.refresh_from_db()
    assert instance.state == S.ONLINE, instance.error_message
    # A stale redelivery of the first message, once Online, is fenced off by its token and does nothing.
    Instance.objects.filter(pk=instance.pk).update(backend_id="")
    assert operations.run_step(instance.uuid, first_token, 0).finished
    instance.refresh_from_db()
    assert instance.state == S.ONLINE and instance.backend_id == ""
    assert len(sim.servers()) == 1 and len(sim.volumes()) == 2
    creates = [c for c in sim.call_log if c["operation"] in ("compute.server_create", "volume.create")]
    assert len(creates) == 3, creates


@pytest.fixture
def stopped(iaas):
    """A provisioned, stopped instance."""
    instance = provision(iaas)
    force_state(instance, S.STOPPING_SCHEDULED)
    instance = run(operations.STOP, instance)
    assert instance.state == S.OFFLINE, instance.error_message
    return instance


def resize_flavor(iaas, instance):
    """Run a flavor resize to the next bigger flavor."""
    bigger = iaas.cloud.flavors.exclude(pk=iaas.flavor.pk).order_by("ram").first()
    force_state(instance, S.RESIZING_SCHEDULED)
    return run(operations.RESIZE_FLAVOR, instance, backend_flavor_id=bigger.backend_id, flavor_uuid=str(bigger.uuid))


@pytest.mark.parametrize(
    "operation, kwargs, expected",
    [
        ("compute.server_resize", {"status": 400, "message": "No valid host was found"}, "No valid host was found"),
        ("compute.server_resize", {"mode": "error_state"}, "ERROR"),
        ("compute.server_confirm_resize", {"status": 500, "message": "Confirm failed"}, "Confirm failed"),
        # One 500 on a server read is the transient race and is retried; a lasting one fails the provision.
        ("compute.server_get", {"status": 500, "message": "Unexpected API Error", "times": 4}, "Unexpected API Error"),
    ],
)
def test_flavor_resize_fault(iaas, stopped, operation, kwargs, expected):
    iaas.env.sim.fail_next(operation, **kwargs)
    instance = resize_flavor(iaas, stopped)
    assert instance.state == S.ERRED and expected in instance.error_message
    # Our record keeps the old flavor: cores and RAM change only once the cloud applied them.
    assert (instance.cores, instance.ram, instance.flavor) == (iaas.flavor.cores, iaas.flavor.ram, iaas.flavor)
    sim_volumes = {v["id"]: v for v in iaas.env.sim.volumes()}
    assert sim_volumes[instance.data_volume_id]["size"] == 1  # disks untouched


def resize_disk(instance, size=2048):
    """Run a data disk resize."""
    force_state(instance, S.RESIZING_SCHEDULED)
    return run(operations.RESIZE_DISK, instance, new_size_mib=size)


def data_volume(sim, instance):
    """The simulator's record of the instance's data volume."""
    return next(v for v in sim.volumes() if v["id"] == instance.data_volume_id)


@pytest.mark.parametrize(
    "operation, kwargs, expected",
    [
        ("volume.extend", {"status": 400, "message": "Invalid volume: extend refused"}, "extend refused"),
        ("volume.extend", {"mode": "error_state"}, "error_extending"),
    ],
)
def test_failed_extend_reattaches_and_errs(iaas, stopped, operation, kwargs, expected):
    sim = iaas.env.sim
    sim.fail_next(operation, **kwargs)
    instance = resize_disk(stopped)
    assert instance.state == S.ERRED and expected in instance.error_message
    assert instance.data_volume_size == 1024
    volume = data_volume(sim, instance)
    assert volume["status"] == "in-use" and volume["size"] == 1  # re-attached anyway, size unchanged


@pytest.mark.parametrize(
    "operation, kwargs, expected",
    [
        ("compute.volume_detach", {"status": 500, "message": "Detach failed"}, "Detach failed"),
        ("compute.volume_detach", {"mode": "error_state"}, "error_detaching"),
        ("compute.volume_attach", {"status": 500, "message": "Attach failed"}, "Attach failed"),
        ("compute.volume_attachment_list", {"status": 500, "message": "Unexpected"}, "Unexpected"),
    ],
)
def test_disk_resize_fault(iaas, stopped, operation, kwargs, expected):
    sim = iaas.env.sim
    sim.fail_next(operation, **kwargs)
    instance = resize_disk(stopped)
    assert instance.state == S.ERRED and expected in instance.error_message, instance.error_message
    assert instance.data_volume_id  # still tracked, so deleting the instance removes it
    force_state(instance, S.DELETION_SCHEDULED)
    sim.state.faults.clear()
    assert run(operations.DELETE, instance) is None
    assert_nothing_in_cloud(sim)


@pytest.mark.parametrize(
    "operation, kwargs",
    [
        ("compute.server_stop", {"status": 500, "message": "Stop exploded"}),
        ("compute.server_stop", {"mode": "error_state"}),
    ],
)
def test_stop_fault_ends_erred(iaas, operation, kwargs):
    instance = provision(iaas)
    iaas.env.sim.fail_next(operation, **kwargs)
    force_state(instance, S.STOPPING_SCHEDULED)
    instance = run(operations.STOP, instance)
    assert instance.state == S.ERRED and instance.error_message


def test_delete_fault_ends_erred_and_can_be_retried(iaas, stopped):
    sim = iaas.env.sim
    sim.fail_next("compute.server_delete", status=500, message="Delete exploded")
    force_state(stopped, S.DELETION_SCHEDULED)
    instance = run(operations.DELETE, stopped)
    assert instance.state == S.ERRED and "Delete exploded" in instance.error_message
    force_state(instance, S.DELETION_SCHEDULED)
    assert run(operations.DELETE, instance) is None
    assert_nothing_in_cloud(sim)


def test_expired_tokens_are_renewed_mid_flow(iaas):
    sim = iaas.env.sim
    instance = make_instance(iaas)
    params = {"backend_flavor_id": iaas.flavor.backend_id}
    advance(operations.PROVISION, instance.uuid, params)
    sim.expire_tokens()
    operations.run_blocking(operations.PROVISION, instance.uuid, params)
    instance.refresh_from_db()
    assert instance.state == S.ONLINE, instance.error_message


def test_a_hanging_cloud_times_out_with_a_readable_message(iaas, settings):
    from nodeconductor.iaas.backend.session import clear_sessions

    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_READ_TIMEOUT": 0.3}
    clear_sessions()
    iaas.env.sim.fail_next("volume.create", mode="hang", seconds=1.5)
    instance = provision(iaas)
    assert instance.state == S.ERRED
    assert instance.error_message.startswith("create system volume")
    assert "timed out" in instance.error_message.lower()
    assert instance.system_volume_id == ""  # the provision never learned of the volume
    # The hung create still happens in the cloud after we gave up, as on a real cloud: nothing tracks it ...
    sim = iaas.env.sim
    for _ in range(100):
        if sim.volumes():
            break
        time.sleep(0.05)
    assert [v["name"] for v in sim.volumes()] == [f"nc-{instance.uuid.hex}-system"]
    # ... until the periodic pull sweeps what carries our metadata for no instance that tracks it.
    while sim.volumes()[0]["status"] != "available":
        time.sleep(0.05)
    diff = run_cloud_pull(iaas.cloud)
    assert any("deleted untracked volume" in line for line in diff.lines())
    for _ in range(100):
        if not sim.volumes():
            break
        time.sleep(0.05)
    assert_nothing_in_cloud(sim)


def test_the_sweep_keeps_what_instances_track(iaas):
    sim = iaas.env.sim
    kept = provision(iaas)
    in_flight = make_instance(iaas, hostname="building")
    advance(operations.PROVISION, in_flight.uuid, {"backend_flavor_id": iaas.flavor.backend_id})
    Instance.objects.filter(pk=in_flight.pk).update(system_volume_id="", data_volume_id="")  # ids not saved yet
    diff = run_cloud_pull(iaas.cloud)
    assert not any("untracked" in line for line in diff.lines())
    assert len(sim.servers()) == 1 and len(sim.volumes()) == 4
    assert kept.state == S.ONLINE
