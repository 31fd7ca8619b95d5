"""Security issue 27, finding 6: every integer the API takes stops where the database and OpenStack stop.

`set_quotas` took any integer: max_instances 10**30 was accepted (202), the worker died with OverflowError and the
membership (and, at the next pull, its cloud) stayed in Syncing for good, refusing every later sync with 409.

The schema walk holds every number of every request body and every integer query parameter to a `maximum`
(a decimal to the pattern that bounds its digits); the API tests check the limits and their messages, which
name the field's unit and limit. The worker side (a task that fails unexpectedly ends Erred, never stuck) is
tested for each task in tests/iaas/test_failures.py; the finding's own replay is here.
"""

import pytest
import yaml
from django.core.management import call_command
from django.db import connection

from nodeconductor.iaas.models import Cloud, CloudProjectMembership, SyncState
from nodeconductor.iaas.services import clouds as cloud_services
from tests.iaas.views.test_instances import create_body, make_instance, run_tasks, url

INT32_MAX = 2_147_483_647  # PostgreSQL integer; Nova's quotas (cores, ram MiB, instances); Cinder's gigabytes
# What each database says of a value past its integer column, as the row's reason then reads.
OVERFLOW = {
    "sqlite": "Unexpected error: OverflowError: Python int too large to convert to SQLite INTEGER",
    "postgresql": "Unexpected error: DataError: integer out of range",
}[connection.vendor]


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_setup, django_db_blocker):
    """The OpenAPI schema the API serves, generated once."""
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--file", str(path))
    return yaml.safe_load(path.read_text())


def _numbers(schema, node, where, seen=()):
    """(where, property schema) of every integer, number or decimal reachable in a request body."""
    if isinstance(node, list):
        for item in node:
            yield from _numbers(schema, item, where, seen)
        return
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        if name not in seen:
            yield from _numbers(schema, schema["components"]["schemas"][name], name, (*seen, name))
        return
    if node.get("readOnly"):
        return
    if node.get("type") in ("integer", "number") or node.get("format") == "decimal":
        yield where, node
    for name, prop in (node.get("properties") or {}).items():
        yield from _numbers(schema, prop, f"{where}.{name}", seen)
    for key in ("items", "allOf", "anyOf", "oneOf", "additionalProperties"):
        yield from _numbers(schema, node.get(key), where, seen)


def request_numbers(schema):
    """{where: schema} of the numbers of every request body and every numeric query parameter."""
    found = {}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for media in (operation.get("requestBody") or {}).get("content", {}).values():
                found.update(_numbers(schema, media["schema"], f"{method.upper()} {path}"))
            for parameter in operation.get("parameters", ()):
                if parameter["in"] == "query" and parameter["schema"].get("type") in ("integer", "number"):
                    found[f"{method.upper()} {path} ?{parameter['name']}"] = parameter["schema"]
    return found


def test_every_number_a_request_sends_has_a_maximum(schema):
    found = request_numbers(schema)
    unbounded = sorted(
        where for where, prop in found.items()
        if ("pattern" if prop.get("format") == "decimal" else "maximum") not in prop
    )  # fmt: skip
    assert not unbounded, f"numbers without a maximum: {unbounded}"
    # the walk reached what it must check (it would pass vacuously on a schema it cannot read)
    named = {where.rsplit(" ", 1)[-1] for where in found}
    assert {"MembershipQuotasRequest.max_instances", "MembershipQuotasRequest.storage",
            "SecurityGroupRuleRequest.from_port", "InstanceCreateRequest.data_volume_size",
            "InstanceResizeRequest.disk_size", "TemplateRequest.monthly_fee", "?page", "?page_size", "?cores",
            "?ram__gte"} <= named  # fmt: skip


