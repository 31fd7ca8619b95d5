"""Drive an instance operation through its backend steps and its state machine, losing nothing.

An operation is one explicit definition (operation_table.py): the transition a worker makes when it picks the
job up, the backend step it advances and its phases, what it does on success, and the compensation it runs
when the step fails. Its progress is
recorded on the instance row (operation_* fields), not in the task message: a message only says "run step
number `seq` of operation `token`". Exactly one message claims each step (an UPDATE that matches the token,
the sequence number and a free lease), so a duplicate or redelivered message does nothing, and a message of an
older operation is fenced off by its token. A lost message or a dead worker is found by `sweep` (run by beat),
which sends the step again; the steps themselves find before they create, so a step run twice is harmless.
"""

import dataclasses
import logging
import time
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from nodeconductor.core.models import User

from .. import events, failures, quota_alerts
from ..backend import CloudBackendError
from ..models import Instance, InstanceState
from . import build_slots, records
from .build_slots import build_cap, queue_poll  # noqa: F401 - callers and tests name them through the engine
from .leases import next_poll, wait_timeout
from .operation_table import (  # noqa: F401 - the engine's callers name the operations through this module
    ASSIGN_FLOATING_IP,
    DELETE,
    OPERATIONS,
    PROVISION,
    RECOVER,
    RESIZE_DISK,
    RESIZE_FLAVOR,
    RESTART,
    RESTORE,
    START,
    STOP,
    UNASSIGN_FLOATING_IP,
    UPDATE_SECURITY_GROUPS,
    Operation,
    run_context,
)

logger = logging.getLogger(__name__)
S = InstanceState


# Keys of the recorded params that belong to us, not to the backend step.
_OWN_PARAMS = ("flavor_uuid", "user_uuid", "phase_started", "failure", "compensating", "compensation_started",
               "waiting_for", "failed_phase", "seen", "security_group_uuids", "backup_uuid")


@dataclasses.dataclass
class Outcome:
    """What the caller does next: nothing (finished), or send step `seq` after `retry_after` seconds."""

    finished: bool
    seq: int = 0
    retry_after: float = 0.0
    token: str = ""
    waits: bool = False  # the next step looks at the cloud again (a poller may take it), rather than acting
    queued: bool = False  # waits for a build slot: a hand-off (build_slots) sends the next step, not the caller
    membership_id: int | None = None  # whose tenant poller takes a wait, so the caller need not read the row


# ---------------------------------------------------------------------------------------------- the record
# The instance's record also holds the build slot it was handed (build_slots), cleared with the rest.
CLEARED = {**records.CLEARED, "operation_slot_handed": None}


def record(op, params):
    """The operation_* field values of a newly scheduled instance operation (a fresh token, step 0, due now)."""
    return {**records.record(op.name, params), "operation_slot_handed": None}


def start(instance, op, params):
    """Record a new operation on an instance object (the caller saves it with its scheduling transition)."""
    for field, value in record(op, params).items():
        setattr(instance, field, value)
    return instance.operation_token


def start_in_place(op, instance_uuid, params):
    """Record a new operation on a row put in a scheduled state outside the services (shell, tests)."""
    values = record(op, params)
    Instance.objects.filter(uuid=instance_uuid).update(**values)
    return values["operation_token"]


def _claim(instance_uuid, token, seq):
    """Take step `seq` of operation `token` on an instance (records.claim)."""
    return records.claim(Instance, instance_uuid, token, seq)


def _release(instance, token, seq, phase, params, changes, retry_after):
    """Hand step `seq` on: store what it learned and the next phase, and free the lease, in one UPDATE."""
    now = timezone.now()
    updated = Instance.objects.filter(pk=instance.pk, operation_token=token, operation_seq=seq).update(
        operation_seq=seq + 1,
        operation_phase=phase,
        operation_params=params,
        operation_due=now + timedelta(seconds=retry_after),
        operation_lease_until=None,
        operation_holder="",
        operation_slot_handed=None,
        modified=now,
        **changes,
    )
    return bool(updated)


# ---------------------------------------------------------------------------------------------- one step
def _user(params):
    """The user who scheduled the operation, for events."""
    uuid = params.get("user_uuid")
    return User.objects.filter(uuid=uuid).first() if uuid else None


def _backend_args(params):
    """The step's keyword arguments from the recorded params (our own keys are not the step's business)."""
    return {k: v for k, v in params.items() if k not in _OWN_PARAMS}


# What a step reads besides the instance: loaded with it in one query (by _load, or by a poller for its tick).
LOAD_RELATED = ("cloud_project_membership__cloud", "cloud_project_membership__project__customer", "template",
                "ssh_public_key")


def _load(instance_uuid):
    return Instance.objects.select_related(*LOAD_RELATED).filter(uuid=instance_uuid).first()


