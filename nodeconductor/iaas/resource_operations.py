"""The operations on clouds, memberships and security groups: each one row, run by the engine (engine/resources.py).

A cloud's pull, a membership's sync, a group's push and its deletion are recorded, claimed, leased and swept as
instance operations are; a request records one with its scheduling transition (services), the worker runs its
step, the sweeper resends a lost one, and a dry run prints its phases. Their steps live here, above the
services, because a pull and a sync schedule further work (a drifted group's push, the default groups).
"""

import logging

from django.db import transaction
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from . import backup_operations, failures, floating_ip_sync, quota_alerts, security_group_sync
from .backend import CloudBackendError
from .backend.security_groups import diff_key
from .engine import records, resources
from .engine.operation_table import Call, Phase
from .engine.resources import ResourceOperation
from .importable import refresh_importable
from .models import Cloud, CloudProjectMembership, SecurityGroup, SecurityGroupState, SyncState
from .models.cloud import TENANT_TAKEN
from .pull.instances import pull_instances, sweep_untracked
from .services.clouds import membership_schedule_sync
from .services.security_groups import ensure_default_groups

logger = logging.getLogger(__name__)
G = SecurityGroupState


# ---------------------------------------------------------------------------------------------- a cloud's pull
def _pull_step(cloud, params):
    """The catalogue: flavors, images and the tenants' quotas, as a diff."""
    return cloud.get_backend().pull_cloud_account(cloud)


def _pull_finish(cloud, diff):
    cloud.last_pulled = timezone.now()


def pull_cloud_instances(cloud, diff=None):
    """Reconcile the instances of every In Sync membership; a failing tenant is logged, the others go on."""
    backend = cloud.get_backend()
    for membership in cloud.memberships.filter(state=SyncState.IN_SYNC).exclude(tenant_id="").select_related(
            "project"):  # fmt: skip
        if membership.tenant_taken():
            # Not this customer's tenant: nothing of it is pulled, listed or swept, and the sync makes it Erred.
            logger.warning("%s is bound to a tenant another customer bound first; its sync is scheduled", membership)
            membership_schedule_sync(membership)
            continue
        try:
            changes = pull_instances(backend, membership) + sweep_untracked(backend, membership)
            changes += refresh_importable(backend, membership)  # after the sweep: its leftovers are gone
        except CloudBackendError as exc:
            logger.warning("Pull of instances in %s failed: %s", membership, exc)
            continue
        except Exception as exc:
            if not failures.unexpected(exc):
                raise
            failures.log(exc, f"Pull of instances in {membership}")  # one tenant's bug stops no other tenant's pull
            continue
        if diff is not None:
            diff.updated.extend(changes)


def _pull_then(cloud, diff):
    """Once the catalogue is In Sync: the instances, groups and floating IPs of every tenant follow the cloud."""
    pull_cloud_instances(cloud, diff)
    diff.updated.extend(security_group_sync.reconcile_cloud(cloud))
    diff.updated.extend(floating_ip_sync.reconcile_cloud(cloud))
    # The pull may have changed limits, or found servers, IPs and groups come or gone outside the broker.
    for membership in cloud.memberships.exclude(tenant_id="").select_related("cloud", "project"):
        quota_alerts.check(membership)


PULL_CLOUD = ResourceOperation(
    "pull_cloud", Cloud, SyncState.SYNC_SCHEDULED, SyncState.SYNCING, Cloud.schedule_syncing, Cloud.begin_syncing,
    _pull_step,
    Cloud.set_in_sync, _pull_finish, _pull_then,
    phases=(
        Phase("", "read the catalogue and the tenants' quotas", (
            Call("nova flavors.list"), Call("glance images.list"), Call("nova quotas.get", "(each tenant)"))),
        Phase("then", "make instances, security groups and floating IPs follow the cloud", (
            Call("nova servers.list", "(each tenant)"), Call("neutron list_security_groups", "(each tenant)"),
            Call("neutron list_floatingips", "(each tenant)"))),
    ),
)  # fmt: skip


