"""Admin of iaas: every page renders, states are read-only, the pull and sync actions work on the simulator."""

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from nodeconductor.core.models import User
from nodeconductor.iaas.models import (
    Cloud,
    CloudProjectMembership,
    Flavor,
    FloatingIP,
    Image,
    Instance,
    SecurityGroup,
    SecurityGroupRule,
    SyncState,
    Template,
    TemplateLicense,
)
from tests import factories as base
from tests.iaas import factories

MODELS = {
    "cloud": Cloud,
    "cloudprojectmembership": CloudProjectMembership,
    "flavor": Flavor,
    "template": Template,
    "image": Image,
    "templatelicense": TemplateLicense,
    "instance": Instance,
    "securitygroup": SecurityGroup,
    "floatingip": FloatingIP,
}


@pytest.fixture
def admin(client, db):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "Admin-Pass-123", is_staff=True))
    return client


def populate():
    instance = factories.InstanceFactory(flavor=None)
    membership = instance.cloud_project_membership
    flavor = factories.FlavorFactory(cloud=membership.cloud)
    image = factories.ImageFactory(cloud=membership.cloud, template=instance.template)
    factories.TemplateMappingFactory(template=instance.template)
    licence = factories.TemplateLicenseFactory()
    licence.templates.add(instance.template)
    group = SecurityGroup.objects.create(membership=membership, name="ssh")
    SecurityGroupRule.objects.create(group=group, protocol="tcp", from_port=22, to_port=22, backend_id="r-1")
    fip = FloatingIP.objects.create(membership=membership, backend_id=f"fip-{instance.pk}",
                                    address=f"203.0.113.{instance.pk % 250 + 1}", instance=instance)  # fmt: skip
    return {
        "securitygroup": group,
        "floatingip": fip,
        "cloud": membership.cloud,
        "cloudprojectmembership": membership,
        "flavor": flavor,
        "template": instance.template,
        "image": image,
        "templatelicense": licence,
        "instance": instance,
    }


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("model", MODELS)
def test_changelist_and_change_pages_render(admin, model):
    objects = populate()
    assert admin.get(reverse(f"admin:iaas_{model}_changelist")).status_code == 200
    assert admin.get(reverse(f"admin:iaas_{model}_change", args=[objects[model].pk])).status_code == 200
    assert admin.get(reverse(f"admin:iaas_{model}_changelist"), {"q": "x"}).status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_changelist_query_count_does_not_grow(admin, model):
    populate()
    url = reverse(f"admin:iaas_{model}_changelist")
    with CaptureQueriesContext(connection) as one:
        admin.get(url)
    for _ in range(4):
        populate()
    with CaptureQueriesContext(connection) as five:
        assert admin.get(url).status_code == 200
    assert len(five) == len(one), [q["sql"] for q in five.captured_queries]


def test_state_and_error_message_are_read_only(admin):
    objects = populate()
    for model in ("cloud", "cloudprojectmembership", "instance"):
        page = admin.get(reverse(f"admin:iaas_{model}_change", args=[objects[model].pk])).content.decode()
        assert 'name="state"' not in page and 'name="error_message"' not in page, model


def test_adding_a_cloud_schedules_its_pull(admin, sim_env, django_capture_on_commit_callbacks):
    customer = base.CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            reverse("admin:iaas_cloud_add"),
            {"customer": customer.pk, "name": "Sim", "auth_url": sim_env.credentials["auth_url"],
             "storage_monthly_fee": "0"},
        )
    assert response.status_code == 302, response.content.decode()[-2000:]
    cloud = Cloud.objects.get(name="Sim")
    assert cloud.state == SyncState.IN_SYNC and cloud.flavors.count() == 3


def test_adding_a_cloud_without_credentials_shows_the_configured_urls(admin, sim_env):
    customer = base.CustomerFactory()
    response = admin.post(
        reverse("admin:iaas_cloud_add"), {"customer": customer.pk, "name": "X", "auth_url": "http://nowhere/v3"}
    )
    assert response.status_code == 200
    assert sim_env.credentials["auth_url"] in response.content.decode()
    assert not Cloud.objects.exists()


def test_pull_action_schedules_and_the_request_calls_no_cloud(admin, sim_env, cloudsim,
                                                              django_capture_on_commit_callbacks):
    good = factories.CloudFactory(name="Good", auth_url=sim_env.credentials["auth_url"])
    bad = factories.CloudFactory(name="Bad", auth_url=sim_env.credentials["auth_url"])
    busy = factories.CloudFactory(name="Busy", auth_url=sim_env.credentials["auth_url"], state=SyncState.SYNCING)
    before = len(cloudsim.call_log)
    with django_capture_on_commit_callbacks(execute=False) as sends:
        response = admin.post(
            reverse("admin:iaas_cloud_changelist"),
            {"action": "pull_selected", "_selected_action": [good.pk, bad.pk, busy.pk]},
            follow=True,
        )
    assert response.status_code == 200
    assert cloudsim.call_log[before:] == []  # the request only scheduled
    shown = messages_of(response)
    assert "A pull was scheduled for Bad, Good; its outcome shows in the cloud's state and last pulled time." in shown
    assert "Busy: A pull of this cloud is already syncing; wait for it." in shown
    assert {c.name: c.state for c in Cloud.objects.all()} == {
        "Good": SyncState.SYNC_SCHEDULED, "Bad": SyncState.SYNC_SCHEDULED, "Busy": SyncState.SYNCING}
    assert len(sends) == 2
    # The worker's pulls (eager here), sent in the order of the names: Bad's takes the fault and shows its message.
    cloudsim.fail_next("compute.flavor_list", status=500, message="nova-api exploded")
    for send in sends:
        send()
    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.state == SyncState.ERRED and "nova-api exploded" in bad.error_message
    assert good.state == SyncState.IN_SYNC and good.flavors.count() == 3


