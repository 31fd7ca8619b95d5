"""Importing servers that no instance tracks: the pulled list with its reasons, the import, and its worker.

Servers are made in the cloud with the raw clients (novaclient, cinderclient), as someone outside
NodeConductor would. The full scenario (import, stop, resize flavor and disk, delete) runs on the simulator
and, marked realcloud, on the mini OpenStack.
"""

import time
import uuid as uuidlib

import pytest
from django.urls import reverse
from django.utils import timezone

from nodeconductor.events.models import Event
from nodeconductor.iaas.models import (
    Cloud,
    CloudProjectMembership,
    CloudRead,
    ImportableServer,
    Instance,
    InstanceState,
    SyncState,
)
from nodeconductor.iaas.resource_operations import run_cloud_pull
from tests.fixtures.roles import check_matrix
from tests.iaas import factories
from tests.iaas.views.test_instances import link, make_instance, run_tasks, url

S = InstanceState
PREFIX = "ncimport-"


def member_url(membership, action):
    """Path of a membership action."""
    return reverse("cloudprojectmembership-detail", kwargs={"uuid": membership.uuid}) + f"{action}/"


# ---------------------------------------------------------------------------------------------- raw clients
class Raw:
    """A tenant's Nova and Cinder through the real client libraries, as a user outside NodeConductor has them."""

    def __init__(self, iaas):
        backend = iaas.cloud.get_backend()
        self.tenant = iaas.membership.tenant_id
        self.nova, self.cinder = backend.nova(self.tenant), backend.cinder(self.tenant)
        self.image_id = iaas.env.image_id
        self.interval = 0.05 if iaas.env.sim else 1.0
        self.made = []

    def wait(self, what, check, timeout=120):
        """Poll `check` until it returns something true."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = check()
            if value:
                return value
            time.sleep(self.interval)
        raise AssertionError(f"timed out waiting for {what}")

    def volume(self, size=1, image_id=None):
        """An available volume (from an image when given), in GiB."""
        name = f"{PREFIX}{uuidlib.uuid4().hex[:8]}"
        volume = self.cinder.volumes.create(size=size, name=name, imageRef=image_id)
        self.made.append(("volume", volume.id))
        self.wait(f"volume {volume.id}", lambda: self.cinder.volumes.get(volume.id).status == "available")
        return volume.id

    def server(self, flavor_id, data_volumes=1, from_image=False, image_id=None, name=None, status="ACTIVE"):
        """A server booted from a root volume made from the image, with `data_volumes` more; or from the image."""
        name = name or f"{PREFIX}{uuidlib.uuid4().hex[:8]}"
        if from_image:
            server = self.nova.servers.create(name=name, image=self.image_id, flavor=flavor_id, nics="none")
        else:
            root = self.volume(image_id=image_id or self.image_id)
            bdm = [{"uuid": root, "source_type": "volume", "destination_type": "volume", "boot_index": 0}]
            bdm += [{"uuid": self.volume(), "source_type": "volume", "destination_type": "volume", "boot_index": -1}
                    for _ in range(data_volumes)]  # fmt: skip
            server = self.nova.servers.create(name=name, image=None, flavor=flavor_id, block_device_mapping_v2=bdm,
                                              nics="none")  # fmt: skip
        self.made.insert(0, ("server", server.id))
        self.wait(f"server {server.id} ACTIVE", lambda: self.nova.servers.get(server.id).status == "ACTIVE")
        if status == "SHUTOFF":
            self.nova.servers.stop(server.id)
            self.wait(f"server {server.id} SHUTOFF", lambda: self._idle(server.id, "SHUTOFF"))
        return self.nova.servers.get(server.id)

    def _idle(self, server_id, status):
        server = self.nova.servers.get(server_id)
        return server.status == status and getattr(server, "OS-EXT-STS:task_state", None) is None

    def cleanup(self):
        """Delete what this helper made that is still there (servers first, then their volumes)."""
        from novaclient import exceptions as nova_exc

        for kind, rid in self.made:
            if kind == "server":
                try:
                    self.nova.servers.delete(rid)
                    self.wait(f"server {rid} gone", lambda rid=rid: not self.nova.servers.list(search_opts={
                        "name": "^" + PREFIX}) or rid not in {s.id for s in self.nova.servers.list()})  # fmt: skip
                except nova_exc.NotFound:
                    pass
        for kind, rid in self.made:
            if kind == "volume":
                try:
                    volume = self.cinder.volumes.get(rid)
                    if volume.status in ("available", "error"):
                        self.cinder.volumes.delete(rid)
                except Exception:  # noqa: BLE001 - gone already (deleted with its server)
                    pass


@pytest.fixture
def raw(iaas):
    """Raw clients on the simulator's tenant."""
    helper = Raw(iaas)
    yield helper
    helper.cleanup()