def _end(op, instance, params, error=None):
    """Finish the operation: the success transition (or row removal), or Erred with the cloud's message."""
    user = _user(params)
    if op.ended is not None:
        op.ended(instance, params)
    kept = ("operation_name", "operation_phase", "operation_params", "operation_started") if error else ()
    for field, value in CLEARED.items():
        if field not in kept:  # an Erred instance keeps the step that failed, for the user and for support
            setattr(instance, field, value)
    instance.pending_cores = instance.pending_ram = instance.pending_data_volume_size = None
    if error is not None:
        (op.fail or Instance.set_erred)(instance, error)
        if instance.state != S.ERRED:  # the instance goes on as it was (a refused groups update): nothing to show
            for field, value in CLEARED.items():
                setattr(instance, field, value)
        instance.save()
        events.instance_event(instance, op.name, "failed", user=user, error=error)
        quota_alerts.check(instance.cloud_project_membership, quota_alerts.INSTANCES)
        return
    if op.finish is not None:
        op.finish(instance, params)
    if op.deletes:
        instance.delete()
    else:
        op.succeed(instance, *(params[name] for name in op.succeed_args))
        instance.save()
    # Logged once the outcome is stored: a finish or save that fails ends the operation failed, not both.
    events.instance_event(instance, op.name, "succeeded", user=user)
    # What the instance holds may have settled (a resize), gone (a delete) or grown (a floating IP).
    quota_alerts.check(instance.cloud_project_membership, quota_alerts.INSTANCES)


def _failed(op, instance, params, message):
    """A step failed: run the compensation as further steps when there is one, else end Erred now."""
    if params.get("compensating"):
        ids = [x for x in (instance.backend_id, instance.system_volume_id, instance.data_volume_id) if x]
        what = ", ".join(ids) or f"the resources of {instance.hostname}"
        tenant = instance.cloud_project_membership.tenant_id
        return None, f"{params['failure']} Cleanup could not remove: {what} in tenant {tenant} ({message})."
    if op.compensation is None:
        return None, message
    return {**params, "failure": message, "failed_phase": instance.operation_phase, "compensating": True,
            "compensation_started": time.time()}, None


def run_step(instance_uuid, token, seq, backend=None, seen=None, instance=None):
    """Run step `seq` of the operation `token` if this caller claims it; say what to send next.

    A poller passes its backend (reading the tenant's snapshot) and what the snapshot shows of the instance
    (`seen`): it is kept with the phase, so the poller skips the next look while nothing changed. It also
    passes the row it read for its tick (with LOAD_RELATED), at this token and seq: the claim proves that no
    step changed it since, so it is not read again (a tick of 50 operations spent 40% of its time re-reading).
    """
    lease = _claim(instance_uuid, token, seq)
    if not lease:
        logger.info("Step %s of operation %s on instance %s is not ours to run: skipped", seq, token, instance_uuid)
        return Outcome(finished=True)
    if instance is None or instance.operation_token != token or instance.operation_seq != seq:
        instance = _load(instance_uuid)
    else:
        for field, value in lease.items():  # the row as it is now, so a save keeps our lease
            setattr(instance, field, value)
    name = instance.operation_name  # the object's fields are cleared as the operation ends
    try:
        return _run_claimed(instance, token, seq, backend, seen)
    except Exception as exc:
        if not failures.unexpected(exc):
            raise  # the database went away: the step is run again once its lease passes
        # Ended as a refusal of the cloud is; left claimed, the sweeper would rerun it after every lease.
        failures.log(exc, f"Step {seq} of {name} of instance {instance_uuid}")
        return _fail_claimed(instance_uuid, token, seq, failures.reason(exc))


def _fail_claimed(instance_uuid, token, seq, message):
    """End our claimed step as failed with `message`, from the row as stored (the object may hold bad values)."""
    instance = _load(instance_uuid)
    if instance is None or instance.operation_token != token or instance.operation_seq != seq:
        return Outcome(finished=True)  # the step was handed on, or the operation ended, before the failure
    op = OPERATIONS[instance.operation_name]
    if not op.begun(instance):
        params, error = None, message  # it never began: nothing in the cloud to undo
    else:
        params, error = _failed(op, instance, dict(instance.operation_params), message)
    if params is None:
        _end(op, instance, instance.operation_params, error=error)
        _build_ended(op, instance)
        return Outcome(finished=True)
    _release(instance, token, seq, "", params, {}, 0)  # the compensation starts from its first phase at once
    return Outcome(finished=False, seq=seq + 1, token=token)


