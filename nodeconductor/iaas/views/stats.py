"""Statistics endpoints for dashboards, as NodeConductor's /api/stats/ had them: read-only, from the database alone.

Each answers in a fixed number of queries whatever the number of rows (the services group them), and holds only
what the requester sees: the same `for_user()` as every list, so a user without a role anywhere gets empty
answers, never a 403 or another customer's numbers.
"""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import decorators, response, viewsets

from nodeconductor.core.schema import QUERY_ERROR

from ..serializers.stats import (
    CloudStatesSerializer,
    InstancesCreatedQuerySerializer,
    InstancesCreatedSerializer,
    QuotaRowSerializer,
    QuotasQuerySerializer,
)
from ..services import stats as services

VISIBILITY = (
    "Only what the requester sees counts: staff all; an owner his customers' projects; a project administrator "
    "or manager his projects."
)


class StatsViewSet(viewsets.GenericViewSet):
    """Numbers for the portal's dashboard: quota totals, instances by state, instances created per day."""

    # No model of its own: each action validates its query with a serializer, pages its own rows.
    filter_backends = ()

    def _query(self, serializer_class):
        """The validated query values (400 naming the parameter when one is wrong)."""
        query = serializer_class(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return query.validated_data

    def _page(self, rows_of, queryset, serializer_class):
        """One page of `queryset`, turned into rows by `rows_of(page)` and answered as the API's paginated list."""
        page = self.paginate_queryset(queryset)
        data = serializer_class(rows_of(page), many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)

    @extend_schema(
        summary="Quota limits and usage summed per customer or project",
        description="A row per customer (`?aggregate=customer`, the default) or per project "
        "(`?aggregate=project`), each quota of its memberships summed: limit -1 when any membership has no limit "
        "(-1), else the sum of their limits, 0 without memberships; usage is what the instances and backups hold "
        f"now, as the quota check of a create counts it. {VISIBILITY} A customer's row sums only the projects the "
        "requester sees in it.",
        parameters=[QuotasQuerySerializer],
        responses={200: QuotaRowSerializer(many=True)},
    )
    @decorators.action(detail=False, methods=["get"])
    def quotas(self, request):
        """Quota totals per customer or project, a page of rows in five queries."""
        aggregate = self._query(QuotasQuerySerializer)["aggregate"]
        return self._page(
            lambda page: services.quota_totals(request.user, aggregate, page),
            services.visible_scopes(request.user, aggregate),
            QuotaRowSerializer,
        )

    @extend_schema(
        summary="Instances by state per cloud",
        description="A row per cloud the requester sees, counting its instances in each state (the display "
        f"strings of the instances' `state`, every state present). {VISIBILITY}",
        responses={200: CloudStatesSerializer(many=True)},
    )
    @decorators.action(detail=False, methods=["get"], url_path="instances-by-state")
    def instances_by_state(self, request):
        """Instances by state per cloud, a page of rows in three queries."""
        return self._page(
            lambda page: services.instance_states(request.user, page),
            services.visible_clouds(request.user),
            CloudStatesSerializer,
        )

    @extend_schema(
        summary="Instances created per day",
        description=f"Every day from `from` to `to` (both included, the server's time zone), a day without any as "
        f"0; by default the last {services.DEFAULT_DAYS} days up to today, at most {services.MAX_DAYS} days. "
        f"Counts the instances that exist now: a deleted one is gone (the event log keeps its history). "
        f"{VISIBILITY}",
        parameters=[InstancesCreatedQuerySerializer],
        responses={
            200: InstancesCreatedSerializer,
            400: OpenApiResponse(
                QUERY_ERROR,
                description=f"`from` or `to` is not a YYYY-MM-DD date, `from` is after `to`, or the range is longer "
                f"than {services.MAX_DAYS} days; the message is keyed by the parameter.",
            ),
        },
    )
    @decorators.action(detail=False, methods=["get"], url_path="instances-created")
    def instances_created(self, request):
        """Instances created per day over the range, in one query."""
        query = self._query(InstancesCreatedQuerySerializer)
        counts = services.instances_created(request.user, query["from"], query["to"])
        return response.Response(InstancesCreatedSerializer(counts).data)


def register_in(router):
    """Register the statistics under /api/stats/."""
    router.register("stats", StatsViewSet, basename="stats")
