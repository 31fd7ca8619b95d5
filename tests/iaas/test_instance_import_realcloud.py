"""An imported server is operated like one NodeConductor made: on the simulator and, marked realcloud, on the
mini OpenStack (`iaas_any`). The server is made with the raw clients, booted from a root volume with one data
volume; it is imported, stopped, resized (flavor, then disk) and deleted through the API.
"""

import pytest

from nodeconductor.events.models import Event
from nodeconductor.iaas.models import Instance, InstanceState
from nodeconductor.iaas.pull.instances import pull_instances
from tests.iaas.test_instance_import import Raw, member_url
from tests.iaas.views.test_instances import link, run_tasks, url

S = InstanceState


@pytest.fixture
def raw_any(iaas_any):
    """Raw clients on the tenant of the simulator or of the real cloud; what they made is deleted after."""
    helper = Raw(iaas_any)
    yield helper
    helper.cleanup()


def act(client, path, body=None, expected=202):
    """One API request whose tasks run at once (eagerly), checked for its status."""
    with run_tasks():
        response = client.post(path, body or {}, format="json")
    assert response.status_code == expected, response.content
    return response.json()


def test_an_imported_server_is_stopped_resized_and_deleted_like_ours(iaas_any, roles, raw_any):
    iaas, raw = iaas_any, raw_any
    admin = roles.client_as("admin")
    server = raw.server(iaas.flavor.backend_id)
    volumes = {a.volumeId: raw.cinder.volumes.get(a.volumeId) for a in raw.nova.volumes.get_server_volumes(server.id)}
    root = next(v for v in volumes.values() if v.bootable == "true")
    data = next(v for v in volumes.values() if v.bootable != "true")

    # Importable at once, with no pull since the server was made: a worker reads the tenant when the list is asked.
    listed = {i["backend_id"]: i for i in admin.get(member_url(iaas.membership, "importable_instances"),
                                                    {"page_size": 200}).json()}  # fmt: skip
    assert listed[server.id]["reasons"] == [] and listed[server.id]["importable"] is True

    body = act(admin, member_url(iaas.membership, "import_instance"), {"backend_id": server.id}, expected=201)
    assert body["state"] == "Provisioning Scheduled"  # as answered; the worker ran on commit
    instance = Instance.objects.get(uuid=body["uuid"])
    assert instance.state == S.ONLINE, instance.error_message
    shown = admin.get(url(instance)).json()
    launched = raw.nova.servers.get(server.id)._info["OS-SRV-USG:launched_at"]
    assert {k: shown[k] for k in ("hostname", "state", "backend_id", "system_volume_id", "data_volume_id",
                                  "system_volume_size", "data_volume_size", "flavor", "cores", "ram", "template",
                                  "internal_ips", "external_ips", "operation", "error_message")} == {
        "hostname": server.name, "state": "Online", "backend_id": server.id, "system_volume_id": root.id,
        "data_volume_id": data.id, "system_volume_size": 1024, "data_volume_size": 1024,
        "flavor": link("flavor", iaas.flavor), "cores": iaas.flavor.cores, "ram": iaas.flavor.ram,
        "template": link("template", iaas.template), "internal_ips": "", "external_ips": "", "operation": None,
        "error_message": "",
    }  # fmt: skip
    assert shown["start_time"].startswith(launched[:19])
    logged = set(Event.objects.filter(resource_uuid=instance.uuid).values_list("event_type", flat=True))
    assert {"instance_import_scheduled", "instance_import_step_done", "instance_import_succeeded"} <= logged
    assert "instance_import_failed" not in logged
    after = admin.get(member_url(iaas.membership, "importable_instances"), {"page_size": 200}).json()
    assert server.id not in {i["backend_id"] for i in after}
    # The next pull keeps it in sync: stopped behind our back, it is Offline after the pull.
    raw.nova.servers.stop(server.id)
    raw.wait("SHUTOFF", lambda: raw._idle(server.id, "SHUTOFF"))
    assert pull_instances(iaas.cloud.get_backend(), iaas.membership) == [f"instance {server.name}: recover_offline"]
    raw.nova.servers.start(server.id)
    raw.wait("ACTIVE", lambda: raw._idle(server.id, "ACTIVE"))
    assert pull_instances(iaas.cloud.get_backend(), iaas.membership) == [f"instance {server.name}: recover_online"]

    assert act(admin, url(instance, "stop")) == {"status": "stop was scheduled"}
    instance.refresh_from_db()
    assert instance.state == S.OFFLINE and raw.nova.servers.get(server.id).status == "SHUTOFF"

    bigger = iaas.cloud.flavors.exclude(pk=iaas.flavor.pk).order_by("ram").first()
    assert act(admin, url(instance, "resize"), {"flavor": link("flavor", bigger)}) == {"status": "resize was scheduled"}
    instance.refresh_from_db()
    assert (instance.state, instance.flavor, instance.ram) == (S.OFFLINE, bigger, bigger.ram), instance.error_message
    assert str(raw.nova.servers.get(server.id).flavor["id"]) == bigger.backend_id

    assert act(admin, url(instance, "resize"), {"disk_size": 2048}) == {"status": "resize was scheduled"}
    instance.refresh_from_db()
    assert (instance.state, instance.data_volume_size) == (S.OFFLINE, 2048), instance.error_message
    grown = raw.cinder.volumes.get(data.id)
    assert (grown.size, grown.status) == (2, "in-use")

    with run_tasks():
        response = admin.delete(url(instance))
    assert response.status_code == 202 and response.json() == {"status": "deletion was scheduled"}
    assert not Instance.objects.filter(pk=instance.pk).exists()
    assert server.id not in {s.id for s in raw.nova.servers.list()}
    left = {v.id for v in raw.cinder.volumes.list()}
    assert root.id not in left and data.id not in left
