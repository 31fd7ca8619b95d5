"""Security groups and IPs in the portal: the project's groups with rules and state, their forms for those the API
lets write them (400 at the field, 409 as the API says it), read-only for managers, the create form's groups,
a running VM's groups changed with its event trail, and the instance's IPs in the list and on its page.
"""

import pytest

from nodeconductor.iaas.models import Instance, InstanceState, SecurityGroup, SecurityGroupState
from nodeconductor.iaas.models.security_groups import set_instance_groups

pytestmark = pytest.mark.django_db(transaction=True)

GROUPS = "#security-groups"
DEFAULTS = ("ssh", "ping", "http", "https")


def text_of(browser, css):
    """The text of `css`, read again when a poll redrew it meanwhile (stale element)."""
    return browser.wait(lambda: browser.find(css).text, message=f"the text of {css}")


def group_row(browser, name):
    """The text of the group's row in the project page's section."""
    return text_of(browser, f"{GROUPS} tr[data-group='{name}']")


def wait_in_sync(browser, name):
    """Wait until the group's row says In Sync (the page polls; nothing reloads it)."""
    browser.wait(lambda: "In Sync" in group_row(browser, name), 30, f"{name} In Sync")


def neutron_rules(iaas, group_id):
    """The group's ingress rules as Neutron (the simulator) holds them."""
    rules = iaas.env.sim.networking()["sg_rules"]
    return {(r["protocol"], r["port_range_min"], r["port_range_max"], r["remote_ip_prefix"]) for r in rules
            if r["security_group_id"] == group_id and r["direction"] == "ingress"}  # fmt: skip


def ports_of(iaas, instance):
    """The Neutron ports of the instance's server."""
    return [p for p in iaas.env.sim.networking()["ports"] if p.get("device_id") == instance.backend_id]


def group_form(browser):
    return "#security-groups form.group-form"


def test_admin_creates_edits_and_deletes_a_group_with_the_api_errors_shown(iaas, roles, login, browser):
    login(roles.users["admin"])
    browser.go(f"#/projects/{roles.project.uuid}")
    for name in DEFAULTS:
        wait_in_sync(browser, name)
    assert "TCP 22 from 0.0.0.0/0" in group_row(browser, "ssh")
    assert "ICMP any from 0.0.0.0/0" in group_row(browser, "ping")
    assert text_of(browser, f"{GROUPS} h3") == "In Cloud"

    # A bad port and the tenant's reserved name: the API's 400 is shown at each field.
    browser.click("[data-action='new-group']")
    form = group_form(browser)
    browser.fill("name", "default", form=form)
    browser.fill("rules.0.from_port", "70000", form=form)
    browser.fill("rules.0.to_port", "70000", form=form)
    browser.click(f"{form} button[type=submit]")
    browser.wait(lambda: browser.field_error("name", form=form), message="the name error")
    assert "'default' is the tenant's own group in Neutron" in browser.field_error("name", form=form)
    assert "65535" in browser.field_error("rules.0.from_port", form=form)
    assert browser.find(f"{form} [name='rules.0.from_port']").get_attribute("aria-invalid") == "true"
    assert not SecurityGroup.objects.filter(name="default").exists()
    browser.full_screenshot("security-group-errors")

    browser.fill("name", "web", form=form)
    browser.fill("rules.0.from_port", "8080", form=form)
    browser.fill("rules.0.to_port", "8090", form=form)
    browser.fill("rules.0.cidr", "10.0.0.0/8", form=form)
    browser.click(f"{form} .rules-set > button")  # Add rule
    browser.choose("rules.1.protocol", "UDP", form=form)
    browser.fill("rules.1.from_port", "53", form=form)
    browser.fill("rules.1.to_port", "53", form=form)
    browser.click(f"{form} button[type=submit]")
    wait_in_sync(browser, "web")
    assert not browser.all(form)
    row = group_row(browser, "web")
    assert "TCP 8080–8090 from 10.0.0.0/8" in row and "UDP 53 from 0.0.0.0/0" in row
    group = SecurityGroup.objects.get(name="web")
    assert sorted((r.protocol, r.from_port, r.to_port, r.cidr) for r in group.rules.all()) == [
        ("tcp", 8080, 8090, "10.0.0.0/8"), ("udp", 53, 53, "0.0.0.0/0")]  # fmt: skip
    assert neutron_rules(iaas, group.backend_id) == {("tcp", 8080, 8090, "10.0.0.0/8"), ("udp", 53, 53, "0.0.0.0/0")}

    # Edit: a duplicate rule is the list's 400, shown at the rules; then the UDP rule gives way to ICMP.
    browser.click(f"{GROUPS} tr[data-group='web'] [data-action='edit-group']")
    form = group_form(browser)
    browser.choose("rules.1.protocol", "TCP", form=form)
    browser.fill("rules.1.from_port", "8080", form=form)
    browser.fill("rules.1.to_port", "8090", form=form)
    browser.fill("rules.1.cidr", "10.0.0.0/8", form=form)
    browser.click(f"{form} button[type=submit]")
    browser.wait(lambda: browser.field_error("rules", form=form), message="the rules error")
    assert browser.field_error("rules", form=form) == "Rule 2 repeats rule 1; give each rule once."
    browser.choose("rules.1.protocol", "ICMP", form=form)
    browser.fill("rules.1.from_port", "8", form=form)
    browser.fill("rules.1.to_port", "", form=form)
    browser.fill("rules.1.cidr", "0.0.0.0/0", form=form)
    browser.click(f"{form} button[type=submit]")
    browser.wait(lambda: "ICMP type 8 from 0.0.0.0/0" in group_row(browser, "web"), message="the edited rules")
    wait_in_sync(browser, "web")
    assert "UDP" not in group_row(browser, "web")
    browser.full_screenshot("security-groups")

    # A group in use: the 409 names the instances, as the API says it.
    instance = Instance.objects.create(
        hostname="uses-ssh", template=iaas.template, cloud_project_membership=iaas.membership, flavor=iaas.flavor,
        system_volume_size=1024, data_volume_size=1024,
    )  # fmt: skip
    set_instance_groups(instance, [SecurityGroup.objects.get(membership=iaas.membership, name="ssh")])
    browser.click(f"{GROUPS} tr[data-group='ssh'] [data-action='delete-group']")
    browser.click(f"{GROUPS} tr[data-group='ssh'] [data-action='confirm-delete-group']")
    browser.wait_text("remove it from them first", css=GROUPS)
    assert text_of(browser, f"{GROUPS} .form-error") == \
        "ssh: The security group is used by instances uses-ssh; remove it from them first."  # fmt: skip
    assert "In Sync" in group_row(browser, "ssh")

    browser.click(f"{GROUPS} tr[data-group='web'] [data-action='delete-group']")
    browser.click(f"{GROUPS} tr[data-group='web'] [data-action='confirm-delete-group']")
    browser.wait(lambda: not browser.all(f"{GROUPS} tr[data-group='web']"), message="web gone from the list")
    assert not SecurityGroup.objects.filter(name="web").exists()
    assert group.backend_id not in {g["id"] for g in iaas.env.sim.networking()["security_groups"]}


