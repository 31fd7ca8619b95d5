"""POST /api/instances/: the role matrix, provisioning against the simulator, every 400 and the quotas."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from nodeconductor.iaas.models import Cloud, CloudProjectMembership, Flavor, Instance, InstanceState, SyncState
from nodeconductor.iaas.services import instances as instance_services
from tests import factories
from tests.fixtures.roles import check_matrix
from tests.iaas.views.test_instances import FIELDS, create_body, link, provision, url

S = InstanceState


# Create


def test_create_matrix(iaas, roles):
    staff_key = factories.SshPublicKeyFactory(user=roles.users["staff"])
    keys = {"staff": link("sshpublickey", staff_key)}
    expected = {"anonymous": 401, "stranger": 400, "manager": 403, "admin": 201, "owner": 403, "staff": 201}
    responses = check_matrix(
        roles,
        expected,
        lambda c, r: c.post(
            "/api/instances/", create_body(iaas, hostname=f"vm-{r}", ssh_public_key=keys.get(r)), format="json"
        ),
    )
    # the stranger does not learn that the project or the cloud's flavor exist
    missing = ["Invalid hyperlink - Object does not exist."]
    assert responses["stranger"].json() == {"flavor": missing, "project": missing, "code": "invalid"}
    for role in ("manager", "owner"):
        assert responses[role].json() == {
            "detail": "Only project administrators and staff operate instances.",
            "code": "permission_denied",
        }
    body = responses["admin"].json()
    assert set(body) == FIELDS
    assert body["state"] == "Provisioning Scheduled"
    assert (body["hostname"], body["cores"], body["ram"]) == ("vm-admin", 1, 512)
    assert (body["system_volume_size"], body["data_volume_size"]) == (1024, 1024)
    assert body["agreed_sla"] == "99.9000" and body["cloud_project_membership"].endswith(f"{iaas.membership.uuid}/")
    assert responses["staff"].json()["ssh_public_key"] == keys["staff"]
    assert Instance.objects.count() == 2  # nothing ran: both wait in Provisioning Scheduled
    assert set(Instance.objects.values_list("state", flat=True)) == {S.PROVISIONING_SCHEDULED}


def test_manager_is_403_even_with_other_errors(iaas, roles):
    response = roles.client_as("manager").post(
        "/api/instances/", create_body(iaas, hostname="bad host", ssh_public_key=None), format="json"
    )
    assert response.status_code == 403


def test_create_runs_to_online_with_two_volumes(iaas, roles):
    instance = provision(iaas, roles, data_volume_size=2048)
    assert instance.state == S.ONLINE, instance.error_message
    assert instance.start_time is not None and instance.created_by == roles.users["admin"]
    body = roles.client_as("manager").get(url(instance)).json()
    assert body["state"] == "Online" and body["error_message"] == ""
    assert body["backend_id"] == instance.backend_id != ""
    sim = iaas.env.sim
    (server,) = sim.servers()
    assert server["id"] == instance.backend_id and server["status"] == "ACTIVE"
    assert server["key_name"] and server["flavor"]["id"] == iaas.flavor.backend_id
    volumes = {v["id"]: v for v in sim.volumes()}
    assert set(volumes) == {instance.system_volume_id, instance.data_volume_id}
    assert volumes[instance.system_volume_id]["bootable"] and volumes[instance.system_volume_id]["size"] == 1
    assert volumes[instance.data_volume_id]["size"] == 2 and not volumes[instance.data_volume_id]["bootable"]
    assert {v["status"] for v in volumes.values()} == {"in-use"}


def test_create_defaults_sizes(iaas, roles, settings):
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "DEFAULT_DATA_VOLUME_SIZE": 3072}
    body = create_body(iaas, system_volume_size=None, data_volume_size=None, description=None)
    response = roles.client_as("admin").post("/api/instances/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["system_volume_size"] == max(iaas.flavor.disk, 1024)
    assert response.json()["data_volume_size"] == 3072 and response.json()["description"] == ""


def test_create_requires_fields(iaas, roles):
    response = roles.client_as("admin").post("/api/instances/", {}, format="json")
    assert response.status_code == 400
    required = ["This field is required."]
    assert response.json() == {
        "hostname": required,
        "template": required,
        "flavor": required,
        "project": required,
        "code": "invalid",
    }


@pytest.mark.parametrize(
    "hostname",
    ["bad host", "-leading", "trailing-", "under_score", "a" * 81, "dot..dot", "", "ünïcode", "x" * 64 + ".com"],
)
def test_create_rejects_bad_hostnames(iaas, roles, hostname):
    response = roles.client_as("admin").post("/api/instances/", create_body(iaas, hostname=hostname), format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["hostname", "code"] and response.json()["code"] == "invalid"


@pytest.mark.parametrize(
    "field,value",
    [
        ("hostname", ["a"]),
        ("hostname", {"a": 1}),
        ("template", 123),
        ("template", "http://testserver/api/flavors/not-a-uuid/"),
        ("flavor", ["x"]),
        ("project", None),
        ("ssh_public_key", 5),
        ("system_volume_size", "big"),
        ("system_volume_size", 1.5),
        ("system_volume_size", -1),
        ("system_volume_size", 10**20),
        ("data_volume_size", "1e3x"),
        ("data_volume_size", [1024]),
        ("description", {"x": 1}),
        ("description", "d" * 501),
    ],
)
def test_create_rejects_junk(iaas, roles, field, value):
    body = {**create_body(iaas), field: value}
    response = roles.client_as("admin").post("/api/instances/", body, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field, "code"] and response.json()["code"] == "invalid"
    assert not Instance.objects.exists()


def test_create_rejects_a_non_json_body(iaas, roles):
    response = roles.client_as("admin").post("/api/instances/", "{nope", content_type="application/json")
    assert response.status_code == 400 and "detail" in response.json() and response.json()["code"] == "parse_error"


def _refusal(iaas, roles, role="admin", **overrides):
    """POST a create request expected to be refused with 400; return its body."""
    response = roles.client_as(role).post("/api/instances/", create_body(iaas, **overrides), format="json")
    assert response.status_code == 400, response.content
    assert not Instance.objects.exists()
    return response.json()


def test_create_template_without_image_in_the_cloud(iaas, roles):
    template = type(iaas.template).objects.create(name="Windows", os="Windows", is_active=True)
    body = _refusal(iaas, roles, template=link("template", template))
    assert body == {"template": ["The template has no active image in the flavor's cloud."], "code": "invalid"}


def test_create_inactive_template_is_not_offered(iaas, roles):
    type(iaas.template).objects.filter(pk=iaas.template.pk).update(is_active=False)
    assert _refusal(iaas, roles) == {"template": ["Invalid hyperlink - Object does not exist."], "code": "invalid"}


def test_create_flavor_of_a_cloud_without_membership(iaas, roles):
    cloud = Cloud.objects.create(customer=roles.customer, name="Lonely", auth_url=iaas.cloud.auth_url)
    flavor = Flavor.objects.create(cloud=cloud, name="l.tiny", backend_id="1", cores=1, ram=512, disk=1024)
    # the staff user sees every cloud, so the flavor resolves and the membership rule speaks
    body = _refusal(iaas, roles, role="staff", flavor=link("flavor", flavor), ssh_public_key=None)
    assert body == {"flavor": ["The project has no membership in this flavor's cloud."], "code": "invalid"}


def test_create_flavor_of_an_invisible_cloud(iaas, roles):
    cloud = Cloud.objects.create(customer=factories.CustomerFactory(), name="Theirs", auth_url=iaas.cloud.auth_url)
    flavor = Flavor.objects.create(cloud=cloud, name="t.tiny", backend_id="1", cores=1, ram=512, disk=1024)
    assert _refusal(iaas, roles, flavor=link("flavor", flavor)) == {
        "flavor": ["Invalid hyperlink - Object does not exist."],
        "code": "invalid",
    }


@pytest.mark.parametrize("state", [SyncState.ERRED, SyncState.SYNC_SCHEDULED, SyncState.SYNCING])
def test_create_membership_not_in_sync(iaas, roles, state):
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(state=state)
    body = _refusal(iaas, roles)
    label = SyncState(state).label
    assert body == {
        "flavor": [f"The project's membership in this cloud is {label}, not In Sync; sync it first."],
        "code": "invalid",
    }


def test_create_system_volume_below_min_disk(iaas, roles):
    iaas.template.images.update(min_disk=4096)
    body = _refusal(iaas, roles, system_volume_size=4095)
    assert body == {"system_volume_size": ["Must be at least the image's min_disk: 4096 MiB."], "code": "invalid"}


def test_create_data_volume_below_floor(iaas, roles, settings):
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "MIN_DATA_VOLUME_SIZE": 2048}
    assert _refusal(iaas, roles, data_volume_size=2047) == {
        "data_volume_size": ["Must be at least 2048 MiB."],
        "code": "invalid",
    }


def test_create_with_somebody_elses_key(iaas, roles):
    key = factories.SshPublicKeyFactory(user=roles.users["manager"])
    assert _refusal(iaas, roles, ssh_public_key=link("sshpublickey", key)) == {
        "ssh_public_key": ["Invalid hyperlink - Object does not exist."],
        "code": "invalid",
    }


def test_create_in_an_invisible_project_is_400(iaas, roles):
    project = factories.ProjectFactory()
    CloudProjectMembership.objects.create(project=project, cloud=iaas.cloud, tenant_id="x")
    assert _refusal(iaas, roles, project=link("project", project)) == {
        "project": ["Invalid hyperlink - Object does not exist."],
        "code": "invalid",
    }


@pytest.mark.parametrize(
    "quota,limit,message",
    [
        ("quota_vcpu", 0, "cores: 0 in use + 1 requested > limit 0"),
        ("quota_ram", 511, "MiB of RAM: 0 in use + 512 requested > limit 511"),
        ("quota_storage", 2047, "MiB of storage: 0 in use + 2048 requested > limit 2047"),
        ("quota_max_instances", 0, "instances: 0 in use + 1 requested > limit 0"),
    ],
)
def test_create_over_quota(iaas, roles, quota, limit, message):
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(**{quota: limit})
    assert _refusal(iaas, roles) == {
        "non_field_errors": [f"Quota exceeded in the project's tenant: {message}"],
        "code": "quota_exceeded",
    }


def test_creates_stop_at_the_limit(iaas, roles):
    # 3 cores allow three 1-core VMs; the reservation is the row, so unbuilt ones count too.
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(quota_vcpu=3, quota_max_instances=10)
    client = roles.client_as("admin")
    statuses = [
        client.post("/api/instances/", create_body(iaas, hostname=f"vm-{n}"), format="json").status_code
        for n in range(5)
    ]
    assert statuses == [201, 201, 201, 400, 400]
    assert instance_services.membership_usage(iaas.membership)["vcpu"] == 3
    response = client.post("/api/instances/", create_body(iaas, hostname="vm-x"), format="json")
    assert response.json() == {
        "non_field_errors": ["Quota exceeded in the project's tenant: cores: 3 in use + 1 requested > limit 3"],
        "code": "quota_exceeded",
    }


def test_failed_provision_releases_its_quota(iaas, roles):
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(quota_max_instances=1)
    iaas.env.sim.fail_next("compute.server_create", status=500, message="No valid host was found.")
    failed = provision(iaas, roles, hostname="doomed")
    assert failed.state == S.ERRED and "No valid host was found." in failed.error_message
    assert roles.client_as("admin").get(url(failed)).json()["state"] == "Erred"
    assert iaas.env.sim.servers() == [] and iaas.env.sim.volumes() == []
    # the erred VM holds nothing, so the one allowed instance can be created
    ok = provision(iaas, roles, hostname="second")
    assert ok.state == S.ONLINE, ok.error_message


def test_create_answers_with_what_a_get_then_shows(iaas, roles):
    """The 201 body is built from the rows the service already holds, so it must equal a fresh read's body."""
    key = factories.SshPublicKeyFactory(user=roles.users["admin"])
    client = roles.client_as("admin")
    body = create_body(iaas, hostname="same-body", ssh_public_key=link("sshpublickey", key))
    with CaptureQueriesContext(connection) as ctx:
        created = client.post("/api/instances/", body, format="json")
    assert created.status_code == 201, created.json()
    # nothing reads the new row back: after its INSERT no statement selects from the instance table. (Read the
    # log now: the next request resets it.)
    sql = [q["sql"] for q in ctx.captured_queries]
    (insert_at,) = [i for i, q in enumerate(sql) if q.startswith('INSERT INTO "iaas_instance"')]
    assert not [q for q in sql[insert_at:] if q.startswith("SELECT") and 'FROM "iaas_instance"' in q]
    fetched = client.get(created.json()["url"])
    assert fetched.status_code == 200 and created.json() == fetched.json()
    assert created.json()["ssh_public_key"] == link("sshpublickey", key) and created.json()["key_name"] == key.name
    assert created.json()["operation"]["state"] == "queued"
