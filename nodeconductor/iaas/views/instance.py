"""Instance endpoints: list, create (201), actions (202), delete (202), and the instance's events."""

import django_filters
from django.db.models import Count, Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import decorators, exceptions, filters, generics, mixins, response, status, viewsets

from nodeconductor.core.filters import UUIDFilter
from nodeconductor.core.permissions import CanManageObject
from nodeconductor.core.schema import accepted, conflict
from nodeconductor.core.views import UuidViewSetMixin
from nodeconductor.events.serializers import EventSerializer
from nodeconductor.events.views import EventFilter, EventViewSet

from .. import costs, instance_policy, plans
from ..models import Backup, BackupState, Instance, InstanceState
from ..serializers.instance import InstanceSerializer
from ..serializers.instance_requests import (
    InstanceCreateSerializer,
    InstanceResizeSerializer,
    InstanceSecurityGroupsSerializer,
)
from ..services import instances as services
from .dry_runs import DRY_RUN, PLAN, dry_run, plan_answer
from .floating_ips import FloatingIPActionsMixin
from .instance_console import ConsoleLogActionMixin

# An instance's backups, counted in the list's own query (a correlated subquery: no GROUP BY over its columns).
BACKUP_COUNT = Coalesce(Subquery(Backup.objects.filter(instance=OuterRef("pk")).order_by().values("instance")
                                 .annotate(n=Count("pk")).values("n")), 0)  # fmt: skip
BACKING_UP = Exists(Backup.objects.filter(instance=OuterRef("pk"), state=BackupState.BACKING_UP))


class CanOperateInstance(CanManageObject):
    """CanManageObject whose 403 tells managers and owners who may operate instances."""

    message = instance_policy.NOT_ADMIN


class InstanceFilter(django_filters.FilterSet):
    """Filters the portal uses: by project, customer, cloud, state and host name."""

    hostname = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the host name.")
    description = django_filters.CharFilter(lookup_expr="icontains")
    project = UUIDFilter("cloud_project_membership__project")
    customer = UUIDFilter("cloud_project_membership__project__customer")
    cloud = UUIDFilter("cloud_project_membership__cloud")
    template = UUIDFilter("template")
    # No DISTINCT (django-filter's default here): a state matches a row at most once, and DISTINCT over the
    # joined columns made this the slowest filter of the list.
    state = django_filters.MultipleChoiceFilter(
        choices=InstanceState.choices, distinct=False, help_text="State key, e.g. online; repeat for several."
    )

    class Meta:
        model = Instance
        fields = ("hostname", "description", "project", "customer", "cloud", "template", "state")


