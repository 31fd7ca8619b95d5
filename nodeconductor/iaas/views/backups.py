"""Backup endpoints: take a backup of an instance, restore it into a new one, delete it; never a cloud call here."""

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import decorators, mixins, response, status, viewsets

from nodeconductor.core.filters import UUIDFilter
from nodeconductor.core.permissions import CanManageObject, deny_unless
from nodeconductor.core.schema import accepted, conflict
from nodeconductor.core.views import UuidViewSetMixin

from .. import instance_policy, plans
from ..backup_operations import BACKUP, DELETE_BACKUP
from ..models import Backup, BackupState
from ..serializers.backups import BackupRestoreSerializer, BackupSerializer
from ..serializers.instance import InstanceSerializer
from ..services import backups as services
from .dry_runs import DRY_RUN, PLAN, RESOURCE_PLAN, dry_run, plan_answer


class CanManageBackup(CanManageObject):
    """CanManageObject whose 403 says who may change backups."""

    message = services.NOT_ADMIN


class BackupFilter(django_filters.FilterSet):
    """By instance (backup_source), project, membership and state."""

    instance = UUIDFilter("instance", help_text="uuid of the backed-up instance.")
    project = UUIDFilter("membership__project")
    membership = UUIDFilter("membership")
    state = django_filters.MultipleChoiceFilter(choices=BackupState.choices, distinct=False)

    class Meta:
        model = Backup
        fields = ("instance", "project", "membership", "state")


@extend_schema_view(
    list=extend_schema(summary="List backups", description="Backups of the projects the requester sees."),
    retrieve=extend_schema(summary="Show a backup"),
    create=extend_schema(
        summary="Back an instance up",
        description="Project administrators and staff; the instance must be Online or Offline with no operation "
        "under way (409). The backup starts in Backing up; a worker snapshots the root and the data volume and it "
        "is Ready once both snapshots are available (202). The backup of a running VM is crash-consistent.",
        parameters=[DRY_RUN],
        responses={202: BackupSerializer, 200: RESOURCE_PLAN, 409: conflict("The instance is busy or not at rest.")},
    ),
    destroy=extend_schema(
        summary="Delete a backup",
        description="A Ready or Erred backup: a worker deletes both snapshots (one already gone is fine), then "
        "the backup goes (202).",
        parameters=[DRY_RUN],
        responses={
            202: accepted("deletion was scheduled"),
            200: RESOURCE_PLAN,
            409: conflict("The backup is Backing up, Restoring or being deleted."),
        },
    ),
)
class BackupViewSet(UuidViewSetMixin, mixins.CreateModelMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                    mixins.DestroyModelMixin, viewsets.GenericViewSet):  # fmt: skip
    """Backups of the requester's projects: administrators take, restore and delete them; the others read."""

    queryset = Backup.objects.all()
    serializer_class = BackupSerializer
    permission_classes = (CanManageBackup,)
    filterset_class = BackupFilter
    ordering_fields = ("created", "state")

    def get_queryset(self):
        """Visible backups with their membership, project and instance in constant queries."""
        return (super().get_queryset()
                .select_related("membership__project", "membership__cloud", "instance")
                .defer("membership__project__description"))  # fmt: skip

    def can_manage(self, user, backup):
        """Administrators of the backup's project and staff."""
        return instance_policy.can_operate(user, backup.membership.project)

    def create(self, request, *args, **kwargs):
        """Validate, check the requester operates the instance (403) and that it is at rest (409), and schedule."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        instance = data["instance"]
        deny_unless(instance_policy.can_operate(request.user, instance.cloud_project_membership.project),
                    services.NOT_ADMIN)  # fmt: skip
        if dry_run(request):
            instance_policy.require(request.user, instance, "backup")
            services.check_quota(instance.cloud_project_membership, services.backup_quota_change(instance))
            return plan_answer(plans.plan_resource(BACKUP, instance, {
                "uuid": "<new backup uuid>", "system_volume_id": instance.system_volume_id,
                "data_volume_id": instance.data_volume_id}))  # fmt: skip
        backup = services.backup_create(instance, request.user, data.get("description", ""), data.get("kept_until"))
        return self._answer(backup, status.HTTP_202_ACCEPTED)

    def _answer(self, backup, status_code):
        backup = self.get_queryset().get(pk=backup.pk)
        return response.Response(self.get_serializer(backup).data, status=status_code)

    def destroy(self, request, *args, **kwargs):
        """Schedule the deletion of both snapshots (202); 409 unless Ready or Erred and idle."""
        backup = self.get_object()
        if dry_run(request):
            services.require(request.user, backup, "delete")
            return plan_answer(plans.plan_resource(DELETE_BACKUP, backup, {
                "system_snapshot_id": backup.system_snapshot_id or "(none)",
                "data_snapshot_id": backup.data_snapshot_id or "(none)"}))  # fmt: skip
        services.backup_delete(backup, request.user)
        return response.Response({"status": "deletion was scheduled"}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Delete a backup (NodeConductor's form)", request=None, parameters=[DRY_RUN],
        responses={202: accepted("deletion was scheduled"), 200: RESOURCE_PLAN, 409: conflict("Not deletable now.")},
    )  # fmt: skip
    @decorators.action(detail=True, methods=["post"], url_path="delete")
    def delete_backup(self, request, uuid=None):
        """The same as DELETE on the backup, as NodeConductor's API had it."""
        return self.destroy(request, uuid=uuid)

    @extend_schema(
        summary="Restore a backup into a new instance",
        description="A Ready backup; the new instance is made in the backup's project, booted from volumes made "
        "from the snapshots at their sizes (202 with the new instance). The backup is Restoring until the build "
        "ends. 400 for a flavor of another cloud, one too small for the root volume, or over a quota.",
        request=BackupRestoreSerializer, parameters=[DRY_RUN],
        responses={202: InstanceSerializer, 200: PLAN, 409: conflict("The backup is not Ready.")},
    )  # fmt: skip
    @decorators.action(detail=True, methods=["post"])
    def restore(self, request, uuid=None):
        """Check (403, 409, then 400), then schedule the new instance's build from the snapshots."""
        backup = self.get_object()
        body = request.data  # a body that is not JSON is a 400 whatever the backup's state
        services.require(request.user, backup, "restore")
        serializer = BackupRestoreSerializer(data=body, context={"request": request, "backup": backup})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if dry_run(request):
            return plan_answer(plans.plan_restore(backup, data))
        instance = services.backup_restore(
            backup,
            request.user,
            data["flavor"],
            data.get("hostname", ""),
            data.get("security_groups"),
            data.get("assign_floating_ip", False),
        )
        body = InstanceSerializer(instance, context={"request": request}).data
        return response.Response(body, status=status.HTTP_202_ACCEPTED)


def register_in(router):
    """Register the backup endpoints."""
    router.register("backups", BackupViewSet, basename="backup")
