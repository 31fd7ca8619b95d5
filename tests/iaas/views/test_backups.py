"""REST API of backups: take, restore, delete; their role matrices, states and what they do in the cloud."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from nodeconductor.iaas.models import Backup, BackupState, Instance, InstanceState
from nodeconductor.iaas.services import backups as backup_services
from tests.fixtures.roles import check_matrix
from tests.iaas.views.test_instances import link, make_instance, provision, run_tasks, stop, url

B, S = BackupState, InstanceState
NOT_ADMIN = {"detail": "Only project administrators and staff back up, restore and delete backups.",
             "code": "permission_denied"}  # fmt: skip
NOT_FOUND = {"detail": "Not found.", "code": "not_found"}


def burl(backup, action=None):
    """The URL of a backup, or of one of its actions."""
    return f"/api/backups/{backup.uuid}/" + (f"{action}/" if action else "")


def take(roles, instance, role="admin", **body):
    """Back the instance up over the API, running the worker's steps against the simulator."""
    with run_tasks():
        response = roles.client_as(role).post("/api/backups/", {"backup_source": link("instance", instance), **body},
                                              format="json")  # fmt: skip
    return response


def make_backup(iaas, instance=None, state=B.READY, **kwargs):
    """A backup row in `state` with nothing in the cloud, for tests that only schedule."""
    instance = instance or make_instance(iaas, S.OFFLINE, hostname="source")
    backup = Backup.objects.create(instance=instance, membership=iaas.membership,
                                   metadata=backup_services.restore_metadata(instance), **kwargs)  # fmt: skip
    Backup.objects.filter(pk=backup.pk).update(state=state)
    backup.refresh_from_db()
    return backup


def test_a_backup_snapshots_both_volumes_of_a_running_vm_and_is_ready(iaas, roles):
    instance = provision(iaas, roles)
    response = take(roles, instance, description="before the upgrade")
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["state"] == "Backing up" and body["description"] == "before the upgrade"
    assert body["crash_consistent"] == backup_services.CRASH_CONSISTENT
    backup = Backup.objects.get(uuid=body["uuid"])
    assert backup.state == B.READY, backup.error_message
    snapshots = {s["id"]: s for s in iaas.env.sim.snapshots()}
    assert set(snapshots) == {backup.system_snapshot_id, backup.data_snapshot_id}
    assert {s["volume_id"] for s in snapshots.values()} == {instance.system_volume_id, instance.data_volume_id}
    assert {s["status"] for s in snapshots.values()} == {"available"}
    shown = roles.client_as("manager").get(burl(backup)).json()
    assert shown["state"] == "Ready" and shown["operation"] is None
    meta = shown["metadata"]
    assert (meta["template_uuid"], meta["flavor_uuid"], meta["cores"], meta["ram"]) == (
        str(iaas.template.uuid), str(iaas.flavor.uuid), instance.cores, instance.ram)
    assert (meta["system_snapshot_gib"], meta["data_snapshot_gib"]) == (1, 1)
    assert [meta["system_snapshot_id"], meta["data_snapshot_id"]] == backup.snapshot_ids
    assert meta["security_groups"] == [] and meta["running"] is True
    assert (meta["key_name"], meta["key_fingerprint"]) == (iaas.key.name, iaas.key.fingerprint)
    assert shown["actions"] == {"restore": {"enabled": False, "reason": NOT_ADMIN["detail"]},
                                "delete": {"enabled": False, "reason": NOT_ADMIN["detail"]}}  # fmt: skip


def test_the_backup_of_a_stopped_vm_is_not_called_crash_consistent(iaas, roles):
    instance = stop(iaas, roles, provision(iaas, roles))
    response = take(roles, instance)
    assert response.status_code == 202 and response.json()["crash_consistent"] == ""
    assert Backup.objects.get().state == B.READY


def test_create_matrix(iaas, roles):
    instances = {role: make_instance(iaas, S.OFFLINE, hostname=role) for role in ("admin", "staff", "manager")}
    expected = {"anonymous": 401, "stranger": 400, "manager": 403, "admin": 202, "owner": 403, "staff": 202}
    responses = check_matrix(roles, expected, lambda c, r: c.post(
        "/api/backups/", {"backup_source": link("instance", instances.get(r, instances["manager"]))}, format="json"))
    assert responses["manager"].json() == responses["owner"].json() == NOT_ADMIN
    # Another customer's instance does not exist for the stranger: the field says so, as for any unknown object.
    assert responses["stranger"].json()["backup_source"] == ["Invalid hyperlink - Object does not exist."]
    assert {b.instance.hostname: b.state for b in Backup.objects.all()} == {"admin": B.BACKING_UP,
                                                                            "staff": B.BACKING_UP}  # fmt: skip