def test_the_maximums_are_what_the_database_and_openstack_hold(schema):
    found = request_numbers(schema)
    quotas = schema["components"]["schemas"]["MembershipQuotasRequest"]["properties"]
    assert {k: (v["minimum"], v["maximum"]) for k, v in quotas.items()} == {
        "vcpu": (-1, INT32_MAX), "ram": (-1, INT32_MAX), "max_instances": (-1, INT32_MAX),
        "storage": (-1, INT32_MAX * 1024),  # MiB: Cinder holds INT32_MAX GiB
    }  # fmt: skip
    rule = schema["components"]["schemas"]["SecurityGroupRuleRequest"]["properties"]
    assert rule["from_port"]["maximum"] == rule["to_port"]["maximum"] == 65535
    pages = {w.rsplit("?", 1)[1]: p for w, p in found.items() if w.endswith(("?page", "?page_size"))}
    assert (pages["page_size"]["minimum"], pages["page_size"]["maximum"]) == (1, 200)
    assert (pages["page"]["minimum"], pages["page"]["maximum"]) == (1, INT32_MAX)
    assert all(p["maximum"] <= 2**63 - 1 for p in found.values() if "maximum" in p)


# ------------------------------------------------------------------------------------------------ the API
def quotas_url(roles, membership):
    return roles.url("cloudprojectmembership", membership) + "set_quotas/"


def test_set_quotas_refuses_max_instances_of_10_to_the_30_and_changes_nothing(iaas, roles):
    membership = iaas.membership
    before = iaas.env.sim.state.nova_quotas.get(membership.tenant_id)
    with run_tasks() as sent:
        response = roles.client_as("staff").post(quotas_url(roles, membership), {"max_instances": 10**30},
                                                 format="json")  # fmt: skip
    assert response.status_code == 400
    assert response.json() == {
        "max_instances": ["Must be at most 2147483647 instances, the most Nova holds (-1 is unlimited)."],
        "code": "invalid",
    }
    assert not sent, "no sync was scheduled"
    membership.refresh_from_db()
    assert membership.state == SyncState.IN_SYNC and membership.error_message == ""
    assert iaas.env.sim.state.nova_quotas.get(membership.tenant_id) == before


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("vcpu", INT32_MAX + 1, "Must be at most 2147483647 cores, the most Nova holds (-1 is unlimited)."),
        ("ram", INT32_MAX + 1, "Must be at most 2147483647 MiB, the most Nova holds (-1 is unlimited)."),
        ("storage", INT32_MAX * 1024 + 1,
         "Must be at most 2199023254528 MiB (2147483647 GiB), the most Cinder holds (-1 is unlimited)."),
        ("vcpu", -2, "Must be -1 (unlimited) or more."),
    ],
)
def test_each_quota_names_its_unit_and_limit(roles, iaas, field, value, message):
    response = roles.client_as("staff").post(quotas_url(roles, iaas.membership), {field: value}, format="json")
    assert response.status_code == 400
    assert response.json() == {field: [message], "code": "invalid"}


def test_quotas_at_the_limits_reach_the_cloud_and_come_back(iaas, roles):
    limits = {"vcpu": INT32_MAX, "ram": INT32_MAX, "max_instances": INT32_MAX, "storage": INT32_MAX * 1024}
    with run_tasks():
        response = roles.client_as("staff").post(quotas_url(roles, iaas.membership), limits, format="json")
    assert response.status_code == 202, response.json()
    body = roles.client_as("staff").get(roles.url("cloudprojectmembership", iaas.membership)).json()
    assert body["state"] == "In Sync", body["error_message"]
    assert body["quotas"] == limits
    assert iaas.env.sim.state.cinder_quotas[iaas.membership.tenant_id] == {"gigabytes": INT32_MAX}


@pytest.mark.parametrize("field", ["system_volume_size", "data_volume_size"])
def test_volume_sizes_name_their_unit_and_limit(iaas, roles, field):
    response = roles.client_as("admin").post("/api/instances/", create_body(iaas, **{field: 10**30}), format="json")
    assert response.status_code == 400
    assert response.json() == {field: ["Must be at most 16777216 MiB (16 TiB)."], "code": "invalid"}


def test_a_disk_resize_names_its_unit_and_limit(iaas, roles):
    instance = make_instance(iaas, state="offline")
    response = roles.client_as("admin").post(url(instance, "resize"), {"disk_size": 10**30}, format="json")
    assert response.status_code == 400
    assert response.json() == {"disk_size": ["Must be at most 16777216 MiB (16 TiB)."], "code": "invalid"}


