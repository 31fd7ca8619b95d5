"""Serializers of cloud accounts and the memberships that bind projects to them."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from nodeconductor.core.serializers import HyperlinkedModelSerializer, UuidHyperlinkedRelatedField
from nodeconductor.iaas.limits import CINDER_GIGABYTES_MAX, NOVA_QUOTA_MAX, STORAGE_QUOTA_MAX
from nodeconductor.iaas.models import Cloud, CloudProjectMembership, Flavor, Instance
from nodeconductor.iaas.serializers.operations import OperationFieldMixin
from nodeconductor.iaas.services import backups as backup_services
from nodeconductor.iaas.services import clouds as services
from nodeconductor.structure.models import Customer, Project

# API name -> model field of a membership's limits; -1 means unlimited, sizes are MiB.
QUOTA_FIELDS = {
    "vcpu": "quota_vcpu",
    "ram": "quota_ram",
    "storage": "quota_storage",
    "max_instances": "quota_max_instances",
}
# API name -> model field of the limits on the tenant's Neutron objects, which the API refuses beyond (400
# quota_exceeded); staff set them in the admin, -1 means unlimited.
NETWORK_QUOTA_FIELDS = {
    "security_groups": "quota_security_group_count",
    "security_group_rules": "quota_security_group_rule_count",
    "floating_ips": "quota_floating_ip_count",
}


def _django_errors(exc):
    """Django's ValidationError as DRF's field-keyed dict."""
    if hasattr(exc, "error_dict"):
        return {("non_field_errors" if k == "__all__" else k): v for k, v in exc.message_dict.items()}
    return {"non_field_errors": exc.messages}


class CloudFlavorSerializer(HyperlinkedModelSerializer):
    """A flavor as listed inside its cloud: what a user picks an instance size from."""

    class Meta:
        model = Flavor
        fields = ("url", "name", "cores", "ram", "disk")


class CloudSerializer(OperationFieldMixin, HyperlinkedModelSerializer):
    """A cloud account; auth_url is shown to the customer's owners and staff only."""

    customer = UuidHyperlinkedRelatedField(
        view_name="customer-detail", queryset=Customer.objects.all(), help_text="Set on creation only."
    )
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    auth_url = serializers.CharField(
        max_length=200,
        help_text="Keystone URL; must have credentials in settings. Shown to owners and staff only.",
    )
    state = serializers.CharField(source="get_state_display", read_only=True, help_text='e.g. "In Sync".')
    flavors = CloudFlavorSerializer(
        source="active_flavors", many=True, read_only=True, help_text="Flavors currently offered by the cloud."
    )

    class Meta:
        model = Cloud
        fields = (
            "url",
            "uuid",
            "name",
            "customer",
            "customer_name",
            "auth_url",
            "state",
            "error_message",
            "flavors",
            "last_pulled",
            "operation",
        )
        read_only_fields = ("uuid", "error_message", "last_pulled")
        # (customer, name) uniqueness is checked in validate() with a message naming the field.
        validators = []

    def _may_see_auth_url(self, cloud):
        """Owners of the cloud's customer and staff; uses the view's annotation when there is one."""
        user = self.context["request"].user
        if user.is_staff:
            return True
        annotated = getattr(cloud, "user_is_owner", None)
        return annotated if annotated is not None else cloud.customer.has_owner(user)

    def to_representation(self, cloud):
        """Leave auth_url out for users who are not the customer's owners or staff."""
        data = super().to_representation(cloud)
        if not self._may_see_auth_url(cloud):
            data.pop("auth_url", None)
        return data

    def validate(self, attrs):
        """Apply the model's rules (credentials configured for auth_url) and name uniqueness per customer."""
        cloud = Cloud(**attrs)
        try:
            cloud.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(_django_errors(exc))
        if Cloud.objects.filter(customer=attrs["customer"], name=attrs["name"]).exists():
            raise serializers.ValidationError({"name": ["The customer already has a cloud with this name."]})
        return attrs

    def create(self, validated_data):
        """Create through the service, which schedules the first pull."""
        cloud = services.cloud_create(**validated_data)
        cloud.active_flavors = []
        return cloud


