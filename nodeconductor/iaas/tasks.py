"""Celery tasks: one per operation, taking uuids; thin wrappers over the backend and transitions."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition

from . import failures, floating_ip_sync, security_group_sync
from .backend import CloudBackendError
from .engine import leases, operations, poller, sweeper
from .importable import refresh_importable
from .models import Cloud, CloudProjectMembership, SyncState
from .models.cloud import TENANT_TAKEN
from .pull.instances import pull_instances, sweep_untracked
from .services.clouds import cloud_schedule_pull, membership_schedule_sync

logger = logging.getLogger(__name__)


def _save_transition(transition, *args):
    """Run a transition (a bound method of the row) and save the row atomically (ConcurrentTransitionMixin
    refuses a stale state)."""
    with transaction.atomic():
        transition(*args)
        transition.__self__.save()


def run_cloud_pull(cloud, dry_run=False):
    """Pull one cloud synchronously through its states; return the diff, or raise what failed it.

    The cloud ends Erred with the cloud's message, or with "Unexpected error: ..." for any other failure.
    """
    if dry_run:
        return cloud.get_backend().pull_cloud_account(cloud, dry_run=True)
    if cloud.state != SyncState.SYNC_SCHEDULED:
        _save_transition(cloud.schedule_syncing)
    _save_transition(cloud.begin_syncing)
    try:
        diff = cloud.get_backend().pull_cloud_account(cloud)
    except CloudBackendError as exc:
        _save_transition(cloud.set_erred, str(exc))
        raise
    except Exception as exc:
        if failures.unexpected(exc):
            failures.set_erred(cloud, exc, f"Pull of cloud {cloud.name}")
        raise
    cloud.last_pulled = timezone.now()
    _save_transition(cloud.set_in_sync)
    try:
        pull_cloud_instances(cloud, diff)
        diff.updated.extend(security_group_sync.reconcile_cloud(cloud))
        diff.updated.extend(floating_ip_sync.reconcile_cloud(cloud))
    except Exception as exc:
        if failures.unexpected(exc):  # the cloud stays In Sync: its catalogue was pulled
            failures.log(exc, f"Pull of the instances, groups and floating IPs of cloud {cloud.name}")
        raise
    return diff


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


@shared_task(name="nodeconductor.iaas.pull_cloud_account")
def pull_cloud_account(cloud_uuid):
    """Pull a cloud's flavors, images and quotas; the cloud ends In Sync or Erred with the cloud's message."""
    cloud = Cloud.objects.filter(uuid=cloud_uuid).first()
    if cloud is None or cloud.state != SyncState.SYNC_SCHEDULED:
        return
    try:
        run_cloud_pull(cloud)
    except ConcurrentTransition:
        logger.info("Pull of cloud %s was taken up by another worker", cloud.name)
    except CloudBackendError as exc:
        logger.warning("Pull of cloud %s failed: %s", cloud.name, exc)
    except Exception as exc:
        if not failures.unexpected(exc):
            raise  # the database went away: the sweeper retries the pull once its lease passes
        # run_cloud_pull logged it with its traceback (and put the cloud in Erred if its catalogue pull failed);
        # raising would only have a redelivered message fail the same way.


@shared_task(name="nodeconductor.iaas.pull_cloud_accounts")
def pull_cloud_accounts():
    """Periodic: pull every idle cloud and retry erred memberships.

    Rows left with no task (made in the shell, a lost message, a dead worker) are not this task's business:
    resume_stalled_work takes them up within seconds.
    """
    for cloud in Cloud.objects.filter(state__in=[SyncState.IN_SYNC, SyncState.ERRED]):
        cloud_schedule_pull(cloud)
    for membership in CloudProjectMembership.objects.filter(state=SyncState.ERRED):
        membership_schedule_sync(membership)


@shared_task(name="nodeconductor.iaas.sync_cloud_membership")
def sync_cloud_membership(membership_uuid, quotas=None):
    """Verify or create the membership's tenant (and push quotas if asked), pull its quotas, and find or make
    its one network set (network, subnet, router to the external network), recorded on the membership."""
    membership = CloudProjectMembership.objects.select_related("cloud", "project").filter(uuid=membership_uuid).first()
    if membership is None or membership.state != SyncState.SYNC_SCHEDULED:
        return
    try:
        _save_transition(membership.begin_syncing)
    except ConcurrentTransition:
        return  # a duplicate message: another worker took this sync up
    try:
        backend = _sync_membership(membership, quotas)
    except CloudBackendError as exc:
        _save_transition(membership.set_erred, str(exc))
        return
    except Exception as exc:
        if not failures.unexpected(exc):
            raise
        failures.set_erred(membership, exc, f"Sync of membership {membership}")
        return
    _refresh_importable(backend, membership)


def _sync_membership(membership, quotas):
    """The work of a sync, ending In Sync with the tenant's default groups; returns the backend it used."""
    backend = membership.cloud.get_backend()
    if membership.tenant_id:
        membership.tenant_id = backend.verify_tenant(membership.tenant_id)  # as Keystone spells it
        if membership.tenant_taken():
            raise CloudBackendError(TENANT_TAKEN.format(tenant=membership.tenant_id))
    else:
        membership.tenant_id = backend.create_tenant(
            membership.project.uuid.hex, description=f"NodeConductor project {membership.project.name}"
        )
    if quotas:
        backend.set_quotas(membership.tenant_id, quotas)
    for field, value in backend.get_quotas(membership.tenant_id).items():
        setattr(membership, field, value)
    for field, value in backend.ensure_membership_network(membership.tenant_id).items():
        setattr(membership, field, value)
    with transaction.atomic():
        _save_transition(membership.set_in_sync)
        security_group_sync.ensure_default_groups(membership)  # the settings' defaults, pushed on commit
    return backend


