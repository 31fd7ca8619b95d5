"""Granting and revoking roles on customers, projects and project groups."""

import pytest

from nodeconductor.structure import models
from tests import factories
from tests.fixtures.roles import check_matrix


def url_of(view, obj):
    return f"http://testserver/api/{view}/{obj.uuid}/"


def grant(client, endpoint, scope_field, scope_url, user, role):
    return client.post(
        f"/api/{endpoint}/", {scope_field: scope_url, "user": url_of("users", user), "role": role}, format="json"
    )


# (endpoint, scope field, view of the scope, fixture attribute of the scope, role to grant, model, basename)
KINDS = {
    "customer": ("customer-permissions", "customer", "customers", "customer", "owner", models.CustomerPermission),
    "project": ("project-permissions", "project", "projects", "project", "manager", models.ProjectPermission),
    "project_group": (
        "project-group-permissions",
        "project_group",
        "project-groups",
        "project_group",
        "manager",
        models.ProjectGroupPermission,
    ),
}
BASENAMES = {
    "customer": "customerpermission",
    "project": "projectpermission",
    "project_group": "projectgrouppermission",
}
# Who sees the object (and so its roles): project admins and managers see the customer and project, not groups.
SEES = {
    "customer": ("manager", "admin", "owner", "staff"),
    "project": ("manager", "admin", "owner", "staff"),
    "project_group": ("owner", "staff"),
}


def make_permission(roles, kind, **kwargs):
    factory = {
        "customer": factories.CustomerPermissionFactory,
        "project": factories.ProjectPermissionFactory,
        "project_group": factories.ProjectGroupPermissionFactory,
    }[kind]
    scope_field = KINDS[kind][1]
    return factory(**{scope_field: getattr(roles, KINDS[kind][3])}, **kwargs)


@pytest.mark.parametrize("kind", KINDS)
def test_grant_matrix(roles, kind):
    endpoint, scope_field, view, attr, role, model = KINDS[kind]
    scope_url = url_of(view, getattr(roles, attr))
    grantees = {r: factories.UserFactory() for r in ("anonymous", "stranger", "manager", "admin", "owner", "staff")}
    expected = {"anonymous": 401, "stranger": 400, "manager": 403, "admin": 403, "owner": 201, "staff": 201}
    if kind == "project_group":  # the group is invisible to project members: a 400 on its field, as for strangers
        expected |= {"manager": 400, "admin": 400}
    responses = check_matrix(
        roles, expected, lambda c, r: grant(c, endpoint, scope_field, scope_url, grantees[r], role)
    )
    assert responses["stranger"].json() == {
        scope_field: ["Invalid hyperlink - Object does not exist."],
        "code": "invalid",
    }
    body = responses["owner"].json()
    assert body[scope_field] == scope_url
    assert body["user"] == url_of("users", grantees["owner"])
    assert body["role"] == role
    assert model.objects.filter(user__in=[grantees["owner"], grantees["staff"]]).count() == 2
    assert not model.objects.filter(user__in=[grantees[r] for r in ("stranger", "manager", "admin")]).exists()


@pytest.mark.parametrize("kind", KINDS)
def test_duplicate_grant_is_400(roles, kind):
    endpoint, scope_field, view, attr, role, _ = KINDS[kind]
    user = factories.UserFactory(username="dup")
    client = roles.client_as("staff")
    assert grant(client, endpoint, scope_field, url_of(view, getattr(roles, attr)), user, role).status_code == 201
    response = grant(client, endpoint, scope_field, url_of(view, getattr(roles, attr)), user, role)
    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": [f"dup is already {role} of {getattr(roles, attr).name}."],
        "code": "invalid",
    }


@pytest.mark.parametrize("kind", KINDS)
def test_list_matrix(roles, kind):
    endpoint = KINDS[kind][0]
    perm = make_permission(roles, kind)
    factories.ProjectGroupPermissionFactory() if kind == "project_group" else None
    expected = {r: 200 for r in ("stranger", "manager", "admin", "owner", "staff")} | {"anonymous": 401}
    responses = check_matrix(roles, expected, lambda c, r: c.get(f"/api/{endpoint}/?page_size=100"))
    for role, response in responses.items():
        if role == "anonymous":
            continue
        uuids = {p["uuid"] for p in response.json()}
        assert (str(perm.uuid) in uuids) == (role in SEES[kind]), role
    assert responses["stranger"].json() == []


@pytest.mark.parametrize("kind", KINDS)
def test_retrieve_matrix(roles, kind):
    perm = make_permission(roles, kind)
    expected = {"anonymous": 401} | {r: 200 if r in SEES[kind] else 404 for r in roles.users if r != "anonymous"}
    responses = check_matrix(roles, expected, lambda c, r: c.get(roles.url(BASENAMES[kind], perm)))
    body = responses["staff"].json()
    assert body["username"] == perm.user.username
    assert body["uuid"] == str(perm.uuid)


