"""The portal shows the API's human message of an error, never its `code`, and redraws on `invalid_state`."""

import pytest

from nodeconductor.iaas.models import Instance, InstanceState
from tests.iaas.views.test_instances import make_instance
from tests.portal.test_walkthrough import state_badge, wait_state

pytestmark = pytest.mark.django_db(transaction=True)
S = InstanceState


def test_an_action_the_state_no_longer_allows_shows_the_message_and_the_real_state(iaas, roles, login, browser):
    instance = make_instance(iaas, S.ONLINE, hostname="behind")
    login(roles.users["admin"])
    browser.go(f"#/instances/{instance.uuid}")
    wait_state(browser, "Online")
    # Stopped behind the page's back: the page polls an idle instance every 5 s, so it still offers Stop.
    Instance.objects.filter(pk=instance.pk).update(state=S.OFFLINE)
    browser.click("[data-action='stop']")
    browser.wait_text("Only an Online instance can be stopped", css=".page-error")
    assert browser.text(".page-error") == "Only an Online instance can be stopped; the instance is Offline."
    # The page re-reads the instance after the refusal: it shows where it really is at once, not at the next poll.
    browser.wait(lambda: state_badge(browser) == "Offline", timeout=3, message="the page redrawn as Offline")
    assert Instance.objects.get(pk=instance.pk).state == S.OFFLINE


def test_a_field_error_is_shown_at_its_field_without_the_code(iaas, roles, login, browser):
    instance = make_instance(iaas, S.OFFLINE, hostname="small")
    login(roles.users["admin"])
    browser.go(f"#/instances/{instance.uuid}")
    wait_state(browser, "Offline")
    form = "form[aria-label='Resize data disk']"
    browser.fill("disk_size", "512", form=form)
    browser.click("[data-action='resize-disk']")
    browser.wait(lambda: browser.field_error("disk_size", form=form), message="the disk_size error")
    assert browser.field_error("disk_size", form=form) == "Must be larger than the current data volume: 1024 MiB."
    # Nothing is left over for the form's own box: "code" is not a field.
    assert browser.all(f"{form} .form-error:not([hidden])") == []
    assert "invalid" not in browser.text(form)
    assert Instance.objects.get(pk=instance.pk).data_volume_size == 1024
