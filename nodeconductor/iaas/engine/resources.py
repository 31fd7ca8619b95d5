"""Run the operation recorded on a cloud, a membership, a security group or a backup: claimed steps, then the end.

A cloud's pull, a membership's sync, a group's push and deletion are one step each: the cloud work is
synchronous calls that find before they create, so a step run again after a lost worker is harmless. A
backup's operations wait on the cloud (a snapshot becoming available): their step returns Pending, and the
next look is step `seq + 1`, sent after a pause, as an instance operation's waits are. They share the
instance operations' record, claim, lease and sweep (records.py, sweeper.py); their
definitions, with the steps that reach the layers above the engine, are rows of resource_operations.TABLE,
which the caller passes in.
"""

import dataclasses
import logging
import time
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .. import events, failures
from ..backend import CloudBackendError
from ..events import VERBS
from ..models import Backup, Cloud, CloudProjectMembership, SecurityGroup
from . import records
from .build_slots import queue_poll, queue_recheck
from .leases import next_poll, wait_timeout

logger = logging.getLogger(__name__)

# The rows a message names by kind: "run step `seq` of operation `token` on the cloud `uuid`".
MODELS = {"cloud": Cloud, "membership": CloudProjectMembership, "security_group": SecurityGroup, "backup": Backup}
KINDS = {model: kind for kind, model in MODELS.items()}
# What a step reads besides the row: loaded with it in one query.
_RELATED = {"cloud": ("customer",), "membership": ("cloud", "project__customer"),
            "security_group": ("membership__cloud", "membership__project__customer"),
            "backup": ("membership__cloud", "membership__project__customer", "instance")}


@dataclasses.dataclass(frozen=True)
class ResourceOperation:
    """One kind of job on a cloud, a membership or a group: its states and transitions, its step, its phases."""

    name: str
    model: type
    scheduled_state: str  # the state its request leaves the row in (a row found there with no record is adopted)
    working_state: str
    schedule: object  # the request's transition, from a row at rest to the scheduled state
    begin: object  # the transition a worker makes when it picks the job up
    # step(row, params) -> what the cloud answered, or Pending to look again; raises CloudBackendError when the
    # cloud refuses. A step with phases reads the one it is in from row.operation_phase.
    step: object
    succeed: object = None  # the transition on success; None removes the row (a group's deletion)
    finish: object = None  # finish(row, result): writes what the cloud applied, in the success transaction
    then: object = None  # then(row, result): the work that follows once the outcome is stored (a pull's reconcile)
    phases: tuple = ()  # operation_table.Phase items, for the plan
    # failed(row, message): what else a failure changes, in its transaction (a schedule whose backup failed stops).
    failed: object = None
    # gate(row) -> why it must wait, or "": asked with the begin, under the same lock (a backup's slot in its cloud).
    gate: object = None

    @property
    def kind(self):
        """The kind a message names the row by."""
        return KINDS[self.model]

    @property
    def deletes(self):
        """Whether success removes the row."""
        return self.succeed is None

    @property
    def title(self):
        """The operation as a message names it, e.g. "pull of the cloud" (events.VERBS)."""
        return VERBS.get(self.name, self.name.replace("_", " "))


@dataclasses.dataclass
class Pending:
    """What a step answers while the cloud works: the phase of the next look, what it waits for, and the row's
    fields it learned (the ids of what it made), stored with the hand-on."""

    phase: str
    waiting_for: str = ""
    changes: dict = dataclasses.field(default_factory=dict)
    carry: dict = dataclasses.field(default_factory=dict)  # params the next looks read (a clean-up's failure)
    # Waiting for its turn (a gate): no message of its own; the operation that frees the turn sends its step, and
    # the sweeper does after queue_recheck when that hand-off is lost.
    queued: bool = False


@dataclasses.dataclass
class Result:
    """What one run of a step came to: whether it ran here, what the cloud answered, and the failure if any.

    `next_seq` is set when the operation waits on the cloud: that step is to be sent after `retry_after` seconds,
    unless it is `queued` for its turn (then only an in-process runner looks again after `retry_after`).
    """

    ran: bool
    value: object = None
    error: BaseException | None = None
    next_seq: int | None = None
    retry_after: float = 0.0
    queued: bool = False


def load(kind, uuid):
    """The row a message names, with what its step reads, or None when it is gone."""
    return MODELS[kind].objects.select_related(*_RELATED[kind]).filter(uuid=uuid).first()


def run_step(table, kind, uuid, token, seq):
    """Run step `seq` of the operation `token` on a row if this caller claims it; a second caller does nothing."""
    if not records.claim(MODELS[kind], uuid, token, seq):
        logger.info("Step %s of operation %s on %s %s is not ours to run: skipped", seq, token, kind, uuid)
        return Result(ran=False)
    row = load(kind, uuid)
    if row is None or row.operation_token != token:
        # Removed since the claim (its membership unbound), or a request replaced the operation (a group's
        # deletion over its push) or took it back (a refused send's undo): the new one has its own message.
        return Result(ran=False)
    op = table[row.operation_name]
    try:
        return _run_claimed(op, row, token, seq)
    except Exception as exc:
        if not failures.unexpected(exc):
            raise  # the database went away: the step is run again once its lease passes
        failures.log(exc, f"{op.title.capitalize()} {row}")
        _end_failed(op, load(kind, uuid), token, failures.reason(exc))
        return Result(ran=True, error=exc)


