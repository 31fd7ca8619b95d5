"""Serializers of instances: the read shape, the create request, and the resize request."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from nodeconductor.core.models import SshPublicKey
from nodeconductor.core.permissions import deny_unless
from nodeconductor.core.serializers import HyperlinkedModelSerializer, UuidHyperlinkedRelatedField, detail_url
from nodeconductor.structure.models import Project

from .. import instance_policy
from ..engine import operations, progress
from ..instance_policy import NOT_ADMIN, can_operate
from ..models import CloudProjectMembership, Flavor, Instance, InstanceState, SecurityGroup, SyncState, Template
from ..services.floating_ips import floating_ip_create_error
from ..services.instances import min_data_volume_size
from ..services.security_groups import usable_groups_error

# RFC 1123 host name: labels of letters, digits and hyphens, dot-separated.
HOSTNAME_VALIDATOR = RegexValidator(
    r"^(?=.{1,80}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
    "Use a host name: letters, digits and hyphens in dot-separated labels, e.g. web-1.example.com.",
)
# 16 TiB: larger than any volume a Cinder backend of ours offers, and far from integer overflow.
MAX_VOLUME_SIZE = 16 * 1024 * 1024
VOLUME_TOO_LARGE = {"max_value": f"Must be at most {MAX_VOLUME_SIZE} MiB (16 TiB)."}


@extend_schema_field({"type": "string", "enum": [label for _, label in InstanceState.choices]})
class StateDisplayField(serializers.CharField):
    """The state's display string; typed as their enum so clients see every state the API can show."""

    LABELS = dict(InstanceState.choices)

    def get_attribute(self, instance):
        """Look the label up directly: `get_state_display` costs a signature inspection per row."""
        return self.LABELS.get(instance.state, instance.state)


def date_formatter(field):
    """DRF's DateTimeField output (None for no date), with its time zone and format looked up once per page.

    DRF finds the current time zone for every value: 300 dates a page of 100 rows. An ISO 8601 field of an aware
    database value is its isoformat() in that zone with "+00:00" written "Z", as DRF writes it; any other format
    goes through the field itself.
    """
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    zone = field.timezone if hasattr(field, "timezone") else field.default_timezone()
    if output_format is None or output_format.lower() != ISO_8601 or zone is None:
        return lambda value: field.to_representation(value) if value else None

    def iso(value):
        if not value:
            return None
        if isinstance(value, str) or not timezone.is_aware(value):
            return field.to_representation(value)
        try:
            text = value.astimezone(zone).isoformat()
        except OverflowError:  # DRF's own error for a date its zone cannot hold
            return field.to_representation(value)
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return iso


ACTIONS_SCHEMA = {
    "type": "object",
    "description": "Each action (start, stop, restart, resize_flavor, resize_disk, delete, recover, import): whether "
    "the requester can do it now, and if not, the reason its request would be refused with (403 or 409).",
    "properties": {
        name: {
            "type": "object",
            "properties": {"enabled": {"type": "boolean"}, "reason": {"type": "string"}},
            "required": ["enabled", "reason"],
        }
        for name in instance_policy.ACTION_NAMES
    },
}
OPERATION_SCHEMA = {
    "type": "object",
    "nullable": True,
    "description": "The operation under way, or (once Erred) the one that failed; null when none.",
    "properties": {
        "name": {"type": "string", "enum": list(operations.OPERATIONS)},
        "state": {"type": "string", "enum": ["queued", "running", "cleaning up", "failed"]},
        "step": {"type": "string", "description": "What the current step does."},
        "steps_done": {"type": "integer"},
        "steps_total": {"type": "integer"},
        "waiting_for": {"type": "string", "description": "The cloud state it waits for, e.g. server ACTIVE."},
        "waiting_since": {"type": "string", "format": "date-time", "nullable": True},
        "started": {"type": "string", "format": "date-time", "nullable": True},
        "failure": {"type": "string", "description": "The cloud's message when the operation failed."},
    },
}