@pytest.mark.parametrize("state", [S.PROVISIONING_SCHEDULED, S.STOPPING, S.RESIZING, S.DELETION_SCHEDULED, S.ERRED])
def test_a_backup_of_an_instance_not_at_rest_is_409(iaas, roles, state):
    instance = make_instance(iaas, state)
    response = roles.client_as("admin").post("/api/backups/", {"backup_source": link("instance", instance)},
                                             format="json")  # fmt: skip
    assert response.status_code == 409
    assert response.json() == {"detail": f"Only an Online or Offline instance can be backed up; the instance is "
                                         f"{S(state).label}.", "code": "invalid_state"}  # fmt: skip
    assert not Backup.objects.exists()


def test_a_backup_of_a_busy_instance_is_409(iaas, roles):
    instance = make_instance(iaas, S.ONLINE)
    Instance.objects.filter(pk=instance.pk).update(operation_name="assign_floating_ip", operation_token="t")
    response = roles.client_as("admin").post("/api/backups/", {"backup_source": link("instance", instance)},
                                             format="json")  # fmt: skip
    assert response.status_code == 409
    assert response.json() == {"detail": "A floating IP assignment of the instance is under way; retry once it is "
                                         "done.", "code": "invalid_state"}  # fmt: skip


def test_list_and_retrieve_matrix(iaas, roles):
    backup = make_backup(iaas)
    expected = {"anonymous": 401, "stranger": 404, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get(burl(backup)))
    assert responses["stranger"].json() == NOT_FOUND
    assert responses["owner"].json()["uuid"] == str(backup.uuid)
    lists = check_matrix(roles, {**expected, "stranger": 200}, lambda c, r: c.get("/api/backups/"))
    assert [b["uuid"] for b in lists["manager"].json()] == [str(backup.uuid)]
    assert lists["stranger"].json() == []


def test_list_query_count_is_constant(iaas, roles):
    instance = make_instance(iaas, S.OFFLINE)
    for _ in range(30):
        make_backup(iaas, instance)
    counts = {}
    for role in ("staff", "admin"):
        for size in (1, 30):
            with CaptureQueriesContext(connection) as ctx:
                response = roles.client_as(role).get(f"/api/backups/?page_size={size}")
            assert response.status_code == 200 and len(response.json()) == size
            counts[role, size] = len(ctx)
    assert counts[("staff", 1)] == counts[("staff", 30)] and counts[("admin", 1)] == counts[("admin", 30)], counts


def test_delete_matrix(iaas, roles):
    backups = {role: make_backup(iaas, description=role) for role in ("admin", "staff", "manager")}
    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 202, "owner": 403, "staff": 202}
    responses = check_matrix(roles, expected, lambda c, r: c.delete(burl(backups.get(r, backups["manager"]))))
    assert responses["admin"].json() == {"status": "deletion was scheduled"}
    assert responses["owner"].json() == NOT_ADMIN
    assert {b.description: b.state for b in Backup.objects.all()} == {
        "admin": B.DELETING, "staff": B.DELETING, "manager": B.READY}


@pytest.mark.parametrize("state", [B.BACKING_UP, B.RESTORING, B.DELETING])
def test_delete_in_a_working_state_is_409(iaas, roles, state):
    backup = make_backup(iaas, state=state)
    response = roles.client_as("admin").delete(burl(backup))
    assert response.status_code == 409
    assert response.json() == {"detail": f"Only a Ready or Erred backup can be deleted; the backup is "
                                         f"{B(state).label}.", "code": "invalid_state"}  # fmt: skip


def test_delete_removes_both_snapshots_and_the_post_form_works_too(iaas, roles):
    instance = provision(iaas, roles)
    first = Backup.objects.get(uuid=take(roles, instance).json()["uuid"])
    second = Backup.objects.get(uuid=take(roles, instance).json()["uuid"])
    assert len(iaas.env.sim.snapshots()) == 4
    with run_tasks():
        response = roles.client_as("admin").delete(burl(first))
    assert response.status_code == 202 and response.json() == {"status": "deletion was scheduled"}
    assert not Backup.objects.filter(pk=first.pk).exists()
    assert {s["id"] for s in iaas.env.sim.snapshots()} == {second.system_snapshot_id, second.data_snapshot_id}
    with run_tasks():
        response = roles.client_as("admin").post(burl(second, "delete"))
    assert response.status_code == 202 and response.json() == {"status": "deletion was scheduled"}
    assert iaas.env.sim.snapshots() == [] and not Backup.objects.exists()


def test_an_instance_with_backups_is_not_deleted(iaas, roles):
    instance = stop(iaas, roles, provision(iaas, roles))
    backup = Backup.objects.get(uuid=take(roles, instance).json()["uuid"])
    response = roles.client_as("admin").delete(url(instance))
    expected = (f"The instance has 1 backup; delete it first (/api/backups/?instance={instance.uuid}).")
    assert response.status_code == 409 and response.json() == {"detail": expected, "code": "invalid_state"}
    assert roles.client_as("admin").get(url(instance)).json()["actions"]["delete"] == {
        "enabled": False, "reason": expected}
    listed = roles.client_as("admin").get(f"/api/backups/?instance={instance.uuid}").json()
    assert [b["uuid"] for b in listed] == [str(backup.uuid)]
    with run_tasks():
        assert roles.client_as("admin").delete(burl(backup)).status_code == 202
    with run_tasks():
        assert roles.client_as("admin").delete(url(instance)).status_code == 202
    assert not Instance.objects.exists() and iaas.env.sim.snapshots() == [] and iaas.env.sim.volumes() == []


