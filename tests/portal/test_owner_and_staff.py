"""An owner adds a cloud and binds a project, seeing sync states and errors; staff manage templates."""

import pytest

from nodeconductor.iaas.models import Cloud, CloudProjectMembership, Template

pytestmark = pytest.mark.django_db(transaction=True)


def row(browser, table_title, text):
    """The table row of the section titled `table_title` that contains `text`."""
    rows = f"section[aria-labelledby='{table_title}'] tbody tr"
    return browser.wait(
        lambda: next((r for r in browser.all(rows) if text in r.text), None), message=f"a row with {text!r}"
    )


def test_owner_adds_a_cloud_and_binds_a_project(roles, sim_env, login, browser):
    login(roles.users["owner"])
    browser.click("a[href='#/clouds']")
    browser.wait_text("This customer has no clouds yet.")
    browser.wait_text("No project of this customer is bound to a cloud yet.")

    add = "form[aria-labelledby='add-cloud']"
    browser.fill("name", "Openstack Cloud", form=add)
    browser.fill("auth_url", "http://127.0.0.1:9/v3", form=add)
    browser.click(f"{add} button[type=submit]")
    browser.wait(lambda: browser.field_error("auth_url", form=add), message="the auth_url error")
    assert "credentials" in browser.field_error("auth_url", form=add).lower()
    assert not Cloud.objects.exists()

    browser.fill("auth_url", sim_env.credentials["auth_url"], form=add)
    browser.click(f"{add} button[type=submit]")
    browser.wait(lambda: "In Sync" in row(browser, "clouds-title", "Openstack Cloud").text, message="cloud In Sync")
    flavors = row(browser, "clouds-title", "Openstack Cloud").find_element("css selector", "[data-label='Flavors']")
    assert flavors.text == str(Cloud.objects.get().flavors.filter(is_active=True).count()) == "3"

    bind = "form[aria-labelledby='bind']"
    browser.click(f"{bind} button[type=submit]")
    browser.wait(lambda: browser.field_error("project", form=bind), message="the project error")
    assert browser.field_error("cloud", form=bind)
    # An owner cannot bind an existing tenant (staff only): the form has no such field, and a tenant is made.
    assert not browser.all(f"{bind} input[name='tenant_id']")
    assert "A tenant is created in the cloud for the project." in browser.text(bind)
    browser.choose("project", roles.project.name, form=bind)
    browser.choose("cloud", "Openstack Cloud", form=bind)
    browser.click(f"{bind} button[type=submit]")
    browser.wait(
        lambda: "In Sync" in row(browser, "members-title", roles.project.name).text, message="membership In Sync"
    )
    membership = CloudProjectMembership.objects.get(project=roles.project)
    assert membership.tenant_id and membership.tenant_id in row(browser, "members-title", roles.project.name).text
    browser.full_screenshot("clouds")


def test_staff_bind_an_existing_tenant_and_see_why_it_erred(roles, sim_env, login, browser):
    Cloud.objects.create(customer=roles.customer, name="Openstack Cloud", auth_url=sim_env.credentials["auth_url"])
    Cloud.objects.update(state="in_sync")
    login(roles.users["staff"])
    browser.click("a[href='#/clouds']")
    bind = "form[aria-labelledby='bind']"
    browser.choose("project", roles.project.name, form=bind)
    browser.choose("cloud", "Openstack Cloud", form=bind)
    browser.fill("tenant_id", "no-such-tenant", form=bind)
    browser.click(f"{bind} button[type=submit]")
    # The tenant does not exist: the membership is Erred and the cloud's reason is shown beside it.
    browser.wait(lambda: "Erred" in row(browser, "members-title", roles.project.name).text, message="membership Erred")
    membership = CloudProjectMembership.objects.get()
    assert membership.error_message
    assert membership.error_message[:40] in row(browser, "members-title", roles.project.name).text


def test_admin_sees_no_clouds_page(roles, login, browser):
    login(roles.users["admin"])
    assert not browser.all("a[href='#/clouds']") and not browser.all("a[href='#/templates']")
    browser.go("#/clouds")
    browser.wait_text("Only owners of a customer and staff manage clouds.")


def test_staff_manage_templates(roles, login, browser):
    login(roles.users["staff"])
    browser.click("a[href='#/templates']")
    browser.wait_text("No templates yet.")
    form = "form[aria-labelledby='add-template']"
    browser.fill("name", "Debian 12", form=form)
    browser.fill("sla_level", "lots", form=form)
    browser.click(f"{form} button[type=submit]")
    browser.wait(lambda: browser.field_error("sla_level", form=form), message="the sla_level error")
    assert "number" in browser.field_error("sla_level", form=form).lower()
    assert not Template.objects.exists()

    browser.fill("sla_level", "99.9", form=form)
    browser.fill("os", "Debian GNU/Linux 12", form=form)
    browser.fill("backend_image_id", "7c5e8a0e-3f3b-4d8b-9a51-2b0f6a1c9d11", form=form)
    browser.click(f"{form} button[type=submit]")
    template_row = row(browser, "tpl-title", "Debian 12")
    assert "Debian GNU/Linux 12" in template_row.text and "yes" in template_row.text
    template = Template.objects.get()
    assert template.is_active and template.mappings.get().backend_image_id == "7c5e8a0e-3f3b-4d8b-9a51-2b0f6a1c9d11"
    browser.full_screenshot("templates")

    template_row.find_element("css selector", "button").click()
    browser.wait(lambda: "Activate" in row(browser, "tpl-title", "Debian 12").text, message="the template deactivated")
    template.refresh_from_db()
    assert not template.is_active


def test_staff_and_owners_add_members(roles, login, browser):
    members = "section[aria-labelledby='members-title']"
    form = "form[aria-label='Add a member']"
    login(roles.users["owner"])
    browser.go(f"#/projects/{roles.project.uuid}")
    browser.fill("user", "stranger", form=form)
    browser.click(f"{form} button[type=submit]")
    # Owners cannot look other users up through the API: the form says so at the field.
    browser.wait(lambda: browser.field_error("user", form=form), message="the user error")
    assert browser.field_error("user", form=form) == (
        'No user "stranger" that you can see. Staff can look every user up.'
    )

    browser.click("#nav button")
    login(roles.users["staff"])
    browser.go(f"#/projects/{roles.project.uuid}")
    browser.fill("user", "stranger", form=form)
    browser.choose("role", "Manager", form=form)
    browser.click(f"{form} button[type=submit]")
    browser.wait_text("stranger MANAGER", css=members)
    assert roles.project.permissions.filter(user=roles.users["stranger"], role="manager").exists()
    # A second identical grant is refused with the API's message.
    browser.fill("user", "stranger", form=form)
    browser.choose("role", "Manager", form=form)
    browser.click(f"{form} button[type=submit]")
    browser.wait_text("is already manager", css=f"{form} .form-error")
    assert browser.text(f"{form} .form-error") == "stranger is already manager of My Project."


def test_admins_get_no_member_form(roles, login, browser):
    login(roles.users["admin"])
    browser.go(f"#/projects/{roles.project.uuid}")
    browser.wait_text(roles.users["manager"].username, css="section[aria-labelledby='members-title']")
    assert not browser.all("form[aria-label='Add a member']")
