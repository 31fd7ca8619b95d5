"""Security issue 27, finding 3: API tokens expire, are refreshed by use, are revoked by logout and by a password
change, are stored hashed, and a password change needs the current password.

Time is moved by patching django.utils.timezone.now, which the token code reads; nothing here needs the token
model, so each test fails on code whose tokens never expire or are never revoked.
"""

import datetime
import io
from unittest import mock

import pytest
from django.apps import apps
from django.core.cache import cache
from django.core.management import call_command
from django.db import models
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests import factories

LOGIN = "/api-auth/password/"
LOGOUT = "/api-auth/logout/"
INVALID_TOKEN = {"detail": "Invalid token.", "code": "authentication_failed"}
TTL = datetime.timedelta(minutes=5)


@pytest.fixture(autouse=True)
def short_tokens(settings):
    """Tokens that live five minutes, so a test moves time by minutes; a fresh login throttle each test."""
    settings.REST_KNOX = {**getattr(settings, "REST_KNOX", {}), "TOKEN_TTL": TTL}
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice(db):
    return factories.UserFactory(username="alice")


@pytest.fixture
def staff(db):
    return factories.StaffFactory(username="sam")


def login(user, password=factories.PASSWORD):
    response = APIClient().post(LOGIN, {"username": user.username, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def token_client(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def me(token):
    """GET /api/users/ with the token: 200 and the user's row, or the error."""
    return token_client(token).get("/api/users/")


def assert_revoked(token):
    response = me(token)
    assert response.status_code == 401
    assert response.json() == INVALID_TOKEN


def assert_works(token, username):
    response = me(token)
    assert response.status_code == 200, response.content
    assert [u["username"] for u in response.json()] == [username]


def at(moment):
    """Pretend the clock shows `moment` (a timezone-aware datetime)."""
    return mock.patch("django.utils.timezone.now", return_value=moment)


def test_login_answers_the_token_and_when_it_expires(alice):
    before = timezone.now()
    body = login(alice)
    assert set(body) == {"token", "expiry"}
    assert len(body["token"]) == 64
    expiry = datetime.datetime.fromisoformat(body["expiry"].replace("Z", "+00:00"))
    assert before + TTL <= expiry <= timezone.now() + TTL


def test_each_login_is_a_new_token_and_both_work(alice):
    first, second = login(alice)["token"], login(alice)["token"]
    assert first != second
    assert_works(first, "alice")
    assert_works(second, "alice")


def test_an_expired_token_is_401(alice):
    start = timezone.now()
    with at(start):
        token = login(alice)["token"]
    with at(start + TTL - datetime.timedelta(seconds=1)):
        assert_works(token, "alice")
    # The use above moved the expiry to start + 2 * TTL - 1 s; a second after that it is gone.
    with at(start + 2 * TTL):
        assert_revoked(token)
    # Gone for good, not just while the clock is late.
    assert_revoked(token)


def test_a_used_token_is_refreshed(alice):
    start = timezone.now()
    with at(start):
        token = login(alice)["token"]
    # Each use within the life moves the expiry forward, so an active client keeps its token past the first TTL.
    for minutes in (4, 8, 12, 16):
        with at(start + datetime.timedelta(minutes=minutes)):
            assert_works(token, "alice")
    # Idle longer than the TTL after the last use: expired.
    with at(start + datetime.timedelta(minutes=16) + TTL + datetime.timedelta(seconds=1)):
        assert_revoked(token)


def test_a_token_kept_in_use_still_dies_at_its_maximum_age(alice, settings):
    # The project's maximum age (seven days), with tokens that live a day after each use.
    day = datetime.timedelta(days=1)
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": day}
    start = timezone.now()
    with at(start):
        token = login(alice)["token"]
    for uses in range(1, 8):
        with at(start + uses * 0.9 * day):
            assert_works(token, "alice")
    # Used every 0.9 days, last at 6.3; seven days after the login its life ends all the same.
    with at(start + 7 * day + datetime.timedelta(seconds=1)):
        assert_revoked(token)


def test_logout_revokes_the_token_of_the_request_only(alice):
    token, other = login(alice)["token"], login(alice)["token"]
    response = token_client(token).post(LOGOUT)
    assert response.status_code == 204
    assert response.content == b""
    assert_revoked(token)
    assert_works(other, "alice")
    again = token_client(token).post(LOGOUT)
    assert again.status_code == 401
    assert again.json() == INVALID_TOKEN


def test_logout_without_credentials_is_401(db):
    response = APIClient().post(LOGOUT)
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"}


def test_the_token_is_not_stored_in_plain_text(alice):
    token = login(alice)["token"]
    stored = []
    for model in apps.get_models():
        fields = model._meta.concrete_fields
        text_fields = [f.attname for f in fields if isinstance(f, (models.CharField, models.TextField))]
        for row in model.objects.values_list(*text_fields) if text_fields else ():
            stored += [value for value in row if isinstance(value, str)]
    assert stored  # the scan saw rows
    assert not [value for value in stored if token in value or token[15:] in value]


def password_url(user):
    return f"/api/users/{user.uuid}/password/"


def test_own_password_change_revokes_the_other_tokens_and_keeps_this_one(alice):
    current, other = login(alice)["token"], login(alice)["token"]
    response = token_client(current).post(
        password_url(alice), {"current_password": factories.PASSWORD, "password": "Another-good-1"}, format="json"
    )
    assert response.status_code == 200
    assert response.json() == {"detail": "Password has been set."}
    assert_revoked(other)
    assert_works(current, "alice")
    assert_works(login(alice, "Another-good-1")["token"], "alice")


@pytest.mark.parametrize(
    "body, message",
    [
        ({"password": "Another-good-1"}, "This field is required."),
        ({"password": "Another-good-1", "current_password": ""}, "This field may not be blank."),
        ({"password": "Another-good-1", "current_password": "wrong-password"}, "Your current password is wrong."),
    ],
)
def test_own_password_change_needs_the_current_password(alice, body, message):
    token, other = login(alice)["token"], login(alice)["token"]
    response = token_client(token).post(password_url(alice), body, format="json")
    assert response.status_code == 400
    assert response.json() == {"current_password": [message], "code": "invalid"}
    alice.refresh_from_db()
    assert alice.check_password(factories.PASSWORD)
    assert_works(other, "alice")


def test_a_weak_password_and_a_missing_current_one_are_both_named(alice):
    response = token_client(login(alice)["token"]).post(password_url(alice), {"password": "short"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "current_password": ["This field is required."],
        "password": ["This password is too short. It must contain at least 8 characters."],
        "code": "invalid",
    }


def test_staff_need_their_own_current_password_too(staff):
    client = token_client(login(staff)["token"])
    response = client.post(password_url(staff), {"password": "Another-good-1"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"current_password": ["This field is required."], "code": "invalid"}


def test_staff_set_another_users_password_without_it_and_all_his_tokens_go(alice, staff):
    alice_tokens = [login(alice)["token"], login(alice)["token"]]
    staff_token = login(staff)["token"]
    response = token_client(staff_token).post(password_url(alice), {"password": "Another-good-1"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"detail": "Password has been set."}
    for token in alice_tokens:
        assert_revoked(token)
    staff_me = me(staff_token)  # staff see everyone
    assert staff_me.status_code == 200
    assert {u["username"] for u in staff_me.json()} == {"alice", "sam"}


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(alice):
    this, other = APIClient(), Client()
    this.force_login(alice)
    other.force_login(alice)
    assert other.get("/api/users/").status_code == 200
    response = this.post(
        password_url(alice), {"current_password": factories.PASSWORD, "password": "Another-good-1"}, format="json"
    )
    assert response.status_code == 200
    kept = this.get("/api/users/")
    assert kept.status_code == 200
    assert [u["username"] for u in kept.json()] == ["alice"]
    ended = other.get("/api/users/")
    assert ended.status_code == 401
    assert ended.json() == {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"}


def test_a_deactivated_users_token_is_401(alice):
    token = login(alice)["token"]
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    response = me(token)
    assert response.status_code == 401
    assert response.json() == {"detail": "User inactive or deleted.", "code": "authentication_failed"}


def test_any_new_password_revokes_the_tokens_whoever_sets_it(alice):
    token = login(alice)["token"]
    alice.full_name = "Alice Liddell"
    alice.save()  # another field: the token stays
    assert_works(token, "alice")
    alice.set_password("Another-good-1")
    alice.save()  # as the shell does
    assert_revoked(token)


def test_manage_py_changepassword_revokes_the_tokens(alice, monkeypatch):
    from django.contrib.auth.management.commands import changepassword

    token = login(alice)["token"]
    monkeypatch.setattr(changepassword.Command, "_get_pass", lambda self, prompt=None: "Another-good-1")
    call_command("changepassword", "alice", stdout=io.StringIO())
    assert_revoked(token)


def test_staffs_own_password_change_in_the_admin_revokes_their_tokens(staff):
    token = login(staff)["token"]
    client = Client()
    client.force_login(staff)
    response = client.post("/admin/password_change/", {
        "old_password": factories.PASSWORD, "new_password1": "Another-good-1", "new_password2": "Another-good-1",
    })  # fmt: skip
    assert response.status_code == 302 and response["Location"] == "/admin/password_change/done/"
    assert_revoked(token)
