"""REST API of instances: list, retrieve and delete, against the simulated cloud (create: test_instance_create_api).

The helpers here are shared by the other instance API test modules.
"""

import pytest
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from nodeconductor.iaas.models import Cloud, CloudProjectMembership, Flavor, Instance, InstanceState, SyncState
from tests import factories
from tests.fixtures.roles import check_matrix

S = InstanceState
FIELDS = {
    "url", "uuid", "hostname", "description", "state", "error_message", "template", "template_name", "flavor",
    "flavor_name", "cores", "ram", "system_volume_size", "data_volume_size", "agreed_sla", "project",
    "project_name", "customer", "customer_name", "cloud", "cloud_name", "cloud_project_membership",
    "ssh_public_key", "key_name", "key_fingerprint", "user_data", "backend_id", "system_volume_id", "data_volume_id",
    "internal_ips", "external_ips", "start_time", "created", "modified", "actions", "operation", "monthly_cost",
    "currency",
}  # fmt: skip


def link(view, obj):
    """Absolute URL of obj's detail view, as the API writes references."""
    return "http://testserver" + reverse(f"{view}-detail", kwargs={"uuid": obj.uuid})


def url(instance, action=None):
    """Path of an instance or of one of its actions."""
    path = reverse("instance-detail", kwargs={"uuid": instance.uuid})
    return f"{path}{action}/" if action else path


