"""Fixtures of the security suite: a victim customer with one object of every collection, and the schema's
operations, which the attacker matrix and the input fuzz walk."""

from dataclasses import dataclass

import pytest
from drf_spectacular.generators import SchemaGenerator

from nodeconductor.events.models import Event
from nodeconductor.iaas.models import Backup, BackupSchedule, FloatingIP, SecurityGroup
from nodeconductor.iaas.services.backups import restore_metadata
from nodeconductor.structure.models import CustomerPermission, ProjectGroupPermission, ProjectPermission
from tests.iaas.views.test_instances import provision


@dataclass
class Victim:
    """Customer B's objects, by the collection name the API lists them under."""

    objects: dict
    secrets: set  # what must never appear in an attacker's answer: uuids, names, tenant and server ids


@pytest.fixture
def victim(iaas, roles):
    instance = provision(iaas, roles, hostname="victim-vm")
    group = SecurityGroup.objects.create(membership=iaas.membership, name="victim-group")
    fip = FloatingIP.objects.create(membership=iaas.membership, backend_id="fip-victim", address="192.0.2.77",
                                    instance=instance)  # fmt: skip
    group_permission = ProjectGroupPermission.objects.create(
        project_group=roles.project_group, user=roles.users["manager"], role="manager"
    )
    backup = Backup.objects.create(instance=instance, membership=iaas.membership, description="victim-backup",
                                   metadata=restore_metadata(instance), system_snapshot_id="snap-victim-root",
                                   data_snapshot_id="snap-victim-data")  # fmt: skip
    schedule = BackupSchedule.objects.create(instance=instance, schedule="0 2 * * *", timezone="UTC",
                                             description="victim-schedule")  # fmt: skip
    objects = {
        "backup-schedules": schedule,
        "backups": backup,
        "clouds": iaas.cloud,
        "customer-permissions": CustomerPermission.objects.get(customer=roles.customer),
        "customers": roles.customer,
        "events": Event.objects.filter(resource_uuid=instance.uuid).first(),
        "flavors": iaas.flavor,
        "floating-ips": fip,
        "instances": instance,
        "keys": iaas.key,
        "project-cloud-memberships": iaas.membership,
        "project-group-permissions": group_permission,
        "project-groups": roles.project_group,
        "project-permissions": ProjectPermission.objects.get(project=roles.project, role="admin"),
        "projects": roles.project,
        "security-groups": group,
        "users": roles.users["admin"],
    }
    secrets = {str(o.uuid) for o in objects.values()} | {o.uuid.hex for o in objects.values()}
    secrets |= {iaas.membership.tenant_id, instance.backend_id, instance.system_volume_id, instance.data_volume_id,
                roles.customer.name, roles.project.name, "victim-vm", "victim-group", "192.0.2.77", iaas.key.name,
                iaas.key.fingerprint, "victim-backup", "snap-victim-root", "snap-victim-data",
                "victim-schedule"}  # fmt: skip
    return Victim(objects, secrets)


@pytest.fixture(scope="module")
def paths():
    """Every path and method of the OpenAPI schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {path: sorted(m for m in ops if m in ("get", "post", "put", "patch", "delete"))
            for path, ops in schema["paths"].items()}  # fmt: skip


@pytest.fixture(scope="module")
def schema_operations():
    """(path, method, takes_body) of every operation of the schema that may carry a body: POST, PUT, PATCH."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [(path, method, "requestBody" in op) for path, ops in schema["paths"].items()
            for method, op in ops.items() if method in ("post", "put", "patch")]  # fmt: skip
