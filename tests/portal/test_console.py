"""The console log on the instance page, and cloud-init user data in the create form, in a real Chromium: the
administrator creates a VM with user data and reads its console; a manager is offered no console at all."""

import pytest

from nodeconductor.iaas.models import Instance
from tests.portal.test_backups import online
from tests.portal.test_floating_ips import text_of

pytestmark = pytest.mark.django_db(transaction=True)
SCRIPT = "#cloud-config\nruncmd:\n  - echo hi"


def test_create_with_user_data_then_read_the_console(iaas, roles, login, browser):
    online(iaas, login, browser, roles, user_data=SCRIPT)
    assert Instance.objects.get(hostname="web-1").user_data == SCRIPT
    card = "section[aria-labelledby='console-title']"
    browser.wait(lambda: browser.find(card).is_displayed(), message="the console card")
    assert browser.label_of(browser.find(f"{card} input[name=length]")) == "Lines"
    browser.fill("length", "2", form=card)
    browser.click(f"{card} [data-action='console-log']")
    browser.wait(lambda: browser.find(f"{card} pre.console").text == "ANOTHER\nLAST LINE", message="the console text")
    assert "2 lines, read" in text_of(browser, f"{card} [role=status]")
    assert browser.find(f"{card} [data-action='console-log']").text == "Refresh"
    browser.fill("length", "5000", form=card)
    browser.click(f"{card} [data-action='console-log']")
    browser.wait_text("Give a whole number of lines from 1 to 1000, not '5000'.", css=card)
    # The refused length is the API's 400, which the browser logs as a failed request; nothing else went wrong.
    assert all("console_log" in e and "400" in e for e in browser.console_errors()), browser.console_errors()


def test_a_manager_is_offered_no_console(iaas, roles, login, browser):
    instance = Instance.objects.create(
        hostname="db-1", template=iaas.template, cloud_project_membership=iaas.membership, flavor=iaas.flavor,
        cores=1, ram=512, system_volume_size=1024, data_volume_size=1024, backend_id="srv-1")
    Instance.objects.filter(pk=instance.pk).update(state="online")
    login(roles.users["manager"])
    browser.go(f"#/instances/{instance.uuid}")
    browser.wait(lambda: browser.find("h1").text.startswith("db-1"), message="the instance page")
    browser.find("section[aria-labelledby='details-title']")
    cards = browser.all("section[aria-labelledby='console-title']")
    assert len(cards) == 1 and not cards[0].is_displayed()  # on the page, hidden: its action is not enabled
    assert "Console log" not in browser.text()
