"""Every error body carries a `code` from ERROR_CODES, one family at a time through real endpoints.

Each test sends a real request and asserts the whole body. The last tests hold the list itself: the codes
of ERROR_CODES are the ones docs/api/conventions.rst lists (with the same meanings), and error_code() answers
nothing outside ERROR_CODES, nor a code that ERROR_CODES gives another status. The schemathesis run of
tests/test_fuzz.py checks every answer it gets against the schema, whose error bodies require `code` from
the enum of their status (tests/test_schema.py holds the schema to that).
"""

import pathlib
import re

import pytest
from django.core.cache import cache
from django.db import IntegrityError
from rest_framework import exceptions
from rest_framework.test import APIClient

from nodeconductor.core import exceptions as core_exceptions
from nodeconductor.core.exceptions import ERROR_CODES, codes_for_status, error_code
from nodeconductor.iaas.models import CloudProjectMembership, Instance, InstanceState
from nodeconductor.structure.views import CustomerViewSet
from tests import factories
from tests.core.test_exceptions import raising
from tests.iaas.brokers import celery_broker, filesystem_options
from tests.iaas.views.test_instances import create_body, make_instance, url

CONVENTIONS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "api" / "conventions.rst"
S = InstanceState


# ------------------------------------------------------------------------------------------------- 400
def test_400_invalid_names_the_fields(roles):
    response = roles.client_as("staff").post("/api/customers/", {}, format="json")
    assert response.status_code == 400
    assert response.json() == {"name": ["This field is required."], "code": "invalid"}


def test_400_parse_error_for_malformed_json(roles):
    response = roles.client_as("staff").post("/api/customers/", '{"name": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "JSON parse error - Expecting value: line 1 column 10 (char 9)",
        "code": "parse_error",
    }


def test_400_quota_exceeded(iaas, roles):
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(quota_max_instances=0)
    response = roles.client_as("admin").post("/api/instances/", create_body(iaas), format="json")
    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": ["Quota exceeded in the project's tenant: instances: 0 in use + 1 requested > limit 0"],
        "code": "quota_exceeded",
    }
    assert not Instance.objects.exists()