class InstanceSerializer(HyperlinkedModelSerializer):
    """An instance as the portal shows it: states as display strings, sizes in MiB."""

    state = StateDisplayField(read_only=True)
    template = UuidHyperlinkedRelatedField(view_name="template-detail", read_only=True)
    template_name = serializers.CharField(source="template.name", read_only=True)
    flavor = UuidHyperlinkedRelatedField(view_name="flavor-detail", read_only=True)
    flavor_name = serializers.SerializerMethodField()
    project = serializers.SerializerMethodField()
    project_name = serializers.CharField(source="cloud_project_membership.project.name", read_only=True)
    customer = serializers.SerializerMethodField()
    customer_name = serializers.CharField(source="cloud_project_membership.project.customer.name", read_only=True)
    cloud = serializers.SerializerMethodField()
    cloud_name = serializers.CharField(source="cloud_project_membership.cloud.name", read_only=True)
    cloud_project_membership = UuidHyperlinkedRelatedField(view_name="cloudprojectmembership-detail", read_only=True)
    ssh_public_key = UuidHyperlinkedRelatedField(view_name="sshpublickey-detail", read_only=True)
    actions = serializers.SerializerMethodField()
    operation = serializers.SerializerMethodField()

    class Meta:
        model = Instance
        fields = (
            "url", "uuid", "hostname", "description", "state", "error_message",
            "template", "template_name", "flavor", "flavor_name", "cores", "ram",
            "system_volume_size", "data_volume_size", "agreed_sla",
            "project", "project_name", "customer", "customer_name", "cloud", "cloud_name", "cloud_project_membership",
            "ssh_public_key", "key_name", "key_fingerprint",
            "backend_id", "system_volume_id", "data_volume_id", "internal_ips", "external_ips",
            "start_time", "created", "modified", "actions", "operation",
        )  # fmt: skip
        read_only_fields = fields
        extra_kwargs = {
            "ram": {"help_text": "MiB"},
            "system_volume_size": {"help_text": "MiB"},
            "data_volume_size": {"help_text": "MiB"},
        }

    def to_representation(self, instance):
        """Build the row directly: the generic per-field path costs most of a list's time at 100 rows a page.

        tests/iaas/serializers/test_instance.py checks that this equals DRF's own field-by-field output.
        """
        request = self.context["request"]
        membership = instance.cloud_project_membership
        project, cloud = membership.project, membership.cloud

        def url(view_name, obj):
            return detail_url(view_name, obj, request) if obj is not None else None

        when, sla = self._formatters()

        return {
            "url": url("instance-detail", instance),
            "uuid": str(instance.uuid),
            "hostname": instance.hostname,
            "description": instance.description,
            "state": StateDisplayField.LABELS.get(instance.state, instance.state),
            "error_message": instance.error_message,
            "template": url("template-detail", instance.template),
            "template_name": instance.template.name,
            "flavor": url("flavor-detail", instance.flavor),
            "flavor_name": self.get_flavor_name(instance),
            "cores": instance.cores,
            "ram": instance.ram,
            "system_volume_size": instance.system_volume_size,
            "data_volume_size": instance.data_volume_size,
            "agreed_sla": sla.to_representation(instance.agreed_sla) if instance.agreed_sla is not None else None,
            "project": url("project-detail", project),
            "project_name": project.name,
            "customer": url("customer-detail", project.customer),
            "customer_name": project.customer.name,
            "cloud": url("cloud-detail", cloud),
            "cloud_name": cloud.name,
            "cloud_project_membership": url("cloudprojectmembership-detail", membership),
            "ssh_public_key": url("sshpublickey-detail", instance.ssh_public_key),
            "key_name": instance.key_name,
            "key_fingerprint": instance.key_fingerprint,
            "backend_id": instance.backend_id,
            "system_volume_id": instance.system_volume_id,
            "data_volume_id": instance.data_volume_id,
            "internal_ips": instance.internal_ips,
            "external_ips": instance.external_ips,
            "start_time": when(instance.start_time),
            "created": when(instance.created),
            "modified": when(instance.modified),
            "actions": self.get_actions(instance),
            "operation": self.get_operation(instance),
        }

    def _formatters(self):
        """The date formatter and SLA field, built once per serializer (building a field costs more than using it)."""
        if not hasattr(self, "_formatter_fields"):
            self._formatter_fields = (
                date_formatter(serializers.DateTimeField()),
                serializers.DecimalField(max_digits=6, decimal_places=4),
            )
        return self._formatter_fields

    def _operators(self):
        """Who may operate which project, looked up once for the whole page."""
        return self.context.setdefault("operators", instance_policy.Operators(self.context["request"].user))

    @extend_schema_field(ACTIONS_SCHEMA)
    def get_actions(self, instance):
        """For each action, whether the requester can do it now and, if not, why (the same rules as 403/409)."""
        return instance_policy.available(self._operators(), instance)

    @extend_schema_field(OPERATION_SCHEMA)
    def get_operation(self, instance):
        """The operation under way (its step, progress, what it waits for), or the step that failed; else null."""
        return progress.progress(instance)

    def get_flavor_name(self, instance) -> str:
        """The flavor's name, empty for instances created without one (the seed's shell path)."""
        return instance.flavor.name if instance.flavor else ""

    def get_project(self, instance) -> str:
        """URL of the instance's project."""
        return detail_url("project-detail", instance.cloud_project_membership.project, self.context["request"])

    def get_customer(self, instance) -> str:
        """URL of the customer owning the project."""
        customer = instance.cloud_project_membership.project.customer
        return detail_url("customer-detail", customer, self.context["request"])

    def get_cloud(self, instance) -> str:
        """URL of the cloud the instance lives in."""
        return detail_url("cloud-detail", instance.cloud_project_membership.cloud, self.context["request"])


