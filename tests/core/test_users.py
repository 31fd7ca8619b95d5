import pytest

from tests import factories
from tests.fixtures.roles import ROLES, check_matrix

NON_STAFF = ("stranger", "manager", "admin", "owner")
FIELDS = {
    "url",
    "uuid",
    "username",
    "full_name",
    "native_name",
    "email",
    "phone_number",
    "organization",
    "job_title",
    "civil_number",
    "is_staff",
    "is_active",
    "description",
}


def expect(anonymous, non_staff, staff):
    return {"anonymous": anonymous, **{r: non_staff for r in NON_STAFF}, "staff": staff}


@pytest.fixture
def other(db):
    return factories.UserFactory(username="zz-other")


def test_list_matrix(roles, other):
    responses = check_matrix(roles, expect(401, 200, 200), lambda c, r: c.get("/api/users/?page_size=100"))
    for role in NON_STAFF:
        assert [u["username"] for u in responses[role].json()] == [role]
    staff_sees = {u["username"] for u in responses["staff"].json()}
    assert staff_sees == {"stranger", "manager", "admin", "owner", "staff", "zz-other"}
    for body in responses["staff"].json():
        assert set(body) == FIELDS
        assert "password" not in body


def test_retrieve_other_matrix(roles, other):
    url = roles.url("user", other)
    responses = check_matrix(roles, expect(401, 404, 200), lambda c, r: c.get(url))
    assert responses["staff"].json()["username"] == "zz-other"
    assert "zz-other" not in responses["owner"].content.decode()


def test_retrieve_self(roles):
    for role in NON_STAFF + ("staff",):
        response = roles.client_as(role).get(roles.url("user", roles.users[role]))
        assert response.status_code == 200
        assert set(response.json()) == FIELDS


def test_create_matrix(roles):
    counter = iter(range(100))
    check_matrix(
        roles,
        expect(401, 403, 201),
        lambda c, r: c.post("/api/users/", {"username": f"new{next(counter)}", "email": "a@b.cd"}, format="json"),
    )
    assert roles.users["staff"].__class__.objects.filter(username__startswith="new").count() == 1


def test_create_invalid_username_is_400(roles):
    response = roles.client_as("staff").post("/api/users/", {"username": "has space"}, format="json")
    assert response.status_code == 400
    assert "username" in response.json()


def test_create_duplicate_username_is_400(roles):
    response = roles.client_as("staff").post("/api/users/", {"username": "owner"}, format="json")
    assert response.status_code == 400
    assert "username" in response.json()


def test_update_other_matrix(roles, other):
    url = roles.url("user", other)
    check_matrix(roles, expect(401, 404, 200), lambda c, r: c.patch(url, {"job_title": r}, format="json"))
    other.refresh_from_db()
    assert other.job_title == "staff"


def test_update_self_but_not_flags(roles):
    for role in NON_STAFF:
        user = roles.users[role]
        response = roles.client_as(role).patch(
            roles.url("user", user), {"full_name": "Me", "is_staff": True, "is_active": False}, format="json"
        )
        assert response.status_code == 200
        user.refresh_from_db()
        assert (user.full_name, user.is_staff, user.is_active) == ("Me", False, True)
        assert response.json()["is_staff"] is False


def test_staff_may_make_staff(roles, other):
    response = roles.client_as("staff").patch(roles.url("user", other), {"is_staff": True}, format="json")
    assert response.status_code == 200
    other.refresh_from_db()
    assert other.is_staff


def test_blank_civil_numbers_do_not_collide(roles):
    client = roles.client_as("staff")
    for name in ("c1", "c2"):
        assert client.post("/api/users/", {"username": name, "civil_number": ""}, format="json").status_code == 201


def test_delete_other_matrix(roles):
    victims = iter(factories.UserFactory.create_batch(len(ROLES)))
    check_matrix(roles, expect(401, 404, 204), lambda c, r: c.delete(roles.url("user", next(victims))))


def test_non_staff_cannot_delete_himself(roles):
    for role in NON_STAFF:
        assert roles.client_as(role).delete(roles.url("user", roles.users[role])).status_code == 403


def test_password_matrix_on_other(roles, other):
    url = roles.url("user", other) + "password/"
    check_matrix(roles, expect(401, 404, 200), lambda c, r: c.post(url, {"password": "Good-pass-91"}, format="json"))
    other.refresh_from_db()
    assert other.check_password("Good-pass-91")


def test_password_on_self(roles):
    user = roles.users["manager"]
    response = roles.client_as("manager").post(
        roles.url("user", user) + "password/",
        {"current_password": factories.PASSWORD, "password": "Another-good-1"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json() == {"detail": "Password has been set."}
    user.refresh_from_db()
    assert user.check_password("Another-good-1")


@pytest.mark.parametrize("password", ["short", "12345678901", "password123"])
def test_weak_password_is_400_with_message(roles, password):
    user = roles.users["manager"]
    response = roles.client_as("manager").post(
        roles.url("user", user) + "password/", {"current_password": factories.PASSWORD, "password": password}
    )
    assert response.status_code == 400
    assert set(response.json()) == {"password", "code"}
    assert response.json()["password"]
    user.refresh_from_db()
    assert user.check_password(factories.PASSWORD)


def test_password_never_shown(roles):
    body = roles.client_as("staff").get("/api/users/?page_size=100").content.decode()
    assert "password" not in body
    assert "md5$" not in body


def test_uuid_lookup_without_dashes(roles):
    user = roles.users["owner"]
    response = roles.client_as("owner").get(f"/api/users/{user.uuid.hex}/")
    assert response.status_code == 200


def test_filters_and_ordering(roles, other):
    client = roles.client_as("staff")
    assert [u["username"] for u in client.get("/api/users/?username=ZZ").json()] == ["zz-other"]
    names = [u["username"] for u in client.get("/api/users/?o=-username&page_size=100").json()]
    assert names == sorted(names, reverse=True)
    assert [u["username"] for u in client.get("/api/users/?is_staff=true").json()] == ["staff"]
