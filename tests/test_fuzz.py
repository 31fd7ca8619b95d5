"""Schemathesis fuzzes every operation of /api/schema/ as staff and as plain users, in process and live.

In process: the schema is loaded from the Django WSGI app when the module is collected; if it cannot be
served, one test fails saying why instead of the whole collection breaking. Each operation gets a few
derandomized examples (examples and fuzzing phases), as staff and as a customer owner; updates (PUT, PATCH)
as staff also get the coverage phase, which enumerates the boundary cases of every field, nested ones
included (too slow for every operation; a PATCH of a nested list without its key gave a 500 there).
Operations on one object are pointed at an existing one, since a random uuid only ever meets a 404.
Every response must not be a server error and must conform to the schema (status code, content type,
headers and body); every error's `code` must be one ERROR_CODES lists for its status.

Live: schemathesis' own CLI, as an outsider runs it, against a server on the development settings (the
embedded SQLite file), with 2 concurrent workers and the stateful phase (creates followed by reads, updates
and deletes of what was created), as a stranger and as staff. Concurrent deletes on that database once gave
500 "database is locked"; the same checks apply.
"""

import re
import subprocess
import sys

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from knox.models import AuthToken
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.errors import LoaderError

from nodeconductor.core.exceptions import codes_for_status
from nodeconductor.wsgi import application
from tests.devserver import DevServer
from tests.fixtures.roles import make_roles
from tests.iaas import factories as iaas_factories

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@schemathesis.check
def error_code_is_listed(ctx, response, case):
    """Every error answered carries a `code` that ERROR_CODES lists for its status (whatever the schema says)."""
    if response.status_code >= 400:
        code = response.json().get("code")
        allowed = codes_for_status(response.status_code)
        assert code in allowed, f"{response.status_code} with code {code!r}, not one of {allowed}"


# In process, the answers are also held to ERROR_CODES (the CLI of the live run knows only its own checks).
IN_PROCESS_CHECKS = [*CHECKS, error_code_is_listed]

try:
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
    schema.config.phases.update(phases=["examples", "fuzzing"])
    updates = schemathesis.openapi.from_wsgi("/api/schema/", application).include(method=["PUT", "PATCH"])
    updates.config.phases.update(phases=["coverage"])
    LOAD_ERROR = None
except LoaderError as exc:  # a broken schema view must fail a test, not the collection of the suite
    schema, updates, LOAD_ERROR = None, None, exc
HYPOTHESIS = {
    "derandomize": True,
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
}


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


def make_requester(role):
    """The `Authorization` header of `role`'s user, and collection -> uuid of an object of each kind."""
    roles = make_roles()
    template = iaas_factories.TemplateFactory(name="CentOS", is_active=True)
    iaas_factories.TemplateMappingFactory(template=template, backend_image_id="img-1", description="x86_64")
    _, token = AuthToken.objects.create(user=roles.users[role])
    objects = {
        "customers": roles.customer.uuid,
        "projects": roles.project.uuid,
        "project-groups": roles.project_group.uuid,
        "iaas-templates": template.uuid,
        "users": roles.users[role].uuid,
    }
    return {"Authorization": f"Token {token}"}, objects


@pytest.fixture(params=["staff", "owner"])
def requester(request, db):
    """A staff user or a plain user (owner of a customer with a project, a group and a template to see)."""
    return make_requester(request.param)


@pytest.fixture
def staff(db):
    """A staff user, with the same objects as `requester`."""
    return make_requester("staff")


def call_on_existing(case, requester):
    """Point an operation on one object at an existing one of its collection, then call and check it."""
    headers, objects = requester
    collection = case.operation.path.split("/")[2]
    if case.path_parameters and "uuid" in case.path_parameters and collection in objects:
        case.path_parameters["uuid"] = str(objects[collection])
    case.call_and_validate(headers=headers, checks=IN_PROCESS_CHECKS)


if schema is None:

    def test_schema_loads():
        pytest.fail(f"/api/schema/ could not be loaded: {LOAD_ERROR}")

else:

    @schema.parametrize()
    @settings(max_examples=10, **HYPOTHESIS)
    def test_api(case, requester):
        call_on_existing(case, requester)

    @updates.parametrize()
    @settings(**HYPOTHESIS)
    def test_updates_at_every_boundary(case, staff):
        call_on_existing(case, staff)


# Per operation in the fuzzing phase (the in-process fuzz covers more examples), and stateful scenarios.
LIVE_EXAMPLES = 2
LIVE_SCENARIOS = 15


def live_config(path, server):
    """A schemathesis.toml that points operations on one object at one that exists, and bodies at its parents.

    Random uuids only ever meet a 404; an existing customer, project, group and template let the fuzzer reach
    the validation and the writes behind them (where the template PATCH gave its 500).
    """
    objects = server.objects
    lines = [
        "[parameters]",
        f'"body.customer" = "/api/customers/{objects["customers"]}/"',
        f'"body.project" = "/api/projects/{objects["projects"]}/"',
        "",
        "[phases.stateful.generation]",
        f"max-examples = {LIVE_SCENARIOS}",
    ]
    for collection, uuid in objects.items():
        lines += ["", "[[operations]]", f'include-path-regex = "^/api/{collection}/[{{]uuid[}}]/"']
        lines += [f'parameters = {{ "path.uuid" = "{uuid}" }}']
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("role", ["stranger", "staff"])
def test_live_fuzz_with_concurrent_workers_and_the_stateful_phase(role, tmp_path):
    server = DevServer(tmp_path / "var", tmp_path / "server.log", setup=True, debug=False)
    try:
        command = [
            sys.executable, "-m", "schemathesis.cli", "--no-color",
            "--config-file", str(live_config(tmp_path / "schemathesis.toml", server)),
            "run", f"{server.url}/api/schema/",
            "--workers", "2",
            "--phases", "fuzzing,stateful",
            "--max-examples", str(LIVE_EXAMPLES),
            "--seed", "1",
            "--generation-database", "none",
            "--header", f"Authorization: Token {server.tokens[role]}",
            # One token for the whole run: a staff that deleted or demoted its own user, or a logout, would meet
            # only 401s from then on. The in-process fuzz covers these with a fresh database per operation.
            "--exclude-path-regex", "^/api/users/[{]uuid[}]/|^/api-auth/logout/",
            "--checks", ",".join(check.__name__ for check in CHECKS),
        ]  # fmt: skip
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    finally:
        server.stop()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    generated, passed = map(int, re.search(r"(\d+) generated, (\d+) passed", output).groups())
    assert generated == passed >= 78 * LIVE_EXAMPLES // 2, output[-3000:]
    scenarios = int(re.search(r"Scenarios:\s+(\d+)", output).group(1))
    assert scenarios >= LIVE_SCENARIOS // 2, output[-3000:]
    if role == "staff":  # staff's creates succeed, so the stateful phase follows links from what they return
        covered = int(re.search(r"API Links:\s+(\d+) covered", output).group(1))
        assert covered > 0, output[-3000:]
    assert "Traceback" not in (tmp_path / "server.log").read_text()
