"""/api/clouds/: role matrices, auth_url visibility, creation against the simulator, sync and delete rules."""

import pytest

from nodeconductor.iaas.models import Cloud, SyncState
from tests import factories as base
from tests.fixtures.roles import check_matrix
from tests.iaas import factories

FIELDS = {
    "url",
    "uuid",
    "name",
    "customer",
    "customer_name",
    "auth_url",
    "state",
    "error_message",
    "flavors",
    "last_pulled",
    "operation",
}


@pytest.fixture
def linked(roles):
    """A cloud of the roles' customer bound to roles.project, with one active and one inactive flavor."""
    cloud = factories.CloudFactory(customer=roles.customer, name="Linked")
    factories.MembershipFactory(cloud=cloud, project=roles.project)
    factories.FlavorFactory(cloud=cloud, name="m1.small", cores=1, ram=2048, disk=20480)
    factories.FlavorFactory(cloud=cloud, name="m1.gone", is_active=False)
    return cloud


def test_list_matrix(roles, linked):
    unlinked = factories.CloudFactory(customer=roles.customer, name="Unlinked")
    factories.CloudFactory(name="Foreign")
    expected = {"anonymous": 401, "stranger": 200, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get("/api/clouds/"))
    assert responses["stranger"].json() == []
    for role in ("manager", "admin"):
        assert [c["uuid"] for c in responses[role].json()] == [str(linked.uuid)]
    assert {c["uuid"] for c in responses["owner"].json()} == {str(linked.uuid), str(unlinked.uuid)}
    assert len(responses["staff"].json()) == 3


def test_retrieve_matrix_and_body(roles, linked):
    url = roles.url("cloud", linked)
    expected = {"anonymous": 401, "stranger": 404, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get(url))
    for role in ("manager", "admin"):
        body = responses[role].json()
        assert set(body) == FIELDS - {"auth_url"}, role
    for role in ("owner", "staff"):
        body = responses[role].json()
        assert set(body) == FIELDS
        assert body["auth_url"] == linked.auth_url
    body = responses["manager"].json()
    assert body["customer"] == f"http://testserver/api/customers/{roles.customer.uuid}/"
    assert body["customer_name"] == roles.customer.name
    assert body["state"] == "In Sync"
    flavor = linked.flavors.get(name="m1.small")
    # inactive flavors are not offered
    assert body["flavors"] == [
        {
            "url": f"http://testserver/api/flavors/{flavor.uuid}/",
            "name": "m1.small",
            "cores": 1,
            "ram": 2048,
            "disk": 20480,
        }
    ]


def test_unlinked_cloud_is_invisible_to_project_members(roles):
    unlinked = factories.CloudFactory(customer=roles.customer)
    expected = {"stranger": 404, "manager": 404, "admin": 404, "owner": 200, "staff": 200}
    check_matrix(roles, expected, lambda c, r: c.get(roles.url("cloud", unlinked)))


def test_create_matrix_schedules_a_pull(roles, sim_env, django_capture_on_commit_callbacks):
    customer_url = f"http://testserver/api/customers/{roles.customer.uuid}/"
    auth_url = sim_env.credentials["auth_url"]

    def create(client, role):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/api/clouds/", {"name": f"C {role}", "customer": customer_url, "auth_url": auth_url})

    expected = {"anonymous": 401, "stranger": 400, "manager": 403, "admin": 403, "owner": 201, "staff": 201}
    responses = check_matrix(roles, expected, create)
    # the stranger does not learn that the customer exists
    assert responses["stranger"].json() == {
        "customer": ["Invalid hyperlink - Object does not exist."],
        "code": "invalid",
    }
    body = responses["owner"].json()
    assert set(body) == FIELDS
    assert body["state"] == "Sync Scheduled" and body["flavors"] == []
    # the pull ran on commit against the simulator
    cloud = Cloud.objects.get(uuid=body["uuid"])
    assert cloud.state == SyncState.IN_SYNC, cloud.error_message
    assert sorted(cloud.flavors.values_list("name", flat=True)) == ["m1.medium", "m1.small", "m1.tiny"]
    assert cloud.last_pulled is not None
    after = roles.client_as("owner").get(roles.url("cloud", cloud)).json()
    assert after["state"] == "In Sync" and len(after["flavors"]) == 3


def test_create_with_unconfigured_auth_url_lists_configured_urls_without_passwords(roles, sim_env):
    response = roles.client_as("owner").post(
        "/api/clouds/",
        {
            "name": "Nowhere",
            "customer": f"http://testserver/api/customers/{roles.customer.uuid}/",
            "auth_url": "http://keystone.example.com:5000/v2.0",
        },
    )
    assert response.status_code == 400
    message = response.json()["auth_url"][0]
    assert sim_env.credentials["auth_url"] in message
    assert "No credentials are configured" in message
    assert sim_env.credentials["password"] not in message.replace(sim_env.credentials["auth_url"], "")
    assert not Cloud.objects.exists()