def pull(iaas):
    """The periodic pull of the cloud (a worker): it records the tenant's untracked servers."""
    run_cloud_pull(iaas.cloud)


@pytest.fixture
def as_read(iaas, settings):
    """The tenant was just read and its answer is reused for the test's whole length: the list shows the rows on
    record (a pull's, or rows a test makes without a cloud), and a request does not read the cloud again."""
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "CLOUD_READ_FRESH_FOR": 3600}
    now = timezone.now()
    CloudRead.objects.create(key=f"importable:{iaas.membership.uuid}", kind="importable", requested=now,
                             answered=now, token="as-read", answered_token="as-read",
                             params={"membership": str(iaas.membership.uuid)})  # fmt: skip


def listed(roles, iaas, role="admin"):
    """The importable list as `role` sees it, by server id."""
    response = roles.client_as(role).get(member_url(iaas.membership, "importable_instances"))
    assert response.status_code == 200, response.content
    return {item["backend_id"]: item for item in response.json()}


def row(iaas, backend_id, **fields):
    """An ImportableServer as a pull records an importable server (for tests that make no cloud call)."""
    from django.utils import timezone

    values = dict(
        membership=iaas.membership, backend_id=backend_id, name=f"srv-{backend_id}", status="ACTIVE",
        flavor=iaas.flavor, flavor_backend_id=iaas.flavor.backend_id, template=iaas.template,
        image_backend_id=iaas.env.image_id, system_volume_id=f"root-{backend_id}", system_volume_size=1024,
        data_volume_id=f"data-{backend_id}", data_volume_size=1024, pulled=timezone.now(),
    )  # fmt: skip
    values.update(fields)
    return ImportableServer.objects.create(**values)


# ---------------------------------------------------------------------------------------------- the list
def test_the_pull_lists_an_untracked_server_with_what_an_import_makes_of_it(iaas, roles, raw):
    server = raw.server(iaas.flavor.backend_id)
    pull(iaas)
    item = listed(roles, iaas)[server.id]
    volumes = [v for v in iaas.env.sim.volumes() if v["attachments"]]
    root = next(v for v in volumes if v["bootable"])
    data = next(v for v in volumes if not v["bootable"])
    assert item == {
        "backend_id": server.id, "name": server.name, "status": "ACTIVE", "importable": True, "reasons": [],
        "flavor": link("flavor", iaas.flavor), "flavor_name": iaas.flavor.name,
        "flavor_backend_id": iaas.flavor.backend_id, "cores": iaas.flavor.cores, "ram": iaas.flavor.ram,
        "template": link("template", iaas.template), "template_name": iaas.template.name,
        "image_backend_id": iaas.env.image_id, "system_volume_id": root["id"], "system_volume_size": 1024,
        "data_volume_id": data["id"], "data_volume_size": 1024, "internal_ips": "", "external_ips": "",
        "created_in_cloud": item["created_in_cloud"], "launched_at": item["launched_at"], "pulled": item["pulled"],
    }  # fmt: skip
    assert item["launched_at"] and item["created_in_cloud"] and item["pulled"]
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        pull(iaas)
    writes = [q["sql"] for q in queries if "iaas_importableserver" in q["sql"] and not q["sql"].startswith("SELECT")]
    assert writes == []
    assert listed(roles, iaas)[server.id] == item  # unchanged, not rewritten


