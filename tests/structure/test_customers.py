import pytest

from nodeconductor.structure.models import Customer, ProjectGroup
from tests import factories
from tests.fixtures.roles import check_matrix

FIELDS = {
    "url",
    "uuid",
    "name",
    "native_name",
    "abbreviation",
    "contact_details",
    "owners",
    "projects",
    "project_groups",
    "monthly_cost",
    "currency",
    "created",
}
SEES = ("manager", "admin", "owner", "staff")


def test_list_matrix(roles):
    factories.CustomerFactory(name="Invisible")
    responses = check_matrix(
        roles,
        dict.fromkeys(("anonymous",), 401) | dict.fromkeys(("stranger",) + SEES, 200),
        lambda c, r: c.get("/api/customers/"),
    )
    assert responses["stranger"].json() == []
    for role in ("manager", "admin", "owner"):
        assert [c["uuid"] for c in responses[role].json()] == [str(roles.customer.uuid)]
    assert {c["name"] for c in responses["staff"].json()} == {roles.customer.name, "Invisible"}
    assert responses["anonymous"].json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
    }


def test_retrieve_matrix_and_body(roles):
    url = roles.url("customer", roles.customer)
    expected = {"anonymous": 401, "stranger": 404, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get(url))
    body = responses["owner"].json()
    assert set(body) == FIELDS
    assert body["owners"] == [f"http://testserver/api/users/{roles.users['owner'].uuid}/"]
    assert body["projects"] == [f"http://testserver/api/projects/{roles.project.uuid}/"]
    assert body["project_groups"] == [f"http://testserver/api/project-groups/{roles.project_group.uuid}/"]
    assert roles.customer.name not in responses["stranger"].content.decode()


def test_customer_shows_only_visible_projects_and_groups(roles):
    hidden = factories.ProjectFactory(customer=roles.customer, name="hidden")
    url = roles.url("customer", roles.customer)
    manager_view = roles.client_as("manager").get(url).json()
    assert manager_view["projects"] == [f"http://testserver/api/projects/{roles.project.uuid}/"]
    assert manager_view["project_groups"] == []
    owner_view = roles.client_as("owner").get(url).json()
    assert len(owner_view["projects"]) == 2
    assert str(hidden.uuid) in "".join(owner_view["projects"])


def test_create_matrix(roles):
    expected = {"anonymous": 401, "stranger": 403, "manager": 403, "admin": 403, "owner": 403, "staff": 201}
    responses = check_matrix(roles, expected, lambda c, r: c.post("/api/customers/", {"name": f"New {r}"}))
    body = responses["staff"].json()
    assert body["name"] == "New staff"
    assert body["owners"] == [] and body["projects"] == []
    assert Customer.objects.filter(name__startswith="New").count() == 1


def test_create_requires_name(roles):
    response = roles.client_as("staff").post("/api/customers/", {}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()


def test_update_matrix(roles):
    url = roles.url("customer", roles.customer)
    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 403, "owner": 200, "staff": 200}
    check_matrix(roles, expected, lambda c, r: c.patch(url, {"contact_details": r}, format="json"))
    roles.customer.refresh_from_db()
    assert roles.customer.contact_details == "staff"


def test_put_by_owner(roles):
    url = roles.url("customer", roles.customer)
    response = roles.client_as("owner").put(url, {"name": "Renamed", "abbreviation": "RN"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert response.json()["owners"]  # still shown after an update


def test_delete_matrix_with_projects_left(roles):
    url = roles.url("customer", roles.customer)
    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 403, "owner": 403, "staff": 409}
    responses = check_matrix(roles, expected, lambda c, r: c.delete(url))
    assert responses["staff"].json() == {
        "detail": "The customer still has 1 project; delete them first.",
        "code": "in_use",
    }
    assert Customer.objects.filter(pk=roles.customer.pk).exists()
    # the groups deleted along the way came back with the rollback
    assert list(roles.customer.project_groups.all()) == [roles.project_group]


def test_delete_empty_customer_takes_its_empty_groups(roles):
    customer = factories.CustomerFactory()
    factories.ProjectGroupFactory(customer=customer)
    factories.CustomerPermissionFactory(customer=customer)
    response = roles.client_as("staff").delete(roles.url("customer", customer))
    assert response.status_code == 204
    assert not Customer.objects.filter(pk=customer.pk).exists()
    assert not ProjectGroup.objects.filter(customer_id=customer.pk).exists()


def test_delete_reports_other_protecting_objects(roles, monkeypatch):
    from django.db.models import ProtectedError

    customer = factories.CustomerFactory()
    blocker = factories.ProjectGroupFactory(customer=customer)

    def protected(self, *args, **kwargs):
        raise ProtectedError("protected", [blocker])

    monkeypatch.setattr(Customer, "delete", protected)
    response = roles.client_as("staff").delete(roles.url("customer", customer))
    assert response.status_code == 409
    assert response.json() == {"detail": "The customer still has 1 project group; delete them first.", "code": "in_use"}


@pytest.mark.parametrize("query", ["name=STOMER", "abbreviation=c", "o=-name", "o=name"])
def test_filters_and_ordering(roles, query):
    factories.CustomerFactory(name="Another")
    response = roles.client_as("staff").get(f"/api/customers/?{query}")
    assert response.status_code == 200
    names = [c["name"] for c in response.json()]
    if query.startswith("name"):
        assert names == [roles.customer.name]
    if query == "o=-name":
        assert names == sorted(names, reverse=True)
