"""`manage.py pull_cloud_accounts [uuid ...] [--dry-run]` against the simulator."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from nodeconductor.iaas.models import Cloud, Flavor, SyncState
from tests.iaas import factories


@pytest.fixture
def clouds(roles, sim_env):
    """Two never-pulled clouds on the simulator."""
    return [
        factories.CloudFactory(customer=roles.customer, name=name, auth_url=sim_env.credentials["auth_url"],
                               state=SyncState.SYNC_SCHEDULED)
        for name in ("Alpha", "Beta")
    ]


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("pull_cloud_accounts", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_pulls_every_cloud_and_prints_each_diff(clouds):
    out, err = run()
    assert err == ""
    assert f"Alpha ({clouds[0].customer.name}, {clouds[0].uuid.hex}):" in out
    assert out.count("  + flavor m1.tiny (1)") == 2
    for cloud in clouds:
        cloud = Cloud.objects.get(pk=cloud.pk)
        assert cloud.state == SyncState.IN_SYNC and cloud.flavors.count() == 3
    out, _ = run(str(clouds[0].uuid))
    assert "Alpha" in out and "Beta" not in out and "  no changes" in out


def test_dry_run_prints_but_writes_nothing(clouds):
    with CaptureQueriesContext(connection) as ctx:
        out, _ = run("--dry-run", clouds[1].uuid.hex)
    assert "Beta" in out and "[dry run]" in out and "  + flavor m1.small (2)" in out
    assert [q["sql"] for q in ctx.captured_queries if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")] == []
    assert not Flavor.objects.exists()
    assert Cloud.objects.get(pk=clouds[1].pk).state == SyncState.SYNC_SCHEDULED


def test_unknown_and_malformed_uuids_are_clear_errors(clouds):
    missing = "0" * 32
    with pytest.raises(CommandError, match=f"No cloud with uuid {missing[:8]}"):
        run(clouds[0].uuid.hex, missing)
    with pytest.raises(CommandError, match="'banana' is not a cloud uuid"):
        run("banana")
    assert not Flavor.objects.exists()


def test_failed_pull_exits_non_zero_saying_why(clouds, cloudsim):
    cloudsim.fail_next("compute.flavor_list", status=500, message="nova-api exploded")
    with pytest.raises(CommandError) as info:
        run()
    message = str(info.value)
    assert message.startswith("1 of 2 pull(s) failed: Alpha: list flavors failed")
    assert "nova-api exploded" in message
    assert Cloud.objects.get(pk=clouds[0].pk).state == SyncState.ERRED
    assert Cloud.objects.get(pk=clouds[1].pk).state == SyncState.IN_SYNC


def test_cloud_being_pulled_by_a_worker_is_reported(clouds):
    # A worker on another host claimed the pull a moment ago: its lease runs for another minute.
    Cloud.objects.filter(pk=clouds[0].pk).update(
        state=SyncState.SYNCING, operation_name="pull_cloud", operation_token="t" * 32,
        operation_started=timezone.now(),
        operation_lease_until=timezone.now() + timedelta(minutes=1), operation_holder="another-host:1")
    with pytest.raises(CommandError, match="Alpha: a worker is pulling it right now"):
        run()
    assert Cloud.objects.get(pk=clouds[1].pk).state == SyncState.IN_SYNC


def test_exit_status_from_the_command_line(clouds, cloudsim):
    from django.core.management import ManagementUtility

    cloudsim.fail_next("compute.flavor_list", times=2, status=500, message="down")
    with pytest.raises(SystemExit) as info:
        ManagementUtility(["manage.py", "pull_cloud_accounts"]).execute()
    assert info.value.code == 1
