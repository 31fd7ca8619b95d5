"""The read shape of an instance: states as display strings, actions, the operation under way, and costs."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from nodeconductor.core.serializers import HyperlinkedModelSerializer, UuidHyperlinkedRelatedField, detail_url

from .. import costs, instance_policy
from ..engine import operations, progress
from ..models import Instance, InstanceState


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
    "description": "Each action (start, stop, restart, resize_flavor, resize_disk, delete, recover, import, and the "
    "console_log read): whether the requester can do it now, and if not, the reason its request would be refused "
    "with (403 or 409).",
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
    user_data = serializers.SerializerMethodField()
    monthly_cost = serializers.SerializerMethodField()
    currency = serializers.SerializerMethodField()

    class Meta:
        model = Instance
        fields = (
            "url", "uuid", "hostname", "description", "state", "error_message",
            "template", "template_name", "flavor", "flavor_name", "cores", "ram",
            "system_volume_size", "data_volume_size", "agreed_sla",
            "project", "project_name", "customer", "customer_name", "cloud", "cloud_name", "cloud_project_membership",
            "ssh_public_key", "key_name", "key_fingerprint", "user_data",
            "backend_id", "system_volume_id", "data_volume_id", "internal_ips", "external_ips",
            "start_time", "created", "modified", "actions", "operation", "monthly_cost", "currency",
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
            "user_data": self.get_user_data(instance),
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
            "monthly_cost": self.get_monthly_cost(instance),
            "currency": costs.currency(),
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

    @extend_schema_field({"type": "string", "nullable": True})
    def get_user_data(self, instance):
        """The cloud-init user data given at creation; null for those who may not operate the instance (it can
        hold what only its operators should read)."""
        operators = self._operators()
        return instance.user_data if operators.can_operate(instance.cloud_project_membership.project_id) else None

    @extend_schema_field({"type": "string", "format": "decimal", "example": "12.500"})
    def get_monthly_cost(self, instance):
        """A month of the instance: its template's and licences' fees, its flavor's, and its storage's."""
        return str(costs.instance_monthly_cost(instance))

    def get_currency(self, instance) -> str:
        """The currency of monthly_cost (the CURRENCY setting), so a client never guesses it."""
        return costs.currency()

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
