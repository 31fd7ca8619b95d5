"""The record of an operation on its row, and the claim of one step: the same for every resource the engine runs.

An instance, a cloud, a membership and a security group each carry the operation_* fields (OperationRecord).
Scheduling records a fresh token at step 0; a message says "run step `seq` of operation `token` on this row";
exactly one caller claims it (an UPDATE that matches the token, the sequence number and a free lease) and
hands it on with one more UPDATE. The sweeper finds what no message will move on, on every such model.
"""

import uuid as uuidlib
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from .leases import dead_and_settled, holder_id, step_lease


def record(name, params):
    """The operation_* field values of a newly scheduled operation (a fresh token, step 0, due now)."""
    return {
        "operation_name": name,
        "operation_token": uuidlib.uuid4().hex,
        "operation_seq": 0,
        "operation_phase": "",
        "operation_params": dict(params or {}),
        "operation_started": None,
        "operation_due": timezone.now(),
        "operation_lease_until": None,
        "operation_holder": "",
    }


CLEARED = {
    "operation_name": "",
    "operation_token": "",
    "operation_seq": 0,
    "operation_phase": "",
    "operation_params": {},
    "operation_started": None,
    "operation_due": None,
    "operation_lease_until": None,
    "operation_holder": "",
}


def start(row, name, params=None):
    """Record a new operation on a row object (the caller saves it with its scheduling transition)."""
    for field, value in record(name, params).items():
        setattr(row, field, value)
    return row.operation_token


def clear(row):
    """Forget the operation on a row object (the caller saves it with its outcome)."""
    for field, value in CLEARED.items():
        setattr(row, field, value)


def claim(model, uuid, token, seq):
    """Take step `seq` of operation `token` on a row: its lease (truthy) for exactly one caller, else None."""
    now = timezone.now()
    lease = {"operation_lease_until": now + timedelta(seconds=step_lease()), "operation_holder": holder_id()}
    mine = model.objects.filter(uuid=uuid, operation_token=token, operation_seq=seq)
    free = Q(operation_lease_until__isnull=True) | Q(operation_lease_until__lt=now)
    if mine.filter(free).update(**lease):
        return lease
    row = mine.values_list("operation_holder", "operation_lease_until").first()
    if row is None or not dead_and_settled(*row, now=now):
        return None
    # The holder died on this host (a killed worker restarted at once): its step is taken over now.
    return lease if mine.filter(operation_holder=row[0], operation_lease_until=row[1]).update(**lease) else None