# ---------------------------------------------------------------------------------------------- a membership's sync
def _sync_step(membership, params):
    """Verify or create the tenant (quotas pushed first when asked), pull its quotas, find or make its network."""
    backend = membership.cloud.get_backend()
    if membership.tenant_id:
        membership.tenant_id = backend.verify_tenant(membership.tenant_id)  # as Keystone spells it
        if membership.tenant_taken():
            raise CloudBackendError(TENANT_TAKEN.format(tenant=membership.tenant_id))
    else:
        membership.tenant_id = backend.create_tenant(
            membership.project.uuid.hex, description=f"NodeConductor project {membership.project.name}"
        )
    if params.get("quotas"):
        backend.set_quotas(membership.tenant_id, params["quotas"])
    for field, value in backend.get_quotas(membership.tenant_id).items():
        setattr(membership, field, value)
    for field, value in backend.ensure_membership_network(membership.tenant_id).items():
        setattr(membership, field, value)
    return backend


def _sync_finish(membership, backend):
    ensure_default_groups(membership)  # the settings' defaults, made with In Sync and pushed on commit


def _sync_then(membership, backend):
    """A synced tenant's untracked servers are listed again (failing to list them leaves the sync In Sync), and
    its quotas' warnings follow the limits it read or set (set_quotas goes through the sync)."""
    try:
        refresh_importable(backend, membership)
    except CloudBackendError as exc:
        logger.warning("Listing the untracked servers of %s failed: %s", membership, exc)
    quota_alerts.check(CloudProjectMembership.objects.select_related("cloud", "project").get(pk=membership.pk))


SYNC_MEMBERSHIP = ResourceOperation(
    "sync_membership", CloudProjectMembership, SyncState.SYNC_SCHEDULED, SyncState.SYNCING,
    CloudProjectMembership.schedule_syncing, CloudProjectMembership.begin_syncing, _sync_step,
    CloudProjectMembership.set_in_sync, _sync_finish, _sync_then,
    phases=(Phase("", "verify or create the tenant, read its quotas, find or make its network", (
        Call("keystone projects.create", "name={project_uuid}", only_if="the membership names no tenant"),
        Call("nova quotas.update", "{quotas}", when="quotas"),
        Call("neutron create_network / create_subnet / create_router", "(each one the tenant lacks)",
             only_if="the tenant has no network set of ours"))),),
)  # fmt: skip


# ---------------------------------------------------------------------------------------------- a group's push
def _push_step(group, params):
    """Make Neutron match the group: rules read now, so edits made while it was scheduled go too."""
    membership = group.membership
    rules = list(group.rules.all())
    result = membership.cloud.get_backend().push_security_group(
        membership.tenant_id, group.backend_id, group.name, group.description, [r.neutron_rule() for r in rules]
    )
    return rules, result


def _push_finish(group, answer):
    """The Neutron ids of the group and of each rule, on our rows."""
    rules, result = answer
    for rule in rules:
        rule_id = result["rule_ids"].get(diff_key(rule.neutron_rule()), "")
        if rule.backend_id != rule_id:
            type(rule).objects.filter(pk=rule.pk).update(backend_id=rule_id)
    group.backend_id = result["id"]


PUSH_SECURITY_GROUP = ResourceOperation(
    "push_security_group", SecurityGroup, G.SYNC_SCHEDULED, G.SYNCING, SecurityGroup.schedule_syncing,
    SecurityGroup.begin_syncing, _push_step,
    SecurityGroup.set_in_sync, _push_finish,
    phases=(Phase("", "make Neutron's group match ours, rule by rule", (
        Call("neutron create_security_group", "name={name}", only_if="the tenant has no group of ours by that name"),
        Call("neutron create_security_group_rule", "(each rule Neutron lacks)"),
        Call("neutron delete_security_group_rule", "(each rule we no longer have)"))),),
)  # fmt: skip