@pytest.mark.parametrize("kind", KINDS)
def test_revoke_matrix(roles, kind):
    perms = iter([make_permission(roles, kind) for _ in range(6)])
    expected = (
        {"anonymous": 401}
        | {r: 403 if r in SEES[kind] else 404 for r in ("stranger", "manager", "admin")}
        | {"owner": 204, "staff": 204}
    )
    check_matrix(roles, expected, lambda c, r: c.delete(roles.url(BASENAMES[kind], next(perms))))


@pytest.mark.parametrize("kind", KINDS)
def test_roles_are_not_edited_in_place(roles, kind):
    perm = make_permission(roles, kind)
    client = roles.client_as("staff")
    assert client.patch(roles.url(BASENAMES[kind], perm), {"role": "admin"}, format="json").status_code == 405
    assert client.put(roles.url(BASENAMES[kind], perm), {}, format="json").status_code == 405


def test_owner_manages_other_owners(roles):
    other_owner = factories.CustomerPermissionFactory(customer=roles.customer)
    client = roles.client_as("owner")
    assert client.delete(roles.url("customerpermission", other_owner)).status_code == 204
    assert not roles.customer.has_owner(other_owner.user)


def test_revoked_owner_loses_access(roles):
    perm = roles.customer.permissions.get(user=roles.users["owner"])
    assert roles.client_as("staff").delete(roles.url("customerpermission", perm)).status_code == 204
    assert roles.client_as("owner").get(roles.url("customer", roles.customer)).status_code == 404


def test_granted_admin_sees_the_project(roles):
    newcomer = factories.UserFactory()
    grant(
        roles.client_as("owner"), "project-permissions", "project", url_of("projects", roles.project), newcomer, "admin"
    )
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(newcomer)
    assert client.get(roles.url("project", roles.project)).status_code == 200


def test_owner_cannot_grant_on_another_customers_project(roles):
    foreign = factories.ProjectFactory()
    response = grant(
        roles.client_as("owner"),
        "project-permissions",
        "project",
        url_of("projects", foreign),
        roles.users["stranger"],
        "admin",
    )
    assert response.status_code == 400
    assert response.json() == {"project": ["Invalid hyperlink - Object does not exist."], "code": "invalid"}


@pytest.mark.parametrize(
    "endpoint,scope_field,view,role",
    [
        ("project-permissions", "project", "projects", "owner"),
        ("project-permissions", "project", "projects", "boss"),
        ("customer-permissions", "customer", "customers", "admin"),
        ("project-group-permissions", "project_group", "project-groups", "admin"),
    ],
)
def test_invalid_role_is_400(roles, endpoint, scope_field, view, role):
    scope = {"project": roles.project, "customer": roles.customer, "project_group": roles.project_group}[scope_field]
    response = grant(
        roles.client_as("staff"), endpoint, scope_field, url_of(view, scope), roles.users["stranger"], role
    )
    assert response.status_code == 400
    assert "role" in response.json()


def test_customer_role_defaults_to_owner(roles):
    response = roles.client_as("staff").post(
        "/api/customer-permissions/",
        {"customer": url_of("customers", roles.customer), "user": url_of("users", roles.users["stranger"])},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["role"] == "owner"


def test_unknown_user_is_400(roles):
    response = roles.client_as("owner").post(
        "/api/customer-permissions/",
        {
            "customer": url_of("customers", roles.customer),
            "user": "http://testserver/api/users/00000000-0000-0000-0000-000000000000/",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "user" in response.json()


def test_filters(roles):
    client = roles.client_as("staff")
    other_project = factories.ProjectPermissionFactory(role="manager")
    admin = roles.users["admin"]
    assert len(client.get("/api/project-permissions/").json()) == 3
    assert len(client.get(f"/api/project-permissions/?project={roles.project.uuid}").json()) == 2
    assert len(client.get(f"/api/project-permissions/?customer={roles.customer.uuid}").json()) == 2
    assert [p["username"] for p in client.get(f"/api/project-permissions/?user={admin.uuid}").json()] == ["admin"]
    managers = client.get("/api/project-permissions/?role=manager").json()
    assert {p["uuid"] for p in managers} == {
        str(other_project.uuid),
        str(roles.project.permissions.get(role="manager").uuid),
    }
    assert client.get("/api/project-permissions/?role=nonsense").status_code == 400
    assert len(client.get(f"/api/customer-permissions/?customer={roles.customer.uuid}").json()) == 1
    assert len(client.get(f"/api/customer-permissions/?user={roles.users['owner'].uuid}&role=owner").json()) == 1
    assert len(client.get(f"/api/project-group-permissions/?customer={roles.customer.uuid}").json()) == 0
    names = [p["username"] for p in client.get("/api/project-permissions/?o=-user__username").json()]
    assert names == sorted(names, reverse=True)
