"""Serializers of security groups: the group with its rules nested, written as a whole list."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import MaxValueValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from nodeconductor.core.serializers import HyperlinkedModelSerializer, UuidHyperlinkedRelatedField, detail_url

from ..limits import PORT_MAX
from ..models import CloudProjectMembership, SecurityGroup, SecurityGroupRule, SecurityGroupState
from ..services.security_groups import rule_identity
from .operations import OperationFieldMixin

STATE_LABELS = dict(SecurityGroupState.choices)
# Past a port nothing is valid (an ICMP type or code stops at 255: the model says so); the model's own words.
PORT_LIMIT = MaxValueValidator(PORT_MAX, f"Ports are 1 to {PORT_MAX}; %(show_value)s is not.")
# Neutron keeps one group called "default" per tenant; it refuses a second one.
RESERVED_NAMES = ("default",)


class SecurityGroupRuleSerializer(serializers.ModelSerializer):
    """One ingress rule; the model's validation says which field is wrong."""

    from_port = serializers.IntegerField(
        required=False, allow_null=True, default=None, validators=[PORT_LIMIT], help_text="TCP/UDP: first port, "
        "1-65535. ICMP: the type (0-255), empty for any."
    )  # fmt: skip
    to_port = serializers.IntegerField(
        required=False, allow_null=True, default=None, validators=[PORT_LIMIT], help_text="TCP/UDP: last port, at "
        "least from_port. ICMP: the code (0-255), empty for any."
    )  # fmt: skip

    class Meta:
        model = SecurityGroupRule
        fields = ("protocol", "from_port", "to_port", "cidr", "direction")
        extra_kwargs = {"cidr": {"required": False}, "direction": {"required": False}}

    def validate(self, attrs):
        """The model's rules (port ranges, ICMP type and code, CIDR); the CIDR comes back in canonical form."""
        rule = SecurityGroupRule(**attrs)
        try:
            rule.clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None
        return {**attrs, "cidr": rule.cidr, "direction": rule.direction}


class SecurityGroupSerializer(OperationFieldMixin, HyperlinkedModelSerializer):
    """A group of a membership with its full rule list; writing `rules` replaces the list, the push diffs it."""

    membership = UuidHyperlinkedRelatedField(
        view_name="cloudprojectmembership-detail", queryset=CloudProjectMembership.objects.all(),
        help_text="The project's membership in a cloud; set on creation only.",
    )  # fmt: skip
    state = serializers.SerializerMethodField()
    rules = SecurityGroupRuleSerializer(many=True)

    class Meta:
        model = SecurityGroup
        fields = ("url", "uuid", "name", "description", "membership", "project", "project_name", "cloud",
                  "cloud_name", "state", "error_message", "backend_id", "rules", "created", "modified",
                  "operation")  # fmt: skip
        read_only_fields = ("uuid", "error_message", "backend_id", "created", "modified")
        # (membership, name) uniqueness is checked in validate() with a message naming the field.
        validators = []

    project = serializers.SerializerMethodField()
    project_name = serializers.CharField(source="membership.project.name", read_only=True)
    cloud = serializers.SerializerMethodField()
    cloud_name = serializers.CharField(source="membership.cloud.name", read_only=True)

    @extend_schema_field({"type": "string", "enum": list(STATE_LABELS.values())})
    def get_state(self, group):
        """The state's display string, e.g. "In Sync"."""
        return STATE_LABELS.get(group.state, group.state)

    def get_project(self, group) -> str:
        """URL of the membership's project."""
        return detail_url("project-detail", group.membership.project, self.context["request"])

    def get_cloud(self, group) -> str:
        """URL of the membership's cloud."""
        return detail_url("cloud-detail", group.membership.cloud, self.context["request"])

    def validate_name(self, name):
        """Not Neutron's reserved name."""
        if name.strip().lower() in RESERVED_NAMES:
            raise serializers.ValidationError(f"{name!r} is the tenant's own group in Neutron; choose another name.")
        return name.strip()

    def validate_rules(self, rules):
        """No rule twice: Neutron refuses a duplicate rule."""
        seen = {}
        for number, rule in enumerate(rules, 1):
            identity = rule_identity(rule)
            if identity in seen:
                raise serializers.ValidationError(f"Rule {number} repeats rule {seen[identity]}; give each rule once.")
            seen[identity] = number
        return rules

    def validate(self, attrs):
        """The membership cannot change; the name is unique in it."""
        group = self.instance
        membership = attrs.get("membership", group.membership if group else None)
        if group is not None and membership != group.membership:
            raise serializers.ValidationError({"membership": ["A group cannot move to another membership."]})
        name = attrs.get("name", group.name if group else None)
        same_name = SecurityGroup.objects.filter(membership=membership, name=name)
        if group is not None:
            same_name = same_name.exclude(pk=group.pk)
        if same_name.exists():
            raise serializers.ValidationError({"name": [f"The membership already has a security group called {name}."]})
        return attrs
