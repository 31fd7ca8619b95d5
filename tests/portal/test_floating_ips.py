"""Floating IPs in the portal: the create form's checkbox, the instance page's assign/unassign buttons driven by
its `actions` (disabled ones with the API's reason), the external IP in the list and on the page, and the
project page's floating IP list; checked against what the simulated Neutron holds.
"""

import pytest

from nodeconductor.iaas.models import Instance

pytestmark = pytest.mark.django_db(transaction=True)


def text_of(browser, css):
    """The text of `css`, read again when a poll redrew it meanwhile (stale element)."""
    return browser.wait(lambda: browser.find(css).text, message=f"the text of {css}")


def neutron_fips(iaas):
    """{address: port_id} of the floating IPs in the simulated Neutron."""
    return {f["floating_ip_address"]: f["port_id"] for f in iaas.env.sim.networking()["floatingips"]}


def test_create_with_a_floating_ip_then_unassign_and_assign_again(iaas, roles, login, browser):
    login(roles.users["admin"])
    browser.go(f"#/projects/{roles.project.uuid}")
    browser.wait_text("No floating IPs yet.", css="#floating-ips")
    browser.go(f"#/projects/{roles.project.uuid}/new")
    browser.fill("hostname", "web-1")
    browser.choose("template", iaas.template.name)
    browser.choose("flavor", iaas.flavor.name)
    box = browser.find("#assign_floating_ip")
    assert browser.label_of(box) == "Give it a floating IP" and not box.is_selected()
    browser.click("label[for='assign_floating_ip']")
    browser.click("button[type=submit]")

    browser.wait(lambda: browser.find("h1").text.startswith("web-1"), message="the instance page")
    browser.wait(lambda: browser.find("h1 .badge").text == "Online", 60, "Online")
    instance = Instance.objects.get(hostname="web-1")
    browser.wait(lambda: Instance.objects.get(pk=instance.pk).external_ips, 30, "external_ips in the row")
    instance.refresh_from_db()
    address = instance.external_ips
    assert neutron_fips(iaas) == {address: instance.port_id}
    browser.wait_text(f"External IPs\n{address}", css=".details")
    # Assign is disabled with the API's reason; unassign is enabled.
    assert not browser.find("[data-action='assign_floating_ip']").is_enabled()
    assert text_of(browser, "#reason-assign_floating_ip") == \
        f"The instance has a floating IP already ({address}); unassign it first."  # fmt: skip
    browser.full_screenshot("instance-floating-ip")

    browser.click("[data-action='unassign_floating_ip']")
    browser.wait_text("instance_unassign_floating_ip_succeeded", css=".events")
    browser.wait(lambda: "External IPs\n—" in text_of(browser, ".details"), message="no external IP")
    assert neutron_fips(iaas) == {address: None}  # ours, kept in the tenant, free
    assert text_of(browser, "#reason-unassign_floating_ip") == "The instance has no floating IP."

    browser.click("[data-action='assign_floating_ip']")
    browser.wait_text("instance_assign_floating_ip_succeeded", css=".events")
    browser.wait_text(f"External IPs\n{address}", css=".details")  # the free one of the tenant is reused
    assert neutron_fips(iaas) == {address: instance.port_id}

    # The project page: the list's IPs column and the floating IP list name it.
    browser.go(f"#/projects/{roles.project.uuid}")
    browser.wait_text(f"external {address}", css="#instances")
    browser.wait_text(address, css="#floating-ips")
    row = text_of(browser, f"#floating-ips tr[data-address='{address}']")
    assert row == f"{address} ACTIVE web-1" or row == f"{address} DOWN web-1", row
    browser.full_screenshot("project-floating-ips")
    browser.click(f"#floating-ips tr[data-address='{address}'] a")
    browser.wait(lambda: browser.find("h1").text.startswith("web-1"), message="the instance page from the list")


def test_a_manager_gets_the_floating_ip_actions_disabled_with_the_reason(iaas, roles, login, browser):
    from nodeconductor.iaas.models import InstanceState

    instance = Instance.objects.create(
        hostname="managed", template=iaas.template, cloud_project_membership=iaas.membership, flavor=iaas.flavor,
        system_volume_size=1024, data_volume_size=1024, port_id="p-1", backend_id="s-1",
    )  # fmt: skip
    Instance.objects.filter(pk=instance.pk).update(state=InstanceState.ONLINE)
    login(roles.users["manager"])
    browser.go(f"#/instances/{instance.uuid}")
    button = browser.find("[data-action='assign_floating_ip']")
    assert not button.is_enabled()
    reason = text_of(browser, "#reason-assign_floating_ip")
    assert reason and "administrator" in reason.lower(), reason
