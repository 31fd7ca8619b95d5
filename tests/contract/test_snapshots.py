"""Contract: Cinder volume snapshots as the broker uses them (microversion 3.0, force=True on attached volumes)."""

import pytest
from cinderclient import client as cinder_client
from cinderclient import exceptions as cinder_exc

# Cinder 21's texts, measured on mini-openstack.
IN_USE_DELETE = (
    "Invalid volume: Volume status must be available or error or error_restoring or error_extending or "
    "error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a "
    "transfer, or be disassociated from snapshots after volume transfer."
)
FORCE_INVALID = (
    "Since microversion 3.66 the 'force' flag is invalid for this request.  For backward compatability, "
    "however, when the 'force' flag is passed with a value evaluating to True, it is silently ignored."
)
SNAPSHOT_BUSY = "Invalid snapshot: Snapshot status must be available or error and must not be part of a group."
SNAPSHOT_NOT_READY = "Invalid snapshot: Originating snapshot status must be one of 'available' values"


def raw_create(c, body, version):
    """POST /snapshots at `version` through the session (cinderclient itself refuses force=False from 3.66)."""
    resp = c.session.post(
        c.cinder30.client.get_endpoint() + "/snapshots",
        json={"snapshot": body},
        headers={"OpenStack-API-Version": f"volume {version}"},
        raise_exc=False,
    )
    return resp.status_code, resp.json()


def usage(c):
    """(snapshots in use, gigabytes in use, totalSnapshotsUsed) of the demo project."""
    q = c.cinder.quotas.get(c.project_id, usage=True)
    limits = {limit.name: limit.value for limit in c.cinder30.limits.get().absolute}
    return q.snapshots["in_use"], q.gigabytes["in_use"], limits["totalSnapshotsUsed"]


def test_snapshots_of_a_running_servers_volumes_boot_a_copy(fresh):
    c = fresh
    image, tiny = c.image(), c.flavor("m1.tiny")
    root = c.create_volume(1, image=image.id, suffix="root")
    data = c.create_volume(2, suffix="data")
    c.wait_volume(root.id, "available")
    c.wait_volume(data.id, "available")
    srv = c.boot(tiny.id, [root.id, data.id])
    c.wait_server(srv.id, "ACTIVE")
    before = usage(c)

    with pytest.raises(cinder_exc.BadRequest) as err:
        c.cinder30.volume_snapshots.create(data.id, force=False)
    assert f"Invalid volume: Volume {data.id} status must be available, but current status is: in-use." in str(
        err.value
    )
    status, body = raw_create(c, {"volume_id": data.id, "force": False}, "3.66")
    assert (status, body["badRequest"]["message"]) == (400, FORCE_INVALID)

    if c.sim:
        c.sim.set_delay("snapshot_create", 1.0)  # mini-openstack takes ~1.8 s on attached volumes: room to ask
    try:
        snap_root = c.create_snapshot(root.id, suffix="snap-root", description="root at noon", metadata={"k": "v"})
        snap_data = c.create_snapshot(data.id, suffix="snap-data")
        assert (snap_root.status, snap_root.size, snap_root.volume_id) == ("creating", 1, root.id)
        assert snap_root._info.keys() == {
            "id",
            "created_at",
            "updated_at",
            "name",
            "description",
            "volume_id",
            "status",
            "size",
            "metadata",
        }, "3.0's create answer has no extended keys"
        with pytest.raises(cinder_exc.BadRequest) as err:
            c.cinder30.volume_snapshots.delete(snap_data.id)
        assert SNAPSHOT_BUSY in str(err.value)
        with pytest.raises(cinder_exc.BadRequest) as err:
            c.cinder30.volumes.create(2, snapshot_id=snap_data.id)
        assert SNAPSHOT_NOT_READY in str(err.value)
    finally:
        if c.sim:
            c.sim.set_delay("snapshot_create", 0.05)
    snap_root, states = c.wait_snapshot(snap_root.id, "available")
    snap_data, _ = c.wait_snapshot(snap_data.id, "available")
    assert states == ["creating", "available"]
    assert (snap_root.name, snap_root.description, snap_root.metadata) == (
        f"{c.prefix}-snap-root",
        "root at noon",
        {"k": "v"},
    )
    assert getattr(snap_data, "os-extended-snapshot-attributes:progress") == "100%"
    assert getattr(snap_data, "os-extended-snapshot-attributes:project_id") == c.project_id
    assert (snap_data.size, snap_data.volume_id) == (2, data.id)
    assert {c.cinder.volumes.get(v).status for v in (root.id, data.id)} == {"in-use"}
    listed = c.cinder30.volume_snapshots.list(search_opts={"name": f"{c.prefix}-snap-data"})
    assert [s.id for s in listed] == [snap_data.id]
    assert usage(c) == (before[0] + 2, before[1] + 3, before[2] + 2), "snapshot GiB count in the gigabytes quota"

    with pytest.raises(cinder_exc.BadRequest) as err:
        c.cinder30.volumes.create(1, snapshot_id=snap_data.id)
    assert (
        "Invalid input received: Volume size '1'GB cannot be smaller than the snapshot size 2GB. They must be >= "
        "original snapshot size." in str(err.value)
    )
    root_copy = c.cinder30.volumes.create(1, snapshot_id=snap_root.id, name=f"{c.prefix}-root-copy")
    c.volumes.append(root_copy.id)
    data_copy = c.cinder30.volumes.create(None, snapshot_id=snap_data.id, name=f"{c.prefix}-data-copy")
    c.volumes.append(data_copy.id)
    assert (data_copy.size, data_copy.snapshot_id) == (2, snap_data.id), "no size: the snapshot's"
    root_copy, _ = c.wait_volume(root_copy.id, "available")
    data_copy, _ = c.wait_volume(data_copy.id, "available")
    assert (root_copy.bootable, root_copy.snapshot_id, root_copy.size) == ("true", snap_root.id, 1)
    assert root_copy.volume_image_metadata["image_id"] == image.id
    assert root_copy.metadata == {}, "the source volume's metadata is not copied"
    assert (data_copy.bootable, data_copy.size) == ("false", 2)

    copy = c.boot(tiny.id, [root_copy.id, data_copy.id], suffix="copy")
    c.wait_server(copy.id, "ACTIVE")
    assert c.attached_ids(copy.id) == {root_copy.id, data_copy.id}

    for snap in (snap_root, snap_data):
        c.cinder30.volume_snapshots.delete(snap.id)
    for snap in (snap_root, snap_data):
        states = c.wait_gone(lambda sid=snap.id: c.cinder30.volume_snapshots.get(sid))
        assert states[-1] == "GONE" and set(states[:-1]) <= {"deleting"}
        c.snapshots.remove(snap.id)
    assert {c.cinder.volumes.get(v).status for v in (root.id, data.id, root_copy.id, data_copy.id)} == {"in-use"}
    assert usage(c) == (before[0], before[1] + 3, before[2]), "the copies' 3 GiB stay, the snapshots' are freed"


