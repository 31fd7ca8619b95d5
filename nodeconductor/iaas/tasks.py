"""Celery tasks: one per operation, taking uuids; thin wrappers over the backend and transitions."""

import logging
import time

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from . import operations
from .backend import CloudBackendError
from .models import Cloud, CloudProjectMembership, SyncState

logger = logging.getLogger(__name__)


def _save_transition(obj, transition, *args):
    """Run a transition and save it atomically (ConcurrentTransitionMixin refuses a stale state)."""
    with transaction.atomic():
        getattr(obj, transition)(*args)
        obj.save()


def run_cloud_pull(cloud, dry_run=False):
    """Pull one cloud synchronously through its states; return the diff, or raise CloudBackendError."""
    if dry_run:
        return cloud.get_backend().pull_cloud_account(cloud, dry_run=True)
    if cloud.state != SyncState.SYNC_SCHEDULED:
        _save_transition(cloud, "schedule_syncing")
    _save_transition(cloud, "begin_syncing")
    try:
        diff = cloud.get_backend().pull_cloud_account(cloud)
    except CloudBackendError as exc:
        _save_transition(cloud, "set_erred", str(exc))
        raise
    cloud.last_pulled = timezone.now()
    _save_transition(cloud, "set_in_sync")
    pull_cloud_instances(cloud, diff)
    return diff


def pull_cloud_instances(cloud, diff=None):
    """Reconcile the instances of every In Sync membership; a failing tenant is logged, the others go on."""
    from .instance_pull import pull_instances, sweep_untracked

    backend = cloud.get_backend()
    for membership in cloud.memberships.filter(state=SyncState.IN_SYNC).exclude(tenant_id=""):
        try:
            changes = pull_instances(backend, membership) + sweep_untracked(backend, membership)
        except CloudBackendError as exc:
            logger.warning("Pull of instances in %s failed: %s", membership, exc)
            continue
        if diff is not None:
            diff.updated.extend(changes)


@shared_task(name="nodeconductor.iaas.pull_cloud_account")
def pull_cloud_account(cloud_uuid):
    """Pull a cloud's flavors, images and quotas; the cloud ends In Sync or Erred with the cloud's message."""
    cloud = Cloud.objects.filter(uuid=cloud_uuid).first()
    if cloud is None or cloud.state != SyncState.SYNC_SCHEDULED:
        return
    try:
        run_cloud_pull(cloud)
    except CloudBackendError as exc:
        logger.warning("Pull of cloud %s failed: %s", cloud.name, exc)


def _stale_before():
    """Clouds and memberships unchanged in their transient state since this moment have lost their task."""
    from datetime import timedelta

    from django.conf import settings

    return timezone.now() - timedelta(seconds=float(settings.NODECONDUCTOR["CLOUD_ACCOUNT_PULL_INTERVAL"]))


@shared_task(name="nodeconductor.iaas.pull_cloud_accounts")
def pull_cloud_accounts():
    """Periodic: pull every cloud, and pick up clouds and memberships whose task was lost.

    A row made in the shell (as the seed guide does) or whose message was lost stays Sync Scheduled with
    nothing queued, and one whose worker died stays Syncing: after a pull interval both are taken up again,
    so no sync state is a dead end.
    """
    from .services import cloud_schedule_pull, membership_schedule_sync

    stale = _stale_before()
    for model in (Cloud, CloudProjectMembership):
        for obj in model.objects.filter(state=SyncState.SYNCING, modified__lt=stale):
            _save_transition(obj, "set_erred", "The sync was interrupted (its worker was lost); it is retried.")
    for cloud in Cloud.objects.filter(state__in=[SyncState.IN_SYNC, SyncState.ERRED]):
        cloud_schedule_pull(cloud)
    for cloud in Cloud.objects.filter(state=SyncState.SYNC_SCHEDULED, modified__lt=stale):
        pull_cloud_account.delay(str(cloud.uuid))
    memberships = CloudProjectMembership.objects.filter(modified__lt=stale)
    for membership in memberships.filter(state=SyncState.SYNC_SCHEDULED):
        sync_cloud_membership.delay(str(membership.uuid))
    for membership in memberships.filter(state=SyncState.ERRED):
        membership_schedule_sync(membership)


