"""Drive an instance operation through its backend steps and its state machine.

An operation is: the transition a worker makes when it picks the job up, the backend step it advances,
and what happens on success and on failure. `advance` runs one step; tasks re-enqueue themselves between
steps (no worker slot held while the cloud works), and `run_blocking` loops with a sleep for the shell.
"""

import dataclasses
import logging
import time

from django.conf import settings
from django.db import transaction

from . import events
from .backend import CloudBackendError
from .models import Flavor, Instance, InstanceState

logger = logging.getLogger(__name__)
S = InstanceState


@dataclasses.dataclass(frozen=True)
class Operation:
    """One kind of instance job: its states, its backend step and its end transitions."""

    name: str
    scheduled_state: str
    working_state: str
    begin: str
    step: str
    succeed: str

    def on_success(self, instance, params):
        """Apply the success transition (delete removes the row instead)."""
        instance.pending_cores = instance.pending_ram = instance.pending_data_volume_size = None
        if self.name == "delete":
            instance.delete()
            return
        if self.name == "resize_flavor":
            flavor = Flavor.objects.get(uuid=params["flavor_uuid"])
            instance.flavor, instance.cores, instance.ram = flavor, flavor.cores, flavor.ram
        if self.name == "provision" and instance.flavor_id is None:
            instance.flavor = Flavor.objects.filter(
                cloud=instance.cloud_project_membership.cloud_id, backend_id=params["backend_flavor_id"]
            ).first()
        getattr(instance, self.succeed)()
        instance.save()

    def on_failure(self, backend, instance, error):
        """End Erred with the cloud's message; a failed provision first removes what it made."""
        message = str(error)
        instance.pending_cores = instance.pending_ram = instance.pending_data_volume_size = None
        if self.name == "provision":
            left = backend.cleanup_provision(instance) if backend is not None else []
            if left:
                message += " Cleanup could not remove: " + "; ".join(left) + "."
            else:
                instance.backend_id = instance.system_volume_id = instance.data_volume_id = ""
        instance.set_erred(message)
        instance.save()


PROVISION = Operation("provision", S.PROVISIONING_SCHEDULED, S.PROVISIONING, "begin_provisioning",
                      "provision_step", "set_online")  # fmt: skip
STOP = Operation("stop", S.STOPPING_SCHEDULED, S.STOPPING, "begin_stopping", "stop_step", "set_offline")
START = Operation("start", S.STARTING_SCHEDULED, S.STARTING, "begin_starting", "start_step", "set_online")
RESTART = Operation("restart", S.RESTARTING_SCHEDULED, S.RESTARTING, "begin_restarting", "restart_step", "set_online")
RESIZE_FLAVOR = Operation("resize_flavor", S.RESIZING_SCHEDULED, S.RESIZING, "begin_resizing",
                          "resize_flavor_step", "set_offline")  # fmt: skip
RESIZE_DISK = Operation("resize_disk", S.RESIZING_SCHEDULED, S.RESIZING, "begin_resizing",
                        "resize_disk_step", "set_offline")  # fmt: skip
DELETE = Operation("delete", S.DELETION_SCHEDULED, S.DELETING, "begin_deleting", "delete_step", "")


@dataclasses.dataclass
class Outcome:
    """What the caller does next: nothing (finished) or call again with this phase and these params."""

    finished: bool
    phase: str = ""
    params: dict = dataclasses.field(default_factory=dict)
    retry_after: float = 0.0


def _wait_timeout():
    """Seconds an operation may wait for the cloud before it fails."""
    return float(settings.NODECONDUCTOR.get("OPENSTACK_WAIT_TIMEOUT", 900))


def _backend_args(params):
    """The step's keyword arguments from the task params (uuids of ours are not the step's business)."""
    return {k: v for k, v in params.items() if k not in ("flavor_uuid", "user_uuid", "phase_started")}


def _user(params):
    """The user who scheduled the operation, for events."""
    from nodeconductor.core.models import User

    uuid = params.get("user_uuid")
    return User.objects.filter(uuid=uuid).first() if uuid else None


def advance(op, instance_uuid, phase="", params=None, started=None):
    """Run one step of an operation on an instance; return whether to call again, with what."""
    params = dict(params or {})
    started = started or time.time()
    instance = (
        Instance.objects.select_related("cloud_project_membership__cloud", "template", "ssh_public_key")
        .filter(uuid=instance_uuid)
        .first()
    )
    if instance is None:
        return Outcome(finished=True)
    if instance.state == op.scheduled_state:
        with transaction.atomic():
            getattr(instance, op.begin)()
            instance.save()
    elif instance.state != op.working_state:
        logger.info("Skipping %s of %s: it is %s now", op.name, instance, instance.get_state_display())
        return Outcome(finished=True)
    backend = None
    try:
        backend = instance.cloud.get_backend()
        step = backend.run_step(op.step, instance, phase=phase, **_backend_args(params))
        if not step.done and time.time() - started > _wait_timeout():
            raise CloudBackendError(
                f"Timed out after {int(time.time() - started)} s waiting for {step.waiting_for or 'the cloud'}."
            )
    except CloudBackendError as exc:
        op.on_failure(backend, instance, exc)
        events.instance_event(instance, op.name, "failed", user=_user(params), error=str(exc))
        return Outcome(finished=True)
    changed = [field for field, value in step.changes.items() if getattr(instance, field) != value]
    if changed:
        for field in changed:
            setattr(instance, field, step.changes[field])
        instance.save(update_fields=[*changed, "modified"])
    if step.done:
        events.instance_event(instance, op.name, "succeeded", user=_user(params))
        op.on_success(instance, params)
        return Outcome(finished=True)
    now = time.time()
    phase_started = params.get("phase_started", started) if step.phase == phase else now
    return Outcome(
        finished=False,
        phase=step.phase,
        params={**params, **step.carry, "phase_started": phase_started},
        retry_after=next_poll(now - phase_started),
    )


def poll_interval():
    """Longest pause between two looks at the cloud while it works."""
    return float(settings.NODECONDUCTOR.get("OPENSTACK_POLL_INTERVAL", 2))


def next_poll(waited):
    """Pause before the next look: a tenth of the time already waited in this phase, within the bounds.

    A fixed interval makes every wait end up to one interval late; looking again after a tenth of the time
    waited keeps the lateness near 10% of each wait (or the minimum) with a few more calls per wait.
    """
    shortest = float(settings.NODECONDUCTOR.get("OPENSTACK_MIN_POLL_INTERVAL", 0.25))
    return min(max(0.1 * waited, shortest), poll_interval())


def run_blocking(op, instance_uuid, params=None):
    """Run an operation to its end in this process, sleeping between steps (shell and eager tasks)."""
    started, phase = time.time(), ""
    while True:
        outcome = advance(op, instance_uuid, phase, params, started)
        if outcome.finished:
            return
        phase, params = outcome.phase, outcome.params
        time.sleep(outcome.retry_after)