def _quota_field(limit, unit, holder, help_text):
    """A quota from -1 (unlimited) up to what `holder` stores; a 400 beyond names the unit and the limit."""
    return serializers.IntegerField(
        min_value=-1,
        max_value=limit,
        required=False,
        help_text=help_text,
        error_messages={
            "min_value": "Must be -1 (unlimited) or more.",
            "max_value": f"Must be at most {limit} {unit}, the most {holder} holds (-1 is unlimited).",
        },
    )


class MembershipQuotasSerializer(serializers.Serializer):
    """Limits of a membership's tenant (-1 = unlimited; ram and storage in MiB), at most what OpenStack holds."""

    vcpu = _quota_field(NOVA_QUOTA_MAX, "cores", "Nova", f"Cores, at most {NOVA_QUOTA_MAX}.")
    ram = _quota_field(NOVA_QUOTA_MAX, "MiB", "Nova", f"MiB, at most {NOVA_QUOTA_MAX}.")
    storage = _quota_field(STORAGE_QUOTA_MAX, f"MiB ({CINDER_GIGABYTES_MAX} GiB)", "Cinder",
                           f"MiB, at most {STORAGE_QUOTA_MAX}; Cinder keeps whole GiB (rounded down).")  # fmt: skip
    max_instances = _quota_field(NOVA_QUOTA_MAX, "instances", "Nova", f"Instances, at most {NOVA_QUOTA_MAX}.")

    def validate(self, attrs):
        """An empty request would schedule a sync that changes nothing; refuse it."""
        if not attrs:
            raise serializers.ValidationError(f"Give at least one of: {', '.join(QUOTA_FIELDS)}.")
        return attrs


class MembershipNetworkQuotasSerializer(serializers.Serializer):
    """Limits on the tenant's security groups, their rules and its floating IPs (-1 = unlimited)."""

    security_groups = serializers.IntegerField(help_text="Security groups of the membership.")
    security_group_rules = serializers.IntegerField(help_text="Rules of all its security groups together.")
    floating_ips = serializers.IntegerField(help_text="Floating IPs the tenant holds, free or in use.")


class LimitAndUsageSerializer(serializers.Serializer):
    """One quota: its limit (-1 = unlimited) and what is in use."""

    limit = serializers.IntegerField()
    usage = serializers.IntegerField()


class MembershipBackupQuotasSerializer(serializers.Serializer):
    """What backups hold in the tenant: two snapshots each (Cinder's limit, pulled) and their size in MiB (ours,
    set by staff in the admin). A deleted or failed backup frees its share."""

    snapshots = LimitAndUsageSerializer()
    snapshot_storage = LimitAndUsageSerializer(help_text="MiB")


class MembershipUsageSerializer(serializers.Serializer):
    """What the project's instances in the cloud hold against the quotas (same keys as quotas)."""

    vcpu = serializers.IntegerField(help_text="Cores of the instances.")
    ram = serializers.IntegerField(help_text="RAM of the instances, MiB.")
    storage = serializers.IntegerField(help_text="System and data volumes of the instances, MiB.")
    max_instances = serializers.IntegerField(help_text="Number of instances.")


def membership_usage(membership):
    """Usage of a membership from the view's annotations, or (just created) from one aggregate query."""
    if hasattr(membership, "usage_vcpu"):
        return {
            "vcpu": membership.usage_vcpu,
            "ram": membership.usage_ram,
            "storage": membership.usage_storage,
            "max_instances": membership.usage_count,
        }
    return Instance.objects.filter(cloud_project_membership=membership).quota_usage()


# Neutron ids of the tenant's network set, written by the sync only.
NETWORK_FIELDS = ("network_id", "subnet_id", "internal_cidr", "router_id", "external_network_id")


