"""Backup schedules: a cron expression in a time zone that backs one instance up, with retention and a maximum."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from nodeconductor.core.models import TimeStampedMixin, UuidMixin

from .cloud import ProjectScopedQuerySet


def default_timezone():
    """The server's time zone (settings.TIME_ZONE): a schedule's default zone."""
    return settings.TIME_ZONE


class BackupScheduleQuerySet(ProjectScopedQuerySet):
    """Schedule visibility per user: the schedules of instances of projects the user sees."""

    project_path = "instance__cloud_project_membership__project"


class BackupSchedule(UuidMixin, TimeStampedMixin):
    """Backs its instance up at each run of `schedule` (in `timezone`), keeping at most the maximum, each for the
    retention time. A schedule whose backup fails (a quota refused, the cloud failed) is deactivated with why.

    `is_active` is changed by the services' activate and deactivate only, with the next run written alongside.
    """

    instance = models.ForeignKey("iaas.Instance", on_delete=models.CASCADE, related_name="backup_schedules")
    schedule = models.CharField(max_length=100, help_text="Five cron fields in `timezone`, e.g. 0 2 * * *.")
    timezone = models.CharField(max_length=64, default=default_timezone, help_text="An IANA name.")
    retention_time = models.PositiveIntegerField(
        default=0, help_text="Days a backup is kept; 0 keeps it until it is deleted."
    )
    maximal_number_of_backups = models.PositiveIntegerField(
        default=0, validators=[MinValueValidator(0)], help_text="0 for no limit."
    )
    description = models.CharField(max_length=255, blank=True)
    is_active = models.BooleanField(default=True, editable=False)
    next_trigger_at = models.DateTimeField(null=True, blank=True, editable=False)
    error_message = models.TextField(blank=True, editable=False)
    call_count = models.PositiveIntegerField(default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )

    objects = BackupScheduleQuerySet.as_manager()

    class Meta:
        ordering = ("-created",)
        indexes = [models.Index(fields=("is_active", "next_trigger_at"), name="iaas_bschedule_due_idx")]

    def __str__(self):
        return f"backup schedule {self.schedule} ({self.timezone}) of {self.instance_id}"