def test_while_a_backup_is_taken_the_vm_is_not_powered_or_resized(iaas, roles):
    instance = make_instance(iaas, S.ONLINE)
    make_backup(iaas, instance, state=B.BACKING_UP)
    client = roles.client_as("admin")
    refused = {"enabled": False, "reason": "A backup of the instance is being taken; retry once it is Ready."}
    actions = client.get(url(instance)).json()["actions"]
    assert actions["stop"] == actions["restart"] == refused and actions["backup"]["enabled"] is True
    assert client.get("/api/instances/").json()[0]["actions"] == actions  # the list's annotation agrees
    response = client.post(url(instance, "stop"))
    assert response.status_code == 409 and response.json() == {"detail": refused["reason"], "code": "invalid_state"}
    Backup.objects.update(state=B.READY)
    assert client.post(url(instance, "stop")).status_code == 202


def test_snapshots_count_against_the_tenants_snapshot_quotas_and_free_them_on_delete_and_failure(iaas, roles):
    instance = make_instance(iaas, S.OFFLINE)
    membership = type(iaas.membership).objects.get(pk=iaas.membership.pk)
    membership.quota_snapshot_count, membership.quota_snapshot_storage = 3, 4096
    membership.save()
    held = make_backup(iaas, instance, size=2048)
    client = roles.client_as("admin")
    shown = client.get(roles.url("cloudprojectmembership", membership)).json()["backup_quotas"]
    assert shown == {"snapshots": {"limit": 3, "usage": 2}, "snapshot_storage": {"limit": 4096, "usage": 2048}}
    body = {"backup_source": link("instance", instance)}
    refused = {"non_field_errors": ["Quota exceeded in the project's tenant: snapshots: 2 in use + 2 requested > "
                                    "limit 3"], "code": "quota_exceeded"}  # fmt: skip
    for query in ("?dry_run=true", ""):
        response = client.post("/api/backups/" + query, body, format="json")
        assert (response.status_code, response.json()) == (400, refused)
    assert Backup.objects.count() == 1
    # A failed backup holds nothing (its clean-up deleted what it made), nor does a deleted one.
    Backup.objects.filter(pk=held.pk).update(state=B.ERRED)
    response = client.post("/api/backups/", body, format="json")
    assert response.status_code == 202 and Backup.objects.get(uuid=response.json()["uuid"]).size == 2048
    membership.quota_snapshot_count = -1
    membership.save()
    Backup.objects.filter(uuid=response.json()["uuid"]).update(state=B.READY)
    response = client.post("/api/backups/", body, format="json")
    assert response.status_code == 202, response.json()  # 2048 + 2048 MiB fits the limit of 4096 exactly
    response = client.post("/api/backups/", body, format="json")
    assert (response.status_code, response.json()["non_field_errors"]) == (400, [
        "Quota exceeded in the project's tenant: MiB of snapshots: 4096 in use + 2048 requested > limit 4096"])
    Backup.objects.exclude(state=B.ERRED).delete()
    shown = client.get(roles.url("cloudprojectmembership", membership)).json()["backup_quotas"]
    assert shown == {"snapshots": {"limit": -1, "usage": 0}, "snapshot_storage": {"limit": 4096, "usage": 0}}


def test_deleting_a_backup_whose_snapshot_someone_deleted_in_the_cloud_is_fine(iaas, roles):
    instance = provision(iaas, roles)
    backup = Backup.objects.get(uuid=take(roles, instance).json()["uuid"])
    cinder = iaas.cloud.get_backend().cinder(iaas.membership.tenant_id)
    cinder.volume_snapshots.delete(backup.data_snapshot_id)  # out of band, with the tenant's own client
    with run_tasks():
        response = roles.client_as("admin").delete(burl(backup))
    assert response.status_code == 202 and response.json() == {"status": "deletion was scheduled"}
    assert not Backup.objects.exists() and iaas.env.sim.snapshots() == []


def test_the_snapshot_count_limit_is_cinders_as_the_sync_reads_it(iaas, roles):
    membership = type(iaas.membership).objects.get(pk=iaas.membership.pk)
    assert membership.quota_snapshot_count == 10  # the simulator's Cinder default, as mini-openstack's
    iaas.env.sim.set_quota(membership.tenant_id, volume={"snapshots": 4})
    sync = roles.url("cloudprojectmembership", membership) + "sync/"
    with run_tasks():
        assert roles.client_as("owner").post(sync).status_code == 202
    membership.refresh_from_db()
    assert membership.quota_snapshot_count == 4
