"""Cross-model rules of clouds and memberships: transition, save, and enqueue the worker on commit."""

from django.db import transaction
from django_fsm import ConcurrentTransition

from nodeconductor.core.exceptions import Conflict, InUse

from ..engine import messages, records
from ..models import Cloud, CloudProjectMembership, SyncState

# The kind a message names each row by (engine/resources.py), and the operation a request records on it.
_KINDS = {Cloud: "cloud", CloudProjectMembership: "membership"}
PULL, SYNC = "pull_cloud", "sync_membership"


def _enqueue(obj, previous_state, what):
    """Send the first step of the row's recorded operation on commit (messages.send_on_commit); a refused
    request is undone and answered 503: a new row is removed (`previous_state` None), else it goes back to it."""
    kind, uuid, token = _KINDS[type(obj)], str(obj.uuid), obj.operation_token
    messages.send_on_commit(lambda: messages.send_resource_step(kind, uuid, token, 0), what, f"{kind} {uuid}",
                            lambda: _undo(obj, previous_state))  # fmt: skip


def _undo(obj, previous_state):
    """Take back a sync that could not be queued; False when a worker already took it up."""
    with transaction.atomic():
        locked = type(obj).objects.select_for_update().filter(pk=obj.pk, state=SyncState.SYNC_SCHEDULED,
                                                              operation_token=obj.operation_token).first()  # fmt: skip
        if locked is None:
            return False
        if previous_state is None:
            locked.delete()
            return True
        try:
            locked.unschedule_syncing(previous_state)
            records.clear(locked)
            locked.save()
        except ConcurrentTransition:
            return False
    return True


def require_idle(row):
    """409 while the cloud's pull or the membership's sync is scheduled or running: one operation at a time."""
    if not (row.busy or row.state in (SyncState.SYNC_SCHEDULED, SyncState.SYNCING)):
        return
    state = row.get_state_display().lower()
    if isinstance(row, Cloud):
        raise Conflict(f"A pull of this cloud is already {state}; wait for it.")
    raise Conflict(f"The membership is {state}; wait for it to finish.")


def cloud_create(customer, name, auth_url):
    """Create a cloud account and schedule its first pull."""
    return cloud_save_new(Cloud(customer=customer, name=name, auth_url=auth_url))


def cloud_save_new(cloud):
    """Validate and save a new cloud built elsewhere (e.g. by the admin form) and schedule its first pull."""
    # The protected FSM field refuses the re-assignment clean_fields() makes; states are not input anyway.
    cloud.full_clean(exclude=("state",))
    with transaction.atomic():
        records.start(cloud, PULL)
        cloud.save()
        _enqueue(cloud, None, "first pull of the cloud")
    return cloud


def cloud_schedule_pull(cloud, quiet=False):
    """Schedule a pull of the cloud's catalogue; 409 while one is queued or running.

    `quiet`: the periodic pull, whose success is no event (its failure is).
    """
    with transaction.atomic():
        cloud = Cloud.objects.select_for_update().get(pk=cloud.pk)
        require_idle(cloud)
        previous = cloud.state
        cloud.schedule_syncing()
        records.start(cloud, PULL, {"quiet": True} if quiet else None)
        cloud.save()
        _enqueue(cloud, previous, "pull of the cloud")
    return cloud


def cloud_delete(cloud):
    """Delete a cloud account unless projects are still bound to it."""
    if cloud.memberships.exists():
        raise InUse("The cloud still has project memberships; delete them (and their instances) first.")
    cloud.delete()


def membership_create(project, cloud, tenant_id=""):
    """Bind a project to a cloud and schedule the tenant's verification or creation."""
    return membership_save_new(CloudProjectMembership(project=project, cloud=cloud, tenant_id=tenant_id or ""))


def membership_save_new(membership):
    """Validate and save a new membership built elsewhere (e.g. by the admin form) and schedule its sync."""
    membership.full_clean(exclude=("state",))
    with transaction.atomic():
        records.start(membership, SYNC)
        membership.save()
        _enqueue(membership, None, "sync of the new membership")
    return membership


def membership_schedule_sync(membership, quotas=None):
    """Schedule a re-sync of a membership, optionally pushing new quotas first; 409 while one runs."""
    with transaction.atomic():
        membership = CloudProjectMembership.objects.select_for_update().get(pk=membership.pk)
        require_idle(membership)
        previous = membership.state
        membership.schedule_syncing()
        records.start(membership, SYNC, {"quotas": quotas} if quotas else None)
        membership.save()
        _enqueue(membership, previous, "sync of the membership")
    return membership


def membership_delete(membership):
    """Unbind a project from a cloud unless it still has instances there (the tenant itself is kept)."""
    if membership.instances.exists():
        raise InUse("The membership still has instances; delete them first.")
    membership.delete()
