"""App config of the portal."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    """Registers the portal's template and static files; it has no models."""

    name = "nodeconductor.portal"
    label = "portal"
    verbose_name = "Portal"
