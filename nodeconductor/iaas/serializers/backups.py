"""Serializers of backups: the read shape, the create request (an instance to back up) and the restore request."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from nodeconductor.core.serializers import HyperlinkedModelSerializer, UuidHyperlinkedRelatedField, detail_url

from ..instance_policy import Operators
from ..models import Backup, BackupState, Flavor, Instance, SecurityGroup, SyncState
from ..services import backups as services
from .instance_requests import HOSTNAME_VALIDATOR, check_network_options
from .operations import OperationFieldMixin

STATE_LABELS = dict(BackupState.choices)
ACTION_SCHEMA = {"type": "object", "properties": {"enabled": {"type": "boolean"}, "reason": {"type": "string"}},
                 "required": ["enabled", "reason"]}  # fmt: skip


class BackupSerializer(OperationFieldMixin, HyperlinkedModelSerializer):
    """A backup as the portal shows it: its source, its state, what a restore will make, and what it may do now."""

    backup_source = UuidHyperlinkedRelatedField(
        source="instance", view_name="instance-detail", queryset=Instance.objects.all(),
        help_text="The instance to back up: Online or Offline. The backup of a running VM is crash-consistent: its "
        "disks are as if its power had been cut.",
    )  # fmt: skip
    state = serializers.SerializerMethodField()
    project = serializers.SerializerMethodField()
    project_name = serializers.CharField(source="membership.project.name", read_only=True)
    cloud_project_membership = UuidHyperlinkedRelatedField(
        source="membership", view_name="cloudprojectmembership-detail", read_only=True
    )
    crash_consistent = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField()

    class Meta:
        model = Backup
        fields = ("url", "uuid", "backup_source", "description", "kept_until", "state", "error_message", "metadata",
                  "crash_consistent", "project", "project_name", "cloud_project_membership", "system_snapshot_id",
                  "data_snapshot_id", "created", "modified", "actions", "operation")  # fmt: skip
        read_only_fields = ("uuid", "state", "error_message", "metadata", "system_snapshot_id", "data_snapshot_id",
                            "created", "modified")  # fmt: skip

    def __init__(self, *args, **kwargs):
        """Offer only the instances the requester sees, so another customer's instance does not exist here."""
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["backup_source"].queryset = Instance.objects.for_user(request.user)

    @extend_schema_field({"type": "string", "enum": list(STATE_LABELS.values())})
    def get_state(self, backup):
        """The state's display string, e.g. "Backing up"."""
        return STATE_LABELS.get(backup.state, backup.state)

    def get_project(self, backup) -> str:
        """URL of the backup's project."""
        return detail_url("project-detail", backup.membership.project, self.context["request"])

    def get_crash_consistent(self, backup) -> str:
        """Said of the backup of a running VM; empty for one of a stopped VM (consistent on disk)."""
        return services.CRASH_CONSISTENT if backup.metadata.get("running") else ""

    @extend_schema_field({"type": "object", "properties": {n: ACTION_SCHEMA for n in services.RULES}})
    def get_actions(self, backup):
        """restore and delete: whether the requester can do them now, and if not the reason (403 or 409)."""
        return services.available(self._operators(), backup)

    def _operators(self):
        """Who may operate which project, looked up once for the whole page."""
        if "_operators" not in self.context:
            self.context["_operators"] = Operators(self.context["request"].user)
        return self.context["_operators"]

    def to_representation(self, backup):
        """The metadata's user data (cloud-init's, copied from the instance) only for those who may operate the
        project, as on the instance itself: null for the others."""
        body = super().to_representation(backup)
        if "user_data" in body.get("metadata", {}) and not self._operators().can_operate(backup.membership.project_id):
            body["metadata"] = {**body["metadata"], "user_data": None}
        return body

    def validate_kept_until(self, value):
        """Retention deletes the backup after this moment: it must be in the future."""
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("Must be in the future (retention deletes the backup after it).")
        return value


class BackupRestoreSerializer(serializers.Serializer):
    """A restore: the flavor of the new instance (the backup's cloud, big enough for the root volume) and options."""

    flavor = UuidHyperlinkedRelatedField(view_name="flavor-detail", queryset=Flavor.objects.filter(is_active=True))
    hostname = serializers.CharField(
        max_length=80, required=False, validators=[HOSTNAME_VALIDATOR],
        help_text="Default: the backed-up instance's, with -restored.",
    )  # fmt: skip
    security_groups = UuidHyperlinkedRelatedField(
        view_name="securitygroup-detail", queryset=SecurityGroup.objects.all(), many=True, required=False,
        help_text="Default: the groups the backed-up instance had (those still in the membership).",
    )  # fmt: skip
    assign_floating_ip = serializers.BooleanField(required=False, default=False)

    def __init__(self, *args, **kwargs):
        """Offer only the flavors and groups the requester sees: others' are "does not exist"."""
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["flavor"].queryset = Flavor.objects.for_user(request.user).filter(is_active=True)
            self.fields["security_groups"].child_relation.queryset = SecurityGroup.objects.for_user(request.user)

    def validate(self, attrs):
        """A flavor of the backup's cloud whose disk holds the root volume; groups and a floating IP it can have."""
        backup = self.context["backup"]
        membership = backup.membership
        flavor = attrs["flavor"]
        if membership.state != SyncState.IN_SYNC:
            raise serializers.ValidationError(
                {"non_field_errors": [f"The project's membership in the backup's cloud is "
                                      f"{membership.get_state_display()}, not In Sync; sync it first."]}
            )  # fmt: skip
        if flavor.cloud_id != membership.cloud_id:
            raise serializers.ValidationError({"flavor": "The flavor belongs to another cloud than the backup."})
        root = services.restored_size(backup, "system")
        if flavor.disk and flavor.disk < root:
            raise serializers.ValidationError(
                {
                    "flavor": f"Its disk ({flavor.disk} MiB) is smaller than the backup's "
                    f"root volume ({root} MiB); pick a larger flavor."
                }
            )
        check_network_options(membership, attrs)
        return attrs