def _scheduled(action):
    """The 202 body of a scheduled action."""
    return response.Response({"status": f"{action} was scheduled"}, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(summary="List instances", description="Instances of the projects the requester sees."),
    retrieve=extend_schema(summary="Show an instance"),
    create=extend_schema(
        summary="Create an instance",
        description="Project administrators and staff. Reserves quota and schedules provisioning (201; the "
        "instance starts in Provisioning Scheduled). Sizes are MiB.",
        request=InstanceCreateSerializer,
        parameters=[DRY_RUN],
        responses={201: InstanceSerializer, 200: PLAN},
    ),
    destroy=extend_schema(
        summary="Delete an instance",
        description="Offline or Erred only: schedules deletion of the server and both volumes (202).",
        parameters=[DRY_RUN],
        responses={202: accepted("deletion was scheduled"), 200: PLAN,
                   409: conflict("The instance is not Offline or Erred.")},
    ),
)
class InstanceViewSet(
    FloatingIPActionsMixin,
    ConsoleLogActionMixin,
    UuidViewSetMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """VMs of the requester's projects; administrators operate them, managers and owners read."""

    queryset = Instance.objects.all()
    serializer_class = InstanceSerializer
    permission_classes = (CanOperateInstance,)
    filterset_class = InstanceFilter
    ordering_fields = ("hostname", "created", "state", "start_time")

    def get_queryset(self):
        """Visible instances with everything the serializer shows fetched in constant queries."""
        return (
            super()
            .get_queryset()
            .select_related(
                "cloud_project_membership__project__customer",
                "cloud_project_membership__cloud",
                "template",
                "flavor",
                "ssh_public_key",
            )
            # How many backups each has: its delete's `actions` entry reads it (instance_policy.backups_problem).
            .annotate(backup_count=BACKUP_COUNT, backing_up=BACKING_UP)
            # Its template's licences' monthly fees, summed in the same query: its monthly_cost adds them.
            .annotate(license_monthly_fee=costs.license_fees("monthly_fee"))
            # Long texts of related rows that the instance view never shows.
            .defer(
                "ssh_public_key__public_key",
                "cloud_project_membership__project__description",
                "cloud_project_membership__project__customer__contact_details",
                "template__description",
            )
        )

    def filter_queryset(self, queryset):
        """The list reads only the columns its rows show: wide related rows cost most of a page's fetch."""
        queryset = super().filter_queryset(queryset)
        if self.action == "list":
            queryset = queryset.only(*LIST_COLUMNS)
        return queryset

    def can_manage(self, user, instance):
        """Administrators of the instance's project and staff; recovery's own rule (staff) is the policy's."""
        if self.action == "recover":
            return True
        return instance_policy.can_operate(user, instance.cloud_project_membership.project)

    def create(self, request, *args, **kwargs):
        """Validate (the serializer refuses non-administrators with 403), reserve quota and schedule provisioning."""
        serializer = InstanceCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if dry_run(request):
            return plan_answer(plans.plan_create(request.user, data))
        instance = services.instance_create(
            user=request.user,
            membership=data["membership"],
            template=data["template"],
            flavor=data["flavor"],
            hostname=data["hostname"],
            description=data["description"],
            ssh_public_key=data.get("ssh_public_key"),
            system_volume_size=data["system_volume_size"],
            data_volume_size=data["data_volume_size"],
            security_groups=data.get("security_groups", ()),
            assign_floating_ip=data.get("assign_floating_ip", False),
            user_data=data.get("user_data", ""),
        )
        # The service's instance holds the rows it was built from (the locked membership with its project, customer
        # and cloud; the validated template, flavor and key): reading it back would cost an 8-table join for nothing.
        body = InstanceSerializer(instance, context=self.get_serializer_context()).data
        return response.Response(body, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        """Schedule deletion (202) instead of deleting the row: the worker removes it when the cloud is clean."""
        if dry_run(request):
            return plan_answer(plans.plan_action(request.user, self.get_object(), "delete"))
        services.instance_delete(self.get_object(), request.user)
        return _scheduled("deletion")

    @extend_schema(
        summary="Start a stopped instance",
        request=None,
        parameters=[DRY_RUN],
        responses={200: PLAN, 202: accepted("start was scheduled"), 409: conflict("The instance is not Offline.")},
    )
    @decorators.action(detail=True, methods=["post"])
    def start(self, request, uuid=None):
        """Schedule a start."""
        if dry_run(request):
            return plan_answer(plans.plan_action(request.user, self.get_object(), "start"))
        services.instance_start(self.get_object(), request.user)
        return _scheduled("start")

    @extend_schema(
        summary="Stop a running instance",
        request=None,
        parameters=[DRY_RUN],
        responses={200: PLAN, 202: accepted("stop was scheduled"), 409: conflict("The instance is not Online.")},
    )
    @decorators.action(detail=True, methods=["post"])
    def stop(self, request, uuid=None):
        """Schedule a stop."""
        if dry_run(request):
            return plan_answer(plans.plan_action(request.user, self.get_object(), "stop"))
        services.instance_stop(self.get_object(), request.user)
        return _scheduled("stop")

    @extend_schema(
        summary="Restart a running instance",
        request=None,
        parameters=[DRY_RUN],
        responses={200: PLAN, 202: accepted("restart was scheduled"), 409: conflict("The instance is not Online.")},
    )
    @decorators.action(detail=True, methods=["post"])
    def restart(self, request, uuid=None):
        """Schedule a reboot."""
        if dry_run(request):
            return plan_answer(plans.plan_action(request.user, self.get_object(), "restart"))
        services.instance_restart(self.get_object(), request.user)
        return _scheduled("restart")

    @extend_schema(
        summary="Resize a stopped instance",
        description='Exactly one of {"flavor": url} (same cloud; changes cores and RAM, disks untouched) or '
        '{"disk_size": MiB} (grows the data volume: detach, extend, re-attach). Offline only.',
        request=InstanceResizeSerializer,
        parameters=[DRY_RUN],
        responses={200: PLAN, 202: accepted("resize was scheduled"),
                   409: conflict("The instance is not Offline (stopped).")},
    )
    @decorators.action(detail=True, methods=["post"])
    def resize(self, request, uuid=None):
        """Schedule a flavor or data disk resize."""
        instance = self.get_object()
        serializer = InstanceResizeSerializer(
            data=request.data, context={**self.get_serializer_context(), "instance": instance}
        )
        serializer.is_valid(raise_exception=True)
        if dry_run(request):
            data = serializer.validated_data
            action = "resize_flavor" if "flavor" in data else "resize_disk"
            plan = plans.plan_action(request.user, instance, action, data.get("flavor"), data.get("disk_size"))
            return plan_answer(plan)
        if "flavor" in serializer.validated_data:
            services.instance_resize_flavor(instance, serializer.validated_data["flavor"], request.user)
        else:
            services.instance_resize_disk(instance, serializer.validated_data["disk_size"], request.user)
        return _scheduled("resize")

    @extend_schema(
        summary="Set the security groups of a running instance",
        description="The full list of groups (of the instance's membership). Online only; the instance stays "
        "Online while a worker sets its ports' groups, with an instance_update_security_groups_* event; the instance "
        "shows the new groups once the cloud's ports have them.",
        request=InstanceSecurityGroupsSerializer,
        parameters=[DRY_RUN],
        responses={200: PLAN, 202: accepted("update_security_groups was scheduled"),
                   409: conflict("The instance is not Online.")},
    )
    @decorators.action(detail=True, methods=["post"])
    def update_security_groups(self, request, uuid=None):
        """Schedule setting the instance's security groups."""
        instance = self.get_object()
        serializer = InstanceSecurityGroupsSerializer(
            data=request.data, context={**self.get_serializer_context(), "instance": instance}
        )
        serializer.is_valid(raise_exception=True)
        groups = serializer.validated_data["security_groups"]
        if dry_run(request):
            return plan_answer(plans.plan_action(request.user, instance, "update_security_groups", groups=groups))
        services.instance_update_security_groups(instance, groups, request.user)
        return _scheduled("update_security_groups")

    @extend_schema(
        summary="Recover an Erred instance (staff)",
        description="Schedules a reconciliation with the cloud: the instance ends Online or Offline when its "
        "server and both volumes are healthy; otherwise it stays Erred and its error_message says what is wrong.",
        request=None,
        parameters=[DRY_RUN],
        responses={200: PLAN, 202: accepted("recover was scheduled"), 409: conflict("The instance is not Erred.")},
    )
    @decorators.action(detail=True, methods=["post"])
    def recover(self, request, uuid=None):
        """Schedule a recovery."""
        if dry_run(request):
            return plan_answer(plans.plan_action(request.user, self.get_object(), "recover"))
        services.instance_recover(self.get_object(), request.user)
        return _scheduled("recover")

    def options(self, request, *args, **kwargs):
        """OPTIONS on an action's URL says whether the requester can do it now, as the instance's `actions` do."""
        answer = super().options(request, *args, **kwargs)
        action = ACTION_ROUTES.get(self.action_route(request))
        if action is not None and "uuid" in kwargs:
            instance = self.get_object()
            operators = instance_policy.Operators(request.user)
            names = ("resize_flavor", "resize_disk") if action == "resize" else (action,)
            answer.data["actions"] = {n: instance_policy.decide(operators, instance, n).as_dict() for n in names}
        return answer

    @staticmethod
    def action_route(request):
        """The route name of the URL asked for, e.g. instance-stop."""
        return request.resolver_match.url_name if request.resolver_match else ""

    @extend_schema(
        summary="Events of an instance",
        description="Newest first; filters and ordering as /api/events/.",
        parameters=[
            OpenApiParameter("event_type", str, description="Prefix, e.g. instance_stop"),
            OpenApiParameter("level", str, description="info or error"),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME, description="ISO 8601, inclusive."),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME, description="ISO 8601, exclusive."),
        ],
        responses={200: EventSerializer(many=True)},
    )
    @decorators.action(detail=True, methods=["get"], filterset_class=None, ordering_fields=EventViewSet.ordering_fields)
    def events(self, request, uuid=None):
        """The instance's event history, newest first, paginated, filtered and ordered like /api/events/."""
        # Not self.get_object(): it would order the instances by this request's ?o=, an event field.
        instance = generics.get_object_or_404(self.get_queryset(), uuid=uuid)
        self.check_object_permissions(request, instance)
        queryset = EventViewSet.base_queryset(request.user).filter(resource_uuid=instance.uuid)
        # Not self.filter_queryset: the view's filters are about instances, these are events.
        events = EventFilter(request.query_params, queryset=queryset, request=request)
        if not events.is_valid():
            raise exceptions.ValidationError(events.errors)
        queryset = filters.OrderingFilter().filter_queryset(request, events.qs, self)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(EventSerializer(page, many=True, context={"request": request}).data)


