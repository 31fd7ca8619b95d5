"""Sends the requests of docs/_ext/role_matrix.py as every role; used by tests/test_docs.py."""

import itertools

from nodeconductor.iaas.models import (
    Backup,
    BackupState,
    Cloud,
    CloudProjectMembership,
    Instance,
    InstanceState,
    SyncState,
)
from nodeconductor.iaas.services.backups import restore_metadata
from tests import factories
from tests.iaas.views.test_instances import provision

VIEWS = {
    "customer": "customers",
    "project": "projects",
    "project_group": "project-groups",
    "cloud": "clouds",
    "membership": "project-cloud-memberships",
    "instance": "instances",
    "customer_permission": "customer-permissions",
    "project_permission": "project-permissions",
    "user": "users",
    "flavor": "flavors",
    "template": "iaas-templates",
    "backup": "backups",
}


class MatrixRunner:
    """Builds the objects a row names and sends its request as one role."""

    def __init__(self, roles, iaas):
        """Work on the customer of `roles` and the cloud of `iaas`."""
        self.roles, self.iaas = roles, iaas
        self.counter = itertools.count(1)

    def _fresh_project(self):
        """A new project of the customer where admin and manager hold their roles (so they see it)."""
        project = factories.ProjectFactory(customer=self.roles.customer)
        factories.ProjectPermissionFactory(project=project, user=self.roles.users["admin"], role="admin")
        factories.ProjectPermissionFactory(project=project, user=self.roles.users["manager"], role="manager")
        return project

    def _fresh_cloud(self):
        """A new In Sync cloud of the customer with an In Sync membership of the project."""
        n = next(self.counter)
        cloud = Cloud.objects.create(customer=self.roles.customer, name=f"Fresh {n}", auth_url=self.iaas.cloud.auth_url)
        membership = CloudProjectMembership.objects.create(project=self.roles.project, cloud=cloud, tenant_id="t")
        Cloud.objects.filter(pk=cloud.pk).update(state=SyncState.IN_SYNC)
        CloudProjectMembership.objects.filter(pk=membership.pk).update(state=SyncState.IN_SYNC)
        return cloud, membership

    def _fresh_instance(self, state):
        """A new instance row of the project in `state`, nothing in the cloud (no task runs in these tests)."""
        iaas = self.iaas
        instance = Instance.objects.create(
            hostname=f"row-{next(self.counter)}", template=iaas.template, cloud_project_membership=iaas.membership,
            flavor=iaas.flavor, cores=iaas.flavor.cores, ram=iaas.flavor.ram, system_volume_size=1024,
            data_volume_size=1024,
        )  # fmt: skip
        Instance.objects.filter(pk=instance.pk).update(state=state)
        return instance

    def objects(self, fresh):
        """The objects placeholders stand for, with a new one of the `fresh` kind."""
        objs = {
            "customer": self.roles.customer,
            "project": self.roles.project,
            "project_group": self.roles.project_group,
            "cloud": self.iaas.cloud,
            "flavor": self.iaas.flavor,
            "template": self.iaas.template,
            "user": factories.UserFactory(),
        }
        if fresh == "project":
            objs["project"] = self._fresh_project()
        elif fresh in ("cloud", "membership"):
            objs["cloud"], objs["membership"] = self._fresh_cloud()
        elif fresh == "customer_permission":
            objs["customer_permission"] = factories.CustomerPermissionFactory(customer=self.roles.customer)
        elif fresh == "project_permission":
            objs["project_permission"] = factories.ProjectPermissionFactory(project=self.roles.project, role="manager")
        elif fresh == "instance:built":
            objs["instance"] = self.built_instance()
        elif fresh.startswith("instance:"):
            objs["instance"] = self._fresh_instance(InstanceState(fresh.split(":")[1]))
        if "instance" not in objs:
            objs["instance"] = self.iaas_instance()
        objs["backup"] = self._fresh_backup(objs["instance"]) if fresh == "backup" else self.iaas_backup()
        return objs

    def _fresh_backup(self, instance):
        """A Ready backup row of the instance with its snapshots' sizes, nothing in the cloud; its restore makes an
        instance, so the membership is let hold the rows the other rows of the table made."""
        CloudProjectMembership.objects.filter(pk=self.iaas.membership.pk).update(quota_vcpu=-1, quota_ram=-1,
                                                                                  quota_max_instances=-1)
        metadata = {**restore_metadata(instance), "system_snapshot_gib": 1, "data_snapshot_gib": 1}
        backup = Backup.objects.create(instance=instance, membership=self.iaas.membership, system_snapshot_id="s",
                                       data_snapshot_id="d", metadata=metadata)  # fmt: skip
        Backup.objects.filter(pk=backup.pk).update(state=BackupState.READY)
        return backup

    def iaas_backup(self):
        """One Ready backup shared by the read-only rows."""
        if not hasattr(self, "_backup"):
            self._backup = self._fresh_backup(self.iaas_instance())
        return self._backup

    def built_instance(self):
        """One instance built in the simulated cloud (its server has a console), for the rows that read the cloud."""
        if not hasattr(self, "_built"):
            self._built = provision(self.iaas, self.roles, hostname="built-1")
            assert self._built.state == InstanceState.ONLINE, self._built.error_message
        return self._built

    def iaas_instance(self):
        """One Online instance row shared by the read-only rows."""
        if not hasattr(self, "_instance"):
            self._instance = self._fresh_instance(InstanceState.ONLINE)
        return self._instance

    def send(self, row, role):
        """Send the row's request as `role` and return the response."""
        objs = self.objects(row.fresh)
        n = next(self.counter)
        path = row.path.format(n=n, **{k: v.uuid for k, v in objs.items()})
        urls = {k: f"http://testserver/api/{VIEWS[k]}/{v.uuid}/" for k, v in objs.items()}
        values = {**urls, "n": n, "auth_url": self.iaas.cloud.auth_url}
        body = {k: v.format(**values) if isinstance(v, str) else v for k, v in (row.body or {}).items()}
        client = self.roles.client_as(role)
        return getattr(client, row.method.lower())(path, body or None, format="json")
