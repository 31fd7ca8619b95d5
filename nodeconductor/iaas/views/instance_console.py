"""An instance's console log over the API: a read a worker makes while the request waits (services/cloud_reads.py)."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import decorators, exceptions, generics, response, serializers

from nodeconductor.core.schema import ERRORS, conflict

from .. import instance_policy
from ..services import cloud_reads


class ConsoleLogSerializer(serializers.Serializer):
    """The last lines of a server's console, and when a worker read them."""

    lines = serializers.ListField(child=serializers.CharField(allow_blank=True, trim_whitespace=False),
                                  help_text="Oldest first, without line ends.")
    length = serializers.IntegerField(help_text="The lines asked for (fewer when the console has fewer).")
    read_at = serializers.DateTimeField(help_text="When the worker read them from Nova.")


def console_length(value):
    """The number of console lines asked for: a whole number from 1 to the maximum, else a 400 that says so."""
    if value is None or value == "":
        return cloud_reads.CONSOLE_LOG_LINES
    top = cloud_reads.CONSOLE_LOG_MAX_LINES
    if not value.isdigit() or not 1 <= int(value) <= top:
        message = f"Give a whole number of lines from 1 to {top}, not {value[:20]!r}."
        raise exceptions.ValidationError({"length": [message]})
    return int(value)


class ConsoleLogActionMixin:
    """GET /api/instances/<uuid>/console_log/, mixed into the instances' viewset."""

    @extend_schema(
        summary="The console log of an instance (project administrators, staff)",
        description="The last `length` lines of the server's console, as Nova keeps them. A worker reads them (no "
        "request calls the cloud) while the request waits; an answer of the last CLOUD_READ_FRESH_FOR seconds is "
        "reused. 400: a length that is not a whole number from 1 to 1000; 403: managers and owners; 409: the "
        "instance is not Online or Offline; 502 cloud_error: the cloud's own message; 503: no worker answered.",
        parameters=[OpenApiParameter(
            "length", {"type": "integer", "minimum": 1, "maximum": cloud_reads.CONSOLE_LOG_MAX_LINES},
            description=f"Lines, 1 to {cloud_reads.CONSOLE_LOG_MAX_LINES}; default {cloud_reads.CONSOLE_LOG_LINES}.")],
        responses={200: ConsoleLogSerializer, 409: conflict("The instance is not Online or Offline."),
                   502: OpenApiResponse(ERRORS[502], description="The cloud failed the read: its own message.")},
    )
    @decorators.action(detail=True, methods=["get"], filterset_class=None, ordering_fields=())
    def console_log(self, request, uuid=None):
        """The server's console, read for the request by a worker: what a failed boot printed, e.g."""
        instance = generics.get_object_or_404(self.get_queryset(), uuid=uuid)
        instance_policy.require(request.user, instance, "console_log")
        length = console_length(request.query_params.get("length"))
        row = cloud_reads.console_log(instance, length)
        body = {"lines": row.result.get("lines", []), "length": length, "read_at": row.answered}
        return response.Response(ConsoleLogSerializer(body).data)
