"""App config of iaas."""

from django.apps import AppConfig


class IaasConfig(AppConfig):
    """Clouds, the catalogue and instances."""

    name = "nodeconductor.iaas"
    label = "iaas"
    verbose_name = "IaaS"
