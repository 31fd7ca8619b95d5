"""Importing a server no instance tracks: who may, what is listed, and scheduling the import (no cloud call).

The list is what the last pull recorded (ImportableServer rows); the import checks that row, the quota and
that no instance tracks the server yet, creates the instance in Provisioning Scheduled with everything the pull
saw, and enqueues the IMPORT operation, whose worker verifies the server in the cloud.
"""

from django.db import transaction
from django.db.models import Exists, OuterRef
from rest_framework.exceptions import PermissionDenied, ValidationError

from nodeconductor.core.exceptions import Conflict
from nodeconductor.core.permissions import is_staff

from .. import events, instance_policy
from ..engine import operations
from ..engine.operation_table import IMPORT
from ..models import ImportableServer, Instance, SyncState
from . import cloud_reads
from .instances import _enqueue, _locked_membership, _uuid, check_quota

NOT_LISTER = "Only owners of the customer, administrators of the project and staff list importable servers."
NOT_IMPORTER = "Only project administrators and staff import servers."


def can_list(user, membership):
    """Owners (they own the tenant), project administrators (they would import) and staff; managers only read."""
    return (
        is_staff(user)
        or membership.project.customer.can_manage(user)
        or instance_policy.can_operate(user, membership.project)
    )


def require_list(user, membership):
    """403 unless the user may list the membership's importable servers."""
    if not can_list(user, membership):
        raise PermissionDenied(NOT_LISTER)


def require_import(user, membership):
    """403 unless the user operates instances of the project (owners and managers only read instances)."""
    if not instance_policy.can_operate(user, membership.project):
        raise PermissionDenied(NOT_IMPORTER)


def _tracked(membership):
    """Instances of any project bound to the membership's tenant on its OpenStack, under any Cloud row, by server
    id (an OuterRef to backend_id)."""
    return Instance.objects.on_tenant(membership.cloud.auth_url, membership.tenant_id).filter(
        backend_id=OuterRef("backend_id")
    )


def read_untracked(membership):
    """Have a worker read the tenant's untracked servers now (no older than CLOUD_READ_FRESH_FOR seconds), so a
    server made a moment ago is listed and importable; a membership not In Sync keeps what its last pull saw."""
    if membership.state != SyncState.IN_SYNC or not membership.tenant_id or membership.tenant_taken():
        return
    cloud_reads.read(f"importable:{membership.uuid}", "importable", {"membership": str(membership.uuid)},
                     fresh_for=cloud_reads.fresh_for())  # fmt: skip


def importable_servers(membership):
    """The membership's untracked servers as the last pull saw them, minus those imported since (one query)."""
    return (
        ImportableServer.objects.filter(membership=membership)
        .exclude(Exists(_tracked(membership)))
        .select_related("flavor", "template")
    )


def instance_import(*, user, membership, server_id):
    """Check the pulled server, the quota and that nobody tracks it; create the instance and schedule IMPORT."""
    with transaction.atomic():
        membership = _locked_membership(membership)
        if membership.state != SyncState.IN_SYNC:
            raise Conflict(f"The membership must be In Sync to import; it is {membership.get_state_display()}.")
        tenant = membership.tenant_id
        holder = (
            Instance.objects.on_tenant(membership.cloud.auth_url, tenant)
            .filter(backend_id=server_id)
            .select_related("cloud_project_membership__project")
            .first()
        )
        if holder is not None:
            raise Conflict(
                f"Server {server_id} is already managed as instance {holder.hostname} ({holder.uuid}) of project "
                f"{holder.cloud_project_membership.project.name}.",
                code="conflict",
            )
        row = membership.importable_servers.select_related("flavor", "template").filter(backend_id=server_id).first()
        if row is None:
            raise ValidationError(
                {"backend_id": [f"Server {server_id} is not among the untracked servers of tenant {tenant}; "
                                "list importable_instances to see them."]},
                code="not_found_in_cloud",
            )  # fmt: skip
        if row.reasons:
            raise ValidationError(
                {"backend_id": [f"Server {row.name} ({server_id}) cannot be imported: {'; '.join(row.reasons)}."]},
                code="not_importable",
            )
        storage = row.system_volume_size + row.data_volume_size
        check_quota(membership, {"vcpu": row.flavor.cores, "ram": row.flavor.ram, "storage": storage,
                                 "max_instances": 1})  # fmt: skip
        instance = Instance(
            hostname=(row.name or server_id)[:80],
            description=f"Imported from server {server_id}.",
            template=row.template,
            cloud_project_membership=membership,
            flavor=row.flavor,
            agreed_sla=row.template.sla_level,
            cores=row.flavor.cores,
            ram=row.flavor.ram,
            system_volume_size=row.system_volume_size,
            data_volume_size=row.data_volume_size,
            # Known before the worker runs, so that the tenant's untracked list and sweep never see it as free.
            backend_id=server_id,
            system_volume_id=row.system_volume_id,
            data_volume_id=row.data_volume_id,
            internal_ips=row.internal_ips,
            external_ips=row.external_ips,
            created_by=user,
        )
        operations.start(instance, IMPORT, {"server_id": server_id, "user_uuid": _uuid(user)})
        instance.save()
        events.instance_event(instance, "import", "scheduled", user=user)
        _enqueue(instance, IMPORT, None, user)
    return instance