def _delete_step(group, params):
    """Delete the group in Neutron (a group never pushed is looked up by name: only ours goes)."""
    membership = group.membership
    if membership.tenant_id:
        membership.cloud.get_backend().delete_security_group(membership.tenant_id, group.backend_id, group.name)


def _group_deleted(group, value):
    """The group and its rules no longer count against the membership's quotas."""
    quota_alerts.check(CloudProjectMembership.objects.get(pk=group.membership_id), quota_alerts.SECURITY_GROUPS)


DELETE_SECURITY_GROUP = ResourceOperation(
    "delete_security_group", SecurityGroup, G.DELETION_SCHEDULED, G.DELETING, SecurityGroup.schedule_deletion,
    SecurityGroup.begin_deleting,
    _delete_step, then=_group_deleted,
    phases=(Phase("", "delete the group in Neutron, then forget it", (
        Call("neutron delete_security_group", "{backend_id}", only_if="the group is still there"),)),),
)  # fmt: skip

TABLE = {op.name: op for op in (PULL_CLOUD, SYNC_MEMBERSHIP, PUSH_SECURITY_GROUP, DELETE_SECURITY_GROUP,
                                *backup_operations.OPERATIONS)}  # fmt: skip
# A row found in one of these states with no operation recorded (made in the shell, or from before the engine)
# gets this operation; one in its working state gets it once a worker would have ended it (the lease).
ADOPTED = (PULL_CLOUD, SYNC_MEMBERSHIP, PUSH_SECURITY_GROUP, DELETE_SECURITY_GROUP)


def run_step(kind, uuid, token, seq):
    """Run step `seq` of the operation `token` on the row `uuid` of `kind` (the worker's entry point)."""
    return resources.run_step(TABLE, kind, uuid, token, seq)


def run_chain(kind, uuid, token, seq):
    """Run the operation's steps from `seq` to its end in this process (eager tasks)."""
    return resources.run_chain(TABLE, kind, uuid, token, seq)


def adopt(picked_up_before, lease_start, send):
    """Record the operation of every row left scheduled, or working, with none; `send` its first step.

    Rows made in the shell in Sync Scheduled, and rows of a worker from before the engine, have no record: this
    gives them one once their own message, if any, had time to arrive. Returns the count sent.
    """
    count = 0
    for op in ADOPTED:
        rows = op.model.objects.filter(operation_token="")
        for state, before in ((op.scheduled_state, picked_up_before), (op.working_state, lease_start)):
            for row in rows.filter(state=state, modified__lt=before):
                token = resources.start_in_place(op, row)
                send(op.kind, str(row.uuid), token, 0)
                count += 1
    return count


# ---------------------------------------------------------------------------------------------- in this process
def run_in_process(op, row, params=None):
    """Run `op` on a row now, in this process (the shell's commands, eager tasks); its answer, or what failed it.

    A row at rest is scheduled first, as a request would; one another worker is running raises
    TransitionNotAllowed.
    """
    with transaction.atomic():
        locked = type(row).objects.select_for_update().get(pk=row.pk)
        if not locked.operation_token and locked.state not in (op.scheduled_state, op.working_state):
            op.schedule(locked)
            records.start(locked, op.name, params)
            locked.save()
    result = resources.run_blocking(TABLE, op, row, params)
    if not result.ran:
        raise TransitionNotAllowed(f"The {op.title} is under way in another worker.")
    if result.error is not None:
        raise result.error
    return result.value


def run_cloud_pull(cloud, dry_run=False):
    """Pull one cloud synchronously through its states; return the diff, or raise what failed it.

    The cloud ends Erred with the cloud's message, or with "Unexpected error: ..." for any other failure.
    """
    if dry_run:
        return cloud.get_backend().pull_cloud_account(cloud, dry_run=True)
    return run_in_process(PULL_CLOUD, cloud, {"quiet": True})  # the shell's and cron's pull: its diff is printed