def test_the_list_says_why_a_server_cannot_be_imported(iaas, roles, raw):
    sim = iaas.env.sim
    flavor = iaas.flavor.backend_id
    from_image = raw.server(flavor, from_image=True)
    no_data = raw.server(flavor, data_volumes=0)
    two_data = raw.server(flavor, data_volumes=2)
    gone_flavor = sim.add_flavor("ncimport.gone", ram=256)["id"]
    unknown_flavor = raw.server(gone_flavor)
    sim.remove_flavor(gone_flavor)  # deleted in the cloud: the pull does not know it
    image = sim.add_image("unmapped")["id"]
    unmapped = raw.server(flavor, image_id=image)
    pull(iaas)
    items = listed(roles, iaas)
    assert {sid: item["reasons"] for sid, item in items.items()} == {
        from_image.id: [
            f"it is not booted from a volume (it runs from image {iaas.env.image_id} on the hypervisor's disk); "
            "an instance boots from its root volume"
        ],
        no_data.id: ["it has no data volume; an instance has a root volume and exactly one data volume"],
        two_data.id: ["it has 2 extra volumes; an instance has exactly one data volume"],
        unknown_flavor.id: [f"its flavor {gone_flavor} is unknown to the last pull of the cloud"],
        unmapped.id: [f"the image {image} of its root volume has no template mapping"],
    }
    assert not any(item["importable"] for item in items.values())
    response = roles.client_as("admin").post(
        member_url(iaas.membership, "import_instance"), {"server_id": two_data.id}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "backend_id": [f"Server {two_data.name} ({two_data.id}) cannot be imported: it has 2 extra volumes; an "
                       "instance has exactly one data volume."],
        "code": "not_importable",
    }  # fmt: skip
    assert not Instance.objects.exists()


def test_servers_of_instances_are_not_listed_and_imported_ones_vanish_at_once(iaas, roles, raw):
    from tests.iaas.views.test_instances import provision

    ours = provision(iaas, roles)
    server = raw.server(iaas.flavor.backend_id)
    pull(iaas)
    assert set(listed(roles, iaas)) == {server.id}
    make_instance(iaas, S.ONLINE, backend_id=server.id)  # imported since the pull
    assert listed(roles, iaas) == {}
    assert ours.backend_id not in {s.backend_id for s in ImportableServer.objects.all()}


def test_the_list_reads_the_cloud_when_asked_and_reuses_a_fresh_answer(iaas, roles, raw, settings):
    server = raw.server(iaas.flavor.backend_id)  # no pull since: the list reads the tenant now
    assert set(listed(roles, iaas)) == {server.id}
    lists = iaas.env.sim.call_counts()["compute.server_list"]
    later = raw.server(iaas.flavor.backend_id)
    assert set(listed(roles, iaas, "owner")) == {server.id}  # within CLOUD_READ_FRESH_FOR: the answer is reused
    assert iaas.env.sim.call_counts()["compute.server_list"] == lists
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "CLOUD_READ_FRESH_FOR": 0}
    assert set(listed(roles, iaas)) == {server.id, later.id}
    assert iaas.env.sim.call_counts()["compute.server_list"] > lists


def test_a_sync_of_the_membership_refreshes_the_list(iaas, roles, raw, as_read):
    server = raw.server(iaas.flavor.backend_id)
    assert listed(roles, iaas) == {}
    with run_tasks():
        response = roles.client_as("owner").post(member_url(iaas.membership, "sync"))
    assert response.status_code == 202
    assert set(listed(roles, iaas)) == {server.id}
    raw.nova.servers.delete(server.id)
    raw.wait("server gone", lambda: server.id not in {s["id"] for s in iaas.env.sim.servers()})
    from nodeconductor.iaas.importable import refresh_importable

    lines = refresh_importable(iaas.cloud.get_backend(), iaas.membership)
    assert lines == [f"untracked server {server.name} ({server.id}) gone from {iaas.membership}"]
    assert listed(roles, iaas) == {}


