"""/api/flavors/: read-only, visible to whoever sees the cloud, filters, inactive flags."""

import pytest

from tests.fixtures.roles import check_matrix
from tests.iaas import factories

FIELDS = {"url", "uuid", "name", "cloud", "cloud_name", "cores", "ram", "disk", "is_active"}


@pytest.fixture
def linked(roles):
    cloud = factories.CloudFactory(customer=roles.customer, name="Linked")
    factories.MembershipFactory(cloud=cloud, project=roles.project)
    return cloud


def test_list_matrix(roles, linked):
    mine = factories.FlavorFactory(cloud=linked)
    unlinked = factories.FlavorFactory(cloud=factories.CloudFactory(customer=roles.customer))
    factories.FlavorFactory()
    expected = {"anonymous": 401, "stranger": 200, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get("/api/flavors/"))
    assert responses["stranger"].json() == []
    for role in ("manager", "admin"):
        assert [f["uuid"] for f in responses[role].json()] == [str(mine.uuid)]
    assert {f["uuid"] for f in responses["owner"].json()} == {str(mine.uuid), str(unlinked.uuid)}
    assert len(responses["staff"].json()) == 3


def test_retrieve_matrix_and_body(roles, linked):
    flavor = factories.FlavorFactory(cloud=linked, name="m1.small", cores=1, ram=2048, disk=20480, is_active=False)
    url = roles.url("flavor", flavor)
    expected = {"anonymous": 401, "stranger": 404, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    body = check_matrix(roles, expected, lambda c, r: c.get(url))["manager"].json()
    assert set(body) == FIELDS
    assert body == {
        "url": f"http://testserver{url}",
        "uuid": str(flavor.uuid),
        "name": "m1.small",
        "cloud": f"http://testserver/api/clouds/{linked.uuid}/",
        "cloud_name": "Linked",
        "cores": 1,
        "ram": 2048,
        "disk": 20480,
        "is_active": False,
    }


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_flavors_are_read_only(roles, linked, method):
    flavor = factories.FlavorFactory(cloud=linked)
    url = "/api/flavors/" if method == "post" else roles.url("flavor", flavor)
    response = getattr(roles.client_as("staff"), method)(url, {"name": "x"}, format="json")
    assert response.status_code == 405


def test_filters(roles, linked):
    other = factories.CloudFactory(customer=roles.customer)
    factories.FlavorFactory(cloud=linked, name="m1.small")
    factories.FlavorFactory(cloud=linked, name="m1.gone", is_active=False)
    factories.FlavorFactory(cloud=other, name="m1.small")
    client = roles.client_as("owner")
    names = lambda **q: sorted(f["name"] for f in client.get("/api/flavors/", q).json())  # noqa: E731
    assert names(cloud=linked.uuid.hex) == ["m1.gone", "m1.small"]
    assert names(cloud=str(other.uuid)) == ["m1.small"]
    assert names(name="SMALL") == ["m1.small", "m1.small"]
    assert names(cloud=linked.uuid.hex, is_active="true") == ["m1.small"]
    assert names(cloud=linked.uuid.hex, is_active="false") == ["m1.gone"]
    assert client.get("/api/flavors/", {"cloud": "not-a-uuid"}).status_code == 400


@pytest.mark.parametrize("role", ["staff", "owner", "manager"])
def test_list_query_count_is_constant(roles, linked, role):
    for _ in range(3):
        cloud = factories.CloudFactory(customer=roles.customer)
        factories.MembershipFactory(cloud=cloud, project=roles.project)
        factories.FlavorFactory.create_batch(2, cloud=cloud)
    small, large = factories.list_query_counts(roles.client_as(role), "/api/flavors/")
    # COUNT, then the page with its cloud joined
    assert small == large == 2
