"""Serializers of floating IPs: the read-only row, and the body of the assign/unassign actions."""

import uuid

from rest_framework import serializers

from nodeconductor.core.serializers import HyperlinkedModelSerializer, UuidHyperlinkedRelatedField, detail_url

from ..models import FloatingIP, FloatingIPStatus
from ..services.floating_ips import usable_floating_ip_error


class FloatingIPSerializer(HyperlinkedModelSerializer):
    """A floating IP with the instance it is on (or null when free) and the project it belongs to."""

    status = serializers.ChoiceField(choices=FloatingIPStatus.choices, read_only=True)
    instance = UuidHyperlinkedRelatedField(view_name="instance-detail", read_only=True, allow_null=True)
    instance_uuid = serializers.UUIDField(source="instance.uuid", read_only=True, allow_null=True)
    instance_hostname = serializers.SerializerMethodField()
    cloud_project_membership = UuidHyperlinkedRelatedField(view_name="cloudprojectmembership-detail",
                                                           read_only=True, source="membership")  # fmt: skip
    project = serializers.SerializerMethodField()
    project_name = serializers.CharField(source="membership.project.name", read_only=True)

    class Meta:
        model = FloatingIP
        fields = ("url", "uuid", "address", "status", "instance", "instance_uuid", "instance_hostname",
                  "cloud_project_membership", "project", "project_name", "backend_id")  # fmt: skip
        read_only_fields = fields

    def get_instance_hostname(self, fip) -> str:
        """The host name of the instance it is on; "" when free."""
        return fip.instance.hostname if fip.instance_id else ""

    def get_project(self, fip) -> str:
        """URL of the project whose tenant holds the IP."""
        return detail_url("project-detail", fip.membership.project, self.context["request"])


class FloatingIPChoiceSerializer(serializers.Serializer):
    """`{}` or `{"floating_ip": url or uuid}`: which IP the action is about (visible ones only)."""

    floating_ip = serializers.CharField(required=False, help_text="URL or uuid of a floating IP of the instance's "
                                        "membership; absent: any (assign) or all (unassign).")  # fmt: skip

    def validate_floating_ip(self, value):
        """A visible IP of the instance's membership; for an assign a free one, for an unassign one on it."""
        instance, request = self.context["instance"], self.context["request"]
        key = value.rstrip("/").rsplit("/", 1)[-1]
        fip = FloatingIP.objects.for_user(request.user).filter(uuid=key).select_related("instance").first() \
            if _is_uuid(key) else None  # fmt: skip
        if fip is None:
            raise serializers.ValidationError(f"No floating IP {value!r} is visible to you.")
        problem = usable_floating_ip_error(instance, fip)
        if not problem and self.context["action"] == "unassign_floating_ip" and fip.instance_id != instance.pk:
            problem = f"The floating IP {fip.address} is not on this instance."
        if problem:
            raise serializers.ValidationError(problem)
        return fip


def _is_uuid(text):
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
