"""The per-cloud build cap: no more provisions build at once than the cap; the rest wait queued, in order."""

import threading
import time

import pytest
from django.db import close_old_connections, connection

from nodeconductor.iaas.engine import operations
from nodeconductor.iaas.models import Instance, InstanceState
from tests.iaas.steps import advance
from tests.iaas.views.test_instances import create_many, make_instance

S = InstanceState


def cap(settings, value):
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_MAX_CONCURRENT_BUILDS": value,
                              "OPERATION_QUEUE_POLL_INTERVAL": 0.05}  # fmt: skip


def create(roles, iaas, count):
    return create_many(roles, iaas, count, "capped")


def building_in_sim(sim):
    """Servers the simulator is building, and volumes it is creating: the cloud's concurrent builds."""
    servers = [s for s in sim.servers() if s["status"] == "BUILD"]
    return len(servers)


@pytest.mark.django_db(transaction=False)  # the test is the worker: it runs each queued step itself
def test_no_more_than_the_cap_build_at_once_and_the_rest_wait_queued_in_order(iaas, roles, settings):
    cap(settings, 2)
    iaas.env.sim.set_delay("server_build", 0.3)
    uuids = create(roles, iaas, 5)
    iaas.env.sim.clear_call_log()
    due = dict.fromkeys(uuids, 0.0)
    began, max_building, max_in_sim, shown_queued = [], 0, 0, None
    deadline = time.monotonic() + 120
    while due:
        for uuid in sorted(due, key=due.get):
            if due[uuid] > time.monotonic():
                continue
            outcome = advance(operations.PROVISION, uuid)
            state = Instance.objects.filter(uuid=uuid).values_list("state", flat=True).first()
            if state != S.PROVISIONING_SCHEDULED and uuid not in began:
                began.append(uuid)
            if outcome.finished:
                del due[uuid]
            else:
                due[uuid] = time.monotonic() + outcome.retry_after
            max_building = max(max_building, Instance.objects.filter(state=S.PROVISIONING).count())
            max_in_sim = max(max_in_sim, building_in_sim(iaas.env.sim))
            if shown_queued is None and uuid == uuids[-1]:  # its first look: the four before it are ahead
                last = roles.client_as("admin").get(f"/api/instances/{uuids[-1]}/").json()
                shown_queued = last["state"], last["operation"]["state"], last["operation"]["waiting_for"]
            if outcome.finished:
                # A slot is free: the queue is looked at again from its oldest, as the hand-off does: everything
                # is due now, and the stable sort keeps the creation order. Going on (or keeping the due times)
                # let a younger one look first when both builds had ended by then, and take a slot ahead of an
                # older one that would have taken the other (seen on SQLite).
                due = dict.fromkeys(due, 0.0)
                break
        assert time.monotonic() < deadline, f"still running: {due}"
        time.sleep(0.02)
    assert set(Instance.objects.values_list("state", flat=True)) == {S.ONLINE}
    assert max_building == 2 and max_in_sim <= 2
    assert began == uuids, "the queue is first come, first served"
    creates = [c for c in iaas.env.sim.call_log if c["operation"] == "compute.server_create"]
    assert len(creates) == 5
    state, op_state, waiting_for = shown_queued
    assert (state, op_state) == ("Provisioning Scheduled", "queued")
    assert waiting_for == "a build slot: 2 of 2 builds run in cloud Cloud, 2 queued ahead"


@pytest.mark.django_db(transaction=False)
def test_a_clouds_credentials_set_its_own_cap_and_zero_means_none(iaas, roles, settings):
    cap(settings, 0)
    credentials = settings.NODECONDUCTOR["OPENSTACK_CREDENTIALS"][0]
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR,
                              "OPENSTACK_CREDENTIALS": ({**credentials, "max_concurrent_builds": 1},)}  # fmt: skip
    assert operations.build_cap(iaas.cloud) == 1
    first, second = create(roles, iaas, 2)
    advance(operations.PROVISION, first)
    advance(operations.PROVISION, second)
    states = dict(Instance.objects.values_list("uuid", "state"))
    assert [states[Instance.objects.get(uuid=u).uuid] for u in (first, second)] == [S.PROVISIONING,
                                                                                     S.PROVISIONING_SCHEDULED]
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPENSTACK_CREDENTIALS": (credentials,)}
    assert operations.build_cap(iaas.cloud) == 0
    advance(operations.PROVISION, second)
    assert Instance.objects.get(uuid=second).state == S.PROVISIONING


@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_for_the_last_slot_take_it_once(iaas, roles, settings):
    """Two workers begin two queued builds at the same moment with one slot: exactly one begins."""
    if connection.vendor == "sqlite":
        pytest.skip("an in-memory SQLite test database cannot wait for a lock between threads; CI runs this on "
                    "PostgreSQL")
    cap(settings, 1)
    uuids = [str(make_instance(iaas, S.PROVISIONING_SCHEDULED, hostname=f"race-{n}").uuid) for n in range(2)]
    for uuid in uuids:
        operations.start_in_place(operations.PROVISION, uuid, {"backend_flavor_id": iaas.flavor.backend_id})
    barrier, errors = threading.Barrier(2), []

    def worker(uuid):
        try:
            barrier.wait()
            advance(operations.PROVISION, uuid)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker, args=(u,)) for u in uuids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    states = sorted(Instance.objects.values_list("state", flat=True))
    assert states.count(S.PROVISIONING) == 1, states