def _run_claimed(instance, token, seq, backend, seen):
    """The body of run_step once the step is ours: begin, the backend step, then hand on or end."""
    op = OPERATIONS[instance.operation_name]
    params = dict(instance.operation_params)
    if not op.begun(instance):
        with transaction.atomic():
            queued = build_slots.no_build_slot(instance) if op.builds else ""
            if queued:
                # Wait in the scheduled state (the API shows it queued) with no message: the build that ends
                # next hands its slot on; the sweeper looks again after queue_recheck if that hand-off is lost.
                params = {**params, "waiting_for": queued}
                _release(instance, token, seq, "", params, {}, build_slots.queue_recheck())
                return Outcome(finished=False, seq=seq + 1, retry_after=queue_poll(), token=token, queued=True)
            op.begin(instance)
            instance.operation_started = timezone.now()
            instance.save()
    elif instance.state not in op.working_states:
        logger.info("Dropping %s of %s: it is %s now", op.name, instance, instance.get_state_display())
        Instance.objects.filter(pk=instance.pk, operation_token=token).update(**CLEARED)
        _build_ended(op, instance)  # it left Provisioning some other way: its slot may be free
        return Outcome(finished=True)
    compensating = bool(params.get("compensating"))
    phase = instance.operation_phase
    try:
        backend = backend or instance.cloud.get_backend()
        step_fn = op.compensation if compensating else op.step
        args = {} if compensating else _backend_args(params)
        step = backend.run_step(step_fn, instance, phase=phase, **args)
        began = params.get("compensation_started") if compensating else None
        began = began or (instance.operation_started or timezone.now()).timestamp()
        if not step.done and time.time() - began > wait_timeout():
            raise CloudBackendError(
                f"Timed out after {int(time.time() - began)} s waiting for {step.waiting_for or 'the cloud'}."
            )
    except CloudBackendError as exc:
        params, error = _failed(op, instance, params, str(exc))
        if params is None:
            _end(op, instance, instance.operation_params, error=error)
            _build_ended(op, instance)
            return Outcome(finished=True)
        # Start the compensation from its first phase at once.
        _release(instance, token, seq, "", params, {}, 0)
        return Outcome(finished=False, seq=seq + 1, token=token)
    changes = {f: v for f, v in step.changes.items() if getattr(instance, f) != v}
    for field, value in changes.items():
        setattr(instance, field, value)
    if step.done or step.phase != phase:
        _log_step_done(op, instance, params, compensating, phase)
    if step.done:
        if compensating:
            instance.backend_id = instance.system_volume_id = instance.data_volume_id = ""
            _end(op, instance, params, error=params["failure"])
        else:
            _end(op, instance, {**params, **step.carry})
        _build_ended(op, instance)
        return Outcome(finished=True)
    now = time.time()
    phase_started = params.get("phase_started", now) if step.phase == phase else now
    params = {**params, **step.carry, "phase_started": phase_started, "waiting_for": step.waiting_for}
    params.pop("seen", None)
    if seen is not None and step.phase == phase:
        params["seen"] = [phase, seen]  # still waiting in this phase on what the snapshot showed
    retry_after = next_poll(now - phase_started)
    if not _release(instance, token, seq, step.phase, params, changes, retry_after):
        return Outcome(finished=True)
    return Outcome(finished=False, seq=seq + 1, retry_after=retry_after, token=token, waits=True,
                   membership_id=instance.cloud_project_membership_id)


def _build_ended(op, instance):
    """A provision ended (or was dropped): its cloud's next queued provisions get the slot at commit.

    A cloud with no cap queues nothing, so its builds end without the hand-off's locked read.
    """
    if op.builds and build_cap(instance.cloud_project_membership.cloud) > 0:
        build_slots.hand_on(instance.cloud_project_membership.cloud_id)


def _log_step_done(op, instance, params, compensating, phase):
    """An event for a phase that ended, with its duration: the instance's history shows every step's timing."""
    table = op.phase_table(compensating)
    began = params.get("phase_started") or (instance.operation_started or timezone.now()).timestamp()
    label = table.get(phase, phase or "first step")
    step = ("clean up: " if compensating else "") + label
    ended = time.time()
    events.instance_step_event(instance, op.name, step, ended - began, user=_user(params), started=iso_utc(began),
                               ended=iso_utc(ended))  # fmt: skip


# ---------------------------------------------------------------------------------------------- in-process runs
def _ensure_started(op, instance_uuid, params):
    """The token of the instance's recorded operation `op`, recording one when there is none."""
    row = Instance.objects.filter(uuid=instance_uuid).values("operation_name", "operation_token").first()
    if row is None:
        return None
    if row["operation_name"] == op.name and row["operation_token"]:
        if params:
            Instance.objects.filter(uuid=instance_uuid, operation_token=row["operation_token"]).update(
                operation_params=params
            )
        return row["operation_token"]
    return start_in_place(op, instance_uuid, params)


def run_blocking(op, instance_uuid, params=None):
    """Run an operation to its end in this process, sleeping between steps (shell and eager tasks)."""
    token = _ensure_started(op, instance_uuid, params)
    if token is None:
        return
    run_chain(instance_uuid, token, Instance.objects.filter(uuid=instance_uuid).values_list(
        "operation_seq", flat=True).first())  # fmt: skip


def run_chain(instance_uuid, token, seq):
    """Run steps from `seq` until the operation ends or another caller owns it, sleeping between them."""
    while True:
        outcome = run_step(instance_uuid, token, seq)
        if outcome.finished:
            return
        seq = outcome.seq
        time.sleep(outcome.retry_after)


def iso_utc(epoch):
    """An epoch as the API writes times: ISO 8601 in UTC with a Z."""
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat().replace("+00:00", "Z")
