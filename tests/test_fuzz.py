"""Schemathesis fuzzes every operation of /api/schema/ as staff and as a plain user.

The schema is loaded from the Django WSGI app when the module is collected; if it cannot be served, one
test fails saying why instead of the whole collection breaking. Each operation gets a few derandomized
examples (examples and fuzzing phases; the coverage phase enumerates hundreds of boundary cases per
operation, too slow for the suite); every response must not be a server error and must conform to the
schema (status code, content type, headers and body).
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.errors import LoaderError

from nodeconductor.wsgi import application
from tests.fixtures.roles import make_roles

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

try:
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    schema.config.phases.update(phases=["examples", "fuzzing"])
    LOAD_ERROR = None
except LoaderError as exc:  # a broken schema view must fail a test, not the collection of the suite
    schema, LOAD_ERROR = None, exc


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """Keep Django from closing the test's database connection after each request.

    Schemathesis calls the WSGI app directly, whose request signals close "old" connections: inside the test's
    transaction that closes it (PostgreSQL then answers "the connection is closed"). Django's own test client
    disconnects the same handlers around its requests.
    """
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(params=["staff", "owner"])
def token_header(request, db):
    """`Authorization: Token ...` of a staff user or of a plain user (owner of a customer with a project)."""
    roles = make_roles()
    token = Token.objects.create(user=roles.users[request.param])
    return {"Authorization": f"Token {token.key}"}


if schema is None:

    def test_schema_loads():
        pytest.fail(f"/api/schema/ could not be loaded: {LOAD_ERROR}")

else:

    @schema.parametrize()
    @settings(
        max_examples=10,
        derandomize=True,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def test_api(case, token_header):
        case.call_and_validate(headers=token_header, checks=CHECKS)
