"""The provision step's one retry after Nova's transient build failure, on plain data against the simulator: the
looks of its "rebuild" phase, including a look run again after a worker died and a volume lost meanwhile."""

import dataclasses
import time
import uuid

import pytest

from nodeconductor.iaas.backend import CloudBackendError, OpenStackBackend
from nodeconductor.iaas.backend.instances import InstanceOperationsMixin as Steps
from nodeconductor.iaas.backend.specs import CloudAccess, ImageRef, InstanceSpec

TRANSIENT = "Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures"


def setup(sim_env):
    """A backend on the simulator and the spec of a new instance on no network, its next build failing once."""
    backend = OpenStackBackend(CloudAccess("sim", sim_env.credentials["auth_url"], sim_env.credentials))
    image = next(i for i in backend.list_images() if i["backend_id"] == sim_env.image_id)
    spec = InstanceSpec(uuid=uuid.uuid4(), hostname="retry-vm", tenant_id=sim_env.tenant_id, system_volume_size=1024,
                        data_volume_size=1024, image=ImageRef(image["backend_id"], image["min_disk"]),
                        membership_state="", networking="none")  # fmt: skip
    sim_env.sim.fail_next("compute.server_create", mode="retries_exhausted")
    return backend, spec


def look(backend, spec, phase, params):
    """One look of the provision step, as a worker makes it: (the spec with its changes, the step)."""
    step = backend.run_step(Steps.provision_step, spec, phase=phase, backend_flavor_id="1", **params)
    return dataclasses.replace(spec, **{k: v for k, v in step.changes.items() if hasattr(spec, k)}), step


def until(backend, spec, phase, params, stop):
    """Look until the step's phase is `stop` (or it is done); return the spec, phase and params it got to."""
    for _ in range(400):
        spec, step = look(backend, spec, phase, params)
        phase, params = step.phase, {**params, **step.carry}
        if step.done or phase == stop:
            return spec, step, params
        time.sleep(0.02)
    raise AssertionError(f"never reached {stop}; last phase {phase!r}")


def test_the_failed_build_hands_its_fault_to_one_retry_and_forgets_the_failed_server(sim_env):
    backend, spec = setup(sim_env)
    failed_spec, step, params = until(backend, spec, "", {}, "rebuild")
    assert failed_spec.backend_id == "" and step.changes["backend_id"] == ""
    assert params["build_retry"].startswith(TRANSIENT) and params["failed_server_id"] in params["build_retry"]
    assert TRANSIENT in step.waiting_for

    built, step, _ = until(backend, failed_spec, "rebuild", params, stop=None)
    assert step.done and built.backend_id not in ("", params["failed_server_id"])
    assert (built.system_volume_id, built.data_volume_id) == (failed_spec.system_volume_id, failed_spec.data_volume_id)
    assert [s["id"] for s in sim_env.sim.servers()] == [built.backend_id]


def test_a_rebuild_look_run_again_after_its_boot_adopts_that_server(sim_env):
    """A worker that booted the second server and died before storing its id: the look run again finds it."""
    backend, spec = setup(sim_env)
    spec, _, params = until(backend, spec, "", {}, "rebuild")
    booted, step, _ = until(backend, spec, "rebuild", params, "rebuilt")
    assert booted.backend_id and spec.backend_id == ""  # the lost look's changes: the row still says none

    again, step = look(backend, spec, "rebuild", params)
    assert (step.phase, again.backend_id) == ("rebuilt", booted.backend_id)
    assert [c["operation"] for c in sim_env.sim.call_log].count("compute.server_create") == 2


def test_a_volume_gone_before_the_retry_fails_saying_both(sim_env):
    backend, spec = setup(sim_env)
    spec, _, params = until(backend, spec, "", {}, "rebuild")
    backend.cinder(sim_env.tenant_id).volumes.delete(spec.data_volume_id)  # someone deleted it in the meantime
    with pytest.raises(CloudBackendError) as err:
        until(backend, spec, "rebuild", params, "rebuilt")
    message = str(err.value)
    assert message.startswith(f"The server went to ERROR in the cloud: {TRANSIENT}")
    assert message.endswith(f"It was not built again: its data volume {spec.data_volume_id} is gone.")
    assert [c["operation"] for c in sim_env.sim.call_log].count("compute.server_create") == 1
