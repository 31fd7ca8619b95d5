"""App config of core."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Loads the Celery app with Django so shared tasks bind to it; cloudsim, outside Django, needs no Celery."""

    name = "nodeconductor.core"
    label = "core"
    verbose_name = "Core"

    def ready(self):
        """Import the Celery app and the schema extensions once Django is ready."""
        from nodeconductor import celery  # noqa: F401
        from nodeconductor.core import schema  # noqa: F401