def test_manager_reads_the_groups_without_forms_or_buttons(iaas, roles, login, browser):
    # Two groups a worker has not pushed: one still scheduled, one the cloud refused (its message shown).
    SecurityGroup.objects.create(membership=iaas.membership, name="pending")
    refused = SecurityGroup.objects.create(membership=iaas.membership, name="refused")
    SecurityGroup.objects.filter(pk=refused.pk).update(
        state=SecurityGroupState.ERRED, error_message="Quota exceeded for resources: ['security_group'].")
    login(roles.users["manager"])
    browser.go(f"#/projects/{roles.project.uuid}")
    browser.wait(lambda: "Sync Scheduled" in group_row(browser, "pending"), message="pending Sync Scheduled")
    assert group_row(browser, "refused") == \
        "refused\nErred\nQuota exceeded for resources: ['security_group'].\nNo rules: nothing gets in."  # fmt: skip
    for name in DEFAULTS:
        browser.wait(lambda n=name: browser.all(f"{GROUPS} tr[data-group='{n}']"), message=f"group {name}")
    browser.wait_text("You can read these groups; project administrators change them.", css=GROUPS)
    assert not [b for b in browser.all(f"{GROUPS} button") if b.is_displayed()]
    assert not browser.all(f"{GROUPS} form")
    assert "Actions" not in text_of(browser, f"{GROUPS} thead")
    assert "TCP 443 from 0.0.0.0/0" in group_row(browser, "https")


def test_with_no_group_to_ask_about_a_refused_post_shows_the_api_reason(iaas, roles, login, browser):
    SecurityGroup.objects.filter(membership=iaas.membership).delete()
    login(roles.users["manager"])
    browser.go(f"#/projects/{roles.project.uuid}")
    browser.wait_text("No security groups in this cloud", css=GROUPS)
    browser.click("[data-action='new-group']")
    form = group_form(browser)
    browser.fill("name", "mine", form=form)
    browser.click(f"{form} button[type=submit]")
    browser.wait_text("Only project administrators and staff manage security groups.", css=f"{form} .form-error")
    assert not SecurityGroup.objects.exists()


