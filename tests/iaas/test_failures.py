"""A task that fails for a reason other than the cloud's leaves its row Erred with the reason, never stuck.

Security issue 27, finding 6: the workers caught only CloudBackendError, so an OverflowError (or any bug) left
the cloud, the membership, the security group or the instance in its working state for good, refusing every
later request with 409 (or, for those the sweeper takes up, failing the same way after every lease). In each
test the simulated cloud answers normally and one of our own functions raises inside the work; the row must end
Erred with "Unexpected error: <type>: <message>" (no traceback, which goes to the log), and the next request
must be accepted.
"""

import logging
import time
from unittest import mock

import pytest

from nodeconductor.iaas import resource_operations, security_group_sync, tasks
from nodeconductor.iaas.backend.instance_actions import InstanceActionsMixin
from nodeconductor.iaas.engine import operation_table
from nodeconductor.iaas.models import (
    Cloud,
    CloudProjectMembership,
    Instance,
    InstanceState,
    SecurityGroup,
    SecurityGroupState,
    SyncState,
)
from nodeconductor.iaas.models.security_groups import InstanceSecurityGroup
from nodeconductor.iaas.services import clouds as cloud_services
from nodeconductor.iaas.services import instances as instance_services
from nodeconductor.iaas.services import security_groups as group_services
from tests.iaas.test_floating_ips_worker import act, events_of, tenant_fips
from tests.iaas.test_instance_network import net_iaas  # noqa: F401 - fixture
from tests.iaas.views.test_instances import create_body, make_instance, provision, run_tasks, sim_ids

