"""REST API of backup schedules: who may, what a cron and a zone must be, activation, and what a change moves."""

from datetime import UTC, datetime

import pytest

from nodeconductor.core import cron
from nodeconductor.iaas.models import Backup, BackupSchedule, InstanceState
from tests.fixtures.roles import check_matrix
from tests.iaas.views.test_backups import make_backup
from tests.iaas.views.test_instances import link, make_instance

S = InstanceState
NOT_ADMIN = {"detail": "Only project administrators and staff manage backup schedules.", "code": "permission_denied"}


def surl(schedule, action=None):
    """The URL of a schedule, or of one of its actions."""
    return f"/api/backup-schedules/{schedule.uuid}/" + (f"{action}/" if action else "")


def body(instance, **overrides):
    """A valid create request: daily at 02:00 in Tallinn, a week's retention, three at most."""
    return {"backup_source": link("instance", instance), "schedule": "0 2 * * *", "timezone": "Europe/Tallinn",
            "retention_time": 7, "maximal_number_of_backups": 3, "description": "nightly", **overrides}  # fmt: skip


def make_schedule(instance, **fields):
    """A schedule row (active, due tomorrow at 02:00 UTC) for tests that do not go through the API."""
    values = {"schedule": "0 2 * * *", "timezone": "UTC", "next_trigger_at": datetime(2030, 1, 1, 2, tzinfo=UTC),
              **fields}  # fmt: skip
    return BackupSchedule.objects.create(instance=instance, **values)


def test_create_matrix_and_body(iaas, roles):
    instance = make_instance(iaas, S.OFFLINE)
    expected = {"anonymous": 401, "stranger": 400, "manager": 403, "admin": 201, "owner": 403, "staff": 201}
    responses = check_matrix(roles, expected, lambda c, r: c.post("/api/backup-schedules/", body(instance),
                                                                  format="json"))  # fmt: skip
    assert responses["manager"].json() == responses["owner"].json() == NOT_ADMIN
    assert responses["stranger"].json()["backup_source"] == ["Invalid hyperlink - Object does not exist."]
    created = responses["admin"].json()
    expected_next = cron.next_run(cron.parse("0 2 * * *"), cron.zone("Europe/Tallinn"),
                                  BackupSchedule.objects.get(uuid=created["uuid"]).created)  # fmt: skip
    assert {k: created[k] for k in ("schedule", "timezone", "retention_time", "maximal_number_of_backups",
                                    "description", "is_active", "error_message", "call_count")} == {
        "schedule": "0 2 * * *", "timezone": "Europe/Tallinn", "retention_time": 7, "maximal_number_of_backups": 3,
        "description": "nightly", "is_active": True, "error_message": "", "call_count": 0}  # fmt: skip
    assert created["next_trigger_at"] == expected_next.isoformat().replace("+00:00", "Z")
    assert BackupSchedule.objects.count() == 2


def test_the_default_zone_is_the_servers(iaas, roles, settings):
    instance = make_instance(iaas, S.OFFLINE)
    response = roles.client_as("admin").post("/api/backup-schedules/", {**body(instance), "timezone": None},
                                             format="json")  # fmt: skip
    assert response.status_code == 400  # null is not a zone
    payload = body(instance)
    payload.pop("timezone")
    response = roles.client_as("admin").post("/api/backup-schedules/", payload, format="json")
    assert response.status_code == 201 and response.json()["timezone"] == settings.TIME_ZONE


@pytest.mark.parametrize("field,value,message", [
    ("schedule", "0 2 * *", "A schedule has 5 fields (minute hour day-of-month month day-of-week), e.g. '0 2 * * *' "
                            "for 02:00 every day; this one has 4."),
    ("schedule", "*/30 * * * *", "The schedule fires 2 times an hour; backups run at most hourly, so give one "
                                 "minute, e.g. '0 * * * *'."),
    ("schedule", "0 0 30 2 *", "The schedule never fires (no date matches it in 8 years), e.g. the 30th of "
                               "February."),
    ("timezone", "Mars/Olympus", "Unknown time zone 'Mars/Olympus'; use an IANA name such as Europe/Tallinn or UTC."),
    ("retention_time", -1, "Ensure this value is greater than or equal to 0."),
    ("maximal_number_of_backups", -2, "Ensure this value is greater than or equal to 0."),
])  # fmt: skip
def test_bad_input_is_400_naming_the_field(iaas, roles, field, value, message):
    instance = make_instance(iaas, S.OFFLINE)
    response = roles.client_as("admin").post("/api/backup-schedules/", body(instance, **{field: value}),
                                             format="json")  # fmt: skip
    assert response.status_code == 400
    assert response.json() == {field: [message], "code": "invalid"}
    assert not BackupSchedule.objects.exists()


def test_a_patch_of_the_cron_or_the_zone_moves_the_next_run(iaas, roles):
    schedule = make_schedule(make_instance(iaas, S.OFFLINE))
    client = roles.client_as("admin")
    response = client.patch(surl(schedule), {"schedule": "30 4 * * *"}, format="json")
    assert response.status_code == 200
    schedule.refresh_from_db()
    assert schedule.next_trigger_at.astimezone(UTC).strftime("%H:%M") == "04:30"
    response = client.patch(surl(schedule), {"timezone": "Asia/Tokyo"}, format="json")
    schedule.refresh_from_db()
    assert response.json()["timezone"] == "Asia/Tokyo"
    assert schedule.next_trigger_at.astimezone(UTC).strftime("%H:%M") == "19:30"  # 04:30 JST
    response = client.patch(surl(schedule), {"description": "only words"}, format="json")
    assert response.status_code == 200
    assert BackupSchedule.objects.get().next_trigger_at == schedule.next_trigger_at


def test_activate_and_deactivate_answer_409_when_already_so(iaas, roles):
    schedule = make_schedule(make_instance(iaas, S.OFFLINE), error_message="A backup was refused: quota")
    client = roles.client_as("admin")
    response = client.post(surl(schedule, "activate"))
    assert response.status_code == 409
    assert response.json() == {"detail": "The schedule is already active.", "code": "invalid_state"}
    response = client.post(surl(schedule, "deactivate"))
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert response.json()["next_trigger_at"] is None
    assert client.post(surl(schedule, "deactivate")).json() == {"detail": "The schedule is already inactive.",
                                                               "code": "invalid_state"}  # fmt: skip
    response = client.post(surl(schedule, "activate"))
    assert response.status_code == 200 and response.json()["is_active"] is True
    assert response.json()["error_message"] == "" and response.json()["next_trigger_at"] is not None


def test_action_and_delete_matrix_and_deleting_keeps_the_backups(iaas, roles):
    instance = make_instance(iaas, S.OFFLINE)
    schedules = {role: make_schedule(instance, description=role) for role in ("admin", "staff", "manager")}
    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 200, "owner": 403, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.post(surl(schedules.get(r, schedules["manager"]),
                                                                       "deactivate")))  # fmt: skip
    assert responses["owner"].json() == NOT_ADMIN
    reads = {**expected, "manager": 200, "owner": 200}
    check_matrix(roles, reads, lambda c, r: c.get(surl(schedules["manager"])))
    backup = make_backup(iaas, instance)
    Backup.objects.filter(pk=backup.pk).update(schedule=schedules["admin"])
    deletes = {**expected, "admin": 204, "staff": 204}
    check_matrix(roles, deletes, lambda c, r: c.delete(surl(schedules.get(r, schedules["manager"]))))
    assert [s.description for s in BackupSchedule.objects.all()] == ["manager"]
    backup.refresh_from_db()
    assert backup.schedule is None  # kept, no longer the schedule's