def test_volume_with_a_snapshot_cannot_be_deleted(fresh):
    c = fresh
    vol = c.create_volume(1, suffix="keep")
    c.wait_volume(vol.id, "available")
    snap = c.create_snapshot(vol.id, suffix="keep-snap", force=False)
    c.wait_snapshot(snap.id, "available")
    with pytest.raises(cinder_exc.BadRequest) as err:
        c.cinder30.volumes.delete(vol.id)
    assert IN_USE_DELETE in str(err.value)
    assert c.cinder30.volumes.get(vol.id).status == "available"

    c.cinder30.volume_snapshots.update(snap.id, name=f"{c.prefix}-renamed", description="new")
    snap = c.cinder30.volume_snapshots.get(snap.id)
    assert (snap.name, snap.description, snap.status) == (f"{c.prefix}-renamed", "new", "available")


def test_snapshot_refusals_without_a_server(fresh):
    c = fresh
    missing = "00000000-0000-0000-0000-000000000000"
    with pytest.raises(cinder_exc.NotFound) as err:
        c.cinder30.volume_snapshots.create(missing, force=True)
    assert f"Volume {missing} could not be found." in str(err.value)
    with pytest.raises(cinder_exc.NotFound) as err:
        c.cinder30.volumes.create(1, snapshot_id=missing)
    assert f"Snapshot {missing} could not be found." in str(err.value)
    with pytest.raises(cinder_exc.NotFound) as err:
        c.cinder30.volume_snapshots.get(missing)
    assert f"Snapshot {missing} could not be found." in str(err.value)
    with pytest.raises(cinder_exc.BadRequest) as err:
        c.cinder.volume_snapshots.list(search_opts={"name": "x"})
    assert "Invalid filters name are found in query options." in str(err.value), "filters need < 3.31, as volumes"


def test_snapshot_of_an_error_volume_and_over_quota(fresh):
    c = fresh
    admin = c.admin_session()
    if admin is None:
        pytest.skip("needs OS_ADMIN_USERNAME / OS_ADMIN_PASSWORD / OS_ADMIN_PROJECT_NAME")
    cinder_admin = cinder_client.Client("3.0", session=admin)
    vol = c.create_volume(1, suffix="quota")
    c.wait_volume(vol.id, "available")

    cinder_admin.volumes.reset_state(vol.id, "error")
    try:
        with pytest.raises(cinder_exc.BadRequest) as err:
            c.create_snapshot(vol.id, suffix="of-error")
        assert "Invalid volume: The snapshot cannot be created when the volume is in error status." in str(err.value)
    finally:
        cinder_admin.volumes.reset_state(vol.id, "available")

    quota = c.cinder.quotas.get(c.project_id, usage=True)
    snapshots, gigabytes = quota.snapshots, quota.gigabytes
    try:
        cinder_admin.quotas.update(c.project_id, snapshots=snapshots["in_use"])
        with pytest.raises(cinder_exc.OverLimit) as err:
            c.create_snapshot(vol.id, suffix="over-count")
        assert err.value.code == 413
        assert f"SnapshotLimitExceeded: Maximum number of snapshots allowed ({snapshots['in_use']}) exceeded" in str(
            err.value
        )
        cinder_admin.quotas.update(c.project_id, snapshots=snapshots["limit"], gigabytes=gigabytes["in_use"])
        with pytest.raises(cinder_exc.OverLimit) as err:
            c.create_snapshot(vol.id, suffix="over-gigabytes")
        assert (
            f"VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. "
            f"Requested 1G, quota is {gigabytes['in_use']}G and {gigabytes['in_use']}G has been consumed."
            in str(err.value)
        )
    finally:
        cinder_admin.quotas.update(c.project_id, snapshots=snapshots["limit"], gigabytes=gigabytes["limit"])
    assert not [s for s in c.cinder30.volume_snapshots.list() if (s.name or "").startswith(c.prefix)]
