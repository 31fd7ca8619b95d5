"""Nova's volume attachment update (2.85: delete_on_termination; below: the admin's swap and its refusals), the
admin's os-resetState, and a server delete that follows each attachment's delete_on_termination."""

import pytest
from novaclient import client as nova_client
from novaclient import exceptions as nova_exc

from .helpers import boot, clients, session, wait


def novas(sim, version):
    """(the demo member's, the admin's) Nova clients at `version`."""
    admin = session(sim, user="admin", password="admin", project="admin")
    return nova_client.Client(version, session=session(sim)), nova_client.Client(version, session=admin)


def gone(nova, cinder, server_id, volume_ids):
    """Wait until the server is deleted; the volumes still there, by id."""
    wait(lambda: [s.id for s in nova.servers.list()], lambda ids: server_id not in ids)
    wait(lambda: [v.status for v in cinder.volumes.list()], lambda st: "deleting" not in st)
    return {v.id for v in cinder.volumes.list()} & set(volume_ids)


@pytest.mark.parametrize("keep", [True, False])
def test_a_delete_follows_each_attachments_delete_on_termination(cloudsim, keep):
    nova, cinder = clients(cloudsim)
    srv, vols = boot(nova, cinder, data=True, delete_on_termination=not keep)
    nova.servers.delete(srv.id)
    assert gone(nova, cinder, srv.id, vols) == (set(vols) if keep else set())
    if keep:
        assert {cinder.volumes.get(v).status for v in vols} == {"available"}


def test_from_285_the_update_keeps_the_volumes_of_a_server_in_error(cloudsim):
    nova, cinder = clients(cloudsim)
    srv, vols = boot(nova, cinder, data=True, delete_on_termination=True)
    member, admin = novas(cloudsim, "2.85")
    admin.servers.reset_state(srv.id, "error")
    assert nova.servers.get(srv.id).status == "ERROR"
    for vid in vols:
        member.volumes.update_server_volume(srv.id, vid, vid, delete_on_termination=False)  # 202, no body
    assert [(a.volumeId, a.delete_on_termination) for a in member.volumes.get_server_volumes(srv.id)] == [
        (vols[0], False), (vols[1], False)]  # fmt: skip
    shown = getattr(nova.servers.get(srv.id), "os-extended-volumes:volumes_attached")
    assert shown == [{"id": vols[0], "delete_on_termination": False}, {"id": vols[1], "delete_on_termination": False}]
    nova.servers.delete(srv.id)
    assert gone(nova, cinder, srv.id, vols) == set(vols)
    assert [c["status"] for c in cloudsim.call_log if c["operation"] == "compute.volume_attachment_update"] == [202] * 2


def test_below_285_the_update_is_the_admins_swap_and_refused_as_nova_does(cloudsim):
    nova, cinder = clients(cloudsim)
    srv, vols = boot(nova, cinder, data=True)
    member, admin = novas(cloudsim, "2.84")
    with pytest.raises(nova_exc.Forbidden) as err:
        member.volumes.update_server_volume(srv.id, vols[1], vols[1])
    assert "Policy doesn't allow os_compute_api:os-volumes-attachments:swap to be performed." in str(err.value)
    with pytest.raises(nova_exc.BadRequest) as err:
        admin.volumes.update_server_volume(srv.id, vols[1], vols[1])
    assert "Invalid volume: New volume must be detached in order to swap." in str(err.value)
    admin.servers.reset_state(srv.id, "error")
    with pytest.raises(nova_exc.Conflict) as err:
        admin.volumes.update_server_volume(srv.id, vols[1], vols[1])
    assert f"Cannot 'swap_volume' instance {srv.id} while it is in vm_state error" in str(err.value)
    # Another volume at 2.85 is a swap too: the member's is refused before anything changes.
    with pytest.raises(nova_exc.Forbidden):
        novas(cloudsim, "2.85")[0].volumes.update_server_volume(srv.id, vols[1], vols[0], delete_on_termination=True)
    assert {a.delete_on_termination for a in nova.volumes.get_server_volumes(srv.id)} == {False}


def test_the_285_update_refuses_what_nova_does(cloudsim):
    nova, cinder = clients(cloudsim)
    srv, vols = boot(nova, cinder, data=True)
    member, _ = novas(cloudsim, "2.85")
    path = f"/servers/{srv.id}/os-volume_attachments/{vols[1]}"
    cases = [
        ({"volumeId": vols[1], "device": "/dev/sdz"}, 400, "The device property is not mutable"),
        ({"volumeId": vols[1], "serverId": vols[0]}, 400, "The serverId property is not mutable"),
        ({"volumeId": vols[1], "delete_on_termination": "maybe"}, 400, "delete_on_termination"),
        ({"volumeId": vols[1], "delete_on_termination": 1}, 400, "delete_on_termination"),
        ({"volumeId": vols[1], "color": "red"}, 400, "('color' was unexpected)"),
        ({"delete_on_termination": True}, 400, "'volumeId' is a required property"),
    ]
    for body, status, text in cases:
        with pytest.raises(nova_exc.ClientException) as err:
            member.client.put(path, body={"volumeAttachment": body})
        assert (err.value.code, text in str(err.value)) == (status, True), (body, str(err.value))
    with pytest.raises(nova_exc.NotFound) as err:
        member.volumes.update_server_volume(srv.id, "nope", "nope", delete_on_termination=True)
    assert "No volume Block Device Mapping with id nope." in str(err.value)
    member.client.put(path, body={"volumeAttachment": {"volumeId": vols[1], "delete_on_termination": "yes",
                                                       "device": "/dev/sdb", "id": vols[1], "serverId": srv.id}})
    assert [a.delete_on_termination for a in member.volumes.get_server_volumes(srv.id)] == [False, True]


def test_reset_state_is_the_admins_and_adds_no_fault(cloudsim):
    nova, cinder = clients(cloudsim)
    srv, _ = boot(nova, cinder)
    member, admin = novas(cloudsim, "2.79")
    with pytest.raises(nova_exc.Forbidden) as err:
        member.servers.reset_state(srv.id, "error")
    assert "os_compute_api:os-admin-actions:reset_state" in str(err.value)
    with pytest.raises(nova_exc.BadRequest):
        admin.client.post(f"/servers/{srv.id}/action", body={"os-resetState": {"state": "stopped"}})
    admin.servers.reset_state(srv.id, "error")
    errored = nova.servers.get(srv.id)
    assert (errored.status, getattr(errored, "OS-EXT-STS:task_state"), getattr(errored, "fault", None)) == (
        "ERROR", None, None)  # fmt: skip
    admin.servers.reset_state(srv.id, "active")
    assert nova.servers.get(srv.id).status == "ACTIVE"
