"""Batched waiting: one poller per tenant looks at the cloud once per tick for every operation waiting there.

A step that waits on the cloud (a volume to become available, a server to be ACTIVE) sends no message of its
own: its operation records its phase and when to look next (operation_due), and `kick` makes sure a tick of
its tenant's poller is on its way. A tick lists the tenant's servers and volumes once, and runs the next step
of each due operation against that listing, except those whose server and volumes look exactly as they did
at their last look (nothing to see; their next look is pushed back). Steps still claim their operation as
ever, so a tick and a resent per-operation step never both run one step.

Safety: a tick claims the tenant with one UPDATE on a free lease (TenantPoller), so two pollers never tick
one tenant at once; a poll message that is lost or a poller that dies leaves operations overdue, which the
sweeper sends again as single steps (sweeper.sweep) until a poller takes them back.
"""

import dataclasses
import logging
import time
from datetime import timedelta

from django.db.models import F, Q
from django.utils import timezone

from ..backend import CloudBackendError
from ..models import CloudProjectMembership, Instance, TenantPoller
from ..models.instance import WORKING_STATES
from . import leases, operations

logger = logging.getLogger(__name__)
# Scheduled states wait for a worker or a build slot, not for the cloud: not the poller's.
WAITING_STATES = [s for s in WORKING_STATES if not s.endswith("_scheduled")]


@dataclasses.dataclass
class Tick:
    """What one tick did: operations advanced and skipped, and whether (and when) the tenant needs another."""

    claimed: bool
    advanced: int = 0
    skipped: int = 0
    remaining: int = 0
    next_in: float = 0.0


def tick_lease():
    """Seconds a tick may run before another poller may take the tenant over (a few calls per operation)."""
    return leases.step_lease()


def _claim(membership_id):
    """Take the tenant's tick: True for exactly one poller while it runs."""
    TenantPoller.objects.get_or_create(membership_id=membership_id)
    now = timezone.now()
    mine = TenantPoller.objects.filter(membership_id=membership_id)
    lease = {"lease_until": now + timedelta(seconds=tick_lease()), "holder": leases.holder_id()}
    if mine.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now)).update(**lease, ticks=F("ticks") + 1):
        return True
    row = mine.values_list("holder", "lease_until").first()
    if row is None or not row[0] or not leases.holder_dead(row[0]):
        return False
    # The poller that held it died on this host: its tick will never end.
    return bool(mine.filter(holder=row[0], lease_until=row[1]).update(**lease, ticks=F("ticks") + 1))


def _release(membership_id):
    TenantPoller.objects.filter(membership_id=membership_id, holder=leases.holder_id()).update(
        lease_until=None, holder=""
    )


def _waiting(membership_id):
    """The tenant's operations that wait on the cloud, unclaimed."""
    return Instance.objects.filter(
        cloud_project_membership_id=membership_id, state__in=WAITING_STATES, operation_lease_until__isnull=True
    ).exclude(operation_token="")


def _timed_out(instance):
    """Whether the operation waited longer than the wait timeout: its next look must run, to fail it."""
    params = instance.operation_params or {}
    began = params.get("compensation_started") if params.get("compensating") else None
    began = began or (instance.operation_started.timestamp() if instance.operation_started else time.time())
    return time.time() - began > leases.wait_timeout()


def tick(membership_id):
    """One look at a tenant for all its due operations; returns what it did (claimed False: another poller)."""
    if not _claim(membership_id):
        return Tick(claimed=False)
    try:
        return _tick(membership_id)
    finally:
        _release(membership_id)


def _tick(membership_id):
    membership = CloudProjectMembership.objects.select_related("cloud").get(pk=membership_id)
    now = timezone.now()
    due = list(_waiting(membership_id).filter(operation_due__lte=now).select_related(*operations.LOAD_RELATED)
               .order_by("operation_due"))  # fmt: skip
    result = Tick(claimed=True)
    if due:
        backend = membership.cloud.get_backend()
        try:
            snapshot = backend.snapshot_tenant(membership.tenant_id)
        except CloudBackendError as exc:
            # The steps make their own calls and report the cloud's error themselves; wait for the next tick.
            logger.warning("Tick of tenant %s could not list it: %s", membership.tenant_id, exc)
            snapshot = None
        skipped = []
        for instance in due:
            # A step released after the listing began may have made what the listing misses: next tick.
            if snapshot is None or instance.modified.timestamp() >= snapshot.taken:
                continue
            seen = backend.fingerprint(snapshot, instance)
            last = (instance.operation_params or {}).get("seen")
            if last == [instance.operation_phase, seen] and not _timed_out(instance):
                skipped.append(instance)
                continue
            with backend.reading(snapshot):
                operations.run_step(instance.uuid, instance.operation_token, instance.operation_seq, backend, seen,
                                    instance=instance)  # fmt: skip
            result.advanced += 1
        _push_back(skipped)
        result.skipped = len(skipped)
    upcoming = _waiting(membership_id).order_by("operation_due").values_list("operation_due", flat=True)
    result.remaining = upcoming.count()
    first = upcoming.first()
    if first is not None:
        wait = (first - timezone.now()).total_seconds()
        result.next_in = min(max(wait, _setting_min_poll()), leases.poll_interval())
    return result


def _push_back(skipped):
    """Move the next look of operations that saw nothing new by the same adaptive pause a step would take.

    A fixed poll_interval here made a wait whose first looks saw nothing end up to that interval (2 s) late,
    undoing next_poll's lateness, a fraction of the time waited. One UPDATE per distinct pause (rounded to 50 ms).
    """
    now, by_pause = time.time(), {}
    for instance in skipped:
        waited = now - (instance.operation_params or {}).get("phase_started", now)
        by_pause.setdefault(round(leases.next_poll(waited) * 20) / 20, []).append(instance.pk)
    for pause, pks in by_pause.items():
        later = timezone.now() + timedelta(seconds=pause)
        Instance.objects.filter(pk__in=pks, operation_lease_until__isnull=True).update(operation_due=later)


def _setting_min_poll():
    return leases.setting("OPENSTACK_MIN_POLL_INTERVAL", 0.25)


def kick(membership_id, countdown, send):
    """Make sure a tick of the tenant comes within `countdown` seconds: `send(membership_id, countdown)` sends
    one unless a poll message already on its way is due by then. Returns whether it sent one."""
    TenantPoller.objects.get_or_create(membership_id=membership_id)
    now = timezone.now()
    target = now + timedelta(seconds=countdown)
    slack = timedelta(seconds=_setting_min_poll())
    pending = Q(next_tick__gte=now) & Q(next_tick__lte=target + slack)
    if not TenantPoller.objects.filter(membership_id=membership_id).exclude(pending).update(next_tick=target):
        return False
    send(membership_id, countdown)
    return True
