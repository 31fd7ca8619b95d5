"""backend/snapshots.py: one look at a tenant lists its servers and volumes at the same time, errors translated."""

import pytest

from nodeconductor.iaas.backend import CloudAccess, CloudBackendError, OpenStackBackend


def _backend(sim_env):
    """A backend on the simulator whose admin may read the demo tenant (as a synced membership grants)."""
    backend = OpenStackBackend(CloudAccess("sim", sim_env.credentials["auth_url"], sim_env.credentials))
    backend._ensure_admin_role(sim_env.tenant_id)
    return backend


def test_the_volume_list_does_not_wait_for_the_server_list(sim_env):
    """A slow server list (held 1 s by the simulator) ends after the volume list: both were in flight together.

    One after another, the volumes would be listed only once the servers had answered.
    """
    backend, sim = _backend(sim_env), sim_env.sim
    backend.snapshot_tenant(sim_env.tenant_id)  # tokens and clients made, so only the two lists remain
    sim.clear_call_log()
    sim.fail_next("compute.server_list", mode="hang", seconds=1)
    snapshot = backend.snapshot_tenant(sim_env.tenant_id)
    assert [c["operation"] for c in sim.call_log] == ["volume.list", "compute.server_list"]
    assert snapshot.tenant_id == sim_env.tenant_id and snapshot.servers == {} and snapshot.volumes == {}


@pytest.mark.parametrize("operation", ["compute.server_list", "volume.list"])
def test_either_list_failing_is_the_clouds_error(sim_env, operation):
    backend, sim = _backend(sim_env), sim_env.sim
    sim.fail_next(operation, times=3, status=403, message="Policy doesn't allow this listing.")
    with pytest.raises(CloudBackendError, match="Policy doesn't allow this listing."):
        backend.snapshot_tenant(sim_env.tenant_id)


def test_a_volume_list_that_failed_beside_the_server_list_is_asked_again_alone(sim_env):
    """The second thread's failure (here a 500; in life, a token both calls found rejected) is not the tick's."""
    backend, sim = _backend(sim_env), sim_env.sim
    backend.snapshot_tenant(sim_env.tenant_id)
    sim.clear_call_log()
    sim.fail_next("volume.list", times=1, status=500, message="Transient volume list failure.")
    snapshot = backend.snapshot_tenant(sim_env.tenant_id)
    calls = [(c["operation"], c["status"]) for c in sim.call_log]
    assert sorted(calls) == [("compute.server_list", 200), ("volume.list", 200), ("volume.list", 500)]
    assert calls[-1] == ("volume.list", 200) and snapshot.volumes == {}
