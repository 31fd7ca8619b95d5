"""The OpenAPI schema generates without warnings or errors and describes every endpoint."""

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_setup, django_db_blocker):
    """The schema, generated once: --fail-on-warn turns every warning or error into a CommandError."""
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def test_schema_has_no_warnings_and_covers_every_route(schema):
    paths = schema["paths"]
    for collection in (
        "users",
        "keys",
        "customers",
        "projects",
        "project-groups",
        "customer-permissions",
        "project-permissions",
        "project-group-permissions",
    ):
        assert f"/api/{collection}/" in paths
        assert f"/api/{collection}/{{uuid}}/" in paths
    assert "/api/users/{uuid}/password/" in paths
    assert "/api-auth/password/" in paths
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("summary") or operation.get("description"), (method, path)


def test_token_scheme_is_documented(schema):
    assert schema["components"]["securitySchemes"]["tokenAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Token-based authentication with required prefix "Token"',
    }
    assert schema["paths"]["/api-auth/password/"]["post"].get("security") in (None, [], [{}])
    assert schema["paths"]["/api/customers/"]["get"]["security"] == [{"tokenAuth": []}, {"cookieAuth": []}]


def test_error_answers_are_documented(schema):
    customers = schema["paths"]["/api/customers/{uuid}/"]
    assert {"401", "403", "404", "409"} <= set(customers["delete"]["responses"])
    assert "customer still has projects" in customers["delete"]["responses"]["409"]["description"]
    assert {"200", "400", "401", "404"} <= set(schema["paths"]["/api/customers/"]["get"]["responses"])
    assert set(schema["paths"]["/api/customers/"]["get"]["responses"]["200"]["headers"]) == {"Link", "X-Result-Count"}
    assert "429" in schema["paths"]["/api-auth/password/"]["post"]["responses"]


def test_schema_and_docs_are_served(db):
    client = APIClient()
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/schema/swagger/").status_code == 200
    assert client.get("/api/schema/redoc/").status_code == 200
