"""App config of events."""

from django.apps import AppConfig


class EventsConfig(AppConfig):
    """Structured event log."""

    name = "nodeconductor.events"
    label = "events"
    verbose_name = "Events"
