"""Cross-model rules of clouds and memberships: transition, save, and enqueue the worker on commit."""

from django.db import transaction

from nodeconductor.core.exceptions import Conflict

from .models import Cloud, CloudProjectMembership, SyncState


def _enqueue(task, *args, **kwargs):
    """Send a task only once the surrounding transaction commits, so the worker sees the row."""
    transaction.on_commit(lambda: task.delay(*args, **kwargs))


def cloud_create(customer, name, auth_url):
    """Create a cloud account and schedule its first pull."""
    return cloud_save_new(Cloud(customer=customer, name=name, auth_url=auth_url))


def cloud_save_new(cloud):
    """Validate and save a new cloud built elsewhere (e.g. by the admin form) and schedule its first pull."""
    from . import tasks

    # The protected FSM field refuses the re-assignment clean_fields() makes; states are not input anyway.
    cloud.full_clean(exclude=("state",))
    with transaction.atomic():
        cloud.save()
        _enqueue(tasks.pull_cloud_account, str(cloud.uuid))
    return cloud


def cloud_schedule_pull(cloud):
    """Schedule a pull of the cloud's catalogue; 409 while one is queued or running."""
    from . import tasks

    with transaction.atomic():
        cloud = Cloud.objects.select_for_update().get(pk=cloud.pk)
        if cloud.state in (SyncState.SYNC_SCHEDULED, SyncState.SYNCING):
            raise Conflict(f"A pull of this cloud is already {cloud.get_state_display().lower()}; wait for it.")
        cloud.schedule_syncing()
        cloud.save()
        _enqueue(tasks.pull_cloud_account, str(cloud.uuid))
    return cloud


def cloud_delete(cloud):
    """Delete a cloud account unless projects are still bound to it."""
    if cloud.memberships.exists():
        raise Conflict("The cloud still has project memberships; delete them (and their instances) first.")
    cloud.delete()


def membership_create(project, cloud, tenant_id=""):
    """Bind a project to a cloud and schedule the tenant's verification or creation."""
    return membership_save_new(CloudProjectMembership(project=project, cloud=cloud, tenant_id=tenant_id or ""))


def membership_save_new(membership):
    """Validate and save a new membership built elsewhere (e.g. by the admin form) and schedule its sync."""
    from . import tasks

    membership.full_clean(exclude=("state",))
    with transaction.atomic():
        membership.save()
        _enqueue(tasks.sync_cloud_membership, str(membership.uuid))
    return membership


def membership_schedule_sync(membership, quotas=None):
    """Schedule a re-sync of a membership, optionally pushing new quotas first; 409 while one runs."""
    from . import tasks

    with transaction.atomic():
        membership = CloudProjectMembership.objects.select_for_update().get(pk=membership.pk)
        if membership.state in (SyncState.SYNC_SCHEDULED, SyncState.SYNCING):
            raise Conflict(f"The membership is {membership.get_state_display().lower()}; wait for it to finish.")
        membership.schedule_syncing()
        membership.save()
        _enqueue(tasks.sync_cloud_membership, str(membership.uuid), quotas=quotas)
    return membership


def membership_delete(membership):
    """Unbind a project from a cloud unless it still has instances there (the tenant itself is kept)."""
    if membership.instances.exists():
        raise Conflict("The membership still has instances; delete them first.")
    membership.delete()
