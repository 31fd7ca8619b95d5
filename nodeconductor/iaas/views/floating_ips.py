"""Floating IP endpoints: the read-only list and detail, and the instance actions that assign and unassign."""

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import decorators

from nodeconductor.core.filters import UUIDFilter
from nodeconductor.core.schema import accepted, conflict
from nodeconductor.core.views import UuidReadOnlyViewSet, scheduled

from .. import plans
from ..models import FloatingIP, FloatingIPStatus
from ..serializers.floating_ips import FloatingIPChoiceSerializer, FloatingIPSerializer
from ..services import instances as services
from .dry_runs import DRY_RUN, PLAN, dry_run, plan_answer


class FloatingIPFilter(django_filters.FilterSet):
    """By project, membership, the instance it is on, status, and free (no instance) or not."""

    project = UUIDFilter("membership__project")
    cloud_project_membership = UUIDFilter("membership")
    instance = UUIDFilter("instance", help_text="uuid of an instance: the IPs on it.")
    status = django_filters.ChoiceFilter(choices=FloatingIPStatus.choices)
    free = django_filters.BooleanFilter(field_name="instance", lookup_expr="isnull",
                                        help_text="true: IPs on no instance; false: IPs in use.")  # fmt: skip

    class Meta:
        model = FloatingIP
        fields = ("project", "cloud_project_membership", "instance", "status", "free")


@extend_schema_view(
    list=extend_schema(summary="List floating IPs", description="IPs of the memberships the requester sees, as "
                       "the last pull or our worker saw them in Neutron."),  # fmt: skip
    retrieve=extend_schema(summary="Show a floating IP"),
)
class FloatingIPViewSet(UuidReadOnlyViewSet):
    """Floating IPs of the requester's memberships; they change through the instance actions only."""

    queryset = FloatingIP.objects.all()
    serializer_class = FloatingIPSerializer
    filterset_class = FloatingIPFilter
    ordering_fields = ("address", "created", "status")

    def get_queryset(self):
        """Visible IPs with their membership, project and instance in one query."""
        return (
            super().get_queryset()
            .select_related("membership__project", "instance")
            .defer("membership__project__description", "instance__operation_params", "instance__error_message")
        )  # fmt: skip


CHANGE = "The instance stays in its state while a worker does it, with an instance_{}_floating_ip_* event; a " \
    "cloud refusal (pool exhausted, no router) is the failed event's message."  # fmt: skip


class FloatingIPActionsMixin:
    """The instance actions `assign_floating_ip` and `unassign_floating_ip` (mixed into InstanceViewSet)."""

    def _change(self, request, action, schedule):
        instance = self.get_object()
        serializer = FloatingIPChoiceSerializer(
            data=request.data, context={"request": request, "instance": instance, "action": action})
        serializer.is_valid(raise_exception=True)
        floating_ip = serializer.validated_data.get("floating_ip")
        if dry_run(request):
            return plan_answer(plans.plan_action(request.user, instance, action, floating_ip=floating_ip))
        schedule(instance, request.user, floating_ip)
        return scheduled(action)

    @extend_schema(
        summary="Give an instance a floating IP",
        description='{} (a free IP of ours, else a new one from the external network) or {"floating_ip": url or '
        "uuid} (a free IP of the same membership). Online or Offline, with a port and a router to an external "
        "network. " + CHANGE.format("assign"),
        request=FloatingIPChoiceSerializer,
        parameters=[DRY_RUN],
        responses={200: PLAN, 202: accepted("assign_floating_ip was scheduled"),
                   409: conflict("Wrong state, no port or router, or an IP already on it.")},
    )  # fmt: skip
    @decorators.action(detail=True, methods=["post"])
    def assign_floating_ip(self, request, uuid=None):
        """Schedule giving the instance a floating IP."""
        return self._change(request, "assign_floating_ip", services.instance_assign_floating_ip)

    @extend_schema(
        summary="Take an instance's floating IP off it",
        description='{} (all) or {"floating_ip": url or uuid}. The IP stays allocated to the tenant, free for the '
        "next assign; deleting the instance that it was allocated for releases it while it is free or still on "
        "that instance. " + CHANGE.format("unassign"),
        request=FloatingIPChoiceSerializer,
        parameters=[DRY_RUN],
        responses={200: PLAN, 202: accepted("unassign_floating_ip was scheduled"),
                   409: conflict("Wrong state, or the instance has no floating IP.")},
    )  # fmt: skip
    @decorators.action(detail=True, methods=["post"])
    def unassign_floating_ip(self, request, uuid=None):
        """Schedule taking the instance's floating IP off it."""
        return self._change(request, "unassign_floating_ip", services.instance_unassign_floating_ip)


def register_in(router):
    """Register the floating IP endpoints."""
    router.register("floating-ips", FloatingIPViewSet, basename="floatingip")
