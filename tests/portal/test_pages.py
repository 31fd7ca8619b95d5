"""Progress and actions from `operation`/`actions` or from `state`, login and logout, labels, focus, 390 px."""

import json

import pytest
import requests

from nodeconductor.iaas.models import Instance
from tests.iaas.steps import advance

pytestmark = pytest.mark.django_db(transaction=True)


def test_login_error_and_logout(roles, login, browser, live_server):
    browser.open()
    browser.fill("username", "admin")
    browser.fill("password", "wrong-password")
    browser.click("button[type=submit]")
    browser.wait_text("Invalid username or password.", css=".form-error")
    # The message alone: the body's "code" (authentication_failed) is not shown as if it were a field.
    assert browser.text(".form-error") == "Invalid username or password."
    browser.screenshot("login")
    login(roles.users["admin"])
    token = browser.driver.execute_script("return sessionStorage.getItem('nodeconductor.token')")
    assert token
    as_the_tab = {"Authorization": f"Token {token}", "Accept": "application/json"}
    assert requests.get(f"{live_server.url}/api/users/", headers=as_the_tab, timeout=10).status_code == 200
    browser.click("#nav button")
    browser.find("form [name='password']")
    assert browser.driver.execute_script("return sessionStorage.getItem('nodeconductor.token')") is None
    assert not browser.all("#nav a")
    # Log out revoked the token on the server: a copy of it (a stolen one) no longer works.
    after = requests.get(f"{live_server.url}/api/users/", headers=as_the_tab, timeout=10)
    assert after.status_code == 401
    assert after.json() == {"detail": "Invalid token.", "code": "authentication_failed"}


def test_a_scheduled_provision_shows_its_progress_and_why_actions_wait(iaas, roles, login, browser):
    # Created without its task: the row stays Provisioning Scheduled, as while it waits for a busy worker.
    instance = Instance.objects.create(
        hostname="queued-vm", template=iaas.template, cloud_project_membership=iaas.membership, flavor=iaas.flavor,
        system_volume_size=1024, data_volume_size=1024,
    )  # fmt: skip
    login(roles.users["admin"])
    browser.go(f"#/instances/{instance.uuid}")
    browser.wait_text("Queued for a worker", css=".progress")
    progress = browser.text(".progress")
    assert "Provisioning Scheduled" in progress and "Waiting for a free worker" in progress
    assert browser.find(".progress [role=progressbar]").get_attribute("aria-valuetext") == "Queued for a worker"
    reasons = {  # the API's own reasons, from the instance's `actions`
        "start": "Only an Offline instance can be started",
        "stop": "Only an Online instance can be stopped",
        "restart": "Only an Online instance can be restarted",
        "delete": "Only an Offline or Erred instance can be deleted",
    }
    for action, needed in reasons.items():
        assert not browser.find(f"[data-action='{action}']").is_enabled()
        assert browser.text(f"#reason-{action}") == f"{needed}; the instance is Provisioning Scheduled."
    browser.full_screenshot("instance-provisioning")


def test_a_running_provision_shows_the_api_step_and_what_it_waits_for(iaas, roles, login, browser):
    """A provision a worker has taken one step of: the page shows the API's own step, count and wait."""
    from nodeconductor.iaas.engine import operations

    instance = Instance.objects.create(
        hostname="building-vm", template=iaas.template, cloud_project_membership=iaas.membership,
        flavor=iaas.flavor, system_volume_size=1024, data_volume_size=1024,
    )  # fmt: skip
    iaas.env.sim.set_delay("volume_create", 60)  # the volumes stay "creating" while the page is looked at
    advance(operations.PROVISION, instance.uuid, {"backend_flavor_id": iaas.flavor.backend_id})
    login(roles.users["admin"])
    browser.go(f"#/instances/{instance.uuid}")
    browser.wait_text("step 2 of 3", css=".progress")
    progress = browser.text(".progress")
    assert "wait for both volumes to be available, then boot the server from the root volume" in progress
    assert "volumes to become available" in progress
    assert browser.text("#reason-delete") == "Only an Offline or Erred instance can be deleted; the instance is " \
        "Provisioning."  # fmt: skip


