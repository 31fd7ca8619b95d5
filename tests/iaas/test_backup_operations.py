"""A backup's operations run on the one engine: recorded, claimed step by step, swept after a lost message or a
dead worker, compensated when the cloud refuses, planned and shown; against the simulator over HTTP."""

import socket
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from nodeconductor.core.exceptions import ServiceUnavailable
from nodeconductor.events.models import Event
from nodeconductor.iaas import resource_operations, tasks
from nodeconductor.iaas.backup_operations import BACKUP, DELETE_BACKUP
from nodeconductor.iaas.engine import leases, progress
from nodeconductor.iaas.models import Backup, BackupState, Instance
from nodeconductor.iaas.services import backups as backup_services
from tests.iaas.test_resource_operations import _dead_pid
from tests.iaas.views.test_backups import burl, take
from tests.iaas.views.test_instances import link, provision, run_tasks

B = BackupState


def _request(roles, instance):
    with run_tasks():
        response = roles.client_as("admin").post("/api/backups/", {"backup_source": link("instance", instance)},
                                                 format="json")  # fmt: skip
    assert response.status_code == 202, response.json()
    return Backup.objects.get(uuid=response.json()["uuid"])


def _until_done(kind, uuid, token, seq):
    """Run the looks one by one as the worker's messages would, until the operation ends; the looks made."""
    looks = 0
    while seq is not None:
        looks += 1
        result = resource_operations.run_step(kind, uuid, token, seq)
        assert result.ran and result.error is None, result.error
        seq = result.next_seq
        time.sleep(result.retry_after)
    return looks


def test_the_request_records_the_backup_and_each_look_is_claimed_once(iaas, roles, sent):
    instance = provision(iaas, roles)
    iaas.env.sim.set_delay("snapshot_create", 0.3)
    backup = _request(roles, instance)
    ((kind, uuid, token, seq),) = sent
    assert (kind, uuid, seq, backup.operation_name, backup.state) == ("backup", str(backup.uuid), 0, "backup",
                                                                      B.BACKING_UP)  # fmt: skip
    shown = roles.client_as("admin").get(burl(backup)).json()["operation"]
    assert shown == {"name": "backup", "title": "backup", "state": "queued", "started": None,
                     "waiting_for": ""}
    first = resource_operations.run_step(kind, uuid, token, 0)
    assert first.ran and first.next_seq == 1 and first.retry_after > 0
    assert not resource_operations.run_step(kind, uuid, token, 0).ran  # redelivered: that look is done
    backup.refresh_from_db()
    assert (backup.operation_seq, backup.operation_phase, backup.state) == (1, "snapshots", B.BACKING_UP)
    assert backup.operation_params["waiting_for"] == "root snapshot creating, data snapshot creating"
    assert len(iaas.env.sim.snapshots()) == 2  # made once, and their ids stored with the hand-on
    assert {backup.system_snapshot_id, backup.data_snapshot_id} == {s["id"] for s in iaas.env.sim.snapshots()}
    assert roles.client_as("admin").get(burl(backup)).json()["operation"]["state"] == "running"
    _until_done(kind, uuid, token, 1)
    backup.refresh_from_db()
    assert (backup.state, backup.operation_token, len(iaas.env.sim.snapshots())) == (B.READY, "", 2)
    creates = [c for c in iaas.env.sim.call_log if c["operation"] == "snapshot.create"]
    assert len(creates) == 2


def test_a_lost_message_is_sent_again_by_the_sweeper_and_makes_no_second_snapshot(iaas, roles, sent, monkeypatch):
    instance = provision(iaas, roles)
    iaas.env.sim.set_delay("snapshot_create", 0.3)
    backup = _request(roles, instance)
    ((kind, uuid, token, _),) = sent
    assert resource_operations.run_step(kind, uuid, token, 0).next_seq == 1
    # The message of step 1 was lost: it is due, unclaimed, past the grace.
    late = timezone.now() - timedelta(seconds=leases.sweep_grace() + 1)
    Backup.objects.filter(pk=backup.pk).update(operation_due=late)
    monkeypatch.undo()  # the sweeper's message runs the steps (eager in tests)
    assert tasks.resume_stalled_work() == 1
    backup.refresh_from_db()
    assert backup.state == B.READY and len(iaas.env.sim.snapshots()) == 2
    assert tasks.resume_stalled_work() == 0


