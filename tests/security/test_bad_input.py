"""Security issue 27, finding 5: JSON nested too deep is a 400 parse_error naming the limit, never a 500.

A body of 100,000 `[` made json raise RecursionError, which DRF's parser does not catch (it only turns
ValueError into a ParseError), so it escaped the exception handler as a 500. A body nested a few hundred levels
parses fine, but whatever walks it recursively afterwards could still exhaust the stack: the parser refuses any
nesting past MAX_JSON_DEPTH levels. Each request goes through the full Django stack with
raise_request_exception=False, so a 500 is answered (by the project's handler500) instead of raised in the test.
"""

import json

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from nodeconductor.core.parsers import MAX_JSON_DEPTH
from nodeconductor.structure.models import Customer
from tests import factories
from tests.iaas import factories as iaas_factories
from tests.iaas.views.test_instances import run_tasks

TOO_DEEP = {
    "detail": "JSON parse error - arrays and objects are nested deeper than 64 levels, the most the API accepts.",
    "code": "parse_error",
}
BRACKETS = "[" * 100_000


def nested(levels):
    """A JSON list nested `levels` deep: [[...[]...]] (1 is [])."""
    return "[" * levels + "]" * levels


def client_as(user=None):
    """A client that answers a server error as the deployed site would (500 body) instead of raising it."""
    client = APIClient(raise_request_exception=False)
    if user is not None:
        client.force_authenticate(user)
    return client


def test_the_limit_is_64_levels():
    assert MAX_JSON_DEPTH == 64


def test_100000_brackets_to_the_token_login_are_a_400(db):
    cache.clear()  # the login throttle counts per address
    response = client_as().post("/api-auth/password/", BRACKETS, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    assert response.json() == TOO_DEEP


def test_100000_brackets_to_instances_are_a_400(iaas, roles):
    response = client_as(roles.users["admin"]).post("/api/instances/", BRACKETS, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    assert response.json() == TOO_DEEP


def test_100000_brackets_inside_an_object_are_a_400(roles):
    body = '{"name": "x", "extra": ' + BRACKETS
    response = client_as(roles.users["staff"]).post("/api/customers/", body, content_type="application/json")
    assert response.status_code == 400, response.content[:200]
    assert response.json() == TOO_DEEP
    assert not Customer.objects.filter(name="x").exists()


@pytest.mark.parametrize("levels", [65, 500])
def test_nesting_past_the_limit_is_a_400_even_when_python_parses_it(roles, levels):
    # 500 levels is within Python's recursion limit: only the depth check of the parsed value refuses it.
    body = '{"name": "deep", "extra": ' + nested(levels - 1) + "}"
    assert _depth(json.loads(body)) == levels
    response = client_as(roles.users["staff"]).post("/api/customers/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == TOO_DEEP
    assert not Customer.objects.filter(name="deep").exists()


def test_64_levels_are_accepted(roles):
    body = '{"name": "deep", "extra": ' + nested(63) + "}"
    assert _depth(json.loads(body)) == 64
    response = client_as(roles.users["staff"]).post("/api/customers/", body, content_type="application/json")
    assert response.status_code == 201, response.json()
    assert response.json()["name"] == "deep"
    assert Customer.objects.filter(name="deep").exists()


def test_brackets_inside_a_string_are_only_text(roles):
    body = json.dumps({"name": "[[[[ ]]]]", "contact_details": "[{" * 50_000})
    response = client_as(roles.users["staff"]).post("/api/customers/", body, content_type="application/json")
    assert response.status_code == 201, response.json()
    assert response.json()["name"] == "[[[[ ]]]]"
    assert Customer.objects.get(name="[[[[ ]]]]").contact_details == "[{" * 50_000


def test_a_login_with_valid_credentials_nested_past_the_limit_is_refused(db):
    cache.clear()
    factories.UserFactory(username="alice")
    body = json.dumps({"username": "alice", "password": factories.PASSWORD, "extra": [[[[[[[[[[]]]]]]]]]]})
    response = client_as().post("/api-auth/password/", body, content_type="application/json")
    assert response.status_code == 200 and set(response.json()) == {"token", "expiry"}
    body = body.replace("[[[[[[[[[[]]]]]]]]]]", nested(65))
    response = client_as().post("/api-auth/password/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == TOO_DEEP


def _depth(value):
    """Levels of arrays and objects in a parsed value (a scalar is 0), walked without recursion."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        node, level = todo.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is not None:
            deepest = max(deepest, level)
            todo.extend((child, level + 1) for child in children)
    return deepest


def test_100000_brackets_to_every_operation_of_the_schema_is_never_a_500(victim, iaas, roles, schema_operations):
    # The fuzz of the review, on every operation: as staff, on existing objects, so each request passes the
    # lookup and reaches its parser. An operation that reads a body refuses it; one that reads none ignores it.
    staff = client_as(roles.users["staff"])
    objects = {**victim.objects, "iaas-templates": iaas.template,
               "template-licenses": iaas_factories.TemplateLicenseFactory()}  # fmt: skip
    answered = []
    for path, method, takes_body in schema_operations:
        if "{uuid}" in path:
            path = path.replace("{uuid}", objects[path.split("/")[2]].uuid.hex)
        cache.clear()
        with run_tasks():
            response = getattr(staff, method)(path, BRACKETS, content_type="application/json")
        answered.append((method, path, response.status_code))
        assert response.status_code < 500, (method, path, response.content[:200])
        if takes_body:
            assert (response.status_code, response.json()) == (400, TOO_DEEP), (method, path)
    assert sum(1 for _, _, status in answered if status == 400) >= 30, answered