def test_actions_and_operation_from_the_instance_body_win_over_state(roles, login, browser):
    """The portal prefers the API's `actions` and `operation` (another issue adds them) to its own state rules."""
    login(roles.users["admin"])
    result = browser.driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        import("/static/portal/js/instance-state.js").then((m) => {
          const online = {hostname: "vm", state: "Online"};
          const withApi = {hostname: "vm", state: "Provisioning",
            actions: {stop: {enabled: false, reason: "Busy provisioning"}, start: {enabled: true}},
            operation: {name: "provision", state: "running", step: "Creating the data volume", steps_done: 1,
                        steps_total: 4, waiting_for: "Cinder volume available",
                        waiting_since: "2026-01-01T00:00:00Z"}};
          done(JSON.stringify({
            online: m.actionsOf(online), onlineProgress: m.progressOf(online),
            api: m.actionsOf(withApi), apiProgress: m.progressOf(withApi), busy: m.isBusy(withApi),
          }));
        }, (e) => done(String(e)));
        """
    )
    got = json.loads(result)
    assert got["online"]["resize"] == {
        "enabled": False,
        "reason": "Must be stopped (Offline) to be resized: stop it first.",
    }
    assert got["online"]["stop"] == {"enabled": True, "reason": ""}
    assert got["onlineProgress"] is None
    assert got["api"]["stop"] == {"enabled": False, "reason": "Busy provisioning"}
    assert got["api"]["start"] == {"enabled": True, "reason": ""}
    # Actions the body does not list fall back to the state rules.
    assert got["api"]["delete"] == {"enabled": False, "reason": "Wait: the instance is Provisioning."}
    assert got["apiProgress"] == {
        "title": "Provision vm", "step": "Creating the data volume", "percent": 25,
        "waitingFor": "Cinder volume available", "since": "2026-01-01T00:00:00Z", "counts": "step 2 of 4",
    }  # fmt: skip
    assert got["busy"] is True


def test_labels_and_focus(iaas, roles, login, browser):
    login(roles.users["admin"])
    browser.go(f"#/projects/{roles.project.uuid}/new")
    browser.find("form [name='hostname']")
    browser.wait(lambda: len(browser.all("main form input[name=security_group]")) == 4, message="the group boxes")
    controls = browser.all("main form input:not([name=security_group]), main form select, main form textarea")
    labels = {c.get_attribute("name"): browser.label_of(c) for c in controls}
    assert labels == {
        "hostname": "Host name", "description": "Description", "template": "Template", "flavor": "Flavor",
        "data_volume_size": "Data volume size (MiB)", "ssh_public_key": "SSH key",
        "assign_floating_ip": "Give it a floating IP", "user_data": "User data (cloud-init)",
    }  # fmt: skip
    # Each group's box is labelled by the group's name and rules, inside the "Security groups" fieldset.
    boxes = {browser.label_of(c) for c in browser.all("main form input[name=security_group]")}
    assert boxes == {"http TCP 80 from 0.0.0.0/0", "https TCP 443 from 0.0.0.0/0", "ping ICMP any from 0.0.0.0/0",
                     "ssh TCP 22 from 0.0.0.0/0"}  # fmt: skip
    assert browser.text("fieldset.groups-set legend") == "Security groups"
    # After navigation the keyboard focus is on the new page's heading.
    browser.wait(lambda: browser.driver.switch_to.active_element.tag_name == "h1", message="focus on the heading")
    assert browser.driver.switch_to.active_element.text.startswith("New instance")


@pytest.mark.parametrize("width", [1280, 390])
def test_project_page_fits_the_width(width, iaas, roles, login, browser):
    Instance.objects.create(
        hostname="db-1.example.com", template=iaas.template, cloud_project_membership=iaas.membership,
        flavor=iaas.flavor, system_volume_size=1024, data_volume_size=2048,
    )  # fmt: skip
    browser.driver.set_window_size(width, 900)
    login(roles.users["admin"])
    browser.go(f"#/projects/{roles.project.uuid}")
    browser.wait_text("db-1.example.com", css="#instances")
    inner = browser.driver.execute_script("return window.innerWidth")
    scroll = browser.driver.execute_script("return document.documentElement.scrollWidth")
    assert scroll <= inner, f"the page is {scroll} px wide in a {inner} px window"
    cell = browser.find("#instances td[data-label='State']")
    assert "Provisioning Scheduled" in cell.text
    browser.full_screenshot("project" if width == 1280 else "project-mobile")


def test_the_instance_list_follows_state_changes_without_reloading(iaas, roles, login, browser):
    instance = Instance.objects.create(
        hostname="polled-vm", template=iaas.template, cloud_project_membership=iaas.membership, flavor=iaas.flavor,
        system_volume_size=1024, data_volume_size=1024,
    )  # fmt: skip
    login(roles.users["admin"])
    browser.go(f"#/projects/{roles.project.uuid}")
    state = "#instances td[data-label='State']"
    browser.wait_text("Provisioning Scheduled", css=state)
    browser.driver.execute_script("window.notReloaded = true")
    # A worker elsewhere moves the instance on (here: the same transitions, made by the test).
    instance.begin_provisioning()
    instance.save()
    browser.wait(lambda: browser.text(state) == "Provisioning", message="Provisioning in the list")
    instance.set_online()
    instance.save()
    browser.wait(lambda: browser.text(state) == "Online", message="Online in the list")
    assert browser.driver.execute_script("return window.notReloaded") is True


CONTRAST_JS = """
const parse = (s) => s.match(/[\\d.]+/g).map(Number);
const lum = (rgb) => {
  const [r, g, b] = rgb.map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const background = (el) => {
  for (; el; el = el.parentElement) {
    const v = parse(getComputedStyle(el).backgroundColor);
    if (v.length < 4 || v[3] > 0) return v.slice(0, 3);
  }
  return [255, 255, 255];
};
const failures = [];
for (const el of document.querySelectorAll("body *")) {
  const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own || !el.getClientRects().length || el.closest(":disabled, .visually-hidden, option, select")) continue;
  const a = lum(parse(getComputedStyle(el).color).slice(0, 3)), b = lum(background(el));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const what = `${el.tagName}.${el.className} "${el.textContent.trim().slice(0, 30)}"`;
  if (ratio < 4.5) failures.push(`${what}: ${ratio.toFixed(2)}`);
}
return failures;
"""


def test_text_contrast_is_at_least_aa(iaas, roles, login, browser):
    """Every visible text of the main pages has a WCAG AA contrast ratio (4.5:1) against its background."""
    instance = Instance.objects.create(
        hostname="contrast-vm", template=iaas.template, cloud_project_membership=iaas.membership,
        flavor=iaas.flavor, system_volume_size=1024, data_volume_size=1024,
    )  # fmt: skip
    login(roles.users["admin"])
    pages = {
        f"#/projects/{roles.project.uuid}": "contrast-vm",
        f"#/instances/{instance.uuid}": "Queued for a worker",
        f"#/projects/{roles.project.uuid}/new": "Host name",
    }
    for fragment, marker in pages.items():
        browser.go(fragment)
        browser.wait_text(marker)
        assert browser.driver.execute_script(CONTRAST_JS) == [], fragment
    browser.click("button[type=submit]")
    browser.wait(lambda: browser.field_error("hostname"), message="the hostname error")
    assert browser.driver.execute_script(CONTRAST_JS) == []