def _run_claimed(op, row, token, seq):
    """Begin, run the step, and store its outcome: the success transition, or Erred with the cloud's message."""
    if row.operation_started is None and row.state == op.scheduled_state:
        begun = _begin(op, row, token)
        if begun is None:
            return Result(ran=False)
        if isinstance(begun, Pending):  # its turn has not come: it waits, queued, and looks again
            return _hand_on(row, token, seq, dict(row.operation_params), begun)
        row = begun
    elif row.state != op.working_state:
        logger.info("Dropping %s of %s: it is %s now", op.name, row, row.get_state_display())
        type(row).objects.filter(pk=row.pk, operation_token=token).update(**records.CLEARED)
        return Result(ran=False)
    params = dict(row.operation_params)
    try:
        value = op.step(row, params)
        if isinstance(value, Pending):
            return _hand_on(row, token, seq, params, value)
    except CloudBackendError as exc:
        _end_failed(op, row, token, str(exc))
        return Result(ran=True, error=exc)
    with transaction.atomic():
        records.clear(row)
        if op.finish is not None:
            op.finish(row, value)
        if op.deletes:
            events.resource_event(row, op.name, "succeeded")  # while the row still has its uuid and project
            row.delete()
        else:
            op.succeed(row)
            row.save()
            if not params.get("quiet"):  # a routine success (the hourly pull) is no event; its failure is
                events.resource_event(row, op.name, "succeeded")
    if op.then is not None:
        try:
            op.then(row, value)
        except Exception as exc:
            if not failures.unexpected(exc) and not isinstance(exc, CloudBackendError):
                raise
            # The operation's own outcome is stored; what follows it is retried by the next one.
            failures.log(exc, f"What follows the {op.title} {row}")
            return Result(ran=True, value=value, error=exc)
    return Result(ran=True, value=value)


def _hand_on(row, token, seq, params, pending):
    """Store what the step learned and the phase of the next look, free the lease, and say when to look again.

    A wait that outlasts the operations' wait timeout fails, naming what it waited for.
    """
    now = time.time()
    params = {**params, **pending.carry}
    # A clean-up has its own time: a backup that waited long before its refusal still gets to undo it.
    began = params.get("cleanup_started") or (row.operation_started or timezone.now()).timestamp()
    if now - began > wait_timeout():
        waited = pending.waiting_for or "the cloud"
        raise CloudBackendError(f"Timed out after {int(now - began)} s waiting for {waited}.")
    same = pending.phase == row.operation_phase
    phase_started = params.get("phase_started", now) if same else now
    params = {**params, "phase_started": phase_started, "waiting_for": pending.waiting_for}
    retry_after = queue_poll() if pending.queued else next_poll(now - phase_started)
    due = queue_recheck() if pending.queued else retry_after
    updated = type(row).objects.filter(pk=row.pk, operation_token=token, operation_seq=seq).update(
        operation_seq=seq + 1, operation_phase=pending.phase, operation_params=params,
        operation_due=timezone.now() + timedelta(seconds=due), operation_lease_until=None,
        operation_holder="", modified=timezone.now(), **pending.changes,
    )  # fmt: skip
    if not updated:
        return Result(ran=False)
    return Result(ran=True, next_seq=seq + 1, retry_after=retry_after, queued=pending.queued)


def _begin(op, row, token):
    """The worker's transition, under a lock and still at our token; the row as it is now, None when the operation
    is no longer ours, or Pending when the row's gate says it waits its turn (nothing is written then).

    A request may have replaced or taken back the operation since the row was read; an edit that joined the
    scheduled push (a group's new name) stays, since only the state and the start time are written.
    """
    with transaction.atomic():
        rows = type(row).objects.select_related(*_RELATED[op.kind]).select_for_update(of=("self",))
        locked = rows.filter(pk=row.pk, operation_token=token, state=op.scheduled_state).first()
        if locked is None:
            return None
        reason = op.gate(locked) if op.gate is not None else ""
        if reason:
            return Pending("", reason, queued=True)
        op.begin(locked)
        locked.operation_started = timezone.now()
        locked.save(update_fields=["state", "operation_started", "modified"])
    return locked


def _end_failed(op, row, token, message):
    """End the operation Erred with the message, unless the row is gone or another operation holds it now."""
    if row is None or row.operation_token != token:
        return
    with transaction.atomic():
        records.clear(row)
        row.set_erred(message)
        row.save()
        if op.failed is not None:
            op.failed(row, message)
        events.resource_event(row, op.name, "failed", error=message)
    logger.warning("The %s %s failed: %s", op.title, row, message)


def start_in_place(op, row, params=None):
    """Record `op` on a row put in one of its states outside a request (the shell, a row from before the engine)."""
    values = records.record(op.name, params)
    type(row).objects.filter(pk=row.pk, operation_token="").update(**values)
    return values["operation_token"]


def run_blocking(table, op, row, params=None):
    """Run `op` on a row to its end in this process (the shell's commands, tests); returns the Result.

    The row's own recorded operation is run when it is `op`; otherwise `op` is recorded first.
    """
    kind = op.kind
    current = type(row).objects.filter(pk=row.pk).values("operation_name", "operation_token", "operation_seq").first()
    if current is None:
        return Result(ran=False)
    if current["operation_name"] == op.name and current["operation_token"]:
        if params:
            type(row).objects.filter(pk=row.pk, operation_token=current["operation_token"]).update(
                operation_params=params
            )
        token, seq = current["operation_token"], current["operation_seq"]
    else:
        token, seq = start_in_place(op, row, params), 0
    return run_chain(table, kind, str(row.uuid), token, seq)


def run_chain(table, kind, uuid, token, seq):
    """Run steps from `seq` until the operation ends or another caller owns it, sleeping between the looks."""
    while True:
        result = run_step(table, kind, uuid, token, seq)
        if result.next_seq is None:
            return result
        seq = result.next_seq
        time.sleep(result.retry_after)