class CloudProjectMembershipSerializer(OperationFieldMixin, HyperlinkedModelSerializer):
    """A project's tenant in a cloud with its quotas and the usage of its instances."""

    project = UuidHyperlinkedRelatedField(view_name="project-detail", queryset=Project.objects.all())
    project_name = serializers.CharField(source="project.name", read_only=True)
    cloud = UuidHyperlinkedRelatedField(view_name="cloud-detail", queryset=Cloud.objects.all())
    cloud_name = serializers.CharField(source="cloud.name", read_only=True)
    tenant_id = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="Existing Keystone project id to use (staff only; a tenant bound to another customer is refused); "
        "leave out to have a tenant created for the project.",
    )
    state = serializers.CharField(source="get_state_display", read_only=True, help_text='e.g. "In Sync".')
    quotas = serializers.SerializerMethodField()
    usage = serializers.SerializerMethodField()
    network_quotas = serializers.SerializerMethodField()
    backup_quotas = serializers.SerializerMethodField()
    quota_alerts = serializers.ListField(
        child=serializers.CharField(), read_only=True,
        help_text="The quotas whose usage reached the QUOTA_ALERT_THRESHOLD percent of their limit (e.g. "
        '["vcpu", "snapshots"]); each logged a quota_threshold_reached event when it got there.',
    )  # fmt: skip
    networking = serializers.CharField(
        source="get_networking_display",
        read_only=True,
        help_text='The tenant network set as the last sync found it, e.g. "Internal networking only: the cloud has '
        'no external network".',
    )

    class Meta:
        model = CloudProjectMembership
        fields = (
            "url",
            "uuid",
            "project",
            "project_name",
            "cloud",
            "cloud_name",
            "tenant_id",
            "state",
            "error_message",
            "quotas",
            "usage",
            "network_quotas",
            "backup_quotas",
            "quota_alerts",
            "networking",
            "network_id",
            "subnet_id",
            "internal_cidr",
            "router_id",
            "external_network_id",
            "operation",
        )
        read_only_fields = ("uuid", "error_message") + NETWORK_FIELDS
        # (project, cloud) uniqueness is checked in validate() with a message.
        validators = []

    @extend_schema_field(MembershipQuotasSerializer)
    def get_quotas(self, membership):
        """The tenant's limits as last pulled or set."""
        return {key: getattr(membership, field) for key, field in QUOTA_FIELDS.items()}

    @extend_schema_field(MembershipNetworkQuotasSerializer)
    def get_network_quotas(self, membership):
        """The limits the API holds security groups, rules and floating IPs to in this tenant."""
        return {key: getattr(membership, field) for key, field in NETWORK_QUOTA_FIELDS.items()}

    @extend_schema_field(MembershipBackupQuotasSerializer)
    def get_backup_quotas(self, membership):
        """The backups' snapshots against the tenant's limits: Cinder's snapshot count, our snapshot storage."""
        if hasattr(membership, "usage_snapshots"):
            usage = {"snapshots": membership.usage_snapshots * backup_services.SNAPSHOTS_PER_BACKUP,
                     "snapshot_storage": membership.usage_snapshot_storage}  # fmt: skip
        else:
            usage = backup_services.snapshot_usage(membership)
        return {key: {"limit": getattr(membership, field), "usage": usage[key]}
                for key, (field, _) in backup_services.SNAPSHOT_QUOTAS.items()}  # fmt: skip

    @extend_schema_field(MembershipUsageSerializer)
    def get_usage(self, membership):
        """Totals of the instances that hold quota in this tenant."""
        return membership_usage(membership)

    def validate(self, attrs):
        """Project and cloud of the same customer, and one membership per pair."""
        membership = CloudProjectMembership(**attrs)
        try:
            membership.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(_django_errors(exc))
        if CloudProjectMembership.objects.filter(project=attrs["project"], cloud=attrs["cloud"]).exists():
            raise serializers.ValidationError({"non_field_errors": ["The project is already a member of this cloud."]})
        return attrs

    def create(self, validated_data):
        """Create through the service, which schedules the tenant's verification or creation."""
        return services.membership_create(**validated_data)