def test_400_authentication_failed_from_the_token_login(db):
    factories.UserFactory(username="carol")
    response = APIClient().post("/api-auth/password/", {"username": "carol", "password": "wrong"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid username or password.", "code": "authentication_failed"}


def test_400_from_django_itself_a_bad_host(db, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    response = APIClient().get("/api/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.json() == {"detail": "Bad request.", "code": "invalid"}


# ------------------------------------------------------------------------------------------------- 401
def test_401_not_authenticated_without_a_token(db):
    response = APIClient().get("/api/customers/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided.", "code": "not_authenticated"}


def test_401_authentication_failed_with_a_wrong_token(db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    response = client.get("/api/customers/")
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid token.", "code": "authentication_failed"}


# ------------------------------------------------------------------------------------------- 403, 404
def test_403_permission_denied(roles):
    response = roles.client_as("owner").post("/api/customers/", {"name": "Mine"}, format="json")
    assert response.status_code == 403
    assert response.json() == {"detail": "Only staff may create customers.", "code": "permission_denied"}


def test_404_not_found_for_an_invisible_object(roles):
    response = roles.client_as("stranger").get(roles.url("customer", roles.customer))
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_404_not_found_for_a_page_past_the_last(roles):
    response = roles.client_as("staff").get("/api/customers/?page=99")
    assert response.status_code == 404
    assert response.json() == {"detail": "Invalid page.", "code": "not_found"}


def test_404_not_found_for_an_unknown_url(db):
    response = APIClient().get("/api/no-such-collection/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


# -------------------------------------------------------------------------------------- 405, 406, 415
def test_405_method_not_allowed(roles):
    key = factories.SshPublicKeyFactory(user=roles.users["admin"])
    response = roles.client_as("admin").put(f"/api/keys/{key.uuid}/", {"name": "x"}, format="json")
    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "PUT" not allowed.', "code": "method_not_allowed"}


def test_406_not_acceptable(roles):
    response = roles.client_as("staff").get("/api/customers/", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406
    assert response.json() == {"detail": "Could not satisfy the request Accept header.", "code": "not_acceptable"}


def test_415_unsupported_media_type(roles):
    response = roles.client_as("staff").post("/api/customers/", "name=x", content_type="text/plain")
    assert response.status_code == 415
    assert response.json() == {
        "detail": 'Unsupported media type "text/plain" in request.',
        "code": "unsupported_media_type",
    }


# ------------------------------------------------------------------------------------------------- 409
def test_409_invalid_state(iaas, roles):
    instance = make_instance(iaas, S.OFFLINE)
    response = roles.client_as("admin").post(url(instance, "stop"))
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Only an Online instance can be stopped; the instance is Offline.",
        "code": "invalid_state",
    }


def test_409_invalid_state_for_a_pull_already_scheduled(iaas, roles):
    type(iaas.cloud).objects.filter(pk=iaas.cloud.pk).update(state="sync_scheduled")
    response = roles.client_as("owner").post(roles.url("cloud", iaas.cloud) + "sync/")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "A pull of this cloud is already sync scheduled; wait for it.",
        "code": "invalid_state",
    }


def test_409_in_use(roles):
    response = roles.client_as("staff").delete(roles.url("customer", roles.customer))
    assert response.status_code == 409
    assert response.json() == {"detail": "The customer still has 1 project; delete them first.", "code": "in_use"}


def test_409_conflict_for_data_the_database_refuses(roles):
    with raising(IntegrityError("duplicate key")):
        response = roles.client_as("staff").post("/api/customers/", {"name": "Dup"}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "The request conflicts with existing data (a duplicate or a missing reference).",
        "code": "conflict",
    }


# ------------------------------------------------------------------------------------------- 429, 5xx
def test_429_throttled(db, settings):
    cache.clear()
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "password_login": "1/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    client = APIClient()
    client.post("/api-auth/password/", {"username": "x", "password": "y"}, format="json")
    response = client.post("/api-auth/password/", {"username": "x", "password": "y"}, format="json")
    cache.clear()
    assert response.status_code == 429
    assert response.json() == {
        "detail": "Request was throttled. Expected available in 60 seconds.",
        "code": "throttled",
    }
    assert response["Retry-After"] == "60"


@pytest.mark.django_db(transaction=True)
def test_503_service_unavailable_when_the_broker_is_down(iaas, roles, tmp_path):
    options = filesystem_options(tmp_path)
    instance = make_instance(iaas, S.ONLINE)
    with celery_broker("filesystem://", options):  # its queue folder was never made: every publish fails
        assert not (tmp_path / "queue").exists()
        response = roles.client_as("admin").post(url(instance, "stop"))
    assert response.status_code == 503
    assert response.json() == {
        "detail": "The task queue is unavailable, so the stop was not scheduled and nothing was changed; "
        "retry shortly.",
        "code": "service_unavailable",
    }
    assert int(response["Retry-After"]) > 0
    instance.refresh_from_db()
    assert instance.state == S.ONLINE


def test_500_server_error_from_django_handler(roles, monkeypatch):
    def broken(self, request, *args, **kwargs):
        raise RuntimeError("a bug, with a secret: hunter2")

    monkeypatch.setattr(CustomerViewSet, "list", broken)
    client = roles.client_as("staff")
    client.raise_request_exception = False
    response = client.get("/api/customers/")
    assert response.status_code == 500
    assert response.json() == {"detail": "Internal server error.", "code": "server_error"}


# ------------------------------------------------------------------------------------------- the list
def documented_codes():
    """Code -> meaning, as the "Error codes" section of docs/api/conventions.rst lists them."""
    text = CONVENTIONS.read_text()
    section = text[text.index("\nError codes\n") :]
    return dict(re.findall(r"^``(\w+)``\n   (.+)$", section, re.M))


def test_the_docs_list_exactly_the_codes_with_their_meanings():
    assert documented_codes() == ERROR_CODES


def test_every_code_names_the_status_it_comes_with():
    for code, meaning in ERROR_CODES.items():
        statuses = [s for s in range(400, 600) if code in codes_for_status(s)]
        assert statuses, f"{code}: its meaning names no status: {meaning}"
    assert codes_for_status(409) == ["conflict", "in_use", "invalid_state"]
    assert codes_for_status(401) == ["authentication_failed", "not_authenticated"]


# Every exception class DRF and core define, with every code its instances could be given.
API_EXCEPTIONS = [
    cls
    for module in (exceptions, core_exceptions)
    for cls in vars(module).values()
    if isinstance(cls, type) and issubclass(cls, exceptions.APIException)
]
ODD_CODES = [None, "error", "unique", "required", "does_not_exist", *ERROR_CODES]


@pytest.mark.parametrize("cls", API_EXCEPTIONS, ids=lambda c: f"{c.__module__.split('.')[0]}.{c.__name__}")
def test_error_code_answers_only_listed_codes_of_the_exceptions_status(cls):
    for code in ODD_CODES:
        if cls is exceptions.MethodNotAllowed:
            exc = cls("PUT", code=code)
        elif cls is exceptions.UnsupportedMediaType:
            exc = cls("text/plain", code=code)
        elif cls is exceptions.Throttled:
            exc = cls(5, code=code)
        elif issubclass(cls, exceptions.ValidationError):
            exc = cls({"field": ["bad"], "other": {"nested": ["worse"]}}, code=code)
        else:
            exc = cls(code=code)
        answered = error_code(exc)
        assert answered in codes_for_status(exc.status_code), (cls, code, answered)


def test_a_field_error_keeps_a_400_code_of_its_messages_and_drops_others():
    quota = exceptions.ValidationError({"non_field_errors": ["over"]}, code="quota_exceeded")
    assert error_code(quota) == "quota_exceeded"
    assert error_code(exceptions.ValidationError({"x": ["y"]}, code="in_use")) == "invalid"
    assert error_code(exceptions.PermissionDenied(code="invalid_state")) == "permission_denied"
