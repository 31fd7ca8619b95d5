"""A backup's operations, run by the engine (engine/resources.py): snapshot both volumes, and delete them.

Each is a row of the resources' table: recorded on the Backup with its request, claimed, leased and swept like
every other operation, with its phases for the plan and the progress. Unlike a pull, a backup waits on the
cloud: its step makes both snapshots, then looks again (step `seq + 1`, after a pause) until both are available.
A refused backup deletes what it made, waiting for a snapshot still being made, and then goes Erred with the
cloud's refusal.
"""

import time

from .backend import CloudBackendError
from .backend.backups import BackupsMixin
from .backend_specs import backup_spec
from .engine.operation_table import Call, Phase, Wait
from .engine.resources import Pending, ResourceOperation
from .models import Backup, BackupState
from .services.backup_schedules import stop

B = BackupState


def _run(backup, step):
    """Run a backend step on the backup's spec at its recorded phase; Pending while the cloud works."""
    adapter = backup.membership.cloud.get_backend().adapter
    result = adapter.run_step(step, backup_spec(backup), phase=backup.operation_phase)
    for field, value in result.changes.items():
        setattr(backup, field, value)
    if not result.done:
        return Pending(result.phase, result.waiting_for, result.changes)
    return result.carry


def _backup_step(backup, params):
    """Take both snapshots; once the cloud refused, delete what was made (waiting for a snapshot still being
    made), then end Erred with the refusal: a failed backup leaves nothing in the cloud."""
    if params.get("failure"):
        cleaned = _run(backup, BackupsMixin.delete_backup_step)
        if isinstance(cleaned, Pending):
            return Pending("cleanup", cleaned.waiting_for, cleaned.changes)
        raise CloudBackendError(params["failure"])
    try:
        return _run(backup, BackupsMixin.backup_step)
    except CloudBackendError as exc:
        return Pending("cleanup", "the snapshots made to be deleted", carry={"failure": str(exc),
                                                                          "cleanup_started": time.time()})


def _backup_finish(backup, sizes):
    """The snapshots' sizes (GiB) join what a restore reads: the restored volumes are made at these sizes."""
    backup.metadata = {**backup.metadata, **sizes}


def _backup_failed(backup, message):
    """A scheduled backup that failed stops its schedule, saying why (a quota the cloud refused, a cloud error)."""
    if backup.schedule_id:
        stop(backup.schedule_id, f"The backup of {backup.created:%Y-%m-%d %H:%M} UTC failed: {message}")


BACKUP = ResourceOperation(
    "backup", Backup, B.BACKING_UP, B.BACKING_UP, None, Backup.begin_backing_up, _backup_step,
    Backup.set_ready, _backup_finish, failed=_backup_failed,
    phases=(
        Phase("", "snapshot the root and the data volume (attached: forced, crash-consistent while running)", (
            Call("cinder volume_snapshots.create", "{system_volume_id} force=True name=nc-backup-{uuid}-system"),
            Call("cinder volume_snapshots.create", "{data_volume_id} force=True name=nc-backup-{uuid}-data"))),
        Phase("snapshots", "wait for both snapshots to be available", (
            Wait("root snapshot and data snapshot", "available"),)),
        Phase("cleanup", "after a refusal: delete the snapshots made (one still being made first), then go Erred", (
            Call("cinder volume_snapshots.delete", "(each snapshot made)", only_if="the cloud refused the backup"),
            Wait("the snapshots made", "gone")), when="failure"),
    ),
)  # fmt: skip


def _delete_step(backup, params):
    return _run(backup, BackupsMixin.delete_backup_step)


DELETE_BACKUP = ResourceOperation(
    "delete_backup", Backup, B.DELETING, B.DELETING, Backup.schedule_deletion, Backup.begin_deleting, _delete_step,
    phases=(
        Phase("", "delete both snapshots (one already gone is fine)", (
            Call("cinder volume_snapshots.delete", "{system_snapshot_id}", only_if="the snapshot is still there"),
            Call("cinder volume_snapshots.delete", "{data_snapshot_id}", only_if="the snapshot is still there"))),
        Phase("deleting", "wait for both snapshots to be gone, then forget the backup", (
            Wait("root snapshot and data snapshot", "gone"),)),
    ),
)  # fmt: skip

OPERATIONS = (BACKUP, DELETE_BACKUP)
