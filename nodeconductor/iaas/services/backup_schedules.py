"""Backup schedules: checking a cron in its zone, activation, and the beat's run of what is due and what expired.

A due schedule is claimed by moving its `next_trigger_at` on in one UPDATE that matches the due time it read,
so two beats or two workers at once make one backup per due time. The next time is the first run after now:
after an outage a schedule makes one backup, then waits for its next slot; it replays no backlog. Before
backing up it deletes its oldest backups over the maximum, so it never holds more than the maximum.
"""

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from nodeconductor.core import cron
from nodeconductor.core.exceptions import Conflict, QuotaExceeded

from ..models import Backup, BackupSchedule, BackupState
from . import backups as backup_services

logger = logging.getLogger(__name__)
B = BackupState
TOO_OFTEN = ("The schedule fires {count} times an hour; backups run at most hourly, so give one minute, "
             "e.g. '0 * * * *'.")


def parsed(expression):
    """The cron of a schedule, refused (CronError) when it does not parse or fires more often than hourly."""
    result = cron.parse(expression)
    if cron.runs_per_hour(result) > 1:
        raise cron.CronError(TOO_OFTEN.format(count=cron.runs_per_hour(result)))
    return result


def next_trigger(expression, zone_name, after=None):
    """The next run of a schedule after `after` (now), in UTC; CronError when it never runs."""
    return cron.next_run(parsed(expression), cron.zone(zone_name), after or timezone.now())


def schedule_create(instance, user, **fields):
    """A new active schedule of the instance, with its first run computed."""
    schedule = BackupSchedule(instance=instance, created_by=user if user and user.is_authenticated else None,
                              **fields)  # fmt: skip
    schedule.next_trigger_at = next_trigger(schedule.schedule, schedule.timezone)
    schedule.save()
    return schedule


def schedule_update(row, fields):
    """Write the changed fields; a new cron or zone moves the next run of an active schedule."""
    with transaction.atomic():
        locked = BackupSchedule.objects.select_for_update().get(pk=row.pk)
        for field, value in fields.items():
            setattr(locked, field, value)
        if locked.is_active and ("schedule" in fields or "timezone" in fields):
            locked.next_trigger_at = next_trigger(locked.schedule, locked.timezone)
        locked.save()
    return locked


def activate(schedule):
    """Run the schedule again from its next slot, forgetting why it stopped; 409 when it is active."""
    with transaction.atomic():
        locked = BackupSchedule.objects.select_for_update().get(pk=schedule.pk)
        if locked.is_active:
            raise Conflict("The schedule is already active.")
        locked.is_active, locked.error_message = True, ""
        locked.next_trigger_at = next_trigger(locked.schedule, locked.timezone)
        locked.save()
    return locked


def deactivate(schedule, reason=""):
    """Stop the schedule (its backups stay); 409 when it is not active."""
    with transaction.atomic():
        locked = BackupSchedule.objects.select_for_update().get(pk=schedule.pk)
        if not locked.is_active:
            raise Conflict("The schedule is already inactive.")
        locked.is_active, locked.next_trigger_at = False, None
        locked.error_message = reason
        locked.save()
    return locked


def stop(schedule_id, reason):
    """Deactivate a schedule with the reason (the system's own: a failed backup); nothing when it is inactive."""
    BackupSchedule.objects.filter(pk=schedule_id, is_active=True).update(
        is_active=False, next_trigger_at=None, error_message=reason, modified=timezone.now()
    )


def run_due(now=None):
    """Back up every active schedule that is due (once per due time, whoever else runs this); the count made."""
    now = now or timezone.now()
    made = 0
    due = BackupSchedule.objects.filter(is_active=True, next_trigger_at__lte=now)
    for pk, due_at in due.values_list("pk", "next_trigger_at"):
        schedule = BackupSchedule.objects.select_related("instance").filter(pk=pk).first()
        if schedule is None:
            continue
        try:
            following = next_trigger(schedule.schedule, schedule.timezone, now)
        except cron.CronError as exc:
            stop(pk, f"The schedule cannot run: {exc}")
            continue
        # The claim and the backup commit together: a beat that dies between them leaves the due time due.
        with transaction.atomic():
            claimed = BackupSchedule.objects.filter(pk=pk, is_active=True, next_trigger_at=due_at).update(
                next_trigger_at=following, call_count=F("call_count") + 1, modified=timezone.now()
            )
            if claimed:  # else another beat or worker took this due time
                made += _back_up(schedule, now)
    return made


def _back_up(schedule, now):
    """One scheduled backup: room made under the maximum first; a refusal is written on the schedule."""
    try:
        # One savepoint: a refused backup takes back the deletions that made room for it.
        with transaction.atomic():
            _make_room(schedule)
            kept_until = now + timedelta(days=schedule.retention_time) if schedule.retention_time else None
            backup_services.backup_create(schedule.instance, None, description=schedule.description or
                                          f"scheduled ({schedule.schedule} {schedule.timezone})",
                                          kept_until=kept_until, in_request=False, schedule=schedule)  # fmt: skip
    except QuotaExceeded as exc:
        stop(schedule.pk, f"A backup was refused at {now:%Y-%m-%d %H:%M} UTC: {_text(exc)}")
        return 0
    except Conflict as exc:
        # The instance is busy or not at rest: this slot is skipped and said; the next one tries again.
        BackupSchedule.objects.filter(pk=schedule.pk).update(
            error_message=f"The backup due at {now:%Y-%m-%d %H:%M} UTC was skipped: {_text(exc)}"
        )
        return 0
    BackupSchedule.objects.filter(pk=schedule.pk).exclude(error_message="").update(error_message="")
    return 1


def _text(exc):
    detail = getattr(exc, "detail", exc)
    if isinstance(detail, dict):
        detail = " ".join(str(m) for messages in detail.values() for m in (messages if isinstance(messages, list)
                                                                           else [messages]))  # fmt: skip
    return str(detail)


def _make_room(schedule):
    """Delete the schedule's oldest backups so that the new one keeps it at its maximum; 409 when they are busy."""
    limit = schedule.maximal_number_of_backups
    if not limit:
        return
    held = list(schedule.backups.exclude(state=B.DELETING).order_by("created", "pk"))
    over = len(held) - (limit - 1)
    for backup in held[:max(over, 0)]:
        if backup.state not in (B.READY, B.ERRED) or backup.operation_token:
            raise Conflict(f"the schedule holds {len(held)} backups, its maximum of {limit}, and its oldest one is "
                           f"{backup.get_state_display()}.")  # fmt: skip
        backup_services.backup_delete(backup, None, in_request=False)


def expire(now=None):
    """Schedule the deletion of every idle backup kept past its `kept_until` (retention); the count scheduled."""
    now = now or timezone.now()
    count = 0
    expired = Backup.objects.filter(kept_until__lt=now, state__in=(B.READY, B.ERRED), operation_token="")
    for backup in expired:
        try:
            backup_services.backup_delete(backup, None, in_request=False)
        except (Conflict, Backup.DoesNotExist):
            continue  # a restore began since the look (the next run deletes it), or it is gone already
        count += 1
    return count
