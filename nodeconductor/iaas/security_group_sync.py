"""Worker side of security groups: push the diff, delete, set a VM's groups, reconcile at the pull, sweep.

Who wins when the cloud and we disagree: the database. The pull reads the tenant's groups and, for each of our
idle groups whose rules in Neutron differ from ours (a rule removed or added behind our back, the group gone),
schedules the same push a user's edit schedules; the push then adds and removes only the difference. Groups
of the tenant that we do not manage (its "default", its own) are left alone.
"""

import logging

from django.db import transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition

from . import failures
from .backend import CloudBackendError
from .backend.security_groups import diff_key
from .models import Instance, InstanceState, SecurityGroup, SecurityGroupState, SyncState
from .services.instances import instance_reapply_security_groups
from .services.security_groups import ensure_default_groups, schedule_push  # noqa: F401 - tasks uses the first

logger = logging.getLogger(__name__)
G = SecurityGroupState


def _save_transition(transition, *args):
    """Run a transition (a bound method of the row) and save the row atomically (ConcurrentTransitionMixin
    refuses a stale state)."""
    with transaction.atomic():
        transition(*args)
        transition.__self__.save()


def _group(uuid, state):
    """The group with its membership and cloud, when it is in `state` (else None: nothing to do)."""
    return SecurityGroup.objects.select_related("membership__cloud").filter(uuid=uuid, state=state).first()


def _erred_unless_ours(group, exc, what):
    """An unexpected failure puts the group in Erred with the reason; a lost database or owner is raised on."""
    if not failures.unexpected(exc):
        raise exc
    failures.set_erred(group, exc, f"{what} of security group {group.uuid}")


def push(group_uuid):
    """Make Neutron match the group (rules read now, so edits queued meanwhile go too); In Sync or Erred."""
    group = _group(group_uuid, G.SYNC_SCHEDULED)
    if group is None:
        return
    try:
        _save_transition(group.begin_syncing)
    except ConcurrentTransition:
        return  # a duplicate message: another worker took this push up
    try:
        _push(group)
    except Exception as exc:
        _erred_unless_ours(group, exc, "Push")


def _push(group):
    """The push of a group in Syncing: the diff in Neutron, then the ids on our rows; In Sync or Erred."""
    rules = list(group.rules.all())
    membership = group.membership
    try:
        result = membership.cloud.get_backend().push_security_group(
            membership.tenant_id, group.backend_id, group.name, group.description, [r.neutron_rule() for r in rules]
        )
    except CloudBackendError as exc:
        _save_transition(group.set_erred, str(exc))
        return
    with transaction.atomic():
        for rule in rules:
            rule_id = result["rule_ids"].get(diff_key(rule.neutron_rule()), "")
            if rule.backend_id != rule_id:
                type(rule).objects.filter(pk=rule.pk).update(backend_id=rule_id)
        group.backend_id = result["id"]
        group.set_in_sync()
        group.save()


def delete(group_uuid):
    """Delete the group in Neutron, then its row; Erred with the cloud's message when Neutron refuses."""
    group = (
        SecurityGroup.objects.select_related("membership__cloud")
        .filter(uuid=group_uuid, state__in=[G.DELETION_SCHEDULED, G.DELETING])
        .first()
    )
    if group is None:
        return
    try:
        _save_transition(group.begin_deleting)
    except ConcurrentTransition:
        return
    try:
        _delete(group)
    except Exception as exc:
        _erred_unless_ours(group, exc, "Deletion")


def _delete(group):
    """The deletion of a group in Deleting: in Neutron, then the row; Erred with the cloud's message if refused."""
    membership = group.membership
    try:
        if membership.tenant_id:
            membership.cloud.get_backend().delete_security_group(membership.tenant_id, group.backend_id, group.name)
    except CloudBackendError as exc:
        _save_transition(group.set_erred, str(exc))
        return
    group.delete()


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


def sweep(picked_up_before, lease_start, push_task, delete_task):
    """The sweeper's part: groups scheduled with no task coming are sent again; a dead worker's are retried."""
    resumed = 0
    for state, task in ((G.SYNC_SCHEDULED, push_task), (G.DELETION_SCHEDULED, delete_task)):
        for uuid in SecurityGroup.objects.filter(state=state, modified__lt=picked_up_before).values_list(
            "uuid", flat=True
        ):
            # Touch the row first, so a queue that is slow to deliver gets one extra message, not one a sweep.
            SecurityGroup.objects.filter(uuid=uuid, state=state).update(modified=timezone.now())
            task.delay(str(uuid))
            resumed += 1
    for group in SecurityGroup.objects.filter(state=G.SYNCING, modified__lt=lease_start):
        _save_transition(group.set_erred, "The push was interrupted (its worker was lost); it is retried.")
        _save_transition(group.schedule_syncing)
        push_task.delay(str(group.uuid))
        resumed += 1
    # A lost deletion is simply run again: deleting a group that is gone already is fine.
    stale = SecurityGroup.objects.filter(state=G.DELETING, modified__lt=lease_start)
    for uuid in stale.values_list("uuid", flat=True):
        SecurityGroup.objects.filter(uuid=uuid, state=G.DELETING).update(modified=timezone.now())
        delete_task.delay(str(uuid))
        resumed += 1
    return resumed