def run_tasks():
    """Run the tasks that the request enqueues on commit (eagerly, against the simulator)."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def create_body(iaas, **overrides):
    """A valid create request for the project of `iaas` as its administrator."""
    body = {
        "hostname": "web-1",
        "description": "a web server",
        "template": link("template", iaas.template),
        "flavor": link("flavor", iaas.flavor),
        "project": link("project", iaas.membership.project),
        "ssh_public_key": link("sshpublickey", iaas.key),
        "system_volume_size": 1024,
        "data_volume_size": 1024,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def create_many(roles, iaas, count, prefix):
    """Create `count` instances over the API as the administrator; their uuids, in creation order."""
    client = roles.client_as("admin")
    uuids = []
    for n in range(count):
        response = client.post("/api/instances/", create_body(iaas, hostname=f"{prefix}-{n}"), format="json")
        assert response.status_code == 201, response.json()
        uuids.append(response.json()["uuid"])
    return uuids


def provision(iaas, roles, role="admin", **overrides):
    """Create an instance over the API and let the worker build it; return the fresh row."""
    with run_tasks():
        response = roles.client_as(role).post("/api/instances/", create_body(iaas, **overrides), format="json")
    assert response.status_code == 201, response.json()
    return Instance.objects.get(uuid=response.json()["uuid"])


def stop(iaas, roles, instance):
    """Stop an instance over the API, executed against the simulator."""
    with run_tasks():
        response = roles.client_as("admin").post(url(instance, "stop"))
    assert response.status_code == 202, response.json()
    instance.refresh_from_db()
    assert instance.state == S.OFFLINE, instance.error_message
    return instance


def make_instance(iaas, state=S.ONLINE, **kwargs):
    """A row in `state` without anything in the cloud, for tests that only schedule (no task runs)."""
    defaults = dict(
        hostname="row",
        template=iaas.template,
        cloud_project_membership=iaas.membership,
        flavor=iaas.flavor,
        cores=iaas.flavor.cores,
        ram=iaas.flavor.ram,
        system_volume_size=1024,
        data_volume_size=1024,
        ssh_public_key=iaas.key,
        key_name=iaas.key.name,
        key_fingerprint=iaas.key.fingerprint,
    )
    defaults.update(kwargs)
    instance = Instance.objects.create(**defaults)
    Instance.objects.filter(pk=instance.pk).update(state=state)
    instance.refresh_from_db()
    return instance


def other_membership(iaas, state=SyncState.IN_SYNC):
    """A second cloud of the same customer with one flavor, where the project may or may not be a member."""
    cloud = Cloud.objects.create(customer=iaas.cloud.customer, name="Other", auth_url=iaas.cloud.auth_url)
    flavor = Flavor.objects.create(cloud=cloud, name="o.tiny", backend_id="1", cores=1, ram=512, disk=1024)
    membership = CloudProjectMembership.objects.create(project=iaas.membership.project, cloud=cloud, tenant_id="t")
    CloudProjectMembership.objects.filter(pk=membership.pk).update(state=state)
    return cloud, flavor


def sim_ids(sim):
    """Server ids and volume ids the simulator holds."""
    return {s["id"] for s in sim.servers()}, {v["id"] for v in sim.volumes()}


def instance_ids(queryset=None):
    """Server ids and volume ids our remaining instances claim."""
    instances = list(queryset if queryset is not None else Instance.objects.all())
    servers = {i.backend_id for i in instances if i.backend_id}
    volumes = {v for i in instances for v in (i.system_volume_id, i.data_volume_id) if v}
    return servers, volumes


# List and retrieve


def test_list_matrix(iaas, roles):
    mine = make_instance(iaas)
    other_project = factories.ProjectFactory(customer=roles.customer)
    membership = CloudProjectMembership.objects.create(project=other_project, cloud=iaas.cloud, tenant_id="x")
    make_instance(iaas, cloud_project_membership=membership, hostname="hidden")
    expected = {"anonymous": 401, "stranger": 200, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get("/api/instances/"))
    assert responses["anonymous"].json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }
    assert responses["stranger"].json() == []
    for role in ("manager", "admin"):
        assert [i["uuid"] for i in responses[role].json()] == [str(mine.uuid)]
    assert len(responses["owner"].json()) == 2  # the owner sees every project of the customer
    assert len(responses["staff"].json()) == 2
    assert responses["staff"]["X-Result-Count"] == "2"


def test_retrieve_matrix_and_body(iaas, roles):
    instance = make_instance(iaas, hostname="db-1")
    expected = {"anonymous": 401, "stranger": 404, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get(url(instance)))
    assert responses["stranger"].json() == {"detail": "Not found.", "code": "not_found"}
    body = responses["manager"].json()
    assert set(body) == FIELDS
    assert body["state"] == "Online"
    assert body["url"] == link("instance", instance)
    assert body["project"] == link("project", roles.project)
    assert body["customer"] == link("customer", roles.customer)
    assert body["cloud"] == link("cloud", iaas.cloud)
    assert body["cloud_project_membership"] == link("cloudprojectmembership", iaas.membership)
    assert body["flavor"] == link("flavor", iaas.flavor) and body["flavor_name"] == iaas.flavor.name
    assert body["template"] == link("template", iaas.template) and body["template_name"] == "CentOS 6"
    assert (body["key_name"], body["key_fingerprint"]) == (iaas.key.name, iaas.key.fingerprint)
    assert (body["cores"], body["ram"], body["data_volume_size"]) == (1, 512, 1024)


def test_list_filters(iaas, roles):
    online = make_instance(iaas, hostname="web-online")
    offline = make_instance(iaas, S.OFFLINE, hostname="db-offline")
    client = roles.client_as("admin")

    def uuids(query):
        response = client.get(f"/api/instances/?{query}")
        assert response.status_code == 200, response.json()
        return {i["uuid"] for i in response.json()}

    assert uuids("state=offline") == {str(offline.uuid)}
    assert uuids("state=offline&state=online") == {str(offline.uuid), str(online.uuid)}
    assert uuids("hostname=WEB") == {str(online.uuid)}
    assert uuids(f"project={roles.project.uuid}") == {str(offline.uuid), str(online.uuid)}
    assert uuids(f"customer={factories.CustomerFactory().uuid}") == set()
    assert uuids(f"cloud={iaas.cloud.uuid.hex}") == {str(offline.uuid), str(online.uuid)}
    assert [i["hostname"] for i in client.get("/api/instances/?o=hostname").json()] == ["db-offline", "web-online"]
    assert client.get("/api/instances/?project=junk").status_code == 400
    assert client.get("/api/instances/?state=nonsense").status_code == 400


def test_list_query_count_is_constant(iaas, roles):
    for n in range(105):
        make_instance(iaas, hostname=f"vm-{n}")
    counts = {}
    for role in ("staff", "owner", "admin"):
        client = roles.client_as(role)
        for size in (1, 100):
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(f"/api/instances/?page_size={size}")
            assert response.status_code == 200 and len(response.json()) == size
            counts[role, size] = len(ctx)
    # COUNT and the page with everything it shows joined in; nothing per row. Non-staff add one query: the
    # projects they administer, which decide every row's `actions`.
    assert counts == {(r, s): 2 if r == "staff" else 3 for r in ("staff", "owner", "admin") for s in (1, 100)}, counts


# Delete


def test_delete_matrix(iaas, roles):
    instances = {role: make_instance(iaas, S.OFFLINE, hostname=role) for role in ("admin", "staff", "manager")}
    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 202, "owner": 403, "staff": 202}
    responses = check_matrix(
        roles, expected, lambda c, r: c.delete(url(instances.get(r, instances["manager"])))
    )
    assert responses["admin"].json() == {"status": "deletion was scheduled"}
    assert responses["owner"].json() == {
        "detail": "Only project administrators and staff operate instances.",
        "code": "permission_denied",
    }
    states = {i.hostname: i.state for i in Instance.objects.all()}
    assert states == {"admin": S.DELETION_SCHEDULED, "staff": S.DELETION_SCHEDULED, "manager": S.OFFLINE}
    assert roles.client_as("manager").get(url(instances["admin"])).json()["state"] == "Deletion Scheduled"


@pytest.mark.parametrize(
    "state",
    [S.ONLINE, S.PROVISIONING_SCHEDULED, S.PROVISIONING, S.STOPPING, S.RESIZING_SCHEDULED, S.DELETION_SCHEDULED],
)
def test_delete_from_a_wrong_state_is_409(iaas, roles, state):
    instance = make_instance(iaas, state)
    response = roles.client_as("admin").delete(url(instance))
    assert response.status_code == 409
    label = S(state).label
    assert response.json() == {
        "detail": f"Only an Offline or Erred instance can be deleted; the instance is {label}.",
        "code": "invalid_state",
    }
    instance.refresh_from_db()
    assert instance.state == state


def test_delete_removes_everything(iaas, roles):
    keep = provision(iaas, roles, hostname="keep")
    instance = stop(iaas, roles, provision(iaas, roles, hostname="gone"))
    with run_tasks():
        response = roles.client_as("admin").delete(url(instance))
    assert response.status_code == 202 and response.json() == {"status": "deletion was scheduled"}
    assert not Instance.objects.filter(pk=instance.pk).exists()
    assert roles.client_as("admin").get(url(instance)).status_code == 404
    assert sim_ids(iaas.env.sim) == instance_ids() == (
        {keep.backend_id}, {keep.system_volume_id, keep.data_volume_id}
    )


def test_delete_an_erred_instance(iaas, roles):
    iaas.env.sim.fail_next("compute.server_create", mode="error_state")
    instance = provision(iaas, roles, hostname="erred")
    assert instance.state == S.ERRED
    with run_tasks():
        assert roles.client_as("admin").delete(url(instance)).status_code == 202
    assert not Instance.objects.exists()
    assert iaas.env.sim.servers() == [] and iaas.env.sim.volumes() == []


def test_instances_cannot_be_edited(iaas, roles):
    instance = make_instance(iaas)
    client = roles.client_as("staff")
    assert client.patch(url(instance), {"hostname": "x"}, format="json").status_code == 405
    assert client.put(url(instance), {"hostname": "x"}, format="json").status_code == 405
    assert client.get(url(instance, "stop")).status_code == 405
    instance.refresh_from_db()
    assert instance.hostname == "row"
