"""`/api/events/`: the event log, visible by the same roles as what it concerns."""

import datetime

import django_filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.exceptions import ValidationError

from nodeconductor.core.filters import UUIDFilter
from nodeconductor.core.views import UuidViewSetMixin

from .models import Event
from .serializers import EventSerializer


class EventFilter(django_filters.FilterSet):
    """Filter by scope (resource, project, customer), type and time."""

    resource_uuid = django_filters.UUIDFilter(help_text="UUID of the instance (or other resource).")
    resource_type = django_filters.CharFilter(help_text="e.g. instance")
    project = UUIDFilter("project")
    customer = UUIDFilter("customer")
    event_type = django_filters.CharFilter(lookup_expr="startswith", help_text="Prefix, e.g. instance_stop")
    level = django_filters.CharFilter(help_text="info, warning (a quota past its threshold) or error")
    created_after = django_filters.IsoDateTimeFilter(method="filter_created_after")
    created_before = django_filters.IsoDateTimeFilter(method="filter_created_before")

    @staticmethod
    def _utc(name, value):
        """The value in UTC: PostgreSQL refuses offsets beyond 15:59 that ISO 8601 (and Python) allow."""
        try:
            return value.astimezone(datetime.UTC)
        except OverflowError:
            raise ValidationError({name: "The date is out of range."}) from None

    def filter_created_after(self, queryset, name, value):
        """Events created at or after the moment."""
        return queryset.filter(created__gte=self._utc("created_after", value))

    def filter_created_before(self, queryset, name, value):
        """Events created before the moment."""
        return queryset.filter(created__lt=self._utc("created_before", value))

    class Meta:
        model = Event
        fields = ("resource_uuid", "resource_type", "project", "customer", "event_type", "level")


@extend_schema_view(
    list=extend_schema(summary="List events", description="Events of projects you see and customers you own."),
    retrieve=extend_schema(summary="Show an event"),
)
class EventViewSet(UuidViewSetMixin, viewsets.ReadOnlyModelViewSet):
    """Read-only event log, newest first."""

    queryset = Event.objects.all()
    serializer_class = EventSerializer
    filterset_class = EventFilter
    ordering_fields = ("created", "event_type")

    @staticmethod
    def base_queryset(user):
        """Visible events with the user fetched in the same query."""
        return Event.objects.for_user(user).select_related("user")

    def get_queryset(self):
        """Visible events."""
        return self.base_queryset(self.request.user)
