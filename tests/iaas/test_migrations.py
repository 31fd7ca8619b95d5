"""Migrations that move data: what an upgrade finds under way keeps going after it."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from nodeconductor.iaas.engine import operations
from nodeconductor.iaas.models import Instance, InstanceState
from tests.iaas.views.test_instances import make_instance

S = InstanceState
BEFORE = ("iaas", "0012_operation_name_fits_every_operation")
AFTER = ("iaas", "0013_floating_ip_changes_are_operations")


def _migrate(target):
    """Migrate the test database to `target`; returns the historical Instance model there."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return executor.loader.project_state([target]).apps.get_model("iaas", "Instance")


def _migrate_to_the_latest():
    """Leave the test database as every other test expects it: at the newest migration of every app."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_a_floating_ip_job_pending_at_the_upgrade_becomes_the_instances_operation(iaas):
    pending = make_instance(iaas, hostname="pending")
    chosen = make_instance(iaas, S.OFFLINE, hostname="chosen")
    busy = make_instance(iaas, hostname="busy")
    make_instance(iaas, hostname="idle")
    operations.start_in_place(operations.STOP, busy.uuid, {})
    old = _migrate(BEFORE)
    try:
        old.objects.filter(pk=pending.pk).update(floating_ip_job={
            "token": "claimed:t1", "action": "assign", "floating_ip": "", "since": 1.0, "user_uuid": None})
        old.objects.filter(pk=chosen.pk).update(floating_ip_job={
            "token": "t2", "action": "unassign", "floating_ip": "fip-1", "since": 1.0, "user_uuid": "u"})
        old.objects.filter(pk=busy.pk).update(floating_ip_job={"token": "t3", "action": "assign", "since": 1.0})
    finally:
        _migrate(AFTER)
        _migrate_to_the_latest()
    rows = {i.hostname: i for i in Instance.objects.all()}
    assert (rows["pending"].operation_name, rows["pending"].operation_params) == (
        "assign_floating_ip", {"user_uuid": None})
    assert (rows["chosen"].operation_name, rows["chosen"].operation_params) == (
        "unassign_floating_ip", {"user_uuid": "u", "floating_ip_id": "fip-1"})
    for name in ("pending", "chosen"):
        row = rows[name]
        assert len(row.operation_token) == 32 and row.operation_seq == 0 and row.operation_due is not None
        assert row.operation_lease_until is None and row.state in (S.ONLINE, S.OFFLINE)
    assert rows["busy"].operation_name == "stop", "an instance busy with another operation keeps it"
    assert (rows["idle"].operation_name, rows["idle"].operation_token) == ("", "")
