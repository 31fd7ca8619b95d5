"""No input yields a 500: malformed uuids, junk JSON, wrong types, bad filters and pages."""

import pytest

ENDPOINTS = [
    "users",
    "keys",
    "customers",
    "projects",
    "project-groups",
    "customer-permissions",
    "project-permissions",
    "project-group-permissions",
]
BAD_LOOKUPS = [
    "not-a-uuid",
    "00000000-0000-0000-0000-000000000000",
    "0" * 32,
    "g" * 32,
    "-" * 36,
    "12345678-1234-1234-1234-12345678901z",
    "%00",
    "1;DROP TABLE x",
]
JUNK_BODIES = [
    ("{not json", "application/json"),
    ("[]", "application/json"),
    ('"a string"', "application/json"),
    ("null", "application/json"),
    ("123", "application/json"),
    ('{"name": {"nested": [1, 2]}, "customer": 5, "user": [], "role": null, "projects": "x"}', "application/json"),
    ('{"name": "' + "x" * 5000 + '"}', "application/json"),
    (
        '{"customer": "http://testserver/api/customers/not-a-uuid/", "project": "/api/projects/%00/"}',
        "application/json",
    ),
    ('{"customer": "http://testserver/api/users/00000000-0000-0000-0000-000000000000/"}', "application/json"),
    ("<xml/>", "application/xml"),
    ("\x00\xff", "text/plain"),
]
BAD_QUERIES = [
    "page=abc",
    "page=0",
    "page=99999",
    "page_size=-1",
    "page_size=abc",
    "page_size=100000",
    "o=nonexistent",
    "o=password",
    "customer=not-a-uuid",
    "project=xyz",
    "user=%00",
    "role=%00",
    "name=%00",
    "is_staff=maybe",
    "project_group=1",
]


@pytest.mark.parametrize("role", ["staff", "owner"])
def test_bad_lookups_are_404(roles, role):
    client = roles.client_as(role)
    for endpoint in ENDPOINTS:
        for lookup in BAD_LOOKUPS:
            for method in ("get", "patch", "delete"):
                response = getattr(client, method)(f"/api/{endpoint}/{lookup}/")
                assert response.status_code in (404, 405), (endpoint, lookup, method, response.status_code)


@pytest.mark.parametrize("role", ["staff", "owner"])
def test_junk_bodies_are_4xx(roles, role):
    client = roles.client_as(role)
    for endpoint in ENDPOINTS:
        targets = [f"/api/{endpoint}/"]
        for url in targets:
            for body, content_type in JUNK_BODIES:
                response = client.post(url, body, content_type=content_type)
                assert 400 <= response.status_code < 500, (url, body[:40], response.status_code)
    detail_urls = [
        roles.url("customer", roles.customer),
        roles.url("project", roles.project),
        roles.url("projectgroup", roles.project_group),
        roles.url("user", roles.users[role]),
        roles.url("user", roles.users[role]) + "password/",
    ]
    for url in detail_urls:
        for body, content_type in JUNK_BODIES:
            for method in ("put", "patch", "post"):
                response = getattr(client, method)(url, body, content_type=content_type)
                # a PATCH of only unknown fields is a valid no-op (200)
                assert response.status_code < 500, (url, method, body[:40], response.status_code)


@pytest.mark.parametrize("role", ["staff", "stranger"])
def test_bad_queries_are_not_500(roles, role):
    client = roles.client_as(role)
    for endpoint in ENDPOINTS:
        for query in BAD_QUERIES:
            response = client.get(f"/api/{endpoint}/?{query}")
            assert response.status_code in (200, 400, 404), (endpoint, query, response.status_code)


def test_unknown_url_is_json_404(roles):
    response = roles.client_as("staff").get("/api/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}
