"""Costs: an instance's month, its project's and customer's totals, and what a create or a resize would cost."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from nodeconductor.iaas import costs
from nodeconductor.iaas.models import Flavor, InstanceState, TemplateLicense
from nodeconductor.iaas.resource_operations import run_cloud_pull
from tests import factories
from tests.iaas.views.test_instances import create_body, link, make_instance, url

S = InstanceState


@pytest.fixture
def priced(iaas):
    """The template at 10/month (5 to set up) with a licence at 2.5/month (1 to set up), the flavor at 7.25/month,
    and storage at 0.1 per GiB a month."""
    iaas.template.monthly_fee, iaas.template.setup_fee = Decimal("10"), Decimal("5")
    iaas.template.save()
    licence = TemplateLicense.objects.create(name="RHEL", license_type="subscription", service_type="IaaS",
                                             monthly_fee=Decimal("2.5"), setup_fee=Decimal("1"))  # fmt: skip
    licence.templates.add(iaas.template)
    Flavor.objects.filter(pk=iaas.flavor.pk).update(monthly_fee=Decimal("7.25"))
    iaas.flavor.refresh_from_db()
    iaas.cloud.storage_monthly_fee = Decimal("0.1")
    iaas.cloud.save()
    return iaas


def test_an_instances_month_is_its_fees_and_its_storage_in_whole_gib(priced, roles):
    # 1,024 + 1,025 MiB are 1 + 2 GiB in Cinder: 10 + 2.5 + 7.25 + 3 x 0.1.
    instance = make_instance(priced, data_volume_size=1025)
    body = roles.client_as("manager").get(url(instance)).json()
    assert (body["monthly_cost"], body["currency"]) == ("20.050", "EUR")
    listed = roles.client_as("admin").get("/api/instances/").json()
    assert [(row["uuid"], row["monthly_cost"]) for row in listed] == [(str(instance.uuid), "20.050")]


def test_money_is_exact_decimals(priced):
    # As floats, 0.1 x 3 is 0.30000000000000004: the cost is computed on Decimals only.
    assert costs.monthly_cost(0, 0, 0, Decimal("0.1"), 1024, 2048) == Decimal("0.300")
    assert isinstance(costs.monthly_cost(1, 0, 0, 0, 1, 1), Decimal)


def test_the_currency_is_one_setting(priced, roles, settings):
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "CURRENCY": "CHF"}
    instance = make_instance(priced)
    assert roles.client_as("admin").get(url(instance)).json()["currency"] == "CHF"
    assert roles.client_as("owner").get(roles.url("project", roles.project)).json()["currency"] == "CHF"


def test_project_and_customer_totals_count_what_the_requester_sees(priced, roles):
    make_instance(priced, hostname="a")  # 10 + 2.5 + 7.25 + 0.2 = 19.95
    make_instance(priced, hostname="b", data_volume_size=3072)  # 1 + 3 GiB: 20.15
    hidden = factories.ProjectFactory(customer=roles.customer, name="hidden")
    other = priced.membership.__class__.objects.create(project=hidden, cloud=priced.cloud, tenant_id="t2")
    make_instance(priced, hostname="c", cloud_project_membership=other)  # 19.95, seen by the owner only
    stranger = factories.CustomerFactory()
    project = roles.client_as("admin").get(roles.url("project", roles.project)).json()
    assert (project["monthly_cost"], project["currency"]) == ("40.100", "EUR")
    customer_url = roles.url("customer", roles.customer)
    assert roles.client_as("admin").get(customer_url).json()["monthly_cost"] == "40.100"
    assert roles.client_as("owner").get(customer_url).json()["monthly_cost"] == "60.050"
    assert roles.client_as("staff").get(roles.url("customer", stranger)).json()["monthly_cost"] == "0.000"
    hidden_body = roles.client_as("owner").get(roles.url("project", hidden)).json()
    assert hidden_body["monthly_cost"] == "19.950"


@pytest.mark.parametrize("path", ["/api/projects/", "/api/customers/"])
def test_totals_cost_no_query_per_row(priced, roles, path):
    counts = {}
    for extra in (0, 5):
        for n in range(extra):
            project = factories.ProjectFactory(customer=factories.CustomerFactory() if "customers" in path else
                                               roles.customer, name=f"p{extra}-{n}")  # fmt: skip
            membership = priced.membership.__class__.objects.create(project=project, cloud=priced.cloud, tenant_id="x")
            make_instance(priced, hostname=f"i{extra}-{n}", cloud_project_membership=membership)
        with CaptureQueriesContext(connection) as ctx:
            response = roles.client_as("staff").get(f"{path}?page_size=50")
        assert response.status_code == 200
        counts[extra] = len(ctx.captured_queries)
        assert "19.950" in {row["monthly_cost"] for row in response.json()} or extra == 0
    assert counts[0] == counts[5], counts


def test_a_create_plan_says_what_the_instance_costs(priced, roles):
    body = create_body(priced, data_volume_size=2048)
    plan = roles.client_as("admin").post("/api/instances/?dry_run=true", body, format="json")
    assert plan.status_code == 200, plan.json()
    assert plan.json()["cost"] == {"currency": "EUR", "setup_fee": "6.000", "monthly_before": "0.000",
                                   "monthly_after": "20.050", "monthly_change": "20.050"}  # fmt: skip


def test_resize_and_delete_plans_say_what_changes(priced, roles):
    instance = make_instance(priced, state=S.OFFLINE)
    bigger = Flavor.objects.create(cloud=priced.cloud, name="m1.big", backend_id="big", cores=2, ram=2048, disk=1024,
                                   monthly_fee=Decimal("20"))  # fmt: skip
    client = roles.client_as("admin")
    flavor_plan = client.post(f"{url(instance, 'resize')}?dry_run=true", {"flavor": link("flavor", bigger)},
                              format="json")  # fmt: skip
    assert flavor_plan.status_code == 200, flavor_plan.json()
    assert flavor_plan.json()["cost"] == {"currency": "EUR", "setup_fee": "0.000", "monthly_before": "19.950",
                                          "monthly_after": "32.700", "monthly_change": "12.750"}  # fmt: skip
    disk_plan = client.post(f"{url(instance, 'resize')}?dry_run=true", {"disk_size": 10240}, format="json")
    assert disk_plan.json()["cost"]["monthly_change"] == "0.900"  # 1 GiB -> 10 GiB at 0.1
    delete_plan = client.delete(f"{url(instance)}?dry_run=true").json()
    assert (delete_plan["cost"]["monthly_after"], delete_plan["cost"]["monthly_change"]) == ("0.000", "-19.950")
    stop_plan = client.post(f"{url(make_instance(priced, hostname='on'), 'stop')}?dry_run=true").json()
    assert stop_plan["cost"]["monthly_change"] == "0.000"


def test_a_pull_keeps_the_prices_staff_set(priced):
    run_cloud_pull(priced.cloud)
    priced.flavor.refresh_from_db()
    priced.cloud.refresh_from_db()
    assert (priced.flavor.monthly_fee, priced.cloud.storage_monthly_fee) == (Decimal("7.25"), Decimal("0.1"))


def test_an_erred_instance_that_left_nothing_costs_nothing(priced, roles):
    make_instance(priced, hostname="a")  # 19.95
    failed = make_instance(priced, state=S.ERRED, hostname="failed", backend_id="", system_volume_id="",
                           data_volume_id="")  # fmt: skip
    assert roles.client_as("admin").get(url(failed)).json()["monthly_cost"] == "0.000"
    assert roles.client_as("admin").get(roles.url("project", roles.project)).json()["monthly_cost"] == "19.950"
