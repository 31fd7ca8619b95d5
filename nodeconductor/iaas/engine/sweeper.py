"""The sweeper's look for operations that no message will move on: a lost message, a dead worker.

Kept apart from the engine (operations.py, resources.py) that runs the steps: this only finds them and sends
them again, on every model that records an operation (an instance, a cloud, a membership, a security group).
"""

import logging
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from ..models import Instance
from .leases import dead_and_settled, sweep_grace
from .resources import MODELS

logger = logging.getLogger(__name__)


def stalled(now=None, model=Instance):
    """Rows whose operation has no live message: past due and unclaimed, or claimed by a dead holder."""
    now = now or timezone.now()
    grace = timedelta(seconds=sweep_grace())
    # A recorded token is a running operation, whatever the state (a recovery runs while the instance is Erred).
    rows = model.objects.exclude(operation_token="")
    late = Q(operation_lease_until__isnull=True, operation_due__lt=now - grace) | Q(operation_lease_until__lt=now)
    found = list(rows.filter(late).values_list("uuid", "operation_token", "operation_seq"))
    for uuid, token, seq, holder, lease_until in rows.filter(operation_lease_until__gte=now).values_list(
        "uuid", "operation_token", "operation_seq", "operation_holder", "operation_lease_until"
    ):
        if dead_and_settled(holder, lease_until, now):
            found.append((uuid, token, seq))
    return found


def _sweep(model, send, what):
    """Send again the step of every stalled operation on `model`'s rows; the count sent."""
    count = 0
    for uuid, token, seq in stalled(model=model):
        model.objects.filter(uuid=uuid, operation_token=token, operation_seq=seq).update(operation_due=timezone.now())
        try:
            send(str(uuid), token, seq)
        except Exception as exc:  # noqa: BLE001 - the queue is down: the next sweep tries again
            logger.warning("Could not resend step %s of %s %s: %s", seq, what, uuid, type(exc).__name__)
            break
        logger.info("Resumed the stalled operation of %s %s at step %s", what, uuid, seq)
        count += 1
    return count


def sweep(send, send_resource=None):
    """Send again the step of every stalled operation; returns the count.

    `send(uuid, token, seq)` enqueues an instance's step, `send_resource(kind, uuid, token, seq)` that of a
    cloud, a membership or a group (None: instances only). A step sent while its first message is merely late
    makes a duplicate that the claim turns away, so sending again is always safe; bumping `due` keeps one
    stalled operation from being sent every sweep.
    """
    count = _sweep(Instance, send, "instance")
    if send_resource is not None:
        for kind, model in MODELS.items():
            count += _sweep(model, lambda uuid, token, seq, kind=kind: send_resource(kind, uuid, token, seq), kind)
    return count
