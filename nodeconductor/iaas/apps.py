"""App config of iaas."""

from django.apps import AppConfig


class IaasConfig(AppConfig):
    """Clouds, the catalogue and instances."""

    name = "nodeconductor.iaas"
    label = "iaas"
    verbose_name = "IaaS"

    def ready(self):
        """Register the credentials check, so manage.py check, migrate and runserver refuse a broken list."""
        from django.core import checks

        from nodeconductor.iaas.checks import check_openstack_credentials

        checks.register(check_openstack_credentials, "nodeconductor")
