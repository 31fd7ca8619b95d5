"""Contract: what a provision's retry after Nova's failed build relies on. A server in ERROR (the admin's os-resetState
puts it there) deletes the volumes it was booted with delete_on_termination=True, unless a 2.85 attachment update
said false first; Nova allows that update on a server in ERROR, and refuses the older (swap) form."""

import pytest
from novaclient import client as nova_client
from novaclient import exceptions as nova_exc


def boot_owning(c, root_id, data_id):
    """Boot a tracked server from the root volume with the data volume, both delete_on_termination=True, as the
    broker boots; wait for ACTIVE."""
    bdm = [{"uuid": vid, "source_type": "volume", "destination_type": "volume", "boot_index": index,
            "delete_on_termination": True} for vid, index in ((root_id, 0), (data_id, -1))]  # fmt: skip
    srv = c.nova.servers.create(f"{c.prefix}-retry", image=None, flavor=c.flavor("m1.tiny").id,
                                block_device_mapping_v2=bdm, nics="none")  # fmt: skip
    c.servers.append(srv.id)
    c.wait_server(srv.id, "ACTIVE")
    return srv.id


def in_error(c):
    """A tracked server in ERROR (by the admin's os-resetState) owning two tracked volumes: (server, root, data)."""
    admin = c.admin_session()
    if admin is None:
        pytest.skip("os-resetState needs the admin's credentials: OS_ADMIN_USERNAME, OS_ADMIN_PASSWORD and "
                    "OS_ADMIN_PROJECT_NAME")
    root, data = c.create_volume(1, image=c.image().id, suffix="root"), c.create_volume(1, suffix="data")
    c.wait_volume(root.id, "available")
    c.wait_volume(data.id, "available")
    sid = boot_owning(c, root.id, data.id)
    nova_client.Client("2.79", session=admin).servers.reset_state(sid, "error")
    c.wait_for(lambda: c.nova.servers.get(sid), lambda s: s.status == "ERROR")
    return sid, root.id, data.id


def delete_and_wait(c, sid):
    """Delete the server, wait until Nova answers 404, and say whether a list by its name still shows it."""
    c.nova.servers.delete(sid)
    seen = c.wait_gone(lambda: c.nova.servers.get(sid))
    c.servers.remove(sid)
    return seen, [s.id for s in c.nova.servers.list(search_opts={"name": f"{c.prefix}-retry"})]


def test_a_server_in_error_keeps_its_volumes_once_a_285_update_says_so(fresh):
    c = fresh
    sid, root, data = in_error(c)
    nova285 = nova_client.Client("2.85", session=c.session)
    for vid in (root, data):
        nova285.volumes.update_server_volume(sid, vid, vid, delete_on_termination=False)
    assert [(a.volumeId, a.delete_on_termination) for a in nova285.volumes.get_server_volumes(sid)] == [
        (root, False), (data, False)]  # fmt: skip
    assert c.nova.servers.get(sid).status == "ERROR"  # the update changes nothing else

    seen, listed = delete_and_wait(c, sid)
    assert seen[-1] == "GONE" and listed == []
    for vid in (root, data):
        volume, _ = c.wait_volume(vid, "available")
        assert volume.attachments == []
    assert c.cinder.volumes.get(root).bootable == "true"  # the retry boots from it again


def test_without_the_update_the_server_in_error_takes_its_volumes_with_it(fresh):
    c = fresh
    sid, root, data = in_error(c)
    delete_and_wait(c, sid)
    for vid in (root, data):
        assert c.wait_gone(lambda vid=vid: c.cinder.volumes.get(vid))[-1] == "GONE"
        c.volumes.remove(vid)


def test_below_285_the_update_is_a_swap_refused_on_a_server_in_error(fresh):
    c = fresh
    sid, _, data = in_error(c)
    with pytest.raises(nova_exc.Forbidden) as err:
        nova_client.Client("2.84", session=c.session).volumes.update_server_volume(sid, data, data)
    assert "Policy doesn't allow os_compute_api:os-volumes-attachments:swap to be performed." in str(err.value)
    with pytest.raises(nova_exc.Conflict) as err:
        nova_client.Client("2.84", session=c.admin_session()).volumes.update_server_volume(sid, data, data)
    assert f"Cannot 'swap_volume' instance {sid} while it is in vm_state error" in str(err.value)
    assert {a.delete_on_termination for a in c.nova.volumes.get_server_volumes(sid)} == {True}
