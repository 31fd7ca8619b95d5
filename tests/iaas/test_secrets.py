"""Cloud passwords never appear in API answers, logs, events or error messages."""

import logging

import pytest

from nodeconductor.events.models import Event
from nodeconductor.iaas.backend import CloudBackendError
from nodeconductor.iaas.backend.session import clear_sessions
from nodeconductor.iaas.engine import operations
from nodeconductor.iaas.models import Cloud, CloudProjectMembership, Image, Instance, SyncState, Template
from nodeconductor.iaas.resource_operations import run_cloud_pull
from nodeconductor.iaas.tasks import sync_cloud_membership
from tests.iaas.backend.test_instances import run

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "Sup3r-Secret-Passw0rd"


def test_no_password_in_logs_events_errors_or_api(roles, cloudsim, settings, caplog):
    caplog.set_level(logging.DEBUG)
    # The simulator's admin password is "admin": with this one every call fails to authenticate.
    credentials = {"auth_url": cloudsim.auth_url, "username": "admin", "password": SECRET, "tenant_name": "admin"}
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_CREDENTIALS": (credentials,)}
    clear_sessions()
    cloud = Cloud.objects.create(customer=roles.customer, name="c", auth_url=cloudsim.auth_url)
    with pytest.raises(CloudBackendError):
        run_cloud_pull(cloud)
    cloud.refresh_from_db()
    membership = CloudProjectMembership.objects.create(project=roles.project, cloud=cloud, tenant_id="f" * 32)
    sync_cloud_membership(str(membership.uuid))
    membership.refresh_from_db()
    template = Template.objects.create(name="t", is_active=True)
    Image.objects.create(cloud=cloud, template=template, backend_id="img")
    instance = Instance.objects.create(
        hostname="h", template=template, cloud_project_membership=membership, system_volume_size=1024
    )
    instance = run(operations.PROVISION, instance, backend_flavor_id="1")
    assert (cloud.state, membership.state, instance.state) == (SyncState.ERRED, SyncState.ERRED, "erred")

    staff = roles.client_as("staff")
    bodies = [
        roles.client_as("owner").get(f"/api/clouds/{cloud.uuid}/").content,
        staff.get("/api/clouds/").content,
        staff.get("/api/project-cloud-memberships/").content,
        staff.get("/api/instances/").content,
        staff.get("/api/events/").content,
    ]
    assert all(SECRET.encode() not in body for body in bodies)
    texts = [cloud.error_message, membership.error_message, instance.error_message]
    texts += [f"{e.message} {e.context}" for e in Event.objects.all()]
    assert all(text and SECRET not in text for text in texts[:3]) and all(SECRET not in t for t in texts)
    assert SECRET not in caplog.text
    assert "failed" in caplog.text  # the failures were logged, only without the secret
    clear_sessions()
