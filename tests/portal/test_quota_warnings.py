"""A quota past its warning threshold, and what a project costs, on the project page in a real Chromium: the
warning comes from the API's quota_alerts (set when the event quota_threshold_reached was logged)."""

from decimal import Decimal

import pytest

from nodeconductor.iaas.models import CloudProjectMembership
from tests.iaas.views.test_instances import create_body
from tests.portal.test_floating_ips import text_of
from tests.portal.test_pages import CONTRAST_JS

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_project_page_warns_of_a_quota_nearly_used_up_and_says_what_it_costs(iaas, roles, login, browser):
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(quota_max_instances=1)
    iaas.template.monthly_fee = Decimal("12.5")
    iaas.template.save()
    response = roles.client_as("admin").post("/api/instances/", create_body(iaas, hostname="only-one"), format="json")
    assert response.status_code == 201, response.json()
    login(roles.users["manager"])
    browser.go(f"#/projects/{roles.project.uuid}")
    browser.wait_text("Nearly used up", css=".warning-box")
    assert text_of(browser, ".warning-box").startswith("Nearly used up: Instances in Cloud.")
    assert "12.500 EUR a month" in text_of(browser, ".project-cost")
    assert browser.driver.execute_script(CONTRAST_JS) == []
    assert browser.console_errors() == []


def test_no_warning_under_the_threshold(iaas, roles, login, browser):
    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(quota_max_instances=10)
    response = roles.client_as("admin").post("/api/instances/", create_body(iaas, hostname="one"), format="json")
    assert response.status_code == 201, response.json()
    login(roles.users["manager"])
    browser.go(f"#/projects/{roles.project.uuid}")
    browser.wait_text("one", css="#instances")
    assert browser.all(".warning-box") == []
    assert "0.000 EUR a month" in text_of(browser, ".project-cost")
