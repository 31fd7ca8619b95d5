"""The instance operation task: how a step it ran hands its next look on."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from nodeconductor.iaas import tasks
from nodeconductor.iaas.engine import poller
from nodeconductor.iaas.models import Instance
from tests.iaas.views.test_instances import create_many


@pytest.mark.django_db(transaction=False)
def test_a_wait_goes_to_its_tenant_poller_without_reading_the_row_again(iaas, roles, settings, monkeypatch):
    """A step that waits hands the next look to its tenant's poller, with the membership the step already
    loaded: the handoff itself costs no query of its own."""
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPERATION_BATCHED_POLLING": True}
    (uuid,) = create_many(roles, iaas, 1, "handoff")
    instance = Instance.objects.get(uuid=uuid)
    kicked = []
    monkeypatch.setattr(poller, "kick", lambda membership_id, due, send: kicked.append((membership_id, send)))
    with CaptureQueriesContext(connection) as queries:
        # .run() is the task body as a worker calls it (not eager): the step runs, then the handoff.
        tasks.run_instance_operation.run(str(uuid), instance.operation_token, instance.operation_seq)
    assert kicked == [(iaas.membership.pk, tasks.send_poll)]
    assert Instance.objects.get(uuid=uuid).operation_phase == "volumes"  # the step ran: it waits for the volumes
    lone = re.compile(r'^SELECT "iaas_instance"\."cloud_project_membership_id"( AS "\w+")? FROM')
    assert [q["sql"] for q in queries.captured_queries if lone.match(q["sql"])] == []