def test_create_validates_input(roles, sim_env):
    client = roles.client_as("owner")
    response = client.post("/api/clouds/", {})
    assert response.status_code == 400
    assert set(response.json()) == {"name", "customer", "auth_url", "code"} and response.json()["code"] == "invalid"
    factories.CloudFactory(customer=roles.customer, name="Taken")
    response = client.post(
        "/api/clouds/",
        {
            "name": "Taken",
            "customer": f"http://testserver/api/customers/{roles.customer.uuid}/",
            "auth_url": sim_env.credentials["auth_url"],
        },
    )
    assert response.status_code == 400
    assert response.json() == {"name": ["The customer already has a cloud with this name."], "code": "invalid"}


def test_owner_cannot_create_for_another_customer(roles, sim_env):
    other = base.CustomerFactory()
    response = roles.client_as("owner").post(
        "/api/clouds/",
        {
            "name": "x",
            "customer": f"http://testserver/api/customers/{other.uuid}/",
            "auth_url": sim_env.credentials["auth_url"],
        },
    )
    assert response.status_code == 400
    assert response.json() == {"customer": ["Invalid hyperlink - Object does not exist."], "code": "invalid"}


def test_clouds_are_not_edited(roles, linked):
    response = roles.client_as("staff").patch(roles.url("cloud", linked), {"name": "New"}, format="json")
    assert response.status_code == 405


def test_delete_matrix(roles):
    deleted = {}

    def delete(client, role):
        cloud = factories.CloudFactory(customer=roles.customer)
        factories.FlavorFactory(cloud=cloud)
        if role in ("manager", "admin"):
            # linked to their project so they see it: a 403, not a 404
            factories.MembershipFactory(cloud=cloud, project=roles.project)
        deleted[role] = cloud
        return client.delete(roles.url("cloud", cloud))

    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 403, "owner": 204, "staff": 204}
    check_matrix(roles, expected, delete)
    assert {r for r, c in deleted.items() if not Cloud.objects.filter(pk=c.pk).exists()} == {"owner", "staff"}


def test_delete_with_memberships_is_409(roles, linked):
    response = roles.client_as("owner").delete(roles.url("cloud", linked))
    assert response.status_code == 409
    assert "memberships" in response.json()["detail"]
    assert Cloud.objects.filter(pk=linked.pk).exists()


def test_sync_matrix(roles, linked, sim_env, django_capture_on_commit_callbacks, settings):
    Cloud.objects.filter(pk=linked.pk).update(auth_url=sim_env.credentials["auth_url"])
    url = roles.url("cloud", linked) + "sync/"

    def sync(client, role):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url)

    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 403, "owner": 202, "staff": 202}
    responses = check_matrix(roles, expected, sync)
    assert responses["owner"].json() == {"status": "sync was scheduled"}
    linked = Cloud.objects.get(pk=linked.pk)
    assert linked.state == SyncState.IN_SYNC, linked.error_message
    # the pulled flavors replaced the hand-made ones (the inactive one had no instances)
    assert sorted(linked.flavors.values_list("name", flat=True)) == ["m1.medium", "m1.small", "m1.tiny"]


@pytest.mark.parametrize("state", [SyncState.SYNC_SCHEDULED, SyncState.SYNCING])
def test_sync_while_one_is_queued_or_running_is_409(roles, state):
    cloud = factories.CloudFactory(customer=roles.customer, state=state)
    response = roles.client_as("owner").post(roles.url("cloud", cloud) + "sync/")
    assert response.status_code == 409
    assert "already" in response.json()["detail"]


def test_erred_cloud_may_be_synced_again(roles, sim_env, django_capture_on_commit_callbacks):
    cloud = factories.CloudFactory(
        customer=roles.customer, state=SyncState.ERRED, error_message="boom", auth_url=sim_env.credentials["auth_url"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = roles.client_as("owner").post(roles.url("cloud", cloud) + "sync/")
    assert response.status_code == 202
    body = roles.client_as("owner").get(roles.url("cloud", cloud)).json()
    assert (body["state"], body["error_message"]) == ("In Sync", "")


def test_filters(roles, linked):
    factories.CloudFactory(customer=roles.customer, name="Other", state=SyncState.ERRED)
    factories.CloudFactory(name="Foreign")
    client = roles.client_as("staff")
    by_customer = client.get("/api/clouds/", {"customer": roles.customer.uuid.hex}).json()
    assert {c["name"] for c in by_customer} == {"Linked", "Other"}
    assert [c["name"] for c in client.get("/api/clouds/", {"state": "erred"}).json()] == ["Other"]
    assert [c["name"] for c in client.get("/api/clouds/", {"name": "link"}).json()] == ["Linked"]
    assert client.get("/api/clouds/", {"customer": "nope"}).status_code == 400


@pytest.mark.parametrize("role", ["staff", "owner", "manager"])
def test_list_query_count_is_constant(roles, role):
    for _ in range(3):
        cloud = factories.CloudFactory(customer=roles.customer)
        factories.MembershipFactory(cloud=cloud, project=roles.project)
        factories.FlavorFactory.create_batch(2, cloud=cloud)
    small, large = factories.list_query_counts(roles.client_as(role), "/api/clouds/")
    # COUNT, the page (customer joined, owner flag annotated), the active flavors
    assert small == large == 3