def test_reconcile_action_schedules_a_pull_of_the_instances_clouds(admin, sim_env, cloudsim,
                                                                   django_capture_on_commit_callbacks):
    cloud = factories.CloudFactory(name="Sim", auth_url=sim_env.credentials["auth_url"])
    membership = factories.MembershipFactory(cloud=cloud, tenant_id=sim_env.tenant_id)
    one, two = factories.InstanceFactory.create_batch(2, cloud_project_membership=membership)
    before = len(cloudsim.call_log)
    with django_capture_on_commit_callbacks(execute=False) as sends:
        response = admin.post(reverse("admin:iaas_instance_changelist"),
                              {"action": "reconcile_instances", "_selected_action": [one.pk, two.pk]}, follow=True)
    assert response.status_code == 200
    assert cloudsim.call_log[before:] == []
    assert messages_of(response) == ["A pull was scheduled for Sim to reconcile its instances; its outcome shows "
                                     "in the cloud's state and last pulled time."]
    assert (len(sends), Cloud.objects.get(pk=cloud.pk).state) == (1, SyncState.SYNC_SCHEDULED)


def test_sync_action_schedules_memberships(admin, sim_env, django_capture_on_commit_callbacks):
    cloud = factories.CloudFactory(auth_url=sim_env.credentials["auth_url"])
    ready = factories.MembershipFactory(cloud=cloud, tenant_id=sim_env.tenant_id, state=SyncState.ERRED)
    busy = factories.MembershipFactory(cloud=cloud, state=SyncState.SYNCING)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(
            reverse("admin:iaas_cloudprojectmembership_changelist"),
            {"action": "sync_selected", "_selected_action": [ready.pk, busy.pk]},
            follow=True,
        )
    shown = messages_of(response)
    assert "Sync was scheduled for 1 membership(s)." in shown
    assert any("wait for it to finish" in m for m in shown)
    assert CloudProjectMembership.objects.get(pk=ready.pk).state == SyncState.IN_SYNC


def test_deleting_a_cloud_with_memberships_is_refused(admin):
    membership = factories.MembershipFactory()
    url = reverse("admin:iaas_cloud_delete", args=[membership.cloud.pk])
    response = admin.post(url, {"post": "yes"})
    assert response.status_code == 200
    assert "protected" in response.content.decode().lower()
    assert Cloud.objects.filter(pk=membership.cloud.pk).exists()


def test_template_mappings_are_edited_inline(admin):
    template = factories.TemplateFactory(name="Debian")
    url = reverse("admin:iaas_template_change", args=[template.pk])
    data = {
        "name": "Debian",
        "description": "",
        "icon_url": "",
        "os": "Debian 12",
        "os_type": "Linux",
        "is_active": "on",
        "sla_level": "",
        "setup_fee": "0",
        "monthly_fee": "0",
        "mappings-TOTAL_FORMS": "1",
        "mappings-INITIAL_FORMS": "0",
        "mappings-MIN_NUM_FORMS": "0",
        "mappings-MAX_NUM_FORMS": "1000",
        "mappings-0-backend_image_id": "img-42",
        "mappings-0-description": "amd64",
    }
    response = admin.post(url, data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    assert list(template.mappings.values_list("backend_image_id", "description")) == [("img-42", "amd64")]


@pytest.mark.parametrize("model", ["securitygroup", "floatingip"])
def test_networking_objects_are_shown_read_only(admin, model):
    """Groups and floating IPs change through the API and the cloud: the admin shows them, and refuses to add,
    edit or delete one."""
    objects = populate()
    assert admin.get(reverse(f"admin:iaas_{model}_add")).status_code == 403
    change = reverse(f"admin:iaas_{model}_change", args=[objects[model].pk])
    page = admin.get(change).content.decode()
    shown = {"securitygroup": ["ssh", "r-1"], "floatingip": [objects["floatingip"].address]}[model]
    assert all(text in page for text in shown)
    before = MODELS[model].objects.values().get(pk=objects[model].pk)
    edit = {"name": "edited", "address": "198.51.100.7", "backend_id": "edited", "state": "erred"}
    assert admin.post(change, edit).status_code == 403
    delete = reverse(f"admin:iaas_{model}_delete", args=[objects[model].pk])
    assert admin.post(delete, {"post": "yes"}).status_code == 403
    assert MODELS[model].objects.values().get(pk=objects[model].pk) == before


def test_staff_set_the_network_quotas_of_a_membership(admin):
    """The limits on groups, rules and floating IPs are set on the membership's page, and nothing else moves."""
    membership = populate()["cloudprojectmembership"]
    change = reverse("admin:iaas_cloudprojectmembership_change", args=[membership.pk])
    form = {"project": membership.project.pk, "cloud": membership.cloud.pk, "tenant_id": membership.tenant_id,
            "quota_security_group_count": 6, "quota_security_group_rule_count": 40, "quota_floating_ip_count": 2,
            "quota_snapshot_storage": 51200}
    response = admin.post(change, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    membership.refresh_from_db()
    assert (membership.quota_security_group_count, membership.quota_security_group_rule_count,
            membership.quota_floating_ip_count, membership.quota_snapshot_storage) == (6, 40, 2, 51200)  # fmt: skip
