"""A cloud's build slots: how many provisions may build at once, who waits, and who gets a slot when one frees.

A provision that finds no free slot stays in Provisioning Scheduled with no message of its own: waiting
costs no worker time. Whoever ends a build (Online, Erred, a cleanup that ended, an instance that left
Provisioning some other way) hands the freed slots on at commit: it sends the step of the next queued
provisions of that cloud, first come first served, as many as there are free slots; one handed a slot holds
it until its step runs and is not sent again (`operation_slot_handed` marks it). A hand-off that is
lost (a broker outage, a worker killed between commit and send) is made good by the sweeper: a queued
provision is due again after `queue_recheck` seconds, so it looks for a slot again at the latest then.

Safety: the slot is still taken only in the transaction that begins the build, with the cloud's row locked
(`no_build_slot`), so the cap is never exceeded however many messages arrive; a message for a step already
run or being run is turned away by the claim (operations._claim), so sending one twice is harmless. The
hand-off reads the queue with the same lock held, so it sees every queued provision at its current step.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..models import Cloud, Instance, InstanceState
from . import messages
from .operation_table import OPERATIONS

logger = logging.getLogger(__name__)
S = InstanceState


def _setting(key, default):
    return float(settings.NODECONDUCTOR.get(key, default))


def build_cap(cloud):
    """How many provisions may build at once in a cloud: its credentials' max_concurrent_builds, or the setting.

    A cloud chokes on many parallel boots (Nova's own default is 10 per compute host); builds past the cap
    wait their turn in Provisioning Scheduled. 0 or less means no cap.
    """
    credentials = cloud.get_credentials() or {}
    return int(credentials.get("max_concurrent_builds", _setting("OPENSTACK_MAX_CONCURRENT_BUILDS", 10)))


def queue_poll():
    """Seconds between two looks for a free build slot by an in-process runner (the shell, eager tasks)."""
    return _setting("OPERATION_QUEUE_POLL_INTERVAL", 1)


def queue_recheck():
    """Seconds a queued provision waits for a hand-off before it is due again (the safety net's pace).

    The sweeper sends it again once it is due plus the sweep grace, so a lost hand-off delays a build by at
    most this plus the grace; a worker spends one short step per queued provision per such period.
    """
    return _setting("OPERATION_QUEUE_RECHECK", 30)


def _in_cloud(cloud):
    return Instance.objects.filter(cloud_project_membership__cloud=cloud)


def no_build_slot(instance):
    """Why the instance must wait for a build slot of its cloud (first come, first served); "" when it may build.

    Runs in the transaction that begins the build, with the cloud's row locked, so two workers never both
    take the last slot.
    """
    cloud = Cloud.objects.select_for_update().get(pk=instance.cloud_project_membership.cloud_id)
    cap = build_cap(cloud)
    if cap <= 0:
        return ""
    in_cloud = _in_cloud(cloud)
    building = in_cloud.filter(state=S.PROVISIONING).count()
    ahead = in_cloud.filter(state=S.PROVISIONING_SCHEDULED).filter(
        Q(created__lt=instance.created) | Q(created=instance.created, pk__lt=instance.pk)
    ).count()
    if building + ahead < cap:
        return ""
    return f"a build slot: {building} of {cap} builds run in cloud {cloud.name}, {ahead} queued ahead"


def hand_on(cloud_id):
    """A build in the cloud ended: once this transaction commits, send the next queued provisions their step."""
    transaction.on_commit(lambda: send_next(cloud_id))


def next_queued(cloud_id):
    """The steps (uuid, token, seq) of the queued provisions that fit in the cloud's free slots, oldest first."""
    with transaction.atomic():
        # The lock waits for a queued provision's look for a slot to commit, so its step number read below is
        # the one it waits at, not the one it is leaving: no hand-off is sent to a step already gone.
        cloud = Cloud.objects.select_for_update().filter(pk=cloud_id).first()
        if cloud is None:
            return []
        cap = build_cap(cloud)
        if cap <= 0:
            return []
        in_cloud = _in_cloud(cloud)
        builds = [name for name, op in OPERATIONS.items() if op.builds]
        # Queued: looked for a slot (seq >= 1) and found none. A fresh provision (seq 0) has its request's
        # message on the way: sending it another made every ended build send one to each such provision.
        queued = (in_cloud.filter(state=S.PROVISIONING_SCHEDULED, operation_name__in=builds, operation_seq__gte=1)
                  .exclude(operation_token=""))  # fmt: skip
        # Handed a slot: its step is on the way, so it holds the slot until that step runs (which clears the
        # mark) and is not sent again, whatever the sweeper resends meanwhile.
        handed = Q(operation_slot_handed__isnull=False)
        free = cap - in_cloud.filter(state=S.PROVISIONING).count() - queued.filter(handed).count()
        if free <= 0:
            return []
        picked = list(queued.exclude(handed).order_by("created", "pk")
                      .values_list("pk", "uuid", "operation_token", "operation_seq")[:free])  # fmt: skip
        # Due now: should this message be lost, the sweeper sends the step again a grace after the hand-off.
        now = timezone.now()
        Instance.objects.filter(pk__in=[pk for pk, *_ in picked]).update(operation_slot_handed=now, operation_due=now)
        return [(uuid, token, seq) for _, uuid, token, seq in picked]


def send_next(cloud_id, send=None):
    """Send the step of each queued provision that now has a slot; returns how many were sent.

    A queue that refuses the message leaves the provision to the sweeper (see queue_recheck).
    """
    send = send or messages.send_operation_step
    count = 0
    for uuid, token, seq in next_queued(cloud_id):
        try:
            send(str(uuid), token, seq)
        except Exception as exc:  # noqa: BLE001 - the sweeper resends it once it is due again
            logger.warning("Could not hand a build slot to instance %s (%s); the sweeper resumes it", uuid,
                           type(exc).__name__)  # fmt: skip
            break
        count += 1
    return count