def test_list_matrix_and_managers_are_refused(iaas, roles, as_read):
    row(iaas, "s1")
    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get(member_url(iaas.membership, "importable_instances")))
    bodies = {r: responses[r].json() for r in ("admin", "owner", "staff")}
    assert [item["backend_id"] for item in bodies["admin"]] == ["s1"]
    assert bodies["admin"] == bodies["owner"] == bodies["staff"]
    assert responses["manager"].json() == {
        "detail": "Only owners of the customer, administrators of the project and staff list importable servers.",
        "code": "permission_denied",
    }
    assert responses["stranger"].json() == {"detail": "Not found.", "code": "not_found"}
    assert responses["admin"]["X-Result-Count"] == "1"


def test_list_query_count_is_constant(iaas, roles, django_assert_num_queries, as_read):
    client = roles.client_as("admin")
    path = member_url(iaas.membership, "importable_instances")
    row(iaas, "s0", flavor=None, template=None, reasons=["it is ERROR; only ACTIVE or SHUTOFF servers can be imported"])
    # membership, owner check, administrator check, the tenant's binding, the read on record, count, page
    with django_assert_num_queries(7):
        assert len(client.get(path).json()) == 1
    for n in range(1, 30):
        row(iaas, f"s{n}")
    with django_assert_num_queries(7):
        assert len(client.get(path, {"page_size": 25}).json()) == 25


def test_import_matrix(iaas, roles, as_read):
    for role in ("admin", "staff", "manager"):
        row(iaas, role)
    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "owner": 403, "admin": 201, "staff": 201}
    server = {"anonymous": "manager", "stranger": "manager", "owner": "manager"}
    responses = check_matrix(roles, expected, lambda c, r: c.post(
        member_url(iaas.membership, "import_instance"), {"server_id": server.get(r, r)}, format="json"))  # fmt: skip
    refused = {"detail": "Only project administrators and staff import servers.", "code": "permission_denied"}
    assert responses["manager"].json() == responses["owner"].json() == refused
    for role in ("admin", "staff"):
        body = responses[role].json()
        assert body["state"] == "Provisioning Scheduled" and body["backend_id"] == role
        assert body["operation"]["name"] == "import" and body["operation"]["state"] == "queued"
        assert body["system_volume_id"] == f"root-{role}" and body["data_volume_id"] == f"data-{role}"
        assert body["flavor"] == link("flavor", iaas.flavor) and body["template"] == link("template", iaas.template)
    assert sorted(Instance.objects.values_list("backend_id", flat=True)) == ["admin", "staff"]
    event = Event.objects.filter(event_type="instance_import_scheduled").order_by("created").first()
    assert event is not None and event.message == "Instance srv-admin: import scheduled"


def _import(roles, iaas, server_id, role="admin"):
    return roles.client_as(role).post(
        member_url(iaas.membership, "import_instance"), {"server_id": server_id}, format="json"
    )


def test_import_refusals(iaas, roles, as_read):
    response = _import(roles, iaas, "no-such-server")
    assert response.status_code == 400
    assert response.json() == {
        "backend_id": [f"Server no-such-server is not among the untracked servers of tenant "
                       f"{iaas.membership.tenant_id}; list importable_instances to see them."],
        "code": "not_found_in_cloud",
    }  # fmt: skip
    assert _import(roles, iaas, "").json()["code"] == "invalid"
    tracked = make_instance(iaas, S.ONLINE, hostname="web", backend_id="taken")
    row(iaas, "taken")
    response = _import(roles, iaas, "taken")
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"Server taken is already managed as instance web ({tracked.uuid}) of project "
        f"{iaas.membership.project.name}.",
        "code": "conflict",
    }
    row(iaas, "big")
    iaas.membership.quota_max_instances = 1
    iaas.membership.save()
    response = _import(roles, iaas, "big")
    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": ["Quota exceeded in the project's tenant: instances: 1 in use + 1 requested > limit 1"],
        "code": "quota_exceeded",
    }
    type(iaas.membership).objects.filter(pk=iaas.membership.pk).update(state=SyncState.ERRED)
    response = _import(roles, iaas, "big")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "The membership must be In Sync to import; it is Erred.",
        "code": "invalid_state",
    }
    assert list(Instance.objects.values_list("backend_id", flat=True)) == ["taken"]