# What a listed row needs: the serializer's fields, the policy's inputs for `actions` (state, project, port,
# external network, operation) and the progress of `operation`; the rest stays in the database. The
# membership's and cloud's states too: django-fsm reads every state field when it builds a row.
# A column missing here costs a query per row, which the list's pinned query counts catch.
_MEMBERSHIP = "cloud_project_membership"
LIST_COLUMNS = (
    "uuid", "hostname", "description", "state", "error_message", "cores", "ram", "system_volume_size",
    "data_volume_size", "agreed_sla", "key_name", "key_fingerprint", "user_data", "backend_id", "system_volume_id",
    "data_volume_id", "port_id", "internal_ips", "external_ips", "start_time", "created", "modified",
    "operation_name", "operation_token", "operation_phase", "operation_params", "operation_started",
    "template__uuid", "template__name", "template__monthly_fee", "flavor__uuid", "flavor__name", "flavor__monthly_fee",
    "ssh_public_key__uuid", f"{_MEMBERSHIP}__cloud__storage_monthly_fee",
    f"{_MEMBERSHIP}__uuid", f"{_MEMBERSHIP}__state", f"{_MEMBERSHIP}__external_network_id",
    f"{_MEMBERSHIP}__project__uuid", f"{_MEMBERSHIP}__project__name",
    f"{_MEMBERSHIP}__project__customer__uuid", f"{_MEMBERSHIP}__project__customer__name",
    f"{_MEMBERSHIP}__cloud__uuid", f"{_MEMBERSHIP}__cloud__name", f"{_MEMBERSHIP}__cloud__state",
)  # fmt: skip


# Route names whose OPTIONS answer carries the action's availability (delete is the detail URL's DELETE).
ACTION_ROUTES = {
    "instance-start": "start",
    "instance-stop": "stop",
    "instance-restart": "restart",
    "instance-resize": "resize",
    "instance-recover": "recover",
    "instance-update-security-groups": "update_security_groups",
    "instance-assign-floating-ip": "assign_floating_ip",
    "instance-unassign-floating-ip": "unassign_floating_ip",
    "instance-detail": "delete",
}


def register_in(router):
    """Register the instance endpoints."""
    router.register("instances", InstanceViewSet, basename="instance")
    router.register("events", EventViewSet, basename="event")


