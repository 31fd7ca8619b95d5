"""REST API of restores: a Ready backup into a new instance booted from volumes made from its snapshots."""

import pytest

from nodeconductor.iaas.models import Backup, BackupState, Flavor, Instance, InstanceState, SecurityGroup
from nodeconductor.iaas.services import backups as backup_services
from tests.fixtures.roles import check_matrix
from tests.iaas.views.test_backups import NOT_ADMIN, burl, make_backup, take
from tests.iaas.views.test_instances import link, other_membership, provision, run_tasks, stop, url

B, S = BackupState, InstanceState


def bigger_flavor(iaas):
    """Another flavor of the cloud than the instance's, with room for its root volume."""
    return iaas.cloud.flavors.exclude(pk=iaas.flavor.pk).filter(disk__gte=1024).order_by("ram").first()


def restore(roles, backup, flavor, role="admin", **body):
    """Restore over the API, running the new instance's build against the simulator."""
    with run_tasks():
        return roles.client_as(role).post(burl(backup, "restore"), {"flavor": link("flavor", flavor), **body},
                                          format="json")  # fmt: skip


def test_restore_boots_a_new_instance_from_volumes_made_from_the_snapshots(iaas, roles):
    source = provision(iaas, roles, hostname="web-1")
    backup = Backup.objects.get(uuid=take(roles, source).json()["uuid"])
    flavor = bigger_flavor(iaas)
    response = restore(roles, backup, flavor)
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["hostname"] == "web-1-restored" and body["flavor_name"] == flavor.name
    assert body["project"].endswith(f"/api/projects/{iaas.membership.project.uuid}/")
    restored = Instance.objects.get(uuid=body["uuid"])
    assert restored.state == S.ONLINE, restored.error_message
    assert (restored.cores, restored.ram, restored.template_id) == (flavor.cores, flavor.ram, iaas.template.pk)
    volumes = {v["id"]: v for v in iaas.env.sim.volumes()}
    root, data = volumes[restored.system_volume_id], volumes[restored.data_volume_id]
    assert (root["snapshot_id"], data["snapshot_id"]) == (backup.system_snapshot_id, backup.data_snapshot_id)
    server = next(s for s in iaas.env.sim.servers() if s["id"] == restored.backend_id)
    assert server["status"] == "ACTIVE"
    assert {a["server_id"] for v in (root, data) for a in v["attachments"]} == {restored.backend_id}
    backup.refresh_from_db()
    assert backup.state == B.READY and backup.restoring_instance is None
    # Restored again: a backup can be restored many times.
    again = restore(roles, backup, flavor, hostname="web-2")
    assert again.status_code == 202 and Instance.objects.get(uuid=again.json()["uuid"]).state == S.ONLINE


def test_restore_uses_the_snapshot_sizes_even_after_the_source_grew(iaas, roles):
    source = stop(iaas, roles, provision(iaas, roles))
    backup = Backup.objects.get(uuid=take(roles, source).json()["uuid"])
    with run_tasks():
        grown = roles.client_as("admin").post(url(source, "resize"), {"disk_size": 3072}, format="json")
    assert grown.status_code == 202
    source.refresh_from_db()
    assert source.data_volume_size == 3072, source.error_message
    restored = Instance.objects.get(uuid=restore(roles, backup, bigger_flavor(iaas)).json()["uuid"])
    assert (restored.system_volume_size, restored.data_volume_size) == (1024, 1024)
    sizes = {v["id"]: v["size"] for v in iaas.env.sim.volumes()}
    assert (sizes[restored.system_volume_id], sizes[restored.data_volume_id]) == (1, 1)


def test_restore_matrix(iaas, roles):
    backups = {role: make_backup(iaas, description=role, system_snapshot_id="s", data_snapshot_id="d")
               for role in ("admin", "staff", "manager")}  # fmt: skip
    for backup in backups.values():
        Backup.objects.filter(pk=backup.pk).update(metadata={**backup.metadata, "system_snapshot_gib": 1,
                                                             "data_snapshot_gib": 1})  # fmt: skip
    flavor = bigger_flavor(iaas)
    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 202, "owner": 403, "staff": 202}
    responses = check_matrix(roles, expected, lambda c, r: c.post(
        burl(backups.get(r, backups["manager"]), "restore"), {"flavor": link("flavor", flavor)}, format="json"))
    assert responses["manager"].json() == responses["owner"].json() == NOT_ADMIN
    assert responses["admin"].json()["state"] == "Provisioning Scheduled"
    assert {b.description: b.state for b in Backup.objects.all()} == {
        "admin": B.RESTORING, "staff": B.RESTORING, "manager": B.READY}
    restoring = Backup.objects.get(description="admin")
    assert restoring.restoring_instance.uuid.hex == responses["admin"].json()["uuid"].replace("-", "")