def test_a_server_gone_since_the_pull_ends_erred_holding_nothing(iaas, roles, raw, as_read):
    server = raw.server(iaas.flavor.backend_id)
    pull(iaas)
    raw.nova.servers.delete(server.id)
    raw.wait("server gone", lambda: server.id not in {s["id"] for s in iaas.env.sim.servers()})
    with run_tasks():
        response = _import(roles, iaas, server.id)
    assert response.status_code == 201, response.content
    instance = Instance.objects.get()
    assert instance.state == S.ERRED
    tenant = iaas.membership.tenant_id
    assert instance.error_message == f"not_found_in_cloud: server {server.id} is not in tenant {tenant} (any more)."
    assert (instance.backend_id, instance.system_volume_id, instance.data_volume_id) == ("", "", "")
    assert Instance.objects.holding_quota().count() == 0
    volumes = {v["id"] for v in iaas.env.sim.volumes()}
    with run_tasks():
        assert roles.client_as("admin").delete(url(instance)).status_code == 202
    assert not Instance.objects.exists()
    assert {v["id"] for v in iaas.env.sim.volumes()} == volumes  # the user's volumes were not ours to delete


def test_a_server_changed_since_the_pull_is_refused_by_the_worker(iaas, roles, raw, as_read):
    server = raw.server(iaas.flavor.backend_id)
    pull(iaas)
    raw.nova.volumes.create_server_volume(server.id, raw.volume())
    raw.wait("attached", lambda: len(raw.nova.volumes.get_server_volumes(server.id)) == 3)
    with run_tasks():
        assert _import(roles, iaas, server.id).status_code == 201
    instance = Instance.objects.get()
    assert instance.state == S.ERRED
    assert instance.error_message == (
        f"not_importable: server {server.id} cannot be imported: it has 2 extra volumes; an instance has exactly "
        "one data volume."
    )
    assert instance.backend_id == "" and {s["id"] for s in iaas.env.sim.servers()} == {server.id}
    event = Event.objects.get(event_type="instance_import_failed")
    assert "2 extra volumes" in event.message


def test_a_stopped_server_is_imported_offline(iaas, roles, raw):
    server = raw.server(iaas.flavor.backend_id, status="SHUTOFF")
    pull(iaas)
    with run_tasks():
        assert _import(roles, iaas, server.id).status_code == 201
    instance = Instance.objects.get()
    assert (instance.state, instance.start_time, instance.error_message) == (S.OFFLINE, None, "")
    body = roles.client_as("admin").get(url(instance)).json()
    assert body["actions"]["start"] == {"enabled": True, "reason": ""}
    assert body["actions"]["import"]["enabled"] is False


def test_a_server_tracked_under_another_cloud_row_of_the_openstack_is_neither_listed_nor_imported(iaas, roles, as_read):
    # Two Cloud rows of the customer on one OpenStack, both bound to the tenant (staff may): what one tracks,
    # the other neither offers nor imports (security review, finding 1: tracked per OpenStack and tenant).
    second = Cloud.objects.create(customer=roles.customer, name="Second row", auth_url=iaas.cloud.auth_url + "/")
    other = CloudProjectMembership.objects.create(project=roles.project, cloud=second,
                                                  tenant_id=iaas.membership.tenant_id)  # fmt: skip
    held = factories.InstanceFactory(cloud_project_membership=other, backend_id="srv-held", hostname="held")
    row(iaas, "srv-held")  # as a pull before that import recorded it
    assert "srv-held" not in listed(roles, iaas)
    with run_tasks():
        response = roles.client_as("admin").post(member_url(iaas.membership, "import_instance"),
                                                 {"server_id": "srv-held"}, format="json")  # fmt: skip
    assert response.status_code == 409
    assert response.json() == {
        "detail": f"Server srv-held is already managed as instance held ({held.uuid}) of project {roles.project.name}.",
        "code": "conflict",
    }