BUG = OverflowError("Python int too large to convert to SQLite INTEGER")
REASON = "Unexpected error: OverflowError: Python int too large to convert to SQLite INTEGER"
SSH = {"protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "0.0.0.0/0"}
S = InstanceState
G = SecurityGroupState


def logged_with_traceback(caplog, text):
    """The error records that name `text` and carry the traceback (which the row never shows)."""
    return [r for r in caplog.records if r.levelno >= logging.ERROR and text in r.getMessage()
            and "Traceback (most recent call last)" in r.getMessage()]


def test_a_cloud_pull_that_fails_unexpectedly_ends_erred_and_is_pulled_again(iaas, caplog):
    # gib_to_mib converts the images' min_disk and the tenants' storage quota of every pull
    with mock.patch("nodeconductor.iaas.backend.openstack.gib_to_mib", side_effect=BUG), run_tasks():
        cloud_services.cloud_schedule_pull(iaas.cloud)
    cloud = Cloud.objects.get(pk=iaas.cloud.pk)
    assert (cloud.state, cloud.error_message) == (SyncState.ERRED, REASON)
    assert logged_with_traceback(caplog, f"Pull of the cloud {cloud.name}")
    with run_tasks():
        cloud_services.cloud_schedule_pull(cloud)
    cloud.refresh_from_db()
    assert (cloud.state, cloud.error_message) == (SyncState.IN_SYNC, "")


def test_one_tenant_that_fails_unexpectedly_in_a_pull_stops_no_other_tenant(iaas, roles, caplog):
    from nodeconductor.iaas.pull import instances as pull

    instance = provision(iaas, roles)
    other = CloudProjectMembership.objects.create(
        project=roles.customer.projects.create(name="Broken first"), cloud=iaas.cloud, tenant_id="broken"
    )
    CloudProjectMembership.objects.filter(pk=other.pk).update(state=SyncState.IN_SYNC)
    backend, tenant = iaas.cloud.get_backend(), iaas.membership.tenant_id
    backend.nova(tenant).servers.stop(instance.backend_id)  # behind our back: the pull should find it Offline
    for _ in range(200):
        if backend.list_servers(tenant)[instance.backend_id] == {"status": "SHUTOFF", "task_state": None, "fault": ""}:
            break
        time.sleep(0.02)
    real = pull.pull_instances

    def broken_for_one(backend, membership, only=None):
        if membership.pk == other.pk:
            raise BUG
        return real(backend, membership, only)

    with mock.patch.object(resource_operations, "pull_instances", broken_for_one):
        diff = resource_operations.run_cloud_pull(iaas.cloud)
    instance.refresh_from_db()
    assert instance.state == S.OFFLINE
    assert f"instance {instance.hostname}: recover_offline" in diff.updated
    assert logged_with_traceback(caplog, f"Pull of instances in {other}")


def test_a_membership_sync_that_fails_unexpectedly_ends_erred_and_syncs_again(iaas, roles, caplog):
    membership = iaas.membership
    with mock.patch("nodeconductor.iaas.backend.openstack.gib_to_mib", side_effect=BUG), run_tasks():
        cloud_services.membership_schedule_sync(membership)
    membership.refresh_from_db()
    assert (membership.state, membership.error_message) == (SyncState.ERRED, REASON)
    assert logged_with_traceback(caplog, f"Sync of the membership {membership}")
    with run_tasks():
        response = roles.client_as("owner").post(roles.url("cloudprojectmembership", membership) + "sync/")
    assert response.status_code == 202 and response.json() == {"status": "sync was scheduled"}
    membership.refresh_from_db()
    assert (membership.state, membership.error_message) == (SyncState.IN_SYNC, "")


def test_a_security_group_push_that_fails_unexpectedly_ends_erred_and_is_pushed_again(iaas, caplog):
    # diff_key matches the rules Neutron answered with ours, after the push
    with mock.patch.object(resource_operations, "diff_key", side_effect=BUG), run_tasks():
        group = group_services.group_create(iaas.membership, "web", [SSH], in_request=False)
    group.refresh_from_db()
    assert (group.state, group.error_message) == (G.ERRED, REASON)
    assert logged_with_traceback(caplog, f"Push of the security group {group.name}")
    with run_tasks():  # the next pull pushes an Erred group again
        security_group_sync.reconcile_cloud(iaas.cloud)
    group.refresh_from_db()
    assert (group.state, group.error_message) == (G.IN_SYNC, "")


def test_a_security_group_deletion_that_fails_unexpectedly_ends_erred(iaas, caplog):
    with run_tasks():
        group = group_services.group_create(iaas.membership, "web", [SSH], in_request=False)
    group.refresh_from_db()
    assert group.state == G.IN_SYNC, group.error_message
    with run_tasks() as sent:
        group_services.group_delete(group)
        # Between the request and the worker an instance got the group (the database protects the row).
        InstanceSecurityGroup.objects.create(instance=make_instance(iaas), group=group)
    assert sent, "the deletion was sent"
    group.refresh_from_db()
    assert group.state == G.ERRED
    assert group.error_message.startswith("Unexpected error: ProtectedError: Cannot delete some instances of model")
    assert "Traceback" not in group.error_message and "{" not in group.error_message
    assert logged_with_traceback(caplog, f"Deletion of the security group {group.name}")
    assert SecurityGroup.objects.filter(pk=group.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_a_floating_ip_change_that_fails_unexpectedly_ends_with_a_failed_event(net_iaas, roles, caplog):  # noqa: F811
    instance = provision(net_iaas, roles)
    with mock.patch.object(operation_table, "external_ips_of", side_effect=BUG):
        response = act(roles, instance, "assign_floating_ip")
    assert response.status_code == 202, response.json()
    instance.refresh_from_db()
    assert instance.operation_token == "", "the operation ended, so the sweeper does not run it again and again"
    assert instance.state == S.ONLINE
    assert events_of(instance, "instance_assign_floating_ip") == ["instance_assign_floating_ip_scheduled",
        "instance_assign_floating_ip_step_done", "instance_assign_floating_ip_failed"]  # fmt: skip
    assert logged_with_traceback(caplog, f"Step 0 of assign_floating_ip of instance {instance.uuid}")
    assert tasks.resume_stalled_work() == 0
    # The IP the cloud gave before the failure is found, not allocated twice, by the next assign.
    assert act(roles, instance, "assign_floating_ip").status_code == 202
    instance.refresh_from_db()
    (fip,) = tenant_fips(net_iaas.env.sim, net_iaas.membership)
    assert instance.external_ips == fip["floating_ip_address"] and instance.operation_token == ""


def test_an_instance_operation_that_fails_unexpectedly_ends_erred(iaas, roles, caplog):
    instance = provision(iaas, roles)
    assert instance.state == S.ONLINE, instance.error_message
    with mock.patch.object(InstanceActionsMixin, "_power_changes", side_effect=BUG), run_tasks():
        instance_services.instance_stop(instance, roles.users["admin"])
    instance.refresh_from_db()
    assert (instance.state, instance.error_message) == (S.ERRED, REASON)
    assert instance.operation_token == "" and instance.operation_lease_until is None
    assert logged_with_traceback(caplog, f"of stop of instance {instance.uuid} failed unexpectedly")
    from nodeconductor.events.models import Event

    failed = Event.objects.get(event_type="instance_stop_failed", resource_uuid=instance.uuid)
    assert failed.message.endswith(REASON)


def test_a_provision_that_fails_unexpectedly_removes_what_it_made_and_ends_erred(iaas, roles):
    sim = iaas.env.sim
    before = sim_ids(sim)
    # _ips reads the addresses of the ACTIVE server: the volumes and the server exist by then
    with mock.patch("nodeconductor.iaas.backend.instances._ips", side_effect=BUG), run_tasks():
        response = roles.client_as("admin").post("/api/instances/", create_body(iaas), format="json")
    assert response.status_code == 201, response.json()
    instance = Instance.objects.get(uuid=response.json()["uuid"])
    assert (instance.state, instance.error_message) == (S.ERRED, REASON)
    assert (instance.backend_id, instance.system_volume_id, instance.data_volume_id) == ("", "", "")
    assert sim_ids(sim) == before, "the compensation deleted the server and both volumes"


def test_the_reason_masks_secrets_and_is_short(settings):
    from nodeconductor.iaas.failures import reason

    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_CREDENTIALS": (
        {"auth_url": "http://keystone:5000/v3", "username": "admin", "password": "s3cr3t-pw", "tenant_name": "a"},)}
    text = reason(RuntimeError("login with s3cr3t-pw failed\n" + "x" * 2000))
    assert text.startswith("Unexpected error: RuntimeError: login with *** failed xxx") and len(text) == 500
    assert "s3cr3t-pw" not in text and "\n" not in text
    assert reason(KeyError("quota_ram")) == "Unexpected error: KeyError: quota_ram"
    assert reason(ValueError()) == "Unexpected error: ValueError"


