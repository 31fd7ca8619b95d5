"""Cinder volume snapshots in the simulator: faults, delays, quotas, tenancy, views and the Python helpers."""

import pytest
import requests
from cinderclient import client as cinder_client
from cinderclient import exceptions as cinder_exc

from .helpers import boot, clients, session, wait


def cinder(sim, version="3.0", **kw):
    """A cinderclient at `version` (3.0 is the product's) on a demo session, or another user's."""
    return cinder_client.Client(version, session=session(sim, **kw))


def available_volume(c, size=1):
    """An empty volume, waited for."""
    vol = c.volumes.create(size)
    return wait(lambda: c.volumes.get(vol.id), lambda v: v.status == "available")


def test_create_passes_creating_within_the_delay_and_counts_in_quota(cloudsim):
    cloudsim.set_delay("snapshot_create", 0.3)
    c = cinder(cloudsim)
    vol = available_volume(c, size=2)
    snap = c.volume_snapshots.create(vol.id, name="s", description="d", metadata={"k": "v"})
    got = c.volume_snapshots.get(snap.id)
    assert (got.status, getattr(got, "os-extended-snapshot-attributes:progress")) == ("creating", "0%")
    assert got.updated_at is None
    got = wait(lambda: c.volume_snapshots.get(snap.id), lambda s: s.status == "available")
    assert (got.name, got.description, got.metadata, got.size) == ("s", "d", {"k": "v"}, 2)
    assert getattr(got, "os-extended-snapshot-attributes:progress") == "100%"
    limits = {limit.name: limit.value for limit in c.limits.get().absolute}
    assert (limits["totalSnapshotsUsed"], limits["totalGigabytesUsed"]) == (1, 4)
    quota = c.quotas.get(cloudsim.project_id("demo"), usage=True)
    assert (quota.snapshots["in_use"], quota.gigabytes["in_use"], quota.snapshots___DEFAULT__["in_use"]) == (1, 4, 1)
    [record] = cloudsim.snapshots()
    assert (record["id"], record["volume_id"], record["status"]) == (snap.id, vol.id, "available")
    assert cloudsim.snapshots(project_id=cloudsim.project_id("admin")) == []
    assert requests.get(f"{cloudsim.base_url}/_sim/snapshots", timeout=5).json()["snapshots"][0]["id"] == snap.id
    counts = cloudsim.call_counts()
    assert (counts["snapshot.create"], counts["snapshot.get"] >= 2) == (1, True)


def test_error_state_faults_on_create_and_delete(cloudsim):
    c = cinder(cloudsim)
    vol = available_volume(c)
    cloudsim.fail_next("snapshot.create", mode="error_state")
    bad = c.volume_snapshots.create(vol.id)
    assert wait(lambda: c.volume_snapshots.get(bad.id), lambda s: s.status != "creating").status == "error"
    good = c.volume_snapshots.create(vol.id)
    wait(lambda: c.volume_snapshots.get(good.id), lambda s: s.status == "available")
    cloudsim.fail_next("snapshot.delete", mode="error_state")
    c.volume_snapshots.delete(good.id)
    assert wait(lambda: c.volume_snapshots.get(good.id), lambda s: s.status != "deleting").status == "error_deleting"
    with pytest.raises(cinder_exc.BadRequest) as err:
        c.volume_snapshots.delete(good.id)
    assert "Snapshot status must be available or error and must not be part of a group." in str(err.value)
    c.volume_snapshots.delete(bad.id)  # an error snapshot can be deleted
    wait(lambda: [s.id for s in c.volume_snapshots.list()], lambda ids: ids == [good.id])
    assert [f["operation"] for f in cloudsim.fault_log] == ["snapshot.create", "snapshot.delete"]


def test_http_fault_and_delete_delay(cloudsim):
    c = cinder(cloudsim)
    vol = available_volume(c)
    cloudsim.fail_next("snapshot.create", status=503, message="Cinder is down")
    with pytest.raises(cinder_exc.ClientException) as err:
        c.volume_snapshots.create(vol.id)
    assert err.value.code == 503 and cloudsim.snapshots() == []
    snap = c.volume_snapshots.create(vol.id)
    wait(lambda: c.volume_snapshots.get(snap.id), lambda s: s.status == "available")
    cloudsim.set_delay("snapshot_delete", 0.3)
    c.volume_snapshots.delete(snap.id)
    assert c.volume_snapshots.get(snap.id).status == "deleting"
    with pytest.raises(cinder_exc.BadRequest):
        c.volume_snapshots.delete(snap.id)
    wait(lambda: cloudsim.snapshots(), lambda snaps: snaps == [])
    with pytest.raises(cinder_exc.NotFound):
        c.volume_snapshots.get(snap.id)


