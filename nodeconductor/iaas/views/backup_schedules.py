"""Backup schedule endpoints: a cron in a time zone per instance, activated and deactivated; the beat runs them."""

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import decorators, response, status

from nodeconductor.core.filters import UUIDFilter
from nodeconductor.core.permissions import CanManageObject, deny_unless
from nodeconductor.core.schema import conflict
from nodeconductor.core.views import UuidModelViewSet

from ..instance_policy import can_operate
from ..models import BackupSchedule
from ..serializers.backup_schedules import BackupScheduleSerializer
from ..services import backup_schedules as services

NOT_ADMIN = "Only project administrators and staff manage backup schedules."


class CanManageSchedule(CanManageObject):
    """CanManageObject whose 403 says who may change schedules."""

    message = NOT_ADMIN


class BackupScheduleFilter(django_filters.FilterSet):
    """By instance (backup_source), project and whether active."""

    instance = UUIDFilter("instance", help_text="uuid of the backed-up instance.")
    project = UUIDFilter("instance__cloud_project_membership__project")

    class Meta:
        model = BackupSchedule
        fields = ("instance", "project", "is_active")


@extend_schema_view(
    list=extend_schema(summary="List backup schedules"),
    retrieve=extend_schema(summary="Show a backup schedule"),
    create=extend_schema(
        summary="Schedule backups of an instance",
        description="Project administrators and staff. A cron of five fields, at most hourly, in an IANA time zone "
        "(default: the server's); each run deletes the oldest backups over the maximum, then backs the instance up. "
        "A run missed during an outage is made once, then the schedule waits for its next slot.",
    ),
    partial_update=extend_schema(summary="Change a backup schedule", description="A new cron or zone moves "
                                 "next_trigger_at."),  # fmt: skip
    update=extend_schema(summary="Replace a backup schedule"),
    destroy=extend_schema(summary="Delete a backup schedule", description="Its backups are kept."),
)
class BackupScheduleViewSet(UuidModelViewSet):
    """Schedules of the requester's projects' instances: administrators manage them, managers and owners read."""

    queryset = BackupSchedule.objects.all()
    serializer_class = BackupScheduleSerializer
    permission_classes = (CanManageSchedule,)
    filterset_class = BackupScheduleFilter
    ordering_fields = ("created", "next_trigger_at")

    def get_queryset(self):
        """Visible schedules with their instance in one query."""
        return super().get_queryset().select_related("instance__cloud_project_membership__project")

    def can_manage(self, user, schedule):
        """Administrators of the instance's project and staff."""
        return can_operate(user, schedule.instance.cloud_project_membership.project)

    def perform_create(self, serializer):
        """Check the requester administers the instance's project (403), then create it with its next run."""
        data = serializer.validated_data
        deny_unless(can_operate(self.request.user, data["instance"].cloud_project_membership.project), NOT_ADMIN)
        serializer.instance = services.schedule_create(data.pop("instance"), self.request.user, **data)

    def perform_update(self, serializer):
        """Write the fields; a new cron or zone moves the next run."""
        serializer.instance = services.schedule_update(serializer.instance, serializer.validated_data)

    def _answer(self, schedule):
        return response.Response(self.get_serializer(schedule).data, status=status.HTTP_200_OK)

    @extend_schema(summary="Activate a backup schedule", request=None,
                   responses={200: BackupScheduleSerializer, 409: conflict("It is already active.")})  # fmt: skip
    @decorators.action(detail=True, methods=["post"])
    def activate(self, request, uuid=None):
        """Run the schedule again from its next slot (after a failure was fixed)."""
        return self._answer(services.activate(self.get_object()))

    @extend_schema(summary="Deactivate a backup schedule", request=None,
                   responses={200: BackupScheduleSerializer, 409: conflict("It is already inactive.")})  # fmt: skip
    @decorators.action(detail=True, methods=["post"])
    def deactivate(self, request, uuid=None):
        """Stop the schedule; its backups stay."""
        return self._answer(services.deactivate(self.get_object()))


def register_in(router):
    """Register the backup schedule endpoints."""
    router.register("backup-schedules", BackupScheduleViewSet, basename="backupschedule")