class InstanceCreateSerializer(serializers.Serializer):
    """What a user asks for; validated against the project's membership, the template's image and quotas."""

    hostname = serializers.CharField(max_length=80, validators=[HOSTNAME_VALIDATOR])
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    template = UuidHyperlinkedRelatedField(view_name="template-detail", queryset=Template.objects.all())
    flavor = UuidHyperlinkedRelatedField(view_name="flavor-detail", queryset=Flavor.objects.filter(is_active=True))
    project = UuidHyperlinkedRelatedField(view_name="project-detail", queryset=Project.objects.all())
    ssh_public_key = UuidHyperlinkedRelatedField(
        view_name="sshpublickey-detail", queryset=SshPublicKey.objects.all(), required=False, allow_null=True
    )
    system_volume_size = serializers.IntegerField(
        min_value=1, max_value=MAX_VOLUME_SIZE, required=False, help_text="MiB; default: the flavor's disk size.",
        error_messages=VOLUME_TOO_LARGE,
    )
    data_volume_size = serializers.IntegerField(
        min_value=1, max_value=MAX_VOLUME_SIZE, required=False, help_text="MiB; default from settings.",
        error_messages=VOLUME_TOO_LARGE,
    )
    security_groups = UuidHyperlinkedRelatedField(
        view_name="securitygroup-detail", queryset=SecurityGroup.objects.all(), many=True, required=False,
        help_text="Groups of the project's membership in the flavor's cloud; none: the tenant's default group.",
    )  # fmt: skip
    assign_floating_ip = serializers.BooleanField(
        write_only=True, required=False, default=False,
        help_text="true: once the server is ACTIVE, give it a floating IP (a free one of ours, else a new one). "
        "Needs a membership with a router to an external network; counts against the floating IP quota.",
    )  # fmt: skip

    def __init__(self, *args, **kwargs):
        """Offer only what the requester sees, so invisible objects are 400 "does not exist", never 403."""
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is None:  # the schema generator builds serializers without a request
            return
        user = request.user
        self.fields["project"].queryset = Project.objects.for_user(user)
        self.fields["flavor"].queryset = Flavor.objects.for_user(user).filter(is_active=True)
        self.fields["template"].queryset = Template.objects.for_user(user)
        # Only one's own keys may be pushed into a VM (staff may use anybody's).
        keys = SshPublicKey.objects.all()
        self.fields["ssh_public_key"].queryset = keys if user.is_staff else keys.filter(user=user)

    def validate_project(self, project):
        """A visible project the requester may only read is 403, whatever else the request gets wrong."""
        deny_unless(can_operate(self.context["request"].user, project), NOT_ADMIN)
        return project

    def validate(self, attrs):
        """The project needs an In Sync membership in the flavor's cloud, the template an image there."""
        project, flavor, template = attrs["project"], attrs["flavor"], attrs["template"]
        membership = CloudProjectMembership.objects.filter(project=project, cloud=flavor.cloud_id).first()
        if membership is None:
            raise serializers.ValidationError({"flavor": "The project has no membership in this flavor's cloud."})
        if membership.state != SyncState.IN_SYNC:
            raise serializers.ValidationError(
                {"flavor": f"The project's membership in this cloud is {membership.get_state_display()}, "
                           "not In Sync; sync it first."}
            )  # fmt: skip
        image = template.images.filter(cloud=flavor.cloud_id).first()
        if image is None or not template.is_active:
            raise serializers.ValidationError({"template": "The template has no active image in the flavor's cloud."})
        system = attrs.setdefault("system_volume_size", max(flavor.disk, image.min_disk))
        if system < image.min_disk:
            raise serializers.ValidationError(
                {"system_volume_size": f"Must be at least the image's min_disk: {image.min_disk} MiB."}
            )
        data = attrs.setdefault("data_volume_size", settings.NODECONDUCTOR.get("DEFAULT_DATA_VOLUME_SIZE", 20480))
        if data < min_data_volume_size():
            raise serializers.ValidationError({"data_volume_size": f"Must be at least {min_data_volume_size()} MiB."})
        check_network_options(membership, attrs)
        attrs["membership"] = membership
        return attrs


