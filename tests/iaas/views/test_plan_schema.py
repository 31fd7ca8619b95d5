"""The OpenAPI schema describes the dry runs: the dry_run parameter and the plan body on every operation."""

import pytest
import yaml
from django.core.management import call_command

DRY_RUNS = [
    ("/api/instances/", "post"),
    ("/api/instances/{uuid}/", "delete"),
    ("/api/instances/{uuid}/resize/", "post"),
    ("/api/instances/{uuid}/start/", "post"),
    ("/api/instances/{uuid}/stop/", "post"),
    ("/api/instances/{uuid}/restart/", "post"),
]


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_setup, django_db_blocker):
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("path, method", DRY_RUNS)
def test_each_dry_run_is_described_with_its_plan(schema, path, method):
    operation = schema["paths"][path][method]
    assert any(p["name"] == "dry_run" and p["in"] == "query" for p in operation["parameters"])
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Plan"
    }


def test_the_plan_body_names_its_parts(schema):
    plan = schema["components"]["schemas"]["Plan"]
    assert set(plan["required"]) == {"operation", "dry_run", "state_path", "steps", "quota", "cost", "on_failure"}
    cost = schema["components"]["schemas"]["PlanCost"]
    assert set(cost["required"]) == {"currency", "setup_fee", "monthly_before", "monthly_after", "monthly_change"}
    step = schema["components"]["schemas"]["PlanStep"]
    assert set(step["properties"]) == {"step", "phase", "does", "actions"}
    action = step["properties"]["actions"]["items"]
    action = schema["components"]["schemas"][action["$ref"].rsplit("/", 1)[1]] if "$ref" in action else action
    assert set(action["properties"]) == {"call", "if", "wait"}
    quota = schema["components"]["schemas"]["PlanQuota"]
    assert "MiB" in quota["properties"]["change"]["description"]