def test_quota_refusals_gigabytes_first(cloudsim):
    c = cinder(cloudsim)
    demo = cloudsim.project_id("demo")
    vol = available_volume(c, size=2)
    cloudsim.set_quota(demo, volume={"snapshots": 0, "gigabytes": 3})
    with pytest.raises(cinder_exc.OverLimit) as err:
        c.volume_snapshots.create(vol.id)
    assert (
        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. "
        "Requested 2G, quota is 3G and 2G has been consumed." in str(err.value)
    )
    cloudsim.set_quota(demo, volume={"gigabytes": 1000})
    with pytest.raises(cinder_exc.OverLimit) as err:
        c.volume_snapshots.create(vol.id)
    assert "SnapshotLimitExceeded: Maximum number of snapshots allowed (0) exceeded" in str(err.value)
    cloudsim.set_quota(demo, volume={"snapshots": 1, "gigabytes": 5})
    snap = c.volume_snapshots.create(vol.id)
    wait(lambda: c.volume_snapshots.get(snap.id), lambda s: s.status == "available")
    with pytest.raises(cinder_exc.OverLimit) as err:
        c.volumes.create(2)
    assert "Requested 2G, quota is 5G and 4G has been consumed." in str(err.value), "snapshot GiB count for volumes"


def test_tenancy_and_admin_views(cloudsim):
    c = cinder(cloudsim)
    admin = cinder(cloudsim, user="admin", password="admin", project="admin")
    own = available_volume(admin)
    theirs = admin.volume_snapshots.create(own.id, name="admins")
    with pytest.raises(cinder_exc.NotFound) as err:
        c.volume_snapshots.get(theirs.id)
    assert f"Snapshot {theirs.id} could not be found." in str(err.value)
    for call in (
        lambda: c.volume_snapshots.delete(theirs.id),
        lambda: c.volume_snapshots.update(theirs.id, name="x"),
        lambda: c.volumes.create(1, snapshot_id=theirs.id),
    ):
        with pytest.raises(cinder_exc.NotFound):
            call()
    assert c.volume_snapshots.list() == []
    with pytest.raises(cinder_exc.NotFound):
        c.volume_snapshots.create(own.id, force=True)
    demo_vol = available_volume(c)
    mine = c.volume_snapshots.create(demo_vol.id)
    assert admin.volume_snapshots.get(mine.id).id == mine.id, "admins see every project's snapshots"
    assert [s.id for s in admin.volume_snapshots.list()] == [theirs.id]
    assert {s.id for s in admin.volume_snapshots.list(search_opts={"all_tenants": 1})} == {theirs.id, mine.id}
    assert [s["id"] for s in cloudsim.snapshots(project_id=cloudsim.project_id("demo"))] == [mine.id]


def test_views_by_microversion_and_listing(cloudsim):
    c30, c59 = cinder(cloudsim), cinder(cloudsim, "3.59")
    vol = available_volume(c30)
    snap = c30.volume_snapshots.create(vol.id, name="a")
    wait(lambda: c30.volume_snapshots.get(snap.id), lambda s: s.status == "available")
    summary = {"id", "created_at", "updated_at", "name", "description", "volume_id", "status", "size", "metadata"}
    extended = {"os-extended-snapshot-attributes:project_id", "os-extended-snapshot-attributes:progress"}
    assert c30.volume_snapshots.list(detailed=False)[0]._info.keys() == summary
    assert c30.volume_snapshots.list()[0]._info.keys() == summary | extended
    assert c59.volume_snapshots.get(snap.id)._info.keys() == summary | extended | {"group_snapshot_id", "user_id"}
    c66 = cinder(cloudsim, "3.66")
    assert c66.volume_snapshots.get(snap.id)._info["consumes_quota"] is True
    assert [s.id for s in c30.volume_snapshots.list(search_opts={"name": "a"})] == [snap.id]
    assert c30.volume_snapshots.list(search_opts={"name": "b"}) == []
    assert [s.id for s in c30.volume_snapshots.list(search_opts={"volume_id": vol.id})] == [snap.id]
    c30.volume_snapshots.update(snap.id, name="renamed", description="why")
    assert (c30.volume_snapshots.get(snap.id).name, cloudsim.snapshots()[0]["description"]) == ("renamed", "why")
    assert {"snapshot.list", "snapshot.update"} <= set(cloudsim.call_counts())


