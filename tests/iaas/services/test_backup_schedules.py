"""The beat's run of backup schedules, against the simulator: due, backlog, maximum, retention, refusals,
concurrency and both daylight-saving changes."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from nodeconductor.iaas.models import Backup, BackupSchedule, BackupState
from nodeconductor.iaas.services import backup_schedules
from tests.iaas.views.test_backup_schedules import make_schedule
from tests.iaas.views.test_instances import provision, run_tasks

B = BackupState


def run(now):
    """One beat tick at `now`: due schedules back up (their backups run on commit, against the simulator)."""
    with run_tasks():
        return backup_schedules.run_due(now)


@pytest.fixture
def source(iaas, roles):
    """A running instance in the simulator, with room for many snapshots in its tenant."""
    iaas.env.sim.set_quota(iaas.membership.tenant_id, volume={"snapshots": 100})
    return provision(iaas, roles)


def test_a_due_schedule_backs_up_once_and_moves_to_its_next_slot(iaas, source):
    now = timezone.now()
    schedule = make_schedule(source, schedule="0 * * * *", next_trigger_at=now - timedelta(minutes=1),
                             retention_time=3, description="hourly")  # fmt: skip
    assert run(now) == 1
    backup = Backup.objects.get()
    assert (backup.state, backup.schedule_id, backup.description) == (B.READY, schedule.pk, "hourly")
    assert backup.kept_until == now + timedelta(days=3)
    schedule.refresh_from_db()
    assert schedule.call_count == 1 and schedule.next_trigger_at > now and schedule.next_trigger_at.minute == 0
    assert run(now) == 0 and Backup.objects.count() == 1  # the same due time never backs up twice
    assert len(iaas.env.sim.snapshots()) == 2


def test_after_an_outage_one_backup_is_made_then_the_next_slot(iaas, source):
    now = timezone.now()
    schedule = make_schedule(source, schedule="0 2 * * *", next_trigger_at=now - timedelta(days=3))
    assert run(now) == 1 and Backup.objects.count() == 1
    schedule.refresh_from_db()
    assert now < schedule.next_trigger_at <= now + timedelta(days=1)
    assert run(now + timedelta(minutes=5)) == 0


def test_it_never_holds_more_than_the_maximum_deleting_the_oldest_first(iaas, source):
    now = timezone.now()
    schedule = make_schedule(source, schedule="0 * * * *", next_trigger_at=now, maximal_number_of_backups=2)
    made = []
    for hour in range(4):
        tick = now + timedelta(hours=hour)
        BackupSchedule.objects.filter(pk=schedule.pk).update(next_trigger_at=tick)
        assert run(tick) == 1
        held = list(Backup.objects.filter(schedule=schedule).order_by("created"))
        assert len(held) <= 2
        made.append(held[-1].uuid)
    assert [b.uuid for b in Backup.objects.order_by("created")] == made[-2:]
    kept = {i for b in Backup.objects.all() for i in b.snapshot_ids}
    assert {s["id"] for s in iaas.env.sim.snapshots()} == kept and len(kept) == 4


def test_retention_deletes_expired_backups_with_their_snapshots(iaas, source):
    now = timezone.now()
    make_schedule(source, schedule="0 * * * *", next_trigger_at=now, retention_time=1)
    run(now)
    manual = Backup.objects.create(instance=source, membership=iaas.membership, kept_until=None, metadata={})
    Backup.objects.filter(pk=manual.pk).update(state=B.READY)
    with run_tasks():
        assert backup_schedules.expire(now + timedelta(hours=23)) == 0
    with run_tasks():
        assert backup_schedules.expire(now + timedelta(days=1, minutes=1)) == 1
    assert list(Backup.objects.values_list("pk", flat=True)) == [manual.pk]  # kept forever: no kept_until
    assert iaas.env.sim.snapshots() == []


def test_a_quota_the_cloud_refuses_stops_the_schedule_saying_why(iaas, source):
    iaas.env.sim.set_quota(iaas.membership.tenant_id, volume={"snapshots": 1})
    now = timezone.now()
    schedule = make_schedule(source, schedule="0 * * * *", next_trigger_at=now)
    run(now)
    backup = Backup.objects.get()
    assert backup.state == B.ERRED and "SnapshotLimitExceeded" in backup.error_message
    schedule.refresh_from_db()
    assert not schedule.is_active and schedule.next_trigger_at is None
    assert "failed" in schedule.error_message and "SnapshotLimitExceeded" in schedule.error_message
    assert run(now + timedelta(hours=1)) == 0  # stopped until someone activates it


def test_a_failed_backup_stops_the_schedule(iaas, source):
    iaas.env.sim.fail_next("snapshot.create", mode="error_state")
    now = timezone.now()
    schedule = make_schedule(source, schedule="0 * * * *", next_trigger_at=now)
    run(now)
    schedule.refresh_from_db()
    assert not schedule.is_active and "went to status error in the cloud" in schedule.error_message


def test_a_busy_instance_skips_the_slot_and_says_so(iaas, source):
    type(source).objects.filter(pk=source.pk).update(operation_name="stop", operation_token="t")
    now = timezone.now()
    schedule = make_schedule(source, schedule="0 * * * *", next_trigger_at=now)
    assert run(now) == 0
    schedule.refresh_from_db()
    assert schedule.is_active and schedule.next_trigger_at > now
    assert schedule.error_message.endswith("was skipped: A stop of the instance is under way; retry once it is done.")


@pytest.mark.parametrize("start,expected", [
    # Spring: 2027-03-28 03:00 EET -> 04:00 EEST. Autumn: 2027-10-31 04:00 EEST -> 03:00 EET.
    (datetime(2027, 3, 26, 12, tzinfo=UTC), [(3, 27), (3, 28), (3, 29), (3, 30)]),
    (datetime(2027, 10, 29, 12, tzinfo=UTC), [(10, 30), (10, 31), (11, 1), (11, 2)]),
])  # fmt: skip
def test_a_daily_0200_in_tallinn_fires_once_per_local_day_across_a_change(iaas, source, start, expected):
    schedule = make_schedule(source, schedule="0 2 * * *", timezone="Europe/Tallinn",
                             next_trigger_at=backup_schedules.next_trigger("0 2 * * *", "Europe/Tallinn", start))
    fired = []
    for hour in range(4 * 24):
        tick = start + timedelta(hours=hour)
        if run(tick):
            fired.append(tick.astimezone(backup_schedules.cron.zone("Europe/Tallinn")))
    assert [(f.month, f.day) for f in fired] == expected and {(f.hour, f.minute) for f in fired} == {(2, 0)}
    schedule.refresh_from_db()
    assert schedule.call_count == 4 and Backup.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_two_beats_at_once_make_one_backup_per_due_time(iaas, source):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (CI runs this on it)")
    now = timezone.now()
    make_schedule(source, schedule="0 * * * *", next_trigger_at=now - timedelta(seconds=1))
    barrier, made = threading.Barrier(4), []

    def beat():
        barrier.wait()
        try:
            made.append(backup_schedules.run_due(now))
        finally:
            connection.close()

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(made) == [0, 0, 0, 1]
    assert Backup.objects.count() == 1


def test_a_skipped_slot_deletes_none_of_the_backups_it_would_have_made_room_for(iaas, source):
    now = timezone.now()
    schedule = make_schedule(source, schedule="0 * * * *", next_trigger_at=now, maximal_number_of_backups=1)
    assert run(now) == 1
    kept = Backup.objects.get()
    type(source).objects.filter(pk=source.pk).update(operation_name="stop", operation_token="t")
    BackupSchedule.objects.filter(pk=schedule.pk).update(next_trigger_at=now + timedelta(hours=1))
    assert run(now + timedelta(hours=1)) == 0
    kept.refresh_from_db()
    assert kept.state == B.READY and len(iaas.env.sim.snapshots()) == 2  # the refusal took the deletion back
    schedule.refresh_from_db()
    assert "was skipped" in schedule.error_message and schedule.call_count == 2


def test_a_backup_over_the_tenants_snapshot_quota_stops_the_schedule_saying_why(iaas, source):
    type(iaas.membership).objects.filter(pk=iaas.membership.pk).update(quota_snapshot_count=1)
    now = timezone.now()
    schedule = make_schedule(source, schedule="0 * * * *", next_trigger_at=now)
    assert run(now) == 0 and not Backup.objects.exists()
    schedule.refresh_from_db()
    assert not schedule.is_active and schedule.next_trigger_at is None
    assert schedule.error_message == (f"A backup was refused at {now:%Y-%m-%d %H:%M} UTC: Quota exceeded in the "
                                      "project's tenant: snapshots: 0 in use + 2 requested > limit 1")  # fmt: skip