@shared_task(name="nodeconductor.iaas.sync_cloud_membership")
def sync_cloud_membership(membership_uuid, quotas=None):
    """Verify or create the membership's tenant (and push quotas if asked), then pull its quotas."""
    membership = CloudProjectMembership.objects.select_related("cloud", "project").filter(uuid=membership_uuid).first()
    if membership is None or membership.state != SyncState.SYNC_SCHEDULED:
        return
    _save_transition(membership, "begin_syncing")
    try:
        backend = membership.cloud.get_backend()
        if membership.tenant_id:
            backend.verify_tenant(membership.tenant_id)
        else:
            membership.tenant_id = backend.create_tenant(
                membership.project.uuid.hex, description=f"NodeConductor project {membership.project.name}"
            )
        if quotas:
            backend.set_quotas(membership.tenant_id, quotas)
        for field, value in backend.get_quotas(membership.tenant_id).items():
            setattr(membership, field, value)
    except CloudBackendError as exc:
        _save_transition(membership, "set_erred", str(exc))
        return
    _save_transition(membership, "set_in_sync")


def _drive(task, op, instance_uuid, params, phase, started):
    """Advance an operation one step; re-enqueue the next step with a countdown instead of sleeping.

    Eager execution (tests, the shell) has no queue to come back through, so it loops in place.
    """
    started = started or time.time()
    while True:
        outcome = operations.advance(op, instance_uuid, phase, params, started)
        if outcome.finished:
            return
        phase, params = outcome.phase, outcome.params
        if not task.request.is_eager:
            task.apply_async(
                args=(instance_uuid,),
                kwargs={"params": params, "phase": phase, "started": started},
                countdown=outcome.retry_after,
            )
            return
        time.sleep(outcome.retry_after)


@shared_task(bind=True, name="nodeconductor.iaas.provision_instance")
def provision_instance(self, instance_uuid, params=None, phase="", started=None):
    """Build the VM: root and data volumes, boot from volume; ends Online, or Erred with nothing left behind."""
    _drive(self, operations.PROVISION, instance_uuid, params or {}, phase, started)


@shared_task(bind=True, name="nodeconductor.iaas.start_instance")
def start_instance(self, instance_uuid, params=None, phase="", started=None):
    """Start a stopped VM and wait for ACTIVE; ends Online or Erred."""
    _drive(self, operations.START, instance_uuid, params or {}, phase, started)


@shared_task(bind=True, name="nodeconductor.iaas.stop_instance")
def stop_instance(self, instance_uuid, params=None, phase="", started=None):
    """Stop a running VM and wait for SHUTOFF; ends Offline or Erred."""
    _drive(self, operations.STOP, instance_uuid, params or {}, phase, started)


@shared_task(bind=True, name="nodeconductor.iaas.restart_instance")
def restart_instance(self, instance_uuid, params=None, phase="", started=None):
    """Reboot a running VM and wait for ACTIVE again; ends Online or Erred."""
    _drive(self, operations.RESTART, instance_uuid, params or {}, phase, started)


@shared_task(bind=True, name="nodeconductor.iaas.resize_instance_flavor")
def resize_instance_flavor(self, instance_uuid, params=None, phase="", started=None):
    """Change cores and RAM of a stopped VM (resize, confirm); ends Offline or Erred."""
    _drive(self, operations.RESIZE_FLAVOR, instance_uuid, params or {}, phase, started)


@shared_task(bind=True, name="nodeconductor.iaas.resize_instance_disk")
def resize_instance_disk(self, instance_uuid, params=None, phase="", started=None):
    """Grow the data volume of a stopped VM (detach, extend, re-attach); ends Offline or Erred."""
    _drive(self, operations.RESIZE_DISK, instance_uuid, params or {}, phase, started)


@shared_task(bind=True, name="nodeconductor.iaas.delete_instance")
def delete_instance(self, instance_uuid, params=None, phase="", started=None):
    """Delete the server and both volumes, wait until they are gone, then remove the row."""
    _drive(self, operations.DELETE, instance_uuid, params or {}, phase, started)