def test_a_look_whose_worker_died_is_taken_over(iaas, roles, sent, monkeypatch):
    instance = provision(iaas, roles)
    backup = _request(roles, instance)
    ((kind, uuid, token, _),) = sent
    claimed = timezone.now() - timedelta(seconds=leases.in_flight_window() + 1)
    Backup.objects.filter(pk=backup.pk).update(
        operation_started=claimed, operation_holder=f"{socket.gethostname()}:{_dead_pid()}",
        operation_lease_until=claimed + timedelta(seconds=leases.step_lease()))  # fmt: skip
    monkeypatch.undo()
    assert tasks.resume_stalled_work() == 1
    backup.refresh_from_db()
    assert backup.state == B.READY, backup.error_message
    assert len(iaas.env.sim.snapshots()) == 2


def test_a_snapshot_the_cloud_fails_ends_erred_and_the_other_is_deleted(iaas, roles):
    instance = provision(iaas, roles)
    iaas.env.sim.fail_next("snapshot.create", mode="error_state")
    before = set(Event.objects.values_list("pk", flat=True))
    take(roles, instance)
    backup = Backup.objects.get()
    assert backup.state == B.ERRED and backup.operation_token == ""
    assert "snapshot" in backup.error_message and "went to status error in the cloud" in backup.error_message
    # Its clean-up deleted what the backup made before it went Erred: nothing is left, nothing is named.
    assert iaas.env.sim.snapshots() == [] and backup.snapshot_ids == []
    assert [c["operation"] for c in iaas.env.sim.call_log].count("snapshot.delete") == 2
    events = list(Event.objects.exclude(pk__in=before).order_by("pk").values_list("event_type", "level"))
    assert events == [("backup_scheduled", "info"), ("backup_failed", "error")]
    # An Erred backup is deleted: the snapshots already gone are fine.
    with run_tasks():
        response = roles.client_as("admin").delete(burl(backup))
    assert response.status_code == 202 and not Backup.objects.exists()


def test_a_wait_past_the_timeout_fails_naming_what_it_waited_for(iaas, roles, sent, settings):
    instance = provision(iaas, roles)
    iaas.env.sim.set_delay("snapshot_create", 60)
    backup = _request(roles, instance)
    ((kind, uuid, token, _),) = sent
    assert resource_operations.run_step(kind, uuid, token, 0).next_seq == 1
    Backup.objects.filter(pk=backup.pk).update(operation_started=timezone.now() - timedelta(seconds=901))
    result = resource_operations.run_step(kind, uuid, token, 1)
    assert result.error is not None and result.next_seq is None
    backup.refresh_from_db()
    assert backup.state == B.ERRED
    assert backup.error_message.startswith("Timed out after 90") and backup.error_message.endswith(
        "waiting for root snapshot creating, data snapshot creating.")


