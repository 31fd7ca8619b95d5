"""The seed's walkthrough with a mouse, in headless Chromium against the live API and the simulated cloud.

A project administrator logs in, picks the project, creates a VM (first with field errors) with ssh open, waits
for Online, reads its IPs and groups, assigns it a floating IP, finds resize disabled with the reason, stops it,
grows its disk, starts it, stops it and deletes it (its floating IP released with it).
The screenshots of docs/guide/portal.rst are taken on the way.
"""

import pytest

from nodeconductor.iaas.models import Instance, SecurityGroup

pytestmark = pytest.mark.django_db(transaction=True)


def state_badge(browser):
    """The state shown next to the instance's host name."""
    return browser.find("h1 .badge").text


def wait_state(browser, state, timeout=60):
    """Wait until the instance page shows `state` (it polls the API by itself; nothing reloads the page)."""
    browser.wait(lambda: state_badge(browser) == state, timeout, f"state {state}")


def test_project_admin_walkthrough(iaas, roles, login, browser):
    admin = roles.users["admin"]
    project = roles.project
    login(admin)

    # The home page lists the admin's customer and project; the project page shows quotas and members.
    browser.wait_text(project.name)
    browser.screenshot("home")
    browser.click(f"a[href='#/projects/{project.uuid}']")
    browser.wait_text("No instances yet.")
    quotas = {li.get_attribute("data-quota"): li.text for li in browser.all(".quotas li")}
    assert set(quotas) == {"vcpu", "ram", "storage", "max_instances"}
    assert "Instances" in quotas["max_instances"] and "0" in quotas["max_instances"]
    members = browser.text(".members")
    assert f"{admin.full_name} {admin.username} ADMIN" in members
    assert roles.users["manager"].username in members

    # The create form: the API's 400 is shown at each field it concerns.
    browser.click("a.button.primary")
    browser.find("form [name='hostname']")
    browser.fill("hostname", "bad_host!")
    browser.fill("data_volume_size", "0")
    browser.click("button[type=submit]")
    browser.wait(lambda: browser.field_error("hostname"), message="the hostname error")
    assert "host name" in browser.field_error("hostname")
    assert "greater than or equal to 1" in browser.field_error("data_volume_size")
    assert browser.field_error("template") and browser.field_error("flavor")
    assert browser.find("[name='hostname']").get_attribute("aria-invalid") == "true"
    browser.full_screenshot("create-errors")
    assert not Instance.objects.exists()

    browser.fill("hostname", "web-1")
    browser.fill("data_volume_size", "2048")
    browser.choose("template", iaas.template.name)
    browser.choose("flavor", iaas.flavor.name)
    browser.choose("ssh_public_key", iaas.key.name)
    # Make it reachable: open ssh (the membership's default groups; none is ticked, as the API chooses none).
    ssh = SecurityGroup.objects.get(membership=iaas.membership, name="ssh")
    browser.wait(lambda: browser.all(f"#sg-{ssh.uuid}:not([disabled])"), message="the ssh group, In Sync")
    browser.click(f"label[for='sg-{ssh.uuid}']")
    browser.click("button[type=submit]")

    # The instance page follows it to Online by polling; resize is disabled there with the API's reason.
    browser.wait(lambda: browser.find("h1").text.startswith("web-1"), message="the instance page")
    wait_state(browser, "Online")
    resize = browser.find("[data-action='resize-disk']")
    assert not resize.is_enabled()
    reason = browser.text("#reason-resize")
    assert "must be stopped" in reason.lower()
    assert resize.get_attribute("aria-describedby") == "reason-resize"
    assert not browser.find("[data-action='start']").is_enabled()
    assert not browser.find("[data-action='delete']").is_enabled()
    browser.wait_text("instance_provision_succeeded", css=".events")
    assert "Instance web-1: provisioning scheduled" in browser.text(".events")
    instance = Instance.objects.get(hostname="web-1")
    assert instance.internal_ips
    browser.wait_text(f"Internal IPs\n{instance.internal_ips}", css=".details")
    browser.wait(lambda: browser.find("#instance-groups").text.startswith("ssh TCP 22 from 0.0.0.0/0"),
                 message="ssh among its groups")  # fmt: skip
    assert ssh.instances.filter(pk=instance.pk).exists()

    # ... and a floating IP: the instance page shows it as its external IP.
    browser.click("[data-action='assign_floating_ip']")
    browser.wait_text("instance_assign_floating_ip_succeeded", css=".events")
    instance.refresh_from_db()
    assert instance.external_ips
    browser.wait_text(f"External IPs\n{instance.external_ips}", css=".details")
    assert [f["floating_ip_address"] for f in iaas.env.sim.networking()["floatingips"]] == [instance.external_ips]
    browser.full_screenshot("instance-online")

    browser.click("[data-action='stop']")
    wait_state(browser, "Offline")
    assert browser.find("[data-action='resize-disk']").is_enabled()
    browser.fill("disk_size", "4096", form="form[aria-label='Resize data disk']")
    browser.click("[data-action='resize-disk']")
    browser.wait(lambda: "4 GiB" in browser.text(".details"), message="the new data volume size")
    wait_state(browser, "Offline")
    browser.wait_text("instance_resize_disk_succeeded", css=".events")
    bigger = iaas.cloud.flavors.exclude(pk=iaas.flavor.pk).order_by("ram").first()
    browser.choose("flavor", bigger.name, form="form[aria-label='Resize flavor']")
    browser.click("[data-action='resize-flavor']")
    browser.wait_text("instance_resize_flavor_succeeded", css=".events")
    wait_state(browser, "Offline")
    assert bigger.name in browser.text(".details")

    browser.click("[data-action='start']")
    wait_state(browser, "Online")
    browser.click("[data-action='stop']")
    wait_state(browser, "Offline")

    browser.click("[data-action='delete']")
    browser.click("[data-action='confirm-delete']")
    browser.wait_text("The instance and its volumes were deleted.")
    assert browser.text("h1") == "Instance deleted"

    # The project page again: the list is empty, as in the database and in the cloud.
    browser.click("a[href^='#/projects/']")
    browser.wait_text("No instances yet.")
    assert not Instance.objects.exists()
    assert not iaas.env.sim.servers()
    assert not iaas.env.sim.networking()["floatingips"]  # the IP it was given for it is released with it
