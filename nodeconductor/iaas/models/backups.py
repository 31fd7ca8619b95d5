"""Backups: Cinder snapshots of an instance's root and data volumes, with what a restore needs to boot them again."""

from django.conf import settings
from django.db import models
from django_fsm import RETURN_VALUE, FSMField, transition

from nodeconductor.core.models import StateMachineMixin, TimeStampedMixin, UuidMixin

from .cloud import ProjectScopedQuerySet
from .operation_record import OperationRecord


class BackupState(models.TextChoices):
    """A backup's states, as NodeConductor named them: the request leaves it in the state its worker runs in."""

    BACKING_UP = "backing_up", "Backing up"
    READY = "ready", "Ready"
    RESTORING = "restoring", "Restoring"
    DELETING = "deleting", "Deleting"
    ERRED = "erred", "Erred"


B = BackupState


class BackupQuerySet(ProjectScopedQuerySet):
    """Backup visibility per user: the backups of the memberships of projects the user sees."""

    project_path = "membership__project"

    def holding_quota(self):
        """Backups whose snapshots count against the quotas: all but Erred ones (their clean-up deleted them)."""
        return self.exclude(state=B.ERRED)


class Backup(StateMachineMixin, UuidMixin, TimeStampedMixin, OperationRecord):
    """Snapshots of both volumes of one instance at one moment; restorable into new instances many times.

    A backup belongs to its membership (the tenant that holds the snapshots), not only to its instance: the
    instance cannot be deleted while it has backups, but the snapshots are the tenant's either way.
    """

    instance = models.ForeignKey(
        "iaas.Instance", on_delete=models.SET_NULL, null=True, blank=True, related_name="backups"
    )
    membership = models.ForeignKey("iaas.CloudProjectMembership", on_delete=models.PROTECT, related_name="backups")
    description = models.CharField(max_length=255, blank=True)
    kept_until = models.DateTimeField(null=True, blank=True, help_text="Retention deletes the backup after this.")
    state = FSMField(default=B.BACKING_UP, choices=B.choices, protected=True, max_length=30)
    error_message = models.TextField(blank=True)
    # What a restore needs: template, flavor, cores, RAM, both sizes (MiB), key, groups (names ids of the source).
    metadata = models.JSONField(default=dict, blank=True)
    # Both volumes' sizes when it was taken, MiB: what its snapshots hold against the snapshot storage quota.
    size = models.PositiveBigIntegerField(default=0, editable=False, help_text="MiB")
    system_snapshot_id = models.CharField(max_length=255, blank=True, help_text="Cinder snapshot of the root volume")
    data_snapshot_id = models.CharField(max_length=255, blank=True, help_text="Cinder snapshot of the data volume")
    # The instance a restore is building from this backup, while it is Restoring.
    restoring_instance = models.ForeignKey(
        "iaas.Instance", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    # The schedule that made it; deleting the schedule keeps its backups.
    schedule = models.ForeignKey(
        "iaas.BackupSchedule", on_delete=models.SET_NULL, null=True, blank=True, related_name="backups", editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )

    objects = BackupQuerySet.as_manager()

    class Meta:
        ordering = ("-created",)
        indexes = [models.Index(fields=("-created",), name="iaas_backup_created_idx")]

    def __str__(self):
        return f"backup {self.uuid.hex[:8]} of {self.metadata.get('hostname', 'an instance')}"

    @property
    def snapshot_ids(self):
        """The Cinder snapshots the backup made, root first (only those made so far)."""
        return [i for i in (self.system_snapshot_id, self.data_snapshot_id) if i]

    @transition(field=state, source=B.BACKING_UP, target=B.BACKING_UP)
    def begin_backing_up(self):
        """A worker picked the backup up."""

    @transition(field=state, source=B.BACKING_UP, target=B.READY)
    def set_ready(self):
        """Both snapshots are available in the cloud."""
        self.error_message = ""

    @transition(field=state, source=B.READY, target=B.RESTORING)
    def begin_restoring(self, instance):
        """A restore is building `instance` from the snapshots; the backup waits for it to read them."""
        self.restoring_instance = instance

    @transition(field=state, source=B.RESTORING, target=B.READY)
    def end_restoring(self):
        """The restore's provision ended (either way): the snapshots are free for the next restore or deletion."""
        self.restoring_instance = None

    @transition(field=state, source=[B.READY, B.ERRED], target=B.DELETING)
    def schedule_deletion(self):
        """Queue the deletion of both snapshots; the row goes once they are gone."""

    @transition(field=state, source=B.DELETING, target=RETURN_VALUE(B.READY, B.ERRED))
    def unschedule_deletion(self, previous):
        """The task queue refused the deletion: back to the state it was asked in."""
        return previous

    @transition(field=state, source=B.DELETING, target=B.DELETING)
    def begin_deleting(self):
        """A worker is deleting the snapshots (again, when its first worker was lost)."""

    @transition(field=state, source=[B.BACKING_UP, B.DELETING], target=B.ERRED)
    def set_erred(self, message=""):
        """The backup or its deletion failed; keep the cloud's message for the user."""
        self.error_message = message
