import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests import factories

URL = "/api-auth/password/"


@pytest.fixture
def user(db):
    return factories.UserFactory(username="alice")


def test_login_returns_a_token_that_authenticates(user):
    response = APIClient().post(URL, {"username": "alice", "password": factories.PASSWORD}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    me = client.get("/api/users/")
    assert me.status_code == 200
    assert [u["username"] for u in me.json()] == ["alice"]


def test_each_login_returns_a_new_token(user):
    data = {"username": "alice", "password": factories.PASSWORD}
    first = APIClient().post(URL, data, format="json").json()["token"]
    assert APIClient().post(URL, data, format="json").json()["token"] != first


@pytest.mark.parametrize(
    "username,password",
    [("alice", "wrong-password"), ("nobody", factories.PASSWORD), ("nobody", "wrong-password")],
)
def test_bad_credentials_give_one_message_that_does_not_say_which_part(user, username, password):
    response = APIClient().post(URL, {"username": username, "password": password}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid username or password.", "code": "authentication_failed"}


def test_inactive_user_gets_the_same_message(user):
    user.is_active = False
    user.save()
    response = APIClient().post(URL, {"username": "alice", "password": factories.PASSWORD}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid username or password.", "code": "authentication_failed"}


def test_missing_fields_are_field_keyed(db):
    response = APIClient().post(URL, {}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "username": ["This field is required."],
        "password": ["This field is required."],
        "code": "invalid",
    }


def test_junk_body_is_400(db):
    response = APIClient().post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "JSON parse error - Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        "code": "parse_error",
    }


def test_login_is_throttled(user, settings):
    cache.clear()
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "password_login": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    client = APIClient()
    codes = [client.post(URL, {"username": "alice", "password": "nope"}, format="json").status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429]
    response = client.post(URL, {"username": "alice", "password": factories.PASSWORD}, format="json")
    assert response.status_code == 429
    assert response.json() == {
        "detail": "Request was throttled. Expected available in 60 seconds.",
        "code": "throttled",
    }
    cache.clear()


@pytest.mark.parametrize("header", ["Token not-a-token", "Token " + "0" * 64, "Token caf\xe9", "Token", "Token a b"])
def test_bad_token_is_401(db, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/users/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert response.json()["detail"].startswith("Invalid token")


def test_anonymous_is_401_with_token_challenge(db):
    response = APIClient().get("/api/users/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"