def _refresh_importable(backend, membership):
    """A synced tenant's untracked servers are listed again; failing to list them leaves the sync In Sync."""
    try:
        refresh_importable(backend, membership)
    except CloudBackendError as exc:
        logger.warning("Listing the untracked servers of %s failed: %s", membership, exc)


@shared_task(bind=True, name="nodeconductor.iaas.run_instance_operation")
def run_instance_operation(self, instance_uuid, token, seq=0):
    """Run step `seq` of an instance's recorded operation, then send the next step with a countdown.

    No worker slot is held while the cloud works: each step is one short task run. Eager execution (tests,
    the shell) has no queue to come back through, so it runs the steps in place.
    """
    if self.request.is_eager:
        operations.run_chain(instance_uuid, token, seq)
        return
    outcome = operations.run_step(instance_uuid, token, seq)
    if outcome.finished or outcome.queued:
        return  # a queued provision is sent on by the build that frees its slot (build_slots), or the sweeper
    try:
        if outcome.waits and batched_polling():
            # The next look is the tenant poller's: it looks once for every operation waiting there.
            poller.kick(outcome.membership_id, outcome.retry_after, send_poll)
            return
        send_operation_step(instance_uuid, token, outcome.seq, countdown=outcome.retry_after)
    except Exception as exc:  # noqa: BLE001 - the queue is down: the sweeper sends this step once it is back
        logger.warning("Could not send step %s of instance %s (%s); the sweeper resumes it", outcome.seq,
                       instance_uuid, type(exc).__name__)  # fmt: skip


def batched_polling():
    """Whether waiting operations are looked at by their tenant's poller (the default) or one message each."""
    return bool(settings.NODECONDUCTOR.get("OPERATION_BATCHED_POLLING", True))


@shared_task(name="nodeconductor.iaas.poll_tenant")
def poll_tenant(membership_id):
    """One tick of a tenant's poller (see poller.py), then the next tick while operations still wait there."""
    result = poller.tick(membership_id)
    if result.claimed and result.remaining:
        try:
            poller.kick(membership_id, result.next_in, send_poll)
        except Exception as exc:  # noqa: BLE001 - the queue is down: the sweeper resumes the operations
            logger.warning("Could not send the next tick of membership %s (%s)", membership_id, type(exc).__name__)
    return {"advanced": result.advanced, "skipped": result.skipped, "remaining": result.remaining}


def send_poll(membership_id, countdown=0):
    """Enqueue a tick of a tenant's poller."""
    poll_tenant.apply_async(args=(membership_id,), countdown=countdown or None)


def send_operation_step(instance_uuid, token, seq, countdown=0):
    """Enqueue one step of an instance operation; raises when the broker refuses the message."""
    run_instance_operation.apply_async(args=(str(instance_uuid), token, seq), countdown=countdown or None)


def _picked_up_before():
    """Rows in Sync Scheduled since before this moment have no task coming: made in the shell, or lost."""
    return timezone.now() - timedelta(seconds=float(settings.NODECONDUCTOR.get("SYNC_PICKUP_DELAY", 5)))


@shared_task(name="nodeconductor.iaas.resume_stalled_work")
def resume_stalled_work():
    """Periodic, every few seconds: nothing scheduled is ever left without a task.

    Instance operations whose message was lost or whose worker died are sent again (see sweeper.sweep).
    Clouds and memberships in Sync Scheduled with no task coming, such as those the seed guide creates in the
    shell, are taken up; syncs whose worker died are failed and retried.
    """
    resumed = sweeper.sweep(send_operation_step)
    before = _picked_up_before()
    lease_start = timezone.now() - timedelta(seconds=leases.step_lease())
    for model, task in ((Cloud, pull_cloud_account), (CloudProjectMembership, sync_cloud_membership)):
        for obj in model.objects.filter(state=SyncState.SYNCING, modified__lt=lease_start):
            _save_transition(obj.set_erred, "The sync was interrupted (its worker was lost); it is retried.")
            _save_transition(obj.schedule_syncing)
            task.delay(str(obj.uuid))
            resumed += 1
        for uuid in model.objects.filter(state=SyncState.SYNC_SCHEDULED, modified__lt=before).values_list(
            "uuid", flat=True
        ):
            # Touch the row first, so a queue that is slow to deliver gets one extra message, not one a sweep.
            model.objects.filter(uuid=uuid, state=SyncState.SYNC_SCHEDULED).update(modified=timezone.now())
            task.delay(str(uuid))
            resumed += 1
    resumed += security_group_sync.sweep(before, lease_start, push_security_group, delete_security_group)
    return resumed


@shared_task(name="nodeconductor.iaas.push_security_group")
def push_security_group(group_uuid):
    """Push a security group's rules to Neutron as a diff; it ends In Sync or Erred with the cloud's message."""
    security_group_sync.push(group_uuid)


@shared_task(name="nodeconductor.iaas.delete_security_group")
def delete_security_group(group_uuid):
    """Delete a security group in Neutron, then its row; Erred with the cloud's message when refused."""
    security_group_sync.delete(group_uuid)