def test_create_with_groups_shows_ips_and_changes_groups_while_online(iaas, roles, login, browser):
    login(roles.users["admin"])
    browser.go(f"#/projects/{roles.project.uuid}")
    for name in DEFAULTS:
        wait_in_sync(browser, name)
    pending = SecurityGroup.objects.create(membership=iaas.membership, name="pending")  # not in the cloud yet
    browser.go(f"#/projects/{roles.project.uuid}/new")
    browser.fill("hostname", "web-1")
    browser.choose("template", iaas.template.name)
    browser.choose("flavor", iaas.flavor.name)
    # As the API chooses when the request names none: no group ticked (the tenant's default group).
    boxes = browser.wait(lambda: browser.all("form input[name='security_group']"), message="the group boxes")
    labels = {browser.label_of(b).split(" ")[0]: b for b in boxes}
    assert set(labels) == {*DEFAULTS, "pending"}
    assert not [b for b in boxes if b.is_selected()]
    assert [n for n, b in labels.items() if not b.is_enabled()] == ["pending"]  # the API would refuse it
    assert "(Sync Scheduled: not in the cloud yet)" in text_of(browser, f"#sg-{pending.uuid} ~ .reason")
    pending.delete()
    labels.pop("pending")
    assert "tenant's own default group" in browser.text("fieldset.groups-set")
    labels["ssh"].click()
    browser.full_screenshot("create-groups")
    browser.click("button[type=submit]")

    browser.wait(lambda: browser.find("h1").text.startswith("web-1"), message="the instance page")
    browser.wait(lambda: browser.find("h1 .badge").text == "Online", 60, "Online")
    instance = Instance.objects.get(hostname="web-1")
    assert instance.internal_ips
    browser.wait_text(instance.internal_ips, css=".details")
    assert text_of(browser, "#instance-groups").startswith("ssh TCP 22 from 0.0.0.0/0")
    ports = ports_of(iaas, instance)
    ssh = SecurityGroup.objects.get(membership=iaas.membership, name="ssh")
    assert [p["security_groups"] for p in ports] == [[ssh.backend_id]]

    # Online with update_security_groups in its actions: the form is there, ticked as the instance is.
    form = "form[aria-label='Change security groups']"
    ticked = browser.wait(lambda: {browser.label_of(b).split(" ")[0] for b in browser.all(f"{form} input:checked")},
                          message="the ticked groups")
    assert ticked == {"ssh"}
    browser.click(f"{form} label[for='sg-{SecurityGroup.objects.get(membership=iaas.membership, name='http').uuid}']")
    browser.click("[data-action='update-security-groups']")
    browser.wait_text("instance_update_security_groups_succeeded", css=".events")
    browser.wait(lambda: "http" in browser.text("#instance-groups"), message="http among the groups")
    http = SecurityGroup.objects.get(membership=iaas.membership, name="http")
    ports = ports_of(iaas, instance)
    assert sorted(ports[0]["security_groups"]) == sorted([ssh.backend_id, http.backend_id])
    browser.full_screenshot("instance-groups")

    # The project list shows the internal IP too.
    browser.go(f"#/projects/{roles.project.uuid}")
    browser.wait_text(f"internal {instance.internal_ips}", css="#instances")

    # Stopped, the instance cannot change its groups: the API's reason instead of the form.
    browser.go(f"#/instances/{instance.uuid}")
    browser.click("[data-action='stop']")
    browser.wait(lambda: browser.find("h1 .badge").text == "Offline", 60, "Offline")
    browser.wait(lambda: browser.all("#reason-update-security-groups"), message="the reason")
    assert text_of(browser, "#reason-update-security-groups") == \
        "Only an Online instance can change its security groups; the instance is Offline."  # fmt: skip
    assert not browser.all(form)
    assert Instance.objects.get(pk=instance.pk).state == InstanceState.OFFLINE


def test_the_group_form_and_the_instance_groups_fit_a_phone(iaas, roles, login, browser):
    instance = Instance.objects.create(
        hostname="phone-vm", template=iaas.template, cloud_project_membership=iaas.membership, flavor=iaas.flavor,
        system_volume_size=1024, data_volume_size=1024, port_id="p-1", backend_id="s-1",
    )  # fmt: skip
    Instance.objects.filter(pk=instance.pk).update(state=InstanceState.ONLINE)
    browser.driver.set_window_size(390, 900)
    login(roles.users["admin"])

    def fits():
        inner = browser.driver.execute_script("return window.innerWidth")
        scroll = browser.driver.execute_script("return document.documentElement.scrollWidth")
        assert scroll <= inner, f"the page is {scroll} px wide in a {inner} px window"

    browser.go(f"#/projects/{roles.project.uuid}")
    wait_in_sync(browser, "ssh")
    browser.click("[data-action='new-group']")
    browser.click(f"{group_form(browser)} .rules-set > button")  # a second rule row
    browser.find(f"{group_form(browser)} [name='rules.1.cidr']")
    fits()
    browser.full_screenshot("security-groups-mobile")
    browser.go(f"#/instances/{instance.uuid}")
    browser.find("[data-action='update-security-groups']")
    assert len(browser.all("form[aria-label='Change security groups'] input[name='security_group']")) == 4
    fits()
