"""An operation as the API shows it: an instance's step, how far it got, what it waits for, why it failed; the
one step of a cloud's pull, a membership's sync or a group's push or deletion, queued or running."""

from ..events import VERBS
from ..models import InstanceState
from .operation_table import OPERATIONS, run_context
from .operations import iso_utc

S = InstanceState

def progress(instance):
    """What the instance's operation is doing now (or, once Erred, which step failed), for the API; or None."""
    op = OPERATIONS.get(instance.operation_name)
    if op is None:
        return None
    params = instance.operation_params or {}
    erred = instance.state == S.ERRED and not instance.operation_token  # a recovery runs while Erred
    compensating = bool(params.get("compensating")) and not erred
    phases = op.phases_for(run_context(params), compensating)
    names = [p.name for p in phases]
    # Once Erred after a cleanup, the step shown is the one that failed, not the cleanup's last.
    phase = params["failed_phase"] if erred and "failed_phase" in params else instance.operation_phase
    index = names.index(phase) if phase in names else 0
    since = params.get("phase_started")
    return {
        "name": op.name,
        "state": "failed" if erred else ("cleaning up" if compensating else
                                         "running" if op.begun(instance) else "queued"),
        "step": phases[index].does if phases else "",
        "steps_done": index,
        "steps_total": len(phases),
        "waiting_for": "" if erred else params.get("waiting_for", ""),
        "waiting_since": iso_utc(since) if since and not erred else None,
        "started": iso_utc(instance.operation_started.timestamp()) if instance.operation_started else None,
        "failure": params.get("failure", "") or (instance.error_message if erred else ""),
    }


def resource_progress(row):
    """The operation recorded on a cloud, a membership or a security group, for the API; None when it has none."""
    if not row.operation_token:
        return None
    return {
        "name": row.operation_name,
        "title": VERBS.get(row.operation_name, row.operation_name.replace("_", " ")),
        # A backup the cloud refused deletes what it made before it goes Erred (backup_operations.py).
        "state": ("cleaning up" if (row.operation_params or {}).get("failure") else "running")
        if row.operation_started else "queued",
        "started": iso_utc(row.operation_started.timestamp()) if row.operation_started else None,
        "waiting_for": (row.operation_params or {}).get("waiting_for", ""),
    }
