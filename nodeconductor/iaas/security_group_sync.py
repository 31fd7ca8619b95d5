"""The pull's part for security groups: find the groups and the VMs' ports that drifted, and schedule their fix.

Who wins when the cloud and we disagree: the database. The pull reads the tenant's groups and, for each of our
idle groups whose rules in Neutron differ from ours (a rule removed or added behind our back, the group gone),
schedules the same push a user's edit schedules; the push then adds and removes only the difference. Groups
of the tenant that we do not manage (its "default", its own) are left alone.
"""

import logging

from django.db import transaction

from .backend import CloudBackendError
from .backend.security_groups import diff_key
from .models import Instance, InstanceState, SecurityGroup, SecurityGroupState, SyncState
from .services.instances import instance_reapply_security_groups
from .services.security_groups import schedule_push

logger = logging.getLogger(__name__)
G = SecurityGroupState


def _drifted(group, cloud_groups):
    """True when Neutron's copy of our group is missing or has other managed rules than ours."""
    found = cloud_groups.get(group.backend_id)
    if found is None:
        return True
    ours = sorted(str(diff_key(r.neutron_rule())) for r in group.rules.all())
    theirs = sorted(str(r["key"]) for r in found["rules"])
    return ours != theirs or found["name"] != group.name


def reconcile_membership(backend, membership):
    """Schedule a push of every idle group that the cloud changed, and of every Erred one (a retry)."""
    groups = list(SecurityGroup.objects.filter(membership=membership, state__in=[G.IN_SYNC, G.ERRED]).prefetch_related(
        "rules"))  # fmt: skip
    lines = []
    # Nothing of ours in the cloud yet: no call. Our groups being pushed now are left to their push.
    in_cloud = any(g.backend_id and g.state == G.IN_SYNC for g in groups)
    cloud_groups = {g["id"]: g for g in backend.list_security_groups(membership.tenant_id)} if in_cloud else {}
    where = f"security group {{}} of {membership.project.name}"
    for group in groups:
        if group.state == G.ERRED:
            if schedule_push(group):
                lines.append(f"{where.format(group.name)} is Erred: push scheduled again")
        elif _drifted(group, cloud_groups) and schedule_push(group):
            lines.append(f"{where.format(group.name)} differs in the cloud: push scheduled")
    lines += _reconcile_servers(backend, membership)
    return lines


def _reconcile_servers(backend, membership):
    """Put our groups back on running VMs whose ports were given other groups behind our back."""
    instances = Instance.objects.filter(cloud_project_membership=membership, state=InstanceState.ONLINE,
                                        security_groups__isnull=False).exclude(backend_id="").distinct()  # fmt: skip
    wanted = {}
    for instance_id, backend_id, group_id in instances.values_list("pk", "backend_id", "security_groups__backend_id"):
        wanted.setdefault(backend_id, (instance_id, set()))[1].add(group_id)
    if not wanted:
        return []
    found = backend.list_server_security_groups(membership.tenant_id)
    lines = []
    for backend_id, (instance_id, group_ids) in wanted.items():
        if backend_id in found and set(found[backend_id]) != group_ids - {""}:
            with transaction.atomic():
                scheduled = instance_reapply_security_groups(Instance(pk=instance_id))
            if scheduled is not None:
                lines.append(f"security groups of instance {backend_id} differ in the cloud: update scheduled")
    return lines


def reconcile_cloud(cloud):
    """The pull's part for groups: every In Sync membership of the cloud; a failing tenant is logged."""
    backend = cloud.get_backend()
    lines = []
    for membership in cloud.memberships.filter(state=SyncState.IN_SYNC).exclude(tenant_id="").select_related(
            "project"):  # fmt: skip
        try:
            lines += reconcile_membership(backend, membership)
        except CloudBackendError as exc:
            logger.warning("Pull of security groups in %s failed: %s", membership, exc)
    return lines