def test_the_plans_are_the_tables_and_change_nothing(iaas, roles, sent):
    instance = provision(iaas, roles)
    client = roles.client_as("admin")
    response = client.post("/api/backups/?dry_run=true", {"backup_source": link("instance", instance)}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["operation"] == "backup" and body["state_path"] == ["Backing up", "Backing up", "Ready"]
    assert [s["does"] for s in body["steps"]] == [p.does for p in BACKUP.phases if p.when != "failure"]
    assert [s["does"] for s in body["on_failure"]["steps"]] == [BACKUP.phases[-1].does]
    assert body["steps"][0]["actions"] == [
        {"call": f"cinder volume_snapshots.create {instance.system_volume_id} force=True "
                 "name=nc-backup-<new backup uuid>-system"},
        {"call": f"cinder volume_snapshots.create {instance.data_volume_id} force=True "
                 "name=nc-backup-<new backup uuid>-data"}]  # fmt: skip
    assert not Backup.objects.exists() and sent == []
    backup = Backup.objects.create(instance=instance, membership=iaas.membership, system_snapshot_id="s1",
                                   data_snapshot_id="s2", metadata=backup_services.restore_metadata(instance))
    Backup.objects.filter(pk=backup.pk).update(state=B.READY)
    body = client.delete(burl(backup) + "?dry_run=true").json()
    assert body["operation"] == "delete_backup" and body["state_path"] == ["Deleting", "Deleting", "(deleted)"]
    assert [a["call"] for a in body["steps"][0]["actions"]] == ["cinder volume_snapshots.delete s1",
                                                                "cinder volume_snapshots.delete s2"]  # fmt: skip
    assert [s["does"] for s in body["steps"]] == [p.does for p in DELETE_BACKUP.phases]
    assert Backup.objects.get().state == B.READY and sent == []


def test_a_refused_message_undoes_the_request_with_a_503(iaas, roles, monkeypatch):
    instance = provision(iaas, roles)

    def refuse(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks, "send_resource_step", refuse)
    with pytest.raises(ServiceUnavailable):
        with run_tasks():
            backup_services.backup_create(instance, roles.users["admin"])
    assert not Backup.objects.exists() and iaas.env.sim.snapshots() == []


def test_a_restore_has_its_own_progress_and_plan(iaas, roles):
    instance = provision(iaas, roles)
    backup = Backup.objects.get(uuid=take(roles, instance).json()["uuid"])
    flavor = iaas.cloud.flavors.exclude(pk=iaas.flavor.pk).order_by("ram").first()
    response = roles.client_as("admin").post(burl(backup, "restore") + "?dry_run=true",
                                             {"flavor": link("flavor", flavor)}, format="json")  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert body["operation"] == "restore" and body["quota"]["max_instances"]["change"] == 1
    assert body["steps"][0]["actions"][:2] == [
        {"call": f"cinder volumes.create size=1 GiB snapshot_id={backup.system_snapshot_id} "
                 "name=nc-<new instance uuid>-system"},
        {"call": f"cinder volumes.create size=1 GiB snapshot_id={backup.data_snapshot_id} "
                 "name=nc-<new instance uuid>-data"}]  # fmt: skip
    assert Instance.objects.count() == 1
    restored = backup_services.backup_restore(backup, roles.users["admin"], flavor)  # its message is not run
    shown = progress.progress(Instance.objects.get(pk=restored.pk))
    assert (shown["name"], shown["state"], shown["steps_total"]) == ("restore", "queued", 3)
    assert shown["step"] == "create the root and the data volume from the backup's snapshots, and the port"


def test_a_backup_left_restoring_by_a_restore_that_no_longer_runs_is_ready_again(iaas, roles):
    instance = provision(iaas, roles)
    backup = Backup.objects.get(uuid=take(roles, instance).json()["uuid"])
    flavor = iaas.cloud.flavors.exclude(pk=iaas.flavor.pk).order_by("ram").first()
    restored = backup_services.backup_restore(backup, roles.users["admin"], flavor)  # its message is not run
    assert tasks.resume_stalled_work() == 0  # the restore's build is under way: the backup stays Restoring
    assert Backup.objects.get().state == B.RESTORING
    Instance.objects.filter(pk=restored.pk).delete()  # its row went without its build's end (the shell)
    assert tasks.resume_stalled_work() == 1
    backup.refresh_from_db()
    assert (backup.state, backup.restoring_instance) == (B.READY, None)
    assert tasks.resume_stalled_work() == 0


def test_a_data_snapshot_the_quota_refuses_leaves_no_root_snapshot_behind(iaas, roles):
    instance = provision(iaas, roles)
    iaas.env.sim.set_quota(iaas.membership.tenant_id, volume={"snapshots": 1})
    iaas.env.sim.set_delay("snapshot_create", 0.3)  # the root snapshot is still being made at the refusal
    take(roles, instance)
    backup = Backup.objects.get()
    assert backup.state == B.ERRED and "SnapshotLimitExceeded" in backup.error_message
    assert iaas.env.sim.snapshots() == [] and backup.snapshot_ids == []


def test_past_the_clouds_cap_a_backup_waits_its_turn_visibly_and_gets_the_slot_handed_on(iaas, roles, sent, settings):
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_MAX_CONCURRENT_BACKUPS": 2}
    iaas.env.sim.set_delay("snapshot_create", 0.2)
    backups = [_request(roles, provision(iaas, roles, hostname=f"vm-{n}")) for n in range(3)]
    steps = {kind_uuid[1]: kind_uuid for kind_uuid in sent}
    firsts = [resource_operations.run_step(*steps[str(b.uuid)]) for b in backups]
    assert all(r.ran and r.next_seq == 1 for r in firsts)
    third = Backup.objects.get(pk=backups[2].pk)
    assert third.operation_started is None and third.operation_seq == 1  # queued: it did not begin
    shown = roles.client_as("manager").get(burl(third)).json()["operation"]
    assert (shown["state"], shown["waiting_for"]) == ("queued", "a backup slot: 2 of 2 backups run in cloud Cloud, "
                                                                "0 queued ahead")  # fmt: skip
    assert len(iaas.env.sim.snapshots()) == 4  # the third made none
    sent.clear()
    with run_tasks():  # the first backup ends: its slot is handed on to the queued one at once
        _until_done("backup", str(backups[0].uuid), backups[0].operation_token, 1)
    assert ("backup", str(third.uuid), third.operation_token, 1) in sent
    result = resource_operations.run_step("backup", str(third.uuid), third.operation_token, 1)
    third.refresh_from_db()
    assert result.ran and third.operation_started is not None and len(iaas.env.sim.snapshots()) == 6


def test_a_queued_backup_sends_no_message_and_the_sweeper_resumes_it_when_its_hand_off_is_lost(
        iaas, roles, sent, settings, monkeypatch):  # fmt: skip
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_MAX_CONCURRENT_BACKUPS": 1}
    first, second = (_request(roles, provision(iaas, roles, hostname=f"vm-{n}")) for n in range(2))
    assert resource_operations.run_step("backup", str(first.uuid), first.operation_token, 0).next_seq == 1
    sent.clear()
    tasks.run_operation("backup", str(second.uuid), second.operation_token, 0)  # as a worker runs its message
    second.refresh_from_db()
    assert second.operation_started is None and second.operation_seq == 1 and sent == []  # queued, silent
    assert second.operation_due > timezone.now() + timedelta(seconds=20)  # the safety net's pace, not a poll
    Backup.objects.filter(pk=first.pk).delete()  # the running one went without handing its slot on
    Backup.objects.filter(pk=second.pk).update(operation_due=timezone.now() - timedelta(seconds=60))
    monkeypatch.undo()
    assert tasks.resume_stalled_work() == 1
    second.refresh_from_db()
    assert second.state == B.READY, second.error_message


def test_a_refused_backup_shows_cleaning_up_while_it_deletes_what_it_made(iaas, roles, sent):
    instance = provision(iaas, roles)
    iaas.env.sim.set_quota(iaas.membership.tenant_id, volume={"snapshots": 1})
    iaas.env.sim.set_delay("snapshot_create", 0.5)  # the root snapshot is still being made at the refusal
    backup = _request(roles, instance)
    ((kind, uuid, token, _),) = sent
    result = resource_operations.run_step(kind, uuid, token, 0)
    assert result.next_seq == 1 and result.error is None  # refused, and cleaning up: not over yet
    shown = roles.client_as("admin").get(burl(backup)).json()
    assert (shown["state"], shown["operation"]["state"]) == ("Backing up", "cleaning up")
    assert shown["operation"]["waiting_for"] == "the snapshots made to be deleted"
    seq = 1
    while seq is not None:  # the clean-up's looks; the last one ends the operation with the cloud's refusal
        result = resource_operations.run_step(kind, uuid, token, seq)
        seq = result.next_seq
        time.sleep(result.retry_after)
    assert "SnapshotLimitExceeded" in str(result.error)
    backup.refresh_from_db()
    assert backup.state == B.ERRED and "SnapshotLimitExceeded" in backup.error_message
    assert iaas.env.sim.snapshots() == []