def test_the_log_has_the_traceback_with_the_secrets_masked(settings, caplog):
    from nodeconductor.iaas.failures import log

    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_CREDENTIALS": (
        {"auth_url": "http://keystone:5000/v3", "username": "admin", "password": "s3cr3t-pw", "tenant_name": "a"},)}
    try:
        raise RuntimeError("login with s3cr3t-pw failed")
    except RuntimeError as exc:
        log(exc, "Pull of cloud C")
    assert logged_with_traceback(caplog, "Pull of cloud C failed unexpectedly: RuntimeError: login with *** failed")
    assert "s3cr3t-pw" not in caplog.text and "test_failures.py" in caplog.text


def test_a_membership_row_with_no_task_left_is_not_touched_twice(iaas):
    """A redelivered sync message after the failure finds the row Erred and does nothing."""
    membership = iaas.membership
    with mock.patch("nodeconductor.iaas.backend.openstack.gib_to_mib", side_effect=BUG), run_tasks():
        cloud_services.membership_schedule_sync(membership)
    before = CloudProjectMembership.objects.values("state", "error_message", "modified").get(pk=membership.pk)
    tasks.sync_cloud_membership(str(membership.uuid))
    assert CloudProjectMembership.objects.values("state", "error_message", "modified").get(pk=membership.pk) == before
    assert before["state"] == SyncState.ERRED