@pytest.mark.parametrize("field", ["from_port", "to_port"])
def test_a_port_of_10_to_the_30_is_a_400_naming_the_range(iaas, roles, field):
    rule = {"protocol": "tcp", "from_port": 22, "to_port": 22, field: 10**30}
    body = {"name": "web", "membership": f"http://testserver{roles.url('cloudprojectmembership', iaas.membership)}",
            "rules": [rule]}  # fmt: skip
    response = roles.client_as("admin").post("/api/security-groups/", body, format="json")
    assert response.status_code == 400
    assert response.json() == {"rules": {"0": {field: [f"Ports are 1 to 65535; {10**30} is not."]}}, "code": "invalid"}


@pytest.mark.parametrize(
    "query,message",
    [
        ({"cores": 10**30}, {"cores": ["Must be at most 2147483647 cores."]}),
        ({"ram__gte": 10**30}, {"ram__gte": ["Must be at most 2147483647 MiB."]}),
    ],
)
def test_number_filters_name_their_unit_and_limit(iaas, roles, query, message):
    response = roles.client_as("admin").get("/api/flavors/", query)
    assert response.status_code == 400
    assert response.json() == {**message, "code": "invalid"}


def test_page_numbers_past_the_limit_are_the_404_of_a_page_past_the_last(iaas, roles):
    client = roles.client_as("admin")
    for page in (INT32_MAX, 10**30, 0):
        response = client.get("/api/flavors/", {"page": page})
        assert response.status_code == 404
        assert response.json() == {"detail": "Invalid page.", "code": "not_found"}
    response = client.get("/api/flavors/", {"page_size": 10**30})
    assert response.status_code == 200 and len(response.json()) == iaas.cloud.flavors.count()


# ------------------------------------------------------------------------------------------------ the worker
def test_finding_6_replay_a_quota_that_overflows_in_the_worker_leaves_the_membership_erred(iaas, roles):
    """The serializer bypassed, as the finding's worker saw it: the cloud takes 10**30, our database cannot."""
    membership, cloud = iaas.membership, iaas.cloud
    with run_tasks():
        cloud_services.membership_schedule_sync(membership, quotas={"quota_max_instances": 10**30})
    membership.refresh_from_db()
    assert (membership.state, membership.error_message) == (SyncState.ERRED, OVERFLOW)
    # The next pull of the cloud reads the same quota: the cloud ends Erred too, not Syncing.
    with run_tasks():
        cloud_services.cloud_schedule_pull(cloud)
    cloud.refresh_from_db()
    assert (cloud.state, cloud.error_message) == (SyncState.ERRED, OVERFLOW)
    # A later sync is accepted, not 409; while the cloud holds 10**30 it ends Erred again, and a quota the
    # cloud and the database hold puts both right.
    client = roles.client_as("staff")
    with run_tasks():
        response = client.post(roles.url("cloudprojectmembership", membership) + "sync/")
    assert (response.status_code, response.json()) == (202, {"status": "sync was scheduled"})
    assert CloudProjectMembership.objects.get(pk=membership.pk).state == SyncState.ERRED
    with run_tasks():
        response = client.post(quotas_url(roles, membership), {"max_instances": 10}, format="json")
    assert response.status_code == 202, response.json()
    with run_tasks():
        response = client.post(f"/api/clouds/{cloud.uuid}/sync/")
    assert response.status_code == 202, response.json()
    membership.refresh_from_db(), cloud.refresh_from_db()
    assert (membership.state, membership.quota_max_instances, membership.error_message) == (SyncState.IN_SYNC, 10, "")
    assert (cloud.state, cloud.error_message) == (SyncState.IN_SYNC, "")


def test_a_cloud_that_answers_an_overflowing_quota_leaves_the_cloud_erred_not_syncing(iaas):
    iaas.env.sim.set_quota(iaas.membership.tenant_id, compute={"cores": 10**30})  # set in the cloud, not by us
    with run_tasks():
        cloud_services.cloud_schedule_pull(iaas.cloud)
    cloud = Cloud.objects.get(pk=iaas.cloud.pk)
    assert (cloud.state, cloud.error_message) == (SyncState.ERRED, OVERFLOW)
    assert CloudProjectMembership.objects.get(pk=iaas.membership.pk).quota_vcpu != 10**30
