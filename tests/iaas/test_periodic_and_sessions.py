"""The periodic pull takes up what was left behind, and sessions work with every kind of Keystone URL."""

from datetime import timedelta

import pytest
from django.utils import timezone

from nodeconductor.iaas.backend.session import clear_sessions
from nodeconductor.iaas.models import Cloud, CloudProjectMembership, SyncState
from nodeconductor.iaas.tasks import pull_cloud_accounts, resume_stalled_work

pytestmark = pytest.mark.django_db(transaction=True)


def age(obj, hours=0, seconds=0):
    """Pretend a row was last changed some time ago."""
    type(obj).objects.filter(pk=obj.pk).update(modified=timezone.now() - timedelta(hours=hours, seconds=seconds))


def test_rows_made_in_the_shell_are_taken_up_within_seconds(roles, sim_env, settings):
    assert settings.NODECONDUCTOR["SYNC_PICKUP_DELAY"] == 5
    assert settings.CELERY_BEAT_SCHEDULE["resume-stalled-work"]["schedule"] == 5
    cloud = Cloud.objects.create(customer=roles.customer, name="shell", auth_url=sim_env.credentials["auth_url"])
    membership = CloudProjectMembership.objects.create(project=roles.project, cloud=cloud, tenant_id=sim_env.tenant_id)
    assert cloud.state == membership.state == SyncState.SYNC_SCHEDULED
    assert resume_stalled_work() == 0  # fresh rows: their tasks may still be queued, so they are left alone
    cloud.refresh_from_db()
    assert cloud.state == SyncState.SYNC_SCHEDULED
    age(cloud, seconds=6), age(membership, seconds=6)
    assert resume_stalled_work() == 2
    cloud.refresh_from_db(), membership.refresh_from_db()
    assert (cloud.state, membership.state) == (SyncState.IN_SYNC, SyncState.IN_SYNC)
    assert cloud.flavors.count() == 3
    assert membership.quota_vcpu >= 0


def test_a_sync_whose_worker_died_is_retried(roles, sim_env, settings):
    cloud = Cloud.objects.create(customer=roles.customer, name="lost", auth_url=sim_env.credentials["auth_url"])
    cloud.begin_syncing()
    cloud.save()
    lease = settings.NODECONDUCTOR["OPERATION_STEP_LEASE"]
    age(cloud, seconds=lease - 10)
    assert resume_stalled_work() == 0  # still within the lease: its worker may be at it
    cloud.refresh_from_db()
    assert cloud.state == SyncState.SYNCING
    age(cloud, seconds=lease + 1)
    assert resume_stalled_work() == 1
    cloud.refresh_from_db()
    assert cloud.state == SyncState.IN_SYNC and cloud.error_message == ""


def test_an_erred_membership_is_retried_and_recovers(roles, sim_env):
    cloud = Cloud.objects.create(customer=roles.customer, name="c", auth_url=sim_env.credentials["auth_url"])
    membership = CloudProjectMembership.objects.create(project=roles.project, cloud=cloud, tenant_id=sim_env.tenant_id)
    membership.set_erred("the cloud was down")
    membership.save()
    age(membership)
    pull_cloud_accounts()
    membership.refresh_from_db()
    assert membership.state == SyncState.IN_SYNC and membership.error_message == ""


@pytest.mark.parametrize("suffix", ["/v3", "", "/v2.0"])
def test_keystone_v3_unversioned_and_v2_urls_all_work(roles, cloudsim, settings, suffix):
    auth_url = cloudsim.base_url + suffix
    credentials = {"auth_url": auth_url, "username": "admin", "password": "admin", "tenant_name": "admin"}
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_CREDENTIALS": (credentials,)}
    clear_sessions()
    cloud = Cloud.objects.create(customer=roles.customer, name="c", auth_url=auth_url)
    diff = cloud.get_backend().pull_cloud_account(cloud)
    assert "+ flavor m1.tiny (1)" in diff.lines()
    clear_sessions()


def test_one_session_per_tenant_is_reused_across_calls(roles, sim_env):
    cloud = Cloud.objects.create(customer=roles.customer, name="c", auth_url=sim_env.credentials["auth_url"])
    sim_env.sim.clear_call_log()
    for _ in range(3):
        cloud.get_backend().pull_cloud_account(cloud)
    assert sim_env.sim.call_counts()["identity.auth"] == 1
    assert sim_env.sim.call_counts()["compute.flavor_list"] == 3


def test_wrong_password_is_a_readable_error_without_the_password(roles, cloudsim, settings):
    from nodeconductor.iaas.backend import CloudBackendError

    credentials = {"auth_url": cloudsim.auth_url, "username": "admin", "password": "s3cret-Wrong"}
    credentials["tenant_name"] = "admin"
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_CREDENTIALS": (credentials,)}
    clear_sessions()
    cloud = Cloud.objects.create(customer=roles.customer, name="c", auth_url=cloudsim.auth_url)
    with pytest.raises(CloudBackendError) as error:
        cloud.get_backend().pull_cloud_account(cloud)
    assert "list flavors failed" in str(error.value) and "s3cret-Wrong" not in str(error.value)
    clear_sessions()
