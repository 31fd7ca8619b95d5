"""Contract: what the real APIs refuse around a booted server, with their status codes and texts."""

import pytest
from cinderclient import exceptions as cinder_exc
from novaclient import exceptions as nova_exc


@pytest.fixture(scope="module")
def booted(cloud):
    """A server booted from a root volume with a data volume attached, shared by the refusal tests."""
    image, tiny = cloud.image(), cloud.flavor("m1.tiny")
    root = cloud.create_volume(1, image=image.id, suffix="refusal-root")
    data = cloud.create_volume(1, suffix="refusal-data")
    cloud.wait_volume(root.id, "available")
    cloud.wait_volume(data.id, "available")
    srv = cloud.boot(tiny.id, [root.id, data.id], suffix="refusal-vm")
    cloud.wait_server(srv.id, "ACTIVE")
    return {"server": srv.id, "root": root.id, "data": data.id}


def ensure(cloud, sid, status):
    """Bring the shared server to ACTIVE or SHUTOFF whatever an earlier test left it in."""
    srv = cloud.nova.servers.get(sid)
    if srv.status != status:
        (cloud.nova.servers.start if status == "ACTIVE" else cloud.nova.servers.stop)(sid)
        cloud.wait_server(sid, status)


def test_start_of_active_server_is_409(cloud, booted):
    ensure(cloud, booted["server"], "ACTIVE")
    with pytest.raises(nova_exc.Conflict) as err:
        cloud.nova.servers.start(booted["server"])
    assert f"Cannot 'start' instance {booted['server']} while it is in vm_state active" in str(err.value)


def test_detach_of_root_volume_is_400(cloud, booted):
    with pytest.raises(nova_exc.BadRequest) as err:
        cloud.nova.volumes.delete_server_volume(booted["server"], booted["root"])
    assert "Cannot detach a root device volume" in str(err.value)


def test_attach_of_attached_volume_is_400(cloud, booted):
    with pytest.raises(nova_exc.BadRequest) as err:
        cloud.nova.volumes.create_server_volume(booted["server"], booted["data"])
    assert (f"Invalid volume: volume {booted['data']} is already attached to instances: {booted['server']}"
            in str(err.value))


def test_delete_of_in_use_volume_is_400(cloud, booted):
    with pytest.raises(cinder_exc.BadRequest) as err:
        cloud.cinder.volumes.delete(booted["data"])
    assert ("Invalid volume: Volume status must be available or error or error_restoring or error_extending or "
            "error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a "
            "transfer, or be disassociated from snapshots after volume transfer." in str(err.value))


def test_extend_of_in_use_volume_below_342_is_400(cloud, booted):
    with pytest.raises(cinder_exc.BadRequest) as err:
        cloud.cinder30.volumes.extend(booted["data"], 2)
    assert (f"Invalid volume: Volume {booted['data']} status must be '{{'status': 'available'}}' to extend, "
            "currently in-use." in str(err.value))
    assert cloud.cinder.volumes.get(booted["data"]).size == 1


def test_confirm_resize_outside_verify_resize_is_409(cloud, booted):
    ensure(cloud, booted["server"], "ACTIVE")
    with pytest.raises(nova_exc.Conflict) as err:
        cloud.nova.servers.confirm_resize(booted["server"])
    assert f"Cannot 'confirmResize' instance {booted['server']} while it is in vm_state active" in str(err.value)


def test_resize_to_same_flavor_is_400(cloud, booted):
    with pytest.raises(nova_exc.BadRequest) as err:
        cloud.nova.servers.resize(booted["server"], cloud.flavor("m1.tiny").id)
    assert "When resizing, instances must change flavor!" in str(err.value)


def test_stop_of_stopped_server_is_409(cloud, booted):
    ensure(cloud, booted["server"], "SHUTOFF")
    with pytest.raises(nova_exc.Conflict) as err:
        cloud.nova.servers.stop(booted["server"])
    assert f"Cannot 'stop' instance {booted['server']} while it is in vm_state stopped" in str(err.value)


def test_compute_quota_over_limit_is_403(cloud, booted):
    admin = cloud.admin_session()
    if admin is None:
        pytest.skip("needs OS_ADMIN_USERNAME / OS_ADMIN_PASSWORD / OS_ADMIN_PROJECT_NAME")
    from novaclient import client as nova_client

    nova_admin = nova_client.Client("2.79", session=admin)
    before = cloud.nova.quotas.get(cloud.project_id).instances
    with pytest.raises(nova_exc.BadRequest) as err:
        nova_admin.quotas.update(cloud.project_id, instances=0)
    assert "Quota limit 0 for instances must be greater than or equal to already used and reserved" in str(err.value)
    used = nova_admin.quotas.get(cloud.project_id, detail=True).instances["in_use"]
    nova_admin.quotas.update(cloud.project_id, instances=used)
    try:
        spare = cloud.create_volume(1, image=cloud.image().id, suffix="quota")
        cloud.wait_volume(spare.id, "available")
        with pytest.raises(nova_exc.Forbidden) as err:
            cloud.boot(cloud.flavor("m1.tiny").id, [spare.id], suffix="over-quota")
        assert (f"Quota exceeded for instances: Requested 1, but already used {used} of {used} instances"
                in str(err.value))
    finally:
        nova_admin.quotas.update(cloud.project_id, instances=before)


def test_boot_from_non_bootable_volume_is_400(cloud, booted):
    spare = cloud.create_volume(1, suffix="not-bootable")
    cloud.wait_volume(spare.id, "available")
    with pytest.raises(nova_exc.BadRequest) as err:
        cloud.boot(cloud.flavor("m1.tiny").id, [spare.id], suffix="not-bootable")
    assert f"Block Device {spare.id} is not bootable." in str(err.value)


def test_extend_of_in_use_volume_at_342_is_accepted_then_fails(cloud, booted):
    admin = cloud.admin_session()
    if admin is None:
        pytest.skip("needs admin credentials to reset the volume afterwards")
    from cinderclient import client as cinder_client

    ensure(cloud, booted["server"], "ACTIVE")
    cloud.cinder342.volumes.extend(booted["data"], 2)
    vol, states = cloud.wait_for(lambda: cloud.cinder.volumes.get(booted["data"]),
                                 lambda v: v.status in ("error_extending", "in-use") and v.status != "extending")
    assert vol.status == "error_extending" and vol.size == 1, states
    cinder_client.Client("3.0", session=admin).volumes.reset_state(booted["data"], "in-use")
