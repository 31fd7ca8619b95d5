import pytest
from django.db.models import ProtectedError

from nodeconductor.structure.models import Project
from tests import factories
from tests.fixtures.roles import check_matrix

FIELDS = {"url", "uuid", "name", "description", "customer", "customer_name", "project_groups", "members",
          "monthly_cost", "currency", "created"}  # fmt: skip


def project_with_members(roles):
    """A fresh project of the customer where admin and manager hold their roles."""
    project = factories.ProjectFactory(customer=roles.customer)
    factories.ProjectPermissionFactory(project=project, user=roles.users["admin"], role="admin")
    factories.ProjectPermissionFactory(project=project, user=roles.users["manager"], role="manager")
    return project


def test_list_matrix(roles):
    factories.ProjectFactory(name="Invisible")
    expected = {"anonymous": 401, "stranger": 200, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get("/api/projects/"))
    assert responses["stranger"].json() == []
    for role in ("manager", "admin", "owner"):
        assert [p["uuid"] for p in responses[role].json()] == [str(roles.project.uuid)]
    assert len(responses["staff"].json()) == 2


def test_retrieve_matrix_and_body(roles):
    url = roles.url("project", roles.project)
    expected = {"anonymous": 401, "stranger": 404, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get(url))
    body = responses["manager"].json()
    assert set(body) == FIELDS
    assert body["customer"] == f"http://testserver/api/customers/{roles.customer.uuid}/"
    assert body["customer_name"] == roles.customer.name
    members = {m["username"]: m for m in body["members"]}
    assert {u: m["role"] for u, m in members.items()} == {"admin": "admin", "manager": "manager"}
    assert members["admin"]["user"] == f"http://testserver/api/users/{roles.users['admin'].uuid}/"
    assert "/api/project-permissions/" in members["admin"]["permission"]
    # the group is visible to the owner only, so the manager does not even see its URL
    assert body["project_groups"] == []
    assert responses["owner"].json()["project_groups"] == [
        f"http://testserver/api/project-groups/{roles.project_group.uuid}/"
    ]


def test_create_matrix(roles):
    customer_url = f"http://testserver/api/customers/{roles.customer.uuid}/"
    expected = {"anonymous": 401, "stranger": 400, "manager": 403, "admin": 403, "owner": 201, "staff": 201}
    responses = check_matrix(
        roles, expected, lambda c, r: c.post("/api/projects/", {"name": f"P {r}", "customer": customer_url})
    )
    # the stranger does not learn that the customer exists
    assert responses["stranger"].json() == {
        "customer": ["Invalid hyperlink - Object does not exist."],
        "code": "invalid",
    }
    body = responses["owner"].json()
    assert body["customer"] == customer_url and body["members"] == []
    assert Project.objects.filter(customer=roles.customer).count() == 3


def test_owner_cannot_create_for_another_customer(roles):
    other = factories.CustomerFactory()
    response = roles.client_as("owner").post(
        "/api/projects/", {"name": "x", "customer": f"http://testserver/api/customers/{other.uuid}/"}
    )
    assert response.status_code == 400
    assert response.json() == {"customer": ["Invalid hyperlink - Object does not exist."], "code": "invalid"}


def test_create_validates_input(roles):
    response = roles.client_as("owner").post("/api/projects/", {"customer": "http://testserver/api/nothing/"})
    assert response.status_code == 400
    assert response.json() == {
        "name": ["This field is required."],
        "customer": ["Invalid hyperlink - No URL match."],
        "code": "invalid",
    }


def test_update_matrix(roles):
    url = roles.url("project", roles.project)
    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 403, "owner": 200, "staff": 200}
    check_matrix(roles, expected, lambda c, r: c.patch(url, {"description": r}, format="json"))
    roles.project.refresh_from_db()
    assert roles.project.description == "staff"


def test_customer_cannot_be_changed(roles):
    other = factories.CustomerFactory()
    url = roles.url("project", roles.project)
    response = roles.client_as("staff").patch(
        url, {"customer": f"http://testserver/api/customers/{other.uuid}/"}, format="json"
    )
    assert response.status_code == 200
    roles.project.refresh_from_db()
    assert roles.project.customer == roles.customer


def test_delete_matrix(roles):
    projects = iter([project_with_members(roles) for _ in range(6)])
    expected = {"anonymous": 401, "stranger": 404, "manager": 403, "admin": 403, "owner": 204, "staff": 204}
    check_matrix(roles, expected, lambda c, r: c.delete(roles.url("project", next(projects))))


def test_delete_project_with_resources_is_409(roles, monkeypatch):
    blocker = factories.ProjectGroupFactory(customer=roles.customer)

    def protected(self, *args, **kwargs):
        raise ProtectedError("protected", [blocker, roles.project_group])

    monkeypatch.setattr(Project, "delete", protected)
    response = roles.client_as("owner").delete(roles.url("project", roles.project))
    assert response.status_code == 409
    assert response.json() == {"detail": "The project still has 2 project groups; delete them first.", "code": "in_use"}


def test_delete_project_removes_its_roles(roles):
    project = project_with_members(roles)
    assert roles.client_as("owner").delete(roles.url("project", project)).status_code == 204
    assert not roles.users["admin"].project_permissions.filter(project_id=project.pk).exists()


def test_group_manager_sees_the_groups_projects(roles):
    group_manager = factories.UserFactory()
    factories.ProjectGroupPermissionFactory(project_group=roles.project_group, user=group_manager)
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(group_manager)
    assert [p["uuid"] for p in client.get("/api/projects/").json()] == [str(roles.project.uuid)]
    assert client.patch(roles.url("project", roles.project), {"name": "x"}).status_code == 403


@pytest.mark.parametrize(
    "query,expected",
    [
        ("name=project", 2),
        ("name=zzz", 0),
        ("customer={customer}", 1),
        ("customer={customer_hex}", 1),
        ("customer_name=customer", 2),
        ("project_group={group}", 1),
    ],
)
def test_filters(roles, query, expected):
    factories.ProjectFactory()
    query = query.format(
        customer=roles.customer.uuid, customer_hex=roles.customer.uuid.hex, group=roles.project_group.uuid
    )
    response = roles.client_as("staff").get(f"/api/projects/?{query}")
    assert response.status_code == 200
    assert len(response.json()) == expected


def test_ordering(roles):
    for name in ("b", "a", "c"):
        factories.ProjectFactory(customer=roles.customer, name=name)
    names = [p["name"] for p in roles.client_as("owner").get("/api/projects/?o=-name").json()]
    assert names == sorted(names, reverse=True)
    names = [p["name"] for p in roles.client_as("owner").get("/api/projects/?o=name").json()]
    assert names == sorted(names)


def test_hyperlinks_accept_uuid_hex_without_dashes(roles):
    response = roles.client_as("owner").post(
        "/api/projects/", {"name": "hex", "customer": f"http://testserver/api/customers/{roles.customer.uuid.hex}/"}
    )
    assert response.status_code == 201
    assert response.json()["customer"] == f"http://testserver/api/customers/{roles.customer.uuid}/"


def test_hyperlink_to_the_wrong_collection_is_400(roles):
    response = roles.client_as("owner").post(
        "/api/projects/", {"name": "x", "customer": f"http://testserver/api/users/{roles.users['owner'].uuid}/"}
    )
    assert response.status_code == 400
    assert "customer" in response.json()
