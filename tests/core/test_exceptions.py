"""Database errors the settings cannot prevent (locked, read-only, gone) are a 503 with Retry-After, not a 500."""

import contextlib
import logging

import pytest
from django.db import DataError, IntegrityError, InterfaceError, InternalError, OperationalError, connection

from nodeconductor.core.exceptions import DATABASE_RETRY_AFTER, DATABASE_UNAVAILABLE
from nodeconductor.structure.models import Customer
from tests import factories

UNAVAILABLE = {"detail": DATABASE_UNAVAILABLE, "code": "service_unavailable"}


@contextlib.contextmanager
def database_refuses(statement):
    """Make the database itself fail the next SQL statement that starts with `statement` (a real error, not a fake)."""

    def wrapper(execute, sql, params, many, context):
        if not sql.lstrip().upper().startswith(statement):
            return execute(sql, params, many, context)
        cursor = context["cursor"]
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA query_only = ON")  # "attempt to write a readonly database"
            try:
                return execute(sql, params, many, context)
            finally:
                cursor.execute("PRAGMA query_only = OFF")
        # PostgreSQL: a statement cancelled by its timeout (QueryCanceled, an OperationalError).
        cursor.execute("SET LOCAL statement_timeout = 1")
        cursor.execute("SELECT pg_sleep(1)")
        raise AssertionError("PostgreSQL did not cancel the statement")

    with connection.execute_wrapper(wrapper):
        yield


@contextlib.contextmanager
def raising(error):
    """Raise `error` from the first query, as a driver does when the server went away mid-request."""

    def wrapper(execute, sql, params, many, context):
        raise error

    with connection.execute_wrapper(wrapper):
        yield


def test_an_operational_error_raised_by_the_database_is_a_503(roles, caplog):
    customer = factories.CustomerFactory(name="Doomed")
    client = roles.client_as("staff")
    with caplog.at_level(logging.WARNING, logger="nodeconductor.core.exceptions"), database_refuses("DELETE"):
        response = client.delete(roles.url("customer", customer))
    assert response.status_code == 503, response.content
    assert response.json() == UNAVAILABLE
    assert response["Retry-After"] == str(DATABASE_RETRY_AFTER)
    assert Customer.objects.filter(pk=customer.pk).exists()
    (record,) = [r for r in caplog.records if "answered as 503" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "OperationalError" in record.getMessage() and "CustomerViewSet" in record.getMessage()


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("database is locked"),
        OperationalError("server closed the connection unexpectedly"),
        InterfaceError("connection already closed"),
        InternalError("current transaction is aborted"),
    ],
    ids=lambda e: type(e).__name__,
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_every_kind_of_database_failure_is_a_503_with_retry_after(roles, error, method):
    client = roles.client_as("staff")
    with raising(error):
        response = getattr(client, method)("/api/customers/", {"name": "New"}, format="json")
    assert response.status_code == 503, response.content
    assert response.json() == UNAVAILABLE
    assert response["Retry-After"] == "5"


def test_the_log_masks_passwords_a_database_message_may_echo(roles, settings, caplog):
    credentials = {"auth_url": "http://k.example/v3", "username": "admin", "password": "pa55-w0rd", "tenant_name": "a"}
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_CREDENTIALS": (credentials,)}
    with caplog.at_level(logging.WARNING), raising(OperationalError("bad login admin/pa55-w0rd at db")):
        response = roles.client_as("staff").get("/api/customers/")
    assert response.status_code == 503
    assert "pa55-w0rd" not in caplog.text and "pa55-w0rd" not in response.content.decode()
    assert "bad login admin/*** at db" in caplog.text


def test_data_and_integrity_errors_keep_their_4xx(roles):
    client = roles.client_as("staff")
    with raising(DataError("value too long")):
        response = client.get("/api/customers/")
    assert response.status_code == 400
    assert response.json() == {"detail": "A value is out of the range the database accepts.", "code": "invalid"}
    with raising(IntegrityError("duplicate key")):
        response = client.get("/api/customers/")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "The request conflicts with existing data (a duplicate or a missing reference).",
        "code": "conflict",
    }
