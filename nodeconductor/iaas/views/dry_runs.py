"""Dry runs of the endpoints that schedule an operation: the ?dry_run=true switch, its schema, and its 200 answer."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions, response, status

from ..serializers.plans import PlanSerializer, ResourcePlanSerializer

DRY_RUN = OpenApiParameter(
    "dry_run", bool, description="true: check the request as usual, then answer 200 with its plan (the cloud "
    "calls in order, the waits, the quota change and the state path) instead of doing it. Nothing is written."
)  # fmt: skip
PLAN = OpenApiResponse(PlanSerializer, description="With ?dry_run=true: the plan; nothing was done.")
RESOURCE_PLAN = OpenApiResponse(ResourcePlanSerializer, description="With ?dry_run=true: the plan; nothing was done.")


def dry_run(request):
    """Whether the request asks for a plan only (?dry_run=true); a value that is not a boolean is a 400."""
    value = request.query_params.get("dry_run")
    if value is None:
        return False
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no", ""):
        return False
    raise exceptions.ValidationError({"dry_run": [f"Must be true or false, not {value[:20]!r}."]})


def plan_answer(body):
    """The 200 answer of a dry run."""
    return response.Response(body, status=status.HTTP_200_OK)