def test_in_use_needs_force_below_366_and_allows_it_from_there(cloudsim):
    nova, _ = clients(cloudsim)
    c30, c66 = cinder(cloudsim), cinder(cloudsim, "3.66")
    _, vols = boot(nova, cinder(cloudsim, "3.59"), data=True)
    with pytest.raises(cinder_exc.BadRequest) as err:
        c30.volume_snapshots.create(vols[1])
    assert f"Volume {vols[1]} status must be available, but current status is: in-use." in str(err.value)
    snap = c66.volume_snapshots.create(vols[1])
    assert wait(lambda: c30.volume_snapshots.get(snap.id), lambda s: s.status == "available").volume_id == vols[1]
    sess = session(cloudsim)
    url = c30.client.get_endpoint() + "/snapshots"
    for version, force in (("3.66", False), ("3.66", "no")):
        resp = sess.post(
            url,
            json={"snapshot": {"volume_id": vols[1], "force": force}},
            raise_exc=False,
            headers={"OpenStack-API-Version": f"volume {version}"},
        )
        assert resp.status_code == 400 and "Since microversion 3.66 the 'force' flag is invalid" in resp.text
    resp = sess.post(url, json={"snapshot": {"volume_id": vols[1], "force": "maybe"}}, raise_exc=False)
    assert resp.status_code == 400 and "Invalid input for field/attribute force. Value: maybe." in resp.text


def test_volume_states_refused_and_volume_from_snapshot(cloudsim):
    c = cinder(cloudsim)
    cloudsim.set_delay("volume_create", 0.5)
    creating = c.volumes.create(1)
    with pytest.raises(cinder_exc.BadRequest) as err:
        c.volume_snapshots.create(creating.id, force=True)
    assert "Invalid volume: volume is not assigned to a host" in str(err.value)
    cloudsim.fail_next("volume.create", mode="error_state")
    cloudsim.set_delay("volume_create", 0.05)
    broken = c.volumes.create(1)
    wait(lambda: c.volumes.get(broken.id), lambda v: v.status == "error")
    with pytest.raises(cinder_exc.BadRequest) as err:
        c.volume_snapshots.create(broken.id, force=True)
    assert "The snapshot cannot be created when the volume is in error status." in str(err.value)

    nova, c59 = clients(cloudsim)
    _, vols = boot(nova, c59)
    snap = c.volume_snapshots.create(vols[0], force=True)
    wait(lambda: c.volume_snapshots.get(snap.id), lambda s: s.status == "available")
    c59.volumes.set_bootable(vols[0], False)
    copy = c.volumes.create(None, snapshot_id=snap.id)
    copy = wait(lambda: c.volumes.get(copy.id), lambda v: v.status == "available")
    assert (copy.size, copy.snapshot_id, copy.bootable) == (1, snap.id, "false"), "bootable: the source's, now"
    assert copy.volume_image_metadata["image_name"] == "tiny-qcow2"
    assert c.volumes.get(vols[0]).snapshot_id is None


def test_server_delete_keeps_a_delete_on_termination_volume_with_snapshots(cloudsim):
    nova, c59 = clients(cloudsim)
    srv, vols = boot(nova, c59, data=True, delete_on_termination=True)
    snap = c59.volume_snapshots.create(vols[1], force=True)
    wait(lambda: c59.volume_snapshots.get(snap.id), lambda s: s.status == "available")
    nova.servers.delete(srv.id)
    wait(lambda: cloudsim.servers(), lambda servers: servers == [])
    wait(lambda: cloudsim.volumes(), lambda vols_left: [v["id"] for v in vols_left] == [vols[1]])
    assert cloudsim.volumes()[0]["status"] == "available"
    with pytest.raises(cinder_exc.BadRequest) as err:
        c59.volumes.delete(vols[1])
    assert "have snapshots" in str(err.value)
