"""Instance admin: read-only state, no bare add or delete, and actions through the API's services."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from nodeconductor.core.models import User
from nodeconductor.iaas.engine import operations
from nodeconductor.iaas.models import Instance, InstanceState
from tests.iaas.backend.test_instances import force_state, make_instance, run

pytestmark = pytest.mark.django_db(transaction=True)
S = InstanceState
CHANGELIST = "admin:iaas_instance_changelist"


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "Admin-Pass-123", is_staff=True))
    return client


@pytest.fixture
def online(iaas):
    """A provisioned instance."""
    instance = run(operations.PROVISION, make_instance(iaas), backend_flavor_id=iaas.flavor.backend_id)
    assert instance.state == S.ONLINE
    return instance


def act(client, action, *instances):
    """Run an admin action on instances (on-commit callbacks executed) and return the messages."""
    response = client.post(
        reverse(CHANGELIST), {"action": action, "_selected_action": [i.pk for i in instances]}, follow=True
    )
    assert response.status_code == 200
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_state_and_error_message_are_read_only_and_rows_are_not_added_or_deleted_bare(admin_client, online):
    page = admin_client.get(reverse("admin:iaas_instance_change", args=[online.pk]))
    assert page.status_code == 200
    form_fields = page.context["adminform"].form.fields
    assert set(form_fields) == {"hostname", "description"}
    assert admin_client.get(reverse("admin:iaas_instance_add")).status_code == 403
    assert admin_client.get(reverse("admin:iaas_instance_delete", args=[online.pk])).status_code == 403


def test_stop_and_start_actions_go_through_the_services(admin_client, online, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        messages = act(admin_client, "stop_instances", online)
    assert "Stop was scheduled for 1 instance(s)." in messages
    online.refresh_from_db()
    assert online.state == S.OFFLINE
    # A stopped VM cannot be stopped again: the service's 409 message is shown, nothing is scheduled.
    messages = act(admin_client, "stop_instances", online)
    assert any("Only an Online instance can be stopped" in m for m in messages)
    with django_capture_on_commit_callbacks(execute=True):
        act(admin_client, "start_instances", online)
    online.refresh_from_db()
    assert online.state == S.ONLINE


def test_delete_action_removes_the_vm_and_its_volumes(admin_client, iaas, online, django_capture_on_commit_callbacks):
    force_state(online, S.STOPPING_SCHEDULED)
    run(operations.STOP, online)
    with django_capture_on_commit_callbacks(execute=True):
        act(admin_client, "delete_instances", online)
    assert not Instance.objects.filter(pk=online.pk).exists()
    assert iaas.env.sim.servers() == [] and iaas.env.sim.volumes() == []


def test_reconcile_schedules_a_pull_that_recovers_a_healthy_erred_vm(admin_client, online):
    instance = Instance.objects.get(pk=online.pk)
    instance.set_erred("transient")
    instance.save()
    messages = act(admin_client, "reconcile_instances", instance)
    cloud = instance.cloud_project_membership.cloud
    assert messages == [f"A pull was scheduled for {cloud.name} to reconcile its instances; its outcome shows in the "
                        "cloud's state and last pulled time."]
    instance.refresh_from_db()  # the pull ran on commit (the tests' Celery is eager)
    assert (instance.state, instance.error_message) == (S.ONLINE, "")
