"""Celery tasks: one per operation, taking uuids; thin wrappers over the backend and transitions."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone
from django_fsm import TransitionNotAllowed

from . import cloud_reads, failures, resource_operations
from .backend import CloudBackendError
from .engine import leases, operations, poller, sweeper
from .models import Cloud, CloudProjectMembership, SecurityGroup, SyncState
from .services import backup_schedules, backups
from .services.clouds import cloud_schedule_pull, membership_schedule_sync

logger = logging.getLogger(__name__)


@shared_task(bind=True, name="nodeconductor.iaas.run_operation")
def run_operation(self, kind, uuid, token, seq=0):
    """Run step `seq` of the operation recorded on a cloud, a membership, a group or a backup; when it waits on
    the cloud, send its next look with a countdown (eager execution, with no queue, runs the looks in place)."""
    if self.request.is_eager:
        resource_operations.run_chain(kind, uuid, token, seq)
        return
    result = resource_operations.run_step(kind, uuid, token, seq)
    if result.next_seq is None or result.queued:
        return  # ended, or queued for its turn: the operation that frees it sends its step (or the sweeper)
    try:
        send_resource_step(kind, uuid, token, result.next_seq, countdown=result.retry_after)
    except Exception as exc:  # noqa: BLE001 - the queue is down: the sweeper sends this step once it is back
        logger.warning("Could not send step %s of %s %s (%s); the sweeper resumes it", result.next_seq, kind, uuid,
                       type(exc).__name__)  # fmt: skip


def send_resource_step(kind, uuid, token, seq, countdown=0):
    """Enqueue the step of a cloud's, membership's or group's operation; raises when the broker refuses it."""
    run_operation.apply_async(args=(kind, str(uuid), token, seq), countdown=countdown or None)


def _run_scheduled(op, model, uuid, params=None):
    """Run `op` on a row in its scheduled state, in this process: what a message sent before the engine asks."""
    row = model.objects.filter(uuid=uuid, state=op.scheduled_state).first()
    if row is None:
        return
    try:
        resource_operations.run_in_process(op, row, params)
    except (CloudBackendError, TransitionNotAllowed) as exc:
        logger.info("The %s %s ended: %s", op.title, row, exc)  # Erred with the message, or another worker's
    except Exception as exc:
        if not failures.unexpected(exc):
            raise  # the database went away: the sweeper resumes the operation once its lease passes
        # Logged with its traceback, and the row Erred, by the engine; a redelivery would fail the same way.


@shared_task(name="nodeconductor.iaas.pull_cloud_account")
def pull_cloud_account(cloud_uuid):
    """Pull a cloud in Sync Scheduled now (a message from before the engine, the shell); In Sync or Erred."""
    _run_scheduled(resource_operations.PULL_CLOUD, Cloud, cloud_uuid)


@shared_task(name="nodeconductor.iaas.sync_cloud_membership")
def sync_cloud_membership(membership_uuid, quotas=None):
    """Sync a membership in Sync Scheduled now (a message from before the engine, the shell); In Sync or Erred."""
    _run_scheduled(resource_operations.SYNC_MEMBERSHIP, CloudProjectMembership, membership_uuid,
                   {"quotas": quotas} if quotas else None)  # fmt: skip


@shared_task(name="nodeconductor.iaas.pull_cloud_accounts")
def pull_cloud_accounts():
    """Periodic: pull every idle cloud and retry erred memberships.

    Rows left with no task (made in the shell, a lost message, a dead worker) are not this task's business:
    resume_stalled_work takes them up within seconds.
    """
    for cloud in Cloud.objects.filter(state__in=[SyncState.IN_SYNC, SyncState.ERRED]):
        cloud_schedule_pull(cloud, quiet=True)
    for membership in CloudProjectMembership.objects.filter(state=SyncState.ERRED):
        membership_schedule_sync(membership)


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


@shared_task(name="nodeconductor.iaas.read_cloud")
def read_cloud(read_id, token):
    """Read the cloud for a request that waits for the answer (a console log, a tenant's untracked servers)."""
    cloud_reads.run(read_id, token)


def send_cloud_read(read_id, token):
    """Enqueue a read a request waits for; raises when the broker refuses the message."""
    read_cloud.apply_async(args=(read_id, token))


def send_poll(membership_id, countdown=0):
    """Enqueue a tick of a tenant's poller."""
    poll_tenant.apply_async(args=(membership_id,), countdown=countdown or None)


def send_operation_step(instance_uuid, token, seq, countdown=0):
    """Enqueue one step of an instance operation; raises when the broker refuses the message."""
    run_instance_operation.apply_async(args=(str(instance_uuid), token, seq), countdown=countdown or None)


def _picked_up_before():
    """Rows scheduled since before this moment with no operation recorded have no task coming: made in the shell."""
    return timezone.now() - timedelta(seconds=float(settings.NODECONDUCTOR.get("SYNC_PICKUP_DELAY", 5)))


@shared_task(name="nodeconductor.iaas.resume_stalled_work")
def resume_stalled_work():
    """Periodic, every few seconds: nothing scheduled is ever left without a task.

    Operations whose message was lost or whose worker died are sent again (see sweeper.sweep), on instances,
    clouds, memberships and security groups alike. Rows left scheduled with no operation recorded, such as
    those the seed guide creates in the shell, get theirs (resource_operations.adopt). A backup left Restoring
    by a restore that no longer runs is Ready again (backups.release_stale_restores).
    """
    resumed = sweeper.sweep(send_operation_step, send_resource_step)
    lease_start = timezone.now() - timedelta(seconds=leases.step_lease())
    resumed += resource_operations.adopt(_picked_up_before(), lease_start, send_resource_step)
    return resumed + backups.release_stale_restores()


@shared_task(name="nodeconductor.iaas.push_security_group")
def push_security_group(group_uuid):
    """Push a group in Sync Scheduled now (a message from before the engine); In Sync or Erred."""
    _run_scheduled(resource_operations.PUSH_SECURITY_GROUP, SecurityGroup, group_uuid)


@shared_task(name="nodeconductor.iaas.delete_security_group")
def delete_security_group(group_uuid):
    """Delete a group in Deletion Scheduled now (a message from before the engine); gone, or Erred."""
    _run_scheduled(resource_operations.DELETE_SECURITY_GROUP, SecurityGroup, group_uuid)


@shared_task(name="nodeconductor.iaas.run_backup_schedules")
def run_backup_schedules():
    """Periodic, every minute: back up the schedules that are due, then delete the backups past retention."""
    return {"backed_up": backup_schedules.run_due(), "expired": backup_schedules.expire()}