@pytest.mark.parametrize("state", [B.BACKING_UP, B.RESTORING, B.DELETING, B.ERRED])
def test_restore_unless_ready_is_409(iaas, roles, state):
    backup = make_backup(iaas, state=state)
    response = roles.client_as("admin").post(burl(backup, "restore"), {"flavor": link("flavor", iaas.flavor)},
                                             format="json")  # fmt: skip
    assert response.status_code == 409
    assert response.json() == {"detail": f"Only a Ready backup can be restored; the backup is {B(state).label}.",
                               "code": "invalid_state"}  # fmt: skip
    assert Instance.objects.count() == 1


def test_restore_refuses_a_flavor_of_another_cloud_or_too_small(iaas, roles):
    backup = make_backup(iaas, system_snapshot_id="s", data_snapshot_id="d")
    Backup.objects.filter(pk=backup.pk).update(metadata={**backup.metadata, "system_snapshot_gib": 2,
                                                         "data_snapshot_gib": 1})  # fmt: skip
    _, foreign = other_membership(iaas)
    response = roles.client_as("admin").post(burl(backup, "restore"), {"flavor": link("flavor", foreign)},
                                             format="json")  # fmt: skip
    assert response.status_code == 400
    assert response.json()["flavor"] == ["The flavor belongs to another cloud than the backup."]
    small = Flavor.objects.create(cloud=iaas.cloud, name="t.small-disk", backend_id="x", cores=1, ram=512, disk=1024)
    response = roles.client_as("admin").post(burl(backup, "restore"), {"flavor": link("flavor", small)},
                                             format="json")  # fmt: skip
    assert response.status_code == 400
    assert response.json()["flavor"] == ["Its disk (1024 MiB) is smaller than the backup's root volume (2048 MiB); "
                                         "pick a larger flavor."]  # fmt: skip
    assert Instance.objects.count() == 1 and Backup.objects.get().state == B.READY


def test_restore_over_the_quota_is_400_and_changes_nothing(iaas, roles):
    backup = make_backup(iaas, system_snapshot_id="s", data_snapshot_id="d")
    type(iaas.membership).objects.filter(pk=iaas.membership.pk).update(quota_max_instances=1)
    response = roles.client_as("admin").post(burl(backup, "restore"), {"flavor": link("flavor", bigger_flavor(iaas))},
                                             format="json")  # fmt: skip
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["Quota exceeded in the project's tenant: instances: 1 in use + 1 "
                                                    "requested > limit 1"], "code": "quota_exceeded"}  # fmt: skip
    assert Instance.objects.count() == 1 and Backup.objects.get().state == B.READY


def test_a_failed_restore_leaves_the_backup_ready(iaas, roles):
    source = provision(iaas, roles)
    backup = Backup.objects.get(uuid=take(roles, source).json()["uuid"])
    iaas.env.sim.fail_next("compute.server_create", mode="error_state")
    response = restore(roles, backup, bigger_flavor(iaas))
    assert response.status_code == 202
    restored = Instance.objects.get(uuid=response.json()["uuid"])
    assert restored.state == S.ERRED and "ERROR" in restored.error_message
    backup.refresh_from_db()
    assert backup.state == B.READY and backup.restoring_instance is None
    # Its clean-up removed the volumes it made from the snapshots; the snapshots stay the backup's.
    assert {v["id"] for v in iaas.env.sim.volumes()} == {source.system_volume_id, source.data_volume_id}
    assert {s["id"] for s in iaas.env.sim.snapshots()} == {backup.system_snapshot_id, backup.data_snapshot_id}


def test_restore_into_a_membership_that_is_not_in_sync_is_400(iaas, roles):
    backup = make_backup(iaas, system_snapshot_id="s", data_snapshot_id="d")
    type(iaas.membership).objects.filter(pk=iaas.membership.pk).update(state="erred")
    response = roles.client_as("admin").post(burl(backup, "restore"), {"flavor": link("flavor", bigger_flavor(iaas))},
                                             format="json")  # fmt: skip
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["The project's membership in the backup's cloud is Erred, not "
                                                    "In Sync; sync it first."], "code": "invalid"}  # fmt: skip
    assert Instance.objects.count() == 1 and Backup.objects.get().state == B.READY


def test_a_restores_default_groups_are_the_sources_that_are_still_usable(iaas, roles):
    kept = SecurityGroup.objects.create(membership=iaas.membership, name="web", backend_id="sg-web")
    going = SecurityGroup.objects.create(membership=iaas.membership, name="old", backend_id="sg-old")
    unpushed = SecurityGroup.objects.create(membership=iaas.membership, name="new")
    SecurityGroup.objects.filter(pk=kept.pk).update(state="in_sync")
    SecurityGroup.objects.filter(pk=going.pk).update(state="deletion_scheduled")
    backup = make_backup(iaas)
    Backup.objects.filter(pk=backup.pk).update(metadata={**backup.metadata, "security_groups": [
        {"uuid": str(g.uuid), "name": g.name} for g in (kept, going, unpushed)]})
    backup.refresh_from_db()
    assert backup_services.restore_groups(backup) == [kept]
