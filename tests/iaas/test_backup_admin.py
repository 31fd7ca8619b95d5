"""Backup admin: no bare add or delete (a deleted row would orphan its snapshots), read-only snapshots and states,
and a delete action through the API's service that removes the snapshots in the cloud."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from nodeconductor.core.models import User
from nodeconductor.iaas.models import Backup, BackupSchedule
from tests.iaas.views.test_backup_schedules import make_schedule
from tests.iaas.views.test_backups import make_backup, take
from tests.iaas.views.test_instances import make_instance, provision

CHANGELIST = "admin:iaas_backup_changelist"


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "Admin-Pass-123", is_staff=True))
    return client


def test_backups_are_read_only_and_deleted_only_with_their_snapshots(iaas, roles, admin_client,
                                                                      django_capture_on_commit_callbacks):  # fmt: skip
    instance = provision(iaas, roles)
    backup = Backup.objects.get(uuid=take(roles, instance).json()["uuid"])
    page = admin_client.get(reverse("admin:iaas_backup_change", args=[backup.pk]))
    assert page.status_code == 200
    assert set(page.context["adminform"].form.fields) == {"description", "kept_until"}
    assert admin_client.get(reverse("admin:iaas_backup_add")).status_code == 403
    assert admin_client.get(reverse("admin:iaas_backup_delete", args=[backup.pk])).status_code == 403
    assert admin_client.get(reverse(CHANGELIST)).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse(CHANGELIST), {"action": "delete_backups", "_selected_action": [backup.pk]},
                                     follow=True)  # fmt: skip
    assert response.status_code == 200
    assert "Deletion was scheduled for 1 backup(s)." in [str(m) for m in get_messages(response.wsgi_request)]
    assert not Backup.objects.exists() and iaas.env.sim.snapshots() == []


def test_a_backup_not_at_rest_is_refused_with_the_apis_words(iaas, admin_client):
    backup = make_backup(iaas, state="backing_up")
    response = admin_client.post(reverse(CHANGELIST), {"action": "delete_backups", "_selected_action": [backup.pk]},
                                 follow=True)  # fmt: skip
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("Only a Ready or Erred backup can be deleted; the backup is Backing up." in m for m in messages)
    assert Backup.objects.get().state == "backing_up"


def test_schedules_are_listed_and_not_added_bare(iaas, admin_client):
    schedule = make_schedule(make_instance(iaas))
    assert admin_client.get(reverse("admin:iaas_backupschedule_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:iaas_backupschedule_add")).status_code == 403
    page = admin_client.get(reverse("admin:iaas_backupschedule_change", args=[schedule.pk]))
    assert page.status_code == 200 and "schedule" not in page.context["adminform"].form.fields
    assert BackupSchedule.objects.count() == 1
