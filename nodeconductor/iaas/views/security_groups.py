"""Security group endpoints: CRUD of a membership's groups; writes schedule the push (201/202), never call the cloud."""

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import response, status

from nodeconductor.core.filters import UUIDFilter
from nodeconductor.core.permissions import CanManageObject, deny_unless
from nodeconductor.core.schema import accepted, conflict
from nodeconductor.core.views import UuidModelViewSet

from .. import plans
from ..instance_policy import can_operate
from ..models import SecurityGroup, SecurityGroupState
from ..resource_operations import DELETE_SECURITY_GROUP, PUSH_SECURITY_GROUP
from ..serializers.security_groups import SecurityGroupSerializer
from ..services import security_groups as services
from .dry_runs import DRY_RUN, RESOURCE_PLAN, dry_run, plan_answer

NOT_ADMIN = "Only project administrators and staff manage security groups."


class CanManageSecurityGroup(CanManageObject):
    """CanManageObject whose 403 says who may change groups."""

    message = NOT_ADMIN


class SecurityGroupFilter(django_filters.FilterSet):
    """By membership, project, cloud, the instance that uses them, name and state."""

    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the name, case-insensitive.")
    membership = UUIDFilter("membership")
    project = UUIDFilter("membership__project")
    cloud = UUIDFilter("membership__cloud")
    instance = UUIDFilter("instances", help_text="uuid of an instance: the groups it uses.")
    state = django_filters.MultipleChoiceFilter(choices=SecurityGroupState.choices, distinct=False)

    class Meta:
        model = SecurityGroup
        fields = ("name", "membership", "project", "cloud", "instance", "state")


@extend_schema_view(
    list=extend_schema(summary="List security groups", description="Groups of the memberships the requester sees."),
    retrieve=extend_schema(summary="Show a security group"),
    create=extend_schema(
        summary="Create a security group",
        description="Project administrators and staff. The group starts in Sync Scheduled; a worker creates it "
        "in Neutron (201). Rules: tcp/udp with ports 1-65535, or icmp with type and code; CIDR v4 or v6.",
    ),
    update=extend_schema(
        summary="Replace a security group",
        description="The full rule list; the worker adds and removes only the rules that changed (202).",
        parameters=[DRY_RUN],
        responses={202: SecurityGroupSerializer, 200: RESOURCE_PLAN,
                   409: conflict("A push or deletion of the group is under way.")},
    ),
    partial_update=extend_schema(
        summary="Change a security group",
        description="Name, description or the full rule list; pushed as a diff by a worker (202).",
        parameters=[DRY_RUN],
        responses={202: SecurityGroupSerializer, 200: RESOURCE_PLAN,
                   409: conflict("A push or deletion of the group is under way.")},
    ),
    destroy=extend_schema(
        summary="Delete a security group",
        description="Schedules its deletion in Neutron; the group goes once it is gone there (202).",
        parameters=[DRY_RUN],
        responses={202: accepted("deletion was scheduled"), 200: RESOURCE_PLAN,
                   409: conflict("Instances use the group (in_use).")},
    ),
)
class SecurityGroupViewSet(UuidModelViewSet):
    """Groups of the requester's memberships: administrators manage them, managers and owners read."""

    queryset = SecurityGroup.objects.all()
    serializer_class = SecurityGroupSerializer
    permission_classes = (CanManageSecurityGroup,)
    filterset_class = SecurityGroupFilter
    ordering_fields = ("name", "created", "state")

    def get_queryset(self):
        """Visible groups with their membership and rules in constant queries."""
        return (
            super()
            .get_queryset()
            .select_related("membership__project", "membership__cloud")
            .defer("membership__project__description")
            .prefetch_related("rules")
        )

    def can_manage(self, user, group):
        """Administrators of the group's project and staff."""
        return can_operate(user, group.membership.project)

    def _answer(self, group, status_code):
        """The group as it is now (Sync Scheduled), with the status of the request."""
        group = self.get_queryset().get(pk=group.pk)
        return response.Response(self.get_serializer(group).data, status=status_code)

    def create(self, request, *args, **kwargs):
        """Validate, check the requester administers the project (403), and schedule the push."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        deny_unless(can_operate(request.user, data["membership"].project), NOT_ADMIN)
        group = services.group_create(data["membership"], data["name"], data["rules"], data.get("description", ""))
        return self._answer(group, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        """Write the new name, description or rules and schedule the push of the difference (202)."""
        group = self.get_object()
        serializer = self.get_serializer(group, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if dry_run(request):
            services.check_update(group)
            if data.get("rules") is not None:
                services.check_quota(group.membership, 0, len(data["rules"]) - group.rules.count())
            return plan_answer(plans.plan_resource(PUSH_SECURITY_GROUP, group, {"name": data.get("name", group.name)}))
        group = services.group_update(group, name=data.get("name"), description=data.get("description"),
                                      rules=data.get("rules"))  # fmt: skip
        return self._answer(group, status.HTTP_202_ACCEPTED)

    def destroy(self, request, *args, **kwargs):
        """Schedule the deletion (202); 409 in_use naming the instances that use the group."""
        group = self.get_object()
        if dry_run(request):
            services.check_delete(group)
            return plan_answer(plans.plan_resource(DELETE_SECURITY_GROUP, group))
        services.group_delete(group)
        return response.Response({"status": "deletion was scheduled"}, status=status.HTTP_202_ACCEPTED)


def register_in(router):
    """Register the security group endpoints."""
    router.register("security-groups", SecurityGroupViewSet, basename="securitygroup")
