from rest_framework.test import APIClient

from nodeconductor.structure.models import Project, ProjectGroup
from tests import factories
from tests.fixtures.roles import check_matrix

FIELDS = {"url", "uuid", "name", "customer", "customer_name", "projects", "created"}
# project administrators and managers see their projects but not the groups holding them
VISIBLE = {"anonymous": 401, "stranger": 404, "manager": 404, "admin": 404, "owner": 200, "staff": 200}


def project_url(project):
    return f"http://testserver/api/projects/{project.uuid}/"


def test_list_matrix(roles):
    factories.ProjectGroupFactory(name="Invisible")
    expected = {"anonymous": 401, "stranger": 200, "manager": 200, "admin": 200, "owner": 200, "staff": 200}
    responses = check_matrix(roles, expected, lambda c, r: c.get("/api/project-groups/"))
    for role in ("stranger", "manager", "admin"):
        assert responses[role].json() == []
    assert [g["uuid"] for g in responses["owner"].json()] == [str(roles.project_group.uuid)]
    assert len(responses["staff"].json()) == 2


def test_retrieve_matrix_and_body(roles):
    responses = check_matrix(roles, VISIBLE, lambda c, r: c.get(roles.url("projectgroup", roles.project_group)))
    body = responses["owner"].json()
    assert set(body) == FIELDS
    assert body["projects"] == [project_url(roles.project)]
    assert body["customer"] == f"http://testserver/api/customers/{roles.customer.uuid}/"


def test_create_matrix(roles):
    data = {"name": "G", "customer": f"http://testserver/api/customers/{roles.customer.uuid}/"}
    # the manager and admin see the customer (through their project): 403, not 400
    expected = {"anonymous": 401, "stranger": 400, "manager": 403, "admin": 403, "owner": 201, "staff": 201}
    responses = check_matrix(roles, expected, lambda c, r: c.post("/api/project-groups/", data, format="json"))
    assert responses["stranger"].json() == {
        "customer": ["Invalid hyperlink - Object does not exist."],
        "code": "invalid",
    }
    assert responses["owner"].json()["projects"] == []


def test_create_with_projects(roles):
    data = {
        "name": "G",
        "customer": f"http://testserver/api/customers/{roles.customer.uuid}/",
        "projects": [project_url(roles.project)],
    }
    response = roles.client_as("owner").post("/api/project-groups/", data, format="json")
    assert response.status_code == 201
    assert response.json()["projects"] == [project_url(roles.project)]


def test_update_matrix(roles):
    url = roles.url("projectgroup", roles.project_group)
    check_matrix(roles, VISIBLE, lambda c, r: c.patch(url, {"name": r}, format="json"))
    roles.project_group.refresh_from_db()
    assert roles.project_group.name == "staff"


def test_group_manager_reads_but_does_not_change(roles):
    user = factories.UserFactory()
    factories.ProjectGroupPermissionFactory(project_group=roles.project_group, user=user)
    client = APIClient()
    client.force_authenticate(user)
    url = roles.url("projectgroup", roles.project_group)
    assert client.get(url).status_code == 200
    assert client.patch(url, {"name": "x"}, format="json").status_code == 403
    assert client.delete(url).status_code == 403


def test_add_and_remove_projects(roles):
    second = factories.ProjectFactory(customer=roles.customer)
    url = roles.url("projectgroup", roles.project_group)
    client = roles.client_as("owner")
    response = client.patch(url, {"projects": [project_url(roles.project), project_url(second)]}, format="json")
    assert response.status_code == 200
    assert set(response.json()["projects"]) == {project_url(roles.project), project_url(second)}
    response = client.patch(url, {"projects": [project_url(second)]}, format="json")
    assert response.json()["projects"] == [project_url(second)]
    assert list(roles.project_group.projects.all()) == [second]


def test_project_of_another_customer_is_400(roles):
    foreign = factories.ProjectFactory()
    url = roles.url("projectgroup", roles.project_group)
    response = roles.client_as("staff").patch(url, {"projects": [project_url(foreign)]}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "projects": [f"Projects of another customer cannot join: {foreign.name}."],
        "code": "invalid",
    }
    assert list(roles.project_group.projects.all()) == [roles.project]


def test_invisible_project_is_400_does_not_exist(roles):
    foreign = factories.ProjectFactory()
    url = roles.url("projectgroup", roles.project_group)
    response = roles.client_as("owner").patch(url, {"projects": [project_url(foreign)]}, format="json")
    assert response.status_code == 400
    assert response.json() == {"projects": ["Invalid hyperlink - Object does not exist."], "code": "invalid"}


def test_create_with_foreign_project_is_400(roles):
    foreign = factories.ProjectFactory()
    data = {
        "name": "G",
        "customer": f"http://testserver/api/customers/{roles.customer.uuid}/",
        "projects": [project_url(foreign)],
    }
    response = roles.client_as("staff").post("/api/project-groups/", data, format="json")
    assert response.status_code == 400
    assert "projects" in response.json()


def test_delete_matrix_keeps_projects(roles):
    groups = iter(factories.ProjectGroupFactory.create_batch(6, customer=roles.customer, projects=[roles.project]))
    check_matrix(
        roles, VISIBLE | {"owner": 204, "staff": 204}, lambda c, r: c.delete(roles.url("projectgroup", next(groups)))
    )
    assert ProjectGroup.objects.filter(customer=roles.customer).count() == 5
    assert Project.objects.filter(pk=roles.project.pk).exists()


def test_filters(roles):
    other = factories.ProjectGroupFactory()
    client = roles.client_as("staff")
    assert len(client.get(f"/api/project-groups/?customer={roles.customer.uuid}").json()) == 1
    assert len(client.get(f"/api/project-groups/?project={roles.project.uuid}").json()) == 1
    assert [g["name"] for g in client.get(f"/api/project-groups/?name={other.name.upper()}").json()] == [other.name]
    names = [g["name"] for g in client.get("/api/project-groups/?o=-name").json()]
    assert names == sorted(names, reverse=True)
