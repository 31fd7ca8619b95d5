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

    def backend_for(self, cloud):
        """The façade of one cloud, for `Cloud.get_backend()`: the app registry is how the models reach the layer
        above them without importing it."""
        from nodeconductor.iaas.cloud_facade import CloudFacade

        return CloudFacade(cloud)

    def monthly_cost_expression(self, kind, visible_projects):
        """What the instances of each customer or project row cost a month, for structure's totals (structure.costs):
        a customer counts only the instances of the projects the requester sees."""
        from nodeconductor.iaas import costs
        from nodeconductor.iaas.models import Instance

        if kind == "project":
            return costs.monthly_total("cloud_project_membership__project")
        instances = Instance.objects.filter(cloud_project_membership__project__in=visible_projects)
        return costs.monthly_total("cloud_project_membership__project__customer", instances)

    @property
    def tasks(self):
        """The Celery entry points (tasks.py), for messages.py: nothing imports them, so no layer below them can
        close an import cycle through them."""
        from nodeconductor.iaas import tasks

        return tasks
