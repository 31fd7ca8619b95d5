"""The OpenAPI schema generates without warnings or errors and describes every endpoint."""

import re

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


def _resolve(schema, node):
    """A schema node with its $ref (and a lone allOf of one $ref, as drf-spectacular writes enums) followed."""
    while isinstance(node, dict) and ("$ref" in node or len(node.get("allOf", ())) == 1):
        ref = node["$ref"] if "$ref" in node else node["allOf"][0]["$ref"]
        node = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return node


def _operations(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def test_every_error_body_requires_a_code_out_of_its_status_codes(schema):
    from nodeconductor.core.exceptions import codes_for_status

    checked, wrong = 0, []
    for path, method, operation in _operations(schema):
        for status, response in operation["responses"].items():
            if status < "400":
                continue
            body = _resolve(schema, response["content"]["application/json"]["schema"])
            enum = _resolve(schema, body.get("properties", {}).get("code", {})).get("enum")
            if "code" not in body.get("required", ()) or not enum or not set(enum) <= set(codes_for_status(status)):
                wrong.append((method, path, status, enum))
            checked += 1
    assert not wrong, wrong
    assert checked > 500  # every operation documents several errors


def test_error_codes_are_documented_per_status(schema):
    stop = schema["paths"]["/api/instances/{uuid}/stop/"]["post"]["responses"]
    codes = {}
    for status, response in stop.items():
        if status >= "400":
            body = _resolve(schema, response["content"]["application/json"]["schema"])
            codes[status] = _resolve(schema, body["properties"]["code"])["enum"]
    assert codes == {
        "400": ["invalid", "not_found_in_cloud", "not_importable", "parse_error", "quota_exceeded"],
        "401": ["authentication_failed", "not_authenticated"],
        "403": ["permission_denied"],
        "404": ["not_found"],
        "406": ["not_acceptable"],
        "409": ["conflict", "in_use", "invalid_state"],
        "415": ["unsupported_media_type"],
        "503": ["service_unavailable"],
    }
    login = schema["paths"]["/api-auth/password/"]["post"]["responses"]
    assert login["400"]["content"]["application/json"]["schema"]["properties"]["code"]["enum"] == [
        "authentication_failed",
        "invalid",
        "parse_error",
    ]
    assert set(login) == {"200", "400", "406", "415", "429", "503"}
    # Reads take no body: their 400s are about query values.
    listing = schema["paths"]["/api/instances/"]["get"]["responses"]["400"]["content"]["application/json"]
    assert listing["schema"]["properties"]["code"]["enum"] == ["invalid"]


ENQUEUING = [
    ("/api/instances/", "post"),
    ("/api/instances/{uuid}/", "delete"),
    ("/api/instances/{uuid}/start/", "post"),
    ("/api/instances/{uuid}/stop/", "post"),
    ("/api/instances/{uuid}/restart/", "post"),
    ("/api/instances/{uuid}/resize/", "post"),
    ("/api/instances/{uuid}/recover/", "post"),
    ("/api/clouds/", "post"),
    ("/api/clouds/{uuid}/sync/", "post"),
    ("/api/project-cloud-memberships/", "post"),
    ("/api/project-cloud-memberships/{uuid}/sync/", "post"),
]


@pytest.mark.parametrize("path,method", ENQUEUING)
def test_endpoints_that_enqueue_work_document_503_with_retry_after(schema, path, method):
    response = schema["paths"][path][method]["responses"]["503"]
    assert response["headers"]["Retry-After"] == {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
        "required": True,
    }
    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error503"}


def test_every_operation_documents_503_since_the_database_can_fail_any(schema):
    missing = [(m, p) for p, m, op in _operations(schema) if "Retry-After" not in op["responses"]["503"]["headers"]]
    assert not missing, missing


def _properties(schema, node, seen=()):
    """(name, property schema) of every object property reachable from node, components included."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[1]
            if name not in seen:
                yield from _properties(schema, schema["components"]["schemas"][name], (*seen, name))
            return
        for name, prop in (node.get("properties") or {}).items():
            yield name, prop
        for value in node.values():
            yield from _properties(schema, value, seen)
    elif isinstance(node, list):
        for value in node:
            yield from _properties(schema, value, seen)


# Names of fields that count megabytes (ram, disk, min_disk, system_volume_size, pending_ram, quota storage...).
SIZE_FIELD = re.compile(r"(^|_)(ram|disk|storage|size)(_|$)")
NOT_SIZES = {"page_size"}  # a number of objects


def test_every_size_field_names_its_unit(schema):
    fields = [(name, prop) for name, prop in _properties(schema, schema) if SIZE_FIELD.search(name)]
    fields += [
        (p["name"], p)
        for _, _, operation in _operations(schema)
        for p in operation.get("parameters", ())
        if SIZE_FIELD.search(p["name"]) and p["name"] not in NOT_SIZES
    ]
    numbers = [(n, p) for n, p in fields if p.get("type", p.get("schema", {}).get("type")) in ("integer", "number")]
    without = sorted({n for n, p in numbers if "MiB" not in p.get("description", "")})
    assert not without, f"size fields whose description does not say MiB: {without}"
    named = {n for n, _ in numbers}
    assert {"ram", "disk", "system_volume_size", "data_volume_size", "disk_size", "min_disk", "min_ram"} <= named
    assert {"storage", "ram__gte"} <= named


def test_no_request_body_has_a_field_named_code(schema):
    """An error body's `code` sits beside the field names of a 400: a field of that name would be hidden."""
    requests = [
        operation["requestBody"]
        for _, _, operation in _operations(schema)
        if "requestBody" in operation
    ]
    assert requests
    assert "code" not in {name for name, _ in _properties(schema, requests)}


def test_token_login_logout_and_password_change_are_documented(schema):
    login = schema["paths"]["/api-auth/password/"]["post"]["responses"]
    token = _resolve(schema, login["200"]["content"]["application/json"]["schema"])
    assert set(token["required"]) == {"token", "expiry"}
    assert token["properties"]["expiry"]["format"] == "date-time"
    assert set(login["429"]["headers"]) == {"Retry-After"}
    logout = schema["paths"]["/api-auth/logout/"]["post"]
    assert logout["security"] == [{"tokenAuth": []}, {"cookieAuth": []}]
    assert "content" not in logout["responses"]["204"]
    assert "revoked" in logout["responses"]["204"]["description"]
    assert {"204", "401"} <= set(logout["responses"])
    password = schema["paths"]["/api/users/{uuid}/password/"]["post"]
    body = _resolve(schema, password["requestBody"]["content"]["application/json"]["schema"])
    assert set(body["properties"]) == {"current_password", "password"}
    assert "current_password" in password["description"]
    assert set(password["responses"]["429"]["headers"]) == {"Retry-After"}
