"""The requests on instances: a create, a resize and a new set of security groups, each validated for a person."""

from django.conf import settings
from django.core.validators import RegexValidator
from rest_framework import serializers

from nodeconductor.core.models import SshPublicKey
from nodeconductor.core.permissions import deny_unless
from nodeconductor.core.serializers import UuidHyperlinkedRelatedField
from nodeconductor.structure.models import Project

from ..instance_policy import NOT_ADMIN, can_operate
from ..models import CloudProjectMembership, Flavor, SecurityGroup, SyncState, Template
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


# Nova takes user data base64-encoded, at most 65,535 characters of it: 49,149 bytes before encoding.
USER_DATA_MAX_ENCODED = 65535


def validate_user_data(value):
    """cloud-init user data within Nova's limit, said in the bytes a person wrote, not in base64 characters."""
    # surrogatepass: a lone surrogate is measured here and refused, with its own message, by DRF's check after this.
    raw = len(value.encode("utf-8", "surrogatepass"))
    encoded = 4 * ((raw + 2) // 3)  # base64's length
    if encoded > USER_DATA_MAX_ENCODED:
        raise serializers.ValidationError(
            f"Must be at most {USER_DATA_MAX_ENCODED:,} bytes once base64-encoded, as Nova allows: about "
            f"{USER_DATA_MAX_ENCODED * 3 // 4 // 1024} KiB of text. This is {raw:,} bytes, {encoded:,} encoded."
        )
    return value


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
    user_data = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False, validators=[validate_user_data],
        help_text="cloud-init user data (#cloud-config YAML or a script), given to Nova as written. At most 65,535 "
        "bytes once base64-encoded. Readable afterwards by those who may operate the instance.",
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
