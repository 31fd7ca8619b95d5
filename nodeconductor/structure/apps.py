"""App config of structure."""

from django.apps import AppConfig


class StructureConfig(AppConfig):
    """Customers, projects and roles."""

    name = "nodeconductor.structure"
    label = "structure"
    verbose_name = "Structure"
