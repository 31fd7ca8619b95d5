"""Backups in the cloud: Cinder snapshots of an instance's two attached volumes, made and deleted as steps.

Our volumes stay attached even on a stopped VM, so every snapshot is of an attached volume: it is made with
`force` (Cinder refuses `force=false` from microversion 3.66; we send `force=True` at 3.0). On an NFS or
libvirt backend Cinder asks Nova to take it (os-assisted-volume-snapshots): a running VM's snapshot is
crash-consistent, as if its power had been cut. Each snapshot's name and metadata carry the backup's uuid,
so a step run again finds what an earlier run made instead of making a second one.
"""

from .errors import CloudBackendError, CloudResourceNotFound
from .instances import Step

BACKUP_META_KEY = "nodeconductor_backup"
ROLES = ("system", "data")
SNAPSHOT_ERROR_STATES = {"error", "error_deleting"}


def snapshot_name(backup_uuid, role):
    """Name of a backup's snapshot of the root ("system") or data volume; carries the uuid so a retry finds it."""
    return f"nc-backup-{backup_uuid.hex}-{role}"


def _label(role):
    return "root" if role == "system" else "data"


class BackupsMixin:
    """Snapshot a backup's volumes and delete its snapshots; mixed into OpenStackBackend. `backup` is a
    BackupSpec (specs.py): plain data, so no step reads the database."""

    def get_snapshot(self, tenant_id, snapshot_id):
        """A Cinder snapshot by id, or None when it is gone."""
        try:
            with self._call(f"get snapshot {snapshot_id}"):
                return self.cinder(tenant_id).volume_snapshots.get(snapshot_id)
        except CloudResourceNotFound:
            return None

    def _find_snapshot(self, backup, role):
        """The backup's snapshot of one volume, by its name and metadata, or None."""
        name = snapshot_name(backup.uuid, role)
        with self._call(f"find snapshot {name}"):
            found = self.cinder(backup.tenant_id).volume_snapshots.list(search_opts={"name": name})
        return next((s for s in found if s.name == name
                     and (s.metadata or {}).get(BACKUP_META_KEY) == str(backup.uuid)), None)  # fmt: skip

    def _ensure_snapshot(self, backup, role):
        """Find or make the backup's snapshot of the root or data volume (force: the volume is attached)."""
        current = getattr(backup, f"{role}_snapshot_id")
        snapshot = self.get_snapshot(backup.tenant_id, current) if current else self._find_snapshot(backup, role)
        if snapshot is None:
            if current:
                raise CloudBackendError(f"The {_label(role)} snapshot {current} vanished from the cloud.")
            volume_id = getattr(backup, f"{role}_volume_id")
            with self._call(f"snapshot the {_label(role)} volume {volume_id}"):
                snapshot = self.cinder(backup.tenant_id).volume_snapshots.create(
                    volume_id, force=True, name=snapshot_name(backup.uuid, role),
                    description=f"{_label(role)} volume of {backup.hostname}",
                    metadata={BACKUP_META_KEY: str(backup.uuid)},
                )  # fmt: skip
        if snapshot.status in SNAPSHOT_ERROR_STATES:
            raise CloudBackendError(f"The {_label(role)} snapshot {snapshot.id} went to status {snapshot.status} "
                                    "in the cloud.")  # fmt: skip
        return snapshot

    def backup_step(self, backup, phase=""):
        """Make both snapshots (or find them), then wait until both are available; their ids and sizes (GiB)."""
        snapshots = {role: self._ensure_snapshot(backup, role) for role in ROLES}
        changes = {f"{role}_snapshot_id": s.id for role, s in snapshots.items()}
        busy = [f"{_label(role)} snapshot {s.status}" for role, s in snapshots.items() if s.status != "available"]
        if busy:
            return Step(phase="snapshots", changes=changes, waiting_for=", ".join(busy))
        return Step(done=True, changes=changes, carry={f"{role}_snapshot_gib": s.size for role, s in snapshots.items()})

    def delete_backup_step(self, backup, phase=""):
        """Delete both snapshots (one already gone is fine), then wait until both are gone."""
        waiting = []
        for role in ROLES:
            snapshot_id = getattr(backup, f"{role}_snapshot_id")
            snapshot = self.get_snapshot(backup.tenant_id, snapshot_id) if snapshot_id else None
            if snapshot is None and not snapshot_id:
                snapshot = self._find_snapshot(backup, role)  # made by a run that failed before it stored the id
            if snapshot is None:
                continue
            if snapshot.status == "error_deleting":
                raise CloudBackendError(f"The cloud could not delete the {_label(role)} snapshot {snapshot.id} "
                                        "(status error_deleting).")  # fmt: skip
            if snapshot.status == "creating":  # Cinder refuses to delete it until it is made (or failed)
                waiting.append(f"{_label(role)} snapshot {snapshot.id} to be made")
                continue
            if snapshot.status != "deleting":
                try:
                    with self._call(f"delete the {_label(role)} snapshot {snapshot.id}"):
                        self.cinder(backup.tenant_id).volume_snapshots.delete(snapshot.id)
                except CloudResourceNotFound:
                    continue
            waiting.append(f"{_label(role)} snapshot {snapshot.id} to be gone")
        if waiting:
            return Step(phase=phase or "deleting", waiting_for=" and ".join(waiting))
        return Step(done=True, changes={"system_snapshot_id": "", "data_snapshot_id": ""})
