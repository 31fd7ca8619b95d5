"""One customer's people never see another customer's objects in the portal, whatever URL they type."""

import pytest

from nodeconductor.iaas.models import Cloud, CloudProjectMembership, Instance, SyncState
from nodeconductor.iaas.services import instances as instance_services
from nodeconductor.iaas.tasks import sync_cloud_membership
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def provision(user, membership, template, flavor, hostname):
    """An Online instance, built as the API builds it (eager worker against the simulator)."""
    instance = instance_services.instance_create(
        user=user, membership=membership, template=template, flavor=flavor, hostname=hostname,
        system_volume_size=flavor.disk or 1024, data_volume_size=1024,
    )  # fmt: skip
    instance.refresh_from_db()
    assert instance.state == "online", instance.error_message
    return instance


@pytest.fixture
def two_customers(iaas, roles):
    """roles' customer with instance "alpha-vm", and a second customer "Rival Corp" with "rival-vm"."""
    alpha = provision(roles.users["admin"], iaas.membership, iaas.template, iaas.flavor, "alpha-vm")
    rival = factories.CustomerFactory(name="Rival Corp")
    rival_project = factories.ProjectFactory(customer=rival, name="Rival Project")
    rival_admin = factories.UserFactory(username="rival-admin")
    factories.ProjectPermissionFactory(project=rival_project, user=rival_admin, role="admin")
    factories.CustomerPermissionFactory(customer=rival, user=factories.UserFactory(username="rival-owner"))
    rival_cloud = Cloud.objects.create(customer=rival, name="Rival Cloud", auth_url=iaas.cloud.auth_url)
    # A tenant of its own, made by the sync: one customer's tenant is never bound to another's.
    membership = CloudProjectMembership.objects.create(project=rival_project, cloud=rival_cloud)
    sync_cloud_membership(str(membership.uuid))
    membership.refresh_from_db()
    assert membership.state == SyncState.IN_SYNC
    from nodeconductor.iaas.resource_operations import run_cloud_pull

    run_cloud_pull(rival_cloud)
    flavor = rival_cloud.flavors.order_by("ram").first()
    rival_vm = provision(rival_admin, membership, iaas.template, flavor, "rival-vm")
    return alpha, rival_vm, rival_project


RIVAL_NAMES = ("Rival Corp", "Rival Project", "Rival Cloud", "rival-vm", "rival-admin")


def assert_no_rival(browser):
    """Nothing of the rival customer on the page."""
    text = browser.text("body")
    assert not [name for name in RIVAL_NAMES if name in text], text


def test_project_admin_sees_only_his_customer(two_customers, roles, login, browser):
    alpha, rival_vm, rival_project = two_customers
    login(roles.users["admin"])
    browser.wait_text(roles.project.name)
    assert_no_rival(browser)
    browser.go(f"#/projects/{roles.project.uuid}")
    browser.wait_text("alpha-vm", css="#instances")
    assert [r.get_attribute("data-uuid") for r in browser.all("#instances tbody tr")] == [str(alpha.uuid)]
    assert_no_rival(browser)

    # Typed URLs of the rival's objects answer "not found", never their content.
    browser.go(f"#/instances/{rival_vm.uuid}")
    browser.wait_text("Not found")
    assert_no_rival(browser)
    browser.go(f"#/projects/{rival_project.uuid}")
    browser.wait_text("Not found")
    assert_no_rival(browser)
    browser.go(f"#/projects/{rival_project.uuid}/new")
    browser.wait_text("Not found")
    assert_no_rival(browser)
    assert Instance.objects.count() == 2


def test_owner_sees_only_his_clouds(two_customers, roles, login, browser):
    login(roles.users["owner"])
    browser.click("a[href='#/clouds']")
    browser.wait_text("Cloud", css="section[aria-labelledby='clouds-title'] tbody")
    browser.wait_text(roles.project.name, css="section[aria-labelledby='members-title'] tbody")
    assert [o.text for o in browser.all("select[name='customer'] option")] == [roles.customer.name]
    assert_no_rival(browser)
    browser.go("#/")
    browser.wait_text(roles.project.name)
    assert_no_rival(browser)


def test_rival_admin_sees_only_his_instance(two_customers, login, browser):
    alpha, rival_vm, rival_project = two_customers
    from nodeconductor.core.models import User

    login(User.objects.get(username="rival-admin"))
    browser.go(f"#/projects/{rival_project.uuid}")
    browser.wait_text("rival-vm", css="#instances")
    assert "alpha-vm" not in browser.text("body")
    browser.go(f"#/instances/{alpha.uuid}")
    browser.wait_text("Not found")
    assert "alpha-vm" not in browser.text("body")
