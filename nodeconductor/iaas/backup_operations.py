"""A backup's operations, run by the engine (engine/resources.py): snapshot both volumes, and delete them.

Each is a row of the resources' table: recorded on the Backup with its request, claimed, leased and swept like
every other operation, with its phases for the plan and the progress. Unlike a pull, a backup waits on the
cloud: its step makes both snapshots, then looks again (step `seq + 1`, after a pause) until both are available.
A refused backup deletes what it made, waiting for a snapshot still being made, and then goes Erred with the
cloud's refusal.
"""

import logging
import time

from django.conf import settings
from django.db import transaction

from .backend import CloudBackendError
from .backend.backups import BackupsMixin
from .backend_specs import backup_spec
from .engine import messages
from .engine.operation_table import Call, Phase, Wait
from .engine.resources import Pending, ResourceOperation
from .models import Backup, BackupState, Cloud, CloudProjectMembership
from .quota_alerts import BACKUPS, check
from .services.backup_schedules import stop

B = BackupState
logger = logging.getLogger(__name__)


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
    """The snapshots' ids and sizes (GiB) join what a restore reads: the restored volumes are made from these
    snapshots, at these sizes."""
    ids = {"system_snapshot_id": backup.system_snapshot_id, "data_snapshot_id": backup.data_snapshot_id}
    backup.metadata = {**backup.metadata, **sizes, **ids}


def backup_cap(cloud):
    """How many backups may snapshot at once in a cloud: its credentials' max_concurrent_backups, or the setting.

    Schedules fire together (200 at 02:00); past the cap a backup waits its turn, queued, and says so. 0: no cap.
    """
    credentials = cloud.get_credentials() or {}
    default = settings.NODECONDUCTOR.get("OPENSTACK_MAX_CONCURRENT_BACKUPS", 10)
    return int(credentials.get("max_concurrent_backups", default))


def _in_cloud(cloud_id):
    return Backup.objects.filter(membership__cloud_id=cloud_id, state=B.BACKING_UP, operation_name="backup")


def _backup_slot(backup):
    """Why the backup must wait for a slot of its cloud ("" when it may begin): the backups running there and
    those queued before it (first come, first served), counted under the cloud's lock, which its begin holds."""
    cloud = Cloud.objects.select_for_update().get(pk=backup.membership.cloud_id)
    cap = backup_cap(cloud)
    if cap <= 0:
        return ""
    running = _in_cloud(cloud.pk).filter(operation_started__isnull=False).count()
    ahead = _in_cloud(cloud.pk).filter(operation_started__isnull=True, pk__lt=backup.pk).count()
    if running + ahead < cap:
        return ""
    return f"a backup slot: {running} of {cap} backups run in cloud {cloud.name}, {ahead} queued ahead"


def _hand_on_slot(cloud_id):
    """A backup ended: once this commits, as many of the oldest queued backups of its cloud as there are free slots
    look for one now, rather than at their next look. Backups that end together each send the same few; a
    duplicate of a step is turned away by its claim."""
    def send():
        cap = backup_cap(Cloud.objects.get(pk=cloud_id))
        free = cap - _in_cloud(cloud_id).filter(operation_started__isnull=False).count() if cap > 0 else 100
        queued = _in_cloud(cloud_id).filter(operation_started__isnull=True).exclude(operation_token="")
        steps = queued.order_by("pk").values_list("uuid", "operation_token", "operation_seq")[:max(free, 0)]
        for uuid, token, seq in steps:
            try:
                messages.send_resource_step("backup", str(uuid), token, seq)
            except Exception as exc:  # noqa: BLE001 - the queue is down: the queued backup looks again on its own
                logger.warning("Could not hand a backup slot on to %s: %s", uuid, type(exc).__name__)
                return

    transaction.on_commit(send)


def _backup_then(backup, sizes):
    _hand_on_slot(backup.membership.cloud_id)
    check(backup.membership, BACKUPS)


def _backup_failed(backup, message):
    """A scheduled backup that failed stops its schedule, saying why (a quota the cloud refused, a cloud error);
    its slot goes to the next queued backup."""
    if backup.schedule_id:
        stop(backup.schedule_id, f"The backup of {backup.created:%Y-%m-%d %H:%M} UTC failed: {message}")
    _hand_on_slot(backup.membership.cloud_id)
    check(backup.membership, BACKUPS)  # an Erred backup holds no snapshots: its share is free again


BACKUP = ResourceOperation(
    "backup", Backup, B.BACKING_UP, B.BACKING_UP, None, Backup.begin_backing_up, _backup_step,
    Backup.set_ready, _backup_finish, _backup_then, failed=_backup_failed, gate=_backup_slot,
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


def _deleted(backup, value):
    """The deleted backup's snapshots no longer count: a quota past its warning threshold may be under it again."""
    check(CloudProjectMembership.objects.get(pk=backup.membership_id), BACKUPS)


DELETE_BACKUP = ResourceOperation(
    "delete_backup", Backup, B.DELETING, B.DELETING, Backup.schedule_deletion, Backup.begin_deleting, _delete_step,
    then=_deleted,
    phases=(
        Phase("", "delete both snapshots (one already gone is fine)", (
            Call("cinder volume_snapshots.delete", "{system_snapshot_id}", only_if="the snapshot is still there"),
            Call("cinder volume_snapshots.delete", "{data_snapshot_id}", only_if="the snapshot is still there"))),
        Phase("deleting", "wait for both snapshots to be gone, then forget the backup", (
            Wait("root snapshot and data snapshot", "gone"),)),
    ),
)  # fmt: skip

OPERATIONS = (BACKUP, DELETE_BACKUP)
