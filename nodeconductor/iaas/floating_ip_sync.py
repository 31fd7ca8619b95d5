"""The pull's part for floating IPs: make our rows, and each instance's external_ips, follow Neutron.

Assigning and unassigning are operations of the engine (operation_table.py); this only reads the cloud.
"""

import logging

from django.db import transaction

from .backend import CloudBackendError
from .models import FloatingIP, Instance, SyncState
from .models.floating_ips import external_ips_of, record
from .models.instance import STABLE_STATES

logger = logging.getLogger(__name__)


def reconcile_membership(backend, membership):
    """Make the membership's rows what Neutron lists (new, changed, gone) and external_ips follow them."""
    found = {f["id"]: f for f in backend.list_floating_ips(membership.tenant_id)}
    instances = Instance.objects.filter(cloud_project_membership=membership)
    by_port = {i.port_id: i for i in instances.exclude(port_id="")}
    rows = {r.backend_id: r for r in FloatingIP.objects.filter(membership=membership)}
    lines = []
    where = f"floating IP {{}} of {membership.project.name}"
    with transaction.atomic():
        gone = [r for backend_id, r in rows.items() if backend_id not in found]
        if gone:
            FloatingIP.objects.filter(pk__in=[r.pk for r in gone]).delete()
            lines += [f"{where.format(r.address)} is gone from the cloud: forgotten" for r in gone]
        for backend_id, data in found.items():
            holder = by_port.get(data["port_id"])
            row = rows.get(backend_id)
            seen = (data["address"], data["status"], holder.pk if holder else None, data["allocated_for"])
            if row is None or (row.address, row.status, row.instance_id, row.allocated_for) != seen:
                record(membership, data, holder)
                lines.append(f"{where.format(data['address'])} " + ("found" if row is None else "changed"))
        for instance in instances.filter(state__in=STABLE_STATES):
            ips = external_ips_of(instance)
            if instance.external_ips != ips:
                Instance.objects.filter(pk=instance.pk).update(external_ips=ips)
                lines.append(f"external IPs of instance {instance.hostname}: {ips or 'none'}")
    return lines


def reconcile_cloud(cloud):
    """The pull's part for floating IPs: every In Sync membership with an external network; failures logged."""
    backend = cloud.get_backend()
    lines = []
    memberships = cloud.memberships.filter(state=SyncState.IN_SYNC).exclude(tenant_id="").exclude(
        external_network_id="").select_related("project")  # fmt: skip
    for membership in memberships:
        try:
            lines += reconcile_membership(backend, membership)
        except CloudBackendError as exc:
            logger.warning("Pull of floating IPs in %s failed: %s", membership, exc)
    return lines
