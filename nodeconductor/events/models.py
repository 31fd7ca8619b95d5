"""The event log: one row per thing that happened, scoped to a customer and project for visibility."""

import logging

from django.conf import settings
from django.db import models
from django.db.models import Q

from nodeconductor.core.models import UuidMixin
from nodeconductor.structure.models import Customer, Project

logger = logging.getLogger("nodeconductor.events")


class EventQuerySet(models.QuerySet):
    """Event visibility: whoever sees the project (or owns the customer) sees its events."""

    def for_user(self, user):
        """Events of projects the user sees and of customers he owns; staff see all."""
        if user is None or not user.is_authenticated:
            return self.none()
        if user.is_staff:
            return self
        return self.filter(
            Q(project__in=Project.objects.for_user(user)) | Q(customer__in=Customer.objects.owned_by(user))
        )


class Event(UuidMixin, models.Model):
    """A structured event such as instance_stop_succeeded, with the uuids of everything it concerns."""

    created = models.DateTimeField(auto_now_add=True, db_index=True)
    event_type = models.CharField(max_length=80, db_index=True)
    level = models.CharField(max_length=10, default="info")
    message = models.TextField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    customer = models.ForeignKey(Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    project = models.ForeignKey(Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Uuids survive the deletion of what they name, so the history of a deleted VM stays readable.
    resource_type = models.CharField(max_length=40, blank=True)
    resource_uuid = models.UUIDField(null=True, blank=True, db_index=True)
    context = models.JSONField(default=dict, blank=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ("-created", "-id")

    def __str__(self):
        return f"{self.event_type}: {self.message}"


def log_event(event_type, message, *, level="info", user=None, customer=None, project=None, resource=None, **context):
    """Record an event and mirror it to the log as one structured line."""
    resource_type = resource._meta.model_name if resource is not None else ""
    resource_uuid = getattr(resource, "uuid", None)
    context = {
        "user_uuid": str(user.uuid) if user else None,
        "customer_uuid": str(customer.uuid) if customer else None,
        "project_uuid": str(project.uuid) if project else None,
        f"{resource_type or 'resource'}_uuid": str(resource_uuid) if resource_uuid else None,
        **context,
    }
    event = Event.objects.create(
        event_type=event_type,
        level=level,
        message=message,
        user=user,
        customer=customer,
        project=project,
        resource_type=resource_type,
        resource_uuid=resource_uuid,
        context=context,
    )
    logger.log(logging.WARNING if level in ("error", "warning") else logging.INFO, "%s %s %s", event_type, message,
               context)
    return event