def check_network_options(membership, attrs):
    """A new instance's groups must be the membership's and usable, and a floating IP possible there (400s).

    A create and a backup's restore both make a new instance in a membership, so they ask the same.
    """
    problem = usable_groups_error(membership, attrs.get("security_groups", ()))
    if problem:
        raise serializers.ValidationError({"security_groups": problem})
    if attrs.get("assign_floating_ip"):
        problem = floating_ip_create_error(membership)
        if problem:
            raise serializers.ValidationError({"assign_floating_ip": problem})


class InstanceResizeSerializer(serializers.Serializer):
    """Exactly one of a new flavor (same cloud) or a larger data volume size in MiB."""

    flavor = UuidHyperlinkedRelatedField(
        view_name="flavor-detail", queryset=Flavor.objects.filter(is_active=True), required=False
    )
    disk_size = serializers.IntegerField(
        min_value=1, max_value=MAX_VOLUME_SIZE, required=False, help_text="New data volume size, MiB.",
        error_messages=VOLUME_TOO_LARGE,
    )

    def __init__(self, *args, **kwargs):
        """Offer only flavors of clouds the requester sees, so others' clouds are "does not exist"."""
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["flavor"].queryset = Flavor.objects.for_user(request.user).filter(is_active=True)

    def validate(self, attrs):
        """Exactly one change; a flavor of the instance's cloud, different from the current one; a larger disk."""
        instance = self.context["instance"]
        if ("flavor" in attrs) == ("disk_size" in attrs):
            raise serializers.ValidationError({"non_field_errors": ["Give exactly one of flavor or disk_size."]})
        flavor = attrs.get("flavor")
        if flavor is not None:
            if flavor.cloud_id != instance.cloud_project_membership.cloud_id:
                raise serializers.ValidationError({"flavor": "The flavor belongs to another cloud than the instance."})
            if flavor.pk == instance.flavor_id:
                raise serializers.ValidationError({"flavor": "The instance already has this flavor."})
        if "disk_size" in attrs and attrs["disk_size"] <= instance.data_volume_size:
            raise serializers.ValidationError(
                {"disk_size": f"Must be larger than the current data volume: {instance.data_volume_size} MiB."}
            )
        return attrs


class InstanceSecurityGroupsSerializer(serializers.Serializer):
    """The full list of groups a running instance should have (visible groups of its own membership)."""

    security_groups = UuidHyperlinkedRelatedField(
        view_name="securitygroup-detail", queryset=SecurityGroup.objects.all(), many=True, allow_empty=True
    )

    def validate_security_groups(self, groups):
        """Groups of the instance's membership that are in the cloud."""
        problem = usable_groups_error(self.context["instance"].cloud_project_membership, groups)
        if problem:
            raise serializers.ValidationError(problem)
        return groups
