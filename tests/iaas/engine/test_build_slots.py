"""Build slots: a queued provision costs no task run while it waits; the build that ends hands its slot on."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import close_old_connections, connection
from django.test import TestCase
from django.utils import timezone

from nodeconductor.iaas import tasks
from nodeconductor.iaas.engine import operations, poller, sweeper
from nodeconductor.iaas.models import Instance, InstanceState
from tests.iaas.engine.test_build_cap import cap
from tests.iaas.steps import advance
from tests.iaas.views.test_instances import create_many, make_instance

S = InstanceState


@pytest.fixture
def sent(monkeypatch):
    """Every step message the engine sends (the hand-off's and the task body's), captured instead of queued."""
    messages = []
    monkeypatch.setattr(tasks, "send_operation_step", lambda uuid, token, seq, countdown=0: messages.append(
        (str(uuid), token, seq)))  # fmt: skip
    monkeypatch.setattr(poller, "kick", lambda membership_id, countdown, send: None)
    return messages


def row(uuid):
    return Instance.objects.get(uuid=uuid)


def task_body(uuid):
    """Run the instance's next step as a worker does (the task body, not eager)."""
    instance = row(uuid)
    tasks.run_instance_operation.run(str(uuid), instance.operation_token, instance.operation_seq)


def build_to_the_end(uuid):
    """Run the provision's steps in this process until it is Online or Erred."""
    instance = row(uuid)
    operations.run_chain(str(uuid), instance.operation_token, instance.operation_seq)


def step_of(uuid):
    instance = row(uuid)
    return (str(uuid), instance.operation_token, instance.operation_seq)


def queue_behind_two(iaas, roles, settings, sent, count, name):
    """`count` provisions at a cap of 2, each past its first step: the first two build, the rest queue."""
    cap(settings, 2)
    iaas.env.sim.set_delay("server_build", 0.1)
    uuids = create_many(roles, iaas, count, name)
    for uuid in uuids:
        task_body(uuid)
    sent.clear()
    return uuids


def end_build(uuid):
    """Run a build to its end, with the hand-off its commit makes."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        build_to_the_end(uuid)


@pytest.mark.django_db(transaction=False)
def test_a_queued_provision_sends_nothing_and_is_not_looked_at_for_a_minute(iaas, roles, settings, sent):
    cap(settings, 1)
    first, second = create_many(roles, iaas, 2, "slot")
    task_body(first)
    assert row(first).state == S.PROVISIONING
    sent.clear()
    task_body(second)
    queued = row(second)
    assert queued.state == S.PROVISIONING_SCHEDULED
    assert queued.operation_params["waiting_for"] == "a build slot: 1 of 1 builds run in cloud Cloud, 0 queued ahead"
    assert sent == [], "a queued provision sends no message of its own"
    now = timezone.now()
    looked_at = [t for t in range(0, 60, 1)
                 if str(second) in {str(u) for u, _, _ in sweeper.stalled(now + timedelta(seconds=t))}]  # fmt: skip
    assert looked_at == [], "the safety net leaves it alone for the recheck plus the grace (60 s)"
    shown = roles.client_as("admin").get(f"/api/instances/{second}/")
    assert shown.status_code == 200
    assert (shown.json()["state"], shown.json()["operation"]["state"]) == ("Provisioning Scheduled", "queued")
    assert shown.json()["operation"]["waiting_for"].startswith("a build slot: 1 of 1 builds")


@pytest.mark.django_db(transaction=False)
def test_a_lost_hand_off_is_made_good_by_the_sweeper(iaas, roles, settings, sent):
    cap(settings, 1)
    first, second = create_many(roles, iaas, 2, "lost")
    task_body(first)
    task_body(second)
    build_to_the_end(first)  # its hand-off waits for a commit that never comes in this test: lost
    assert row(first).state == S.ONLINE and sent == []
    later = timezone.now() + timedelta(seconds=61)
    assert (str(second), row(second).operation_token, row(second).operation_seq) in [
        (str(u), t, s) for u, t, s in sweeper.stalled(later)
    ]
    # A minute passes: it is due again.
    Instance.objects.filter(uuid=second).update(operation_due=timezone.now() - timedelta(seconds=61))
    assert sweeper.sweep(tasks.send_operation_step) == 1
    assert sent == [step_of(second)]
    task_body(second)
    assert row(second).state == S.PROVISIONING


@pytest.mark.django_db(transaction=False)
def test_the_build_that_ends_hands_its_slot_to_the_next_queued_first_come_first_served(iaas, roles, settings, sent):
    cap(settings, 2)
    iaas.env.sim.set_delay("server_build", 0.2)
    a, b, c, d, e = create_many(roles, iaas, 5, "fifo")
    for uuid in (a, b, c, d, e):
        task_body(uuid)
    assert [row(u).state for u in (a, b, c, d, e)] == [S.PROVISIONING] * 2 + [S.PROVISIONING_SCHEDULED] * 3
    sent.clear()
    end_build(a)
    assert row(a).state == S.ONLINE
    assert sent == [step_of(c)], "one slot freed: the oldest queued gets it, at once"
    task_body(c)
    assert row(c).state == S.PROVISIONING
    sent.clear()
    iaas.env.sim.fail_next("compute.server_create", mode="error_state")
    end_build(c)  # an Erred build (after its cleanup) frees its slot too
    assert row(c).state == S.ERRED
    assert sent == [step_of(d)]
    sent.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        build_to_the_end(b)
        build_to_the_end(d)
    assert {row(u).state for u in (b, d)} == {S.ONLINE}
    assert set(sent) == {step_of(e)}, "two slots freed, one queued: only it is sent"


@pytest.mark.django_db(transaction=False)
def test_a_provision_handed_a_slot_is_not_sent_again_by_the_next_hand_off(iaas, roles, settings, sent):
    """Its step is on the way: its slot is taken. Sent again, every ended build re-sent the oldest queued (at a
    cap of 100, 1,000 provisions left 7,000 messages in the broker while 16-23 slots built)."""
    a, b, c, d, e = queue_behind_two(iaas, roles, settings, sent, 5, "once")
    end_build(a)
    assert sent == [step_of(c)]
    end_build(b)  # c has not run its step yet
    assert sent == [step_of(c), step_of(d)], "the second freed slot goes to the next queued, c is not sent twice"
    task_body(c)
    task_body(d)
    assert (row(c).state, row(d).state, row(e).state) == (S.PROVISIONING, S.PROVISIONING, S.PROVISIONING_SCHEDULED)


@pytest.mark.django_db(transaction=False)
def test_a_sweep_between_two_hand_offs_does_not_hand_the_same_slot_twice(iaas, roles, settings, sent):
    """Under a backlog, the handed step waits in the broker past the grace and the sweeper sends it again: that
    resend must not make it look unhanded (a mark in its due time did), or the next freed slot goes to it too."""
    a, b, c, d, e = queue_behind_two(iaas, roles, settings, sent, 5, "swept")
    end_build(a)
    assert sent == [step_of(c)]
    assert abs((row(c).operation_due - timezone.now()).total_seconds()) < 5, "due now: a lost hand-off is resent"
    Instance.objects.filter(uuid=c).update(operation_due=timezone.now() - timedelta(seconds=61))
    assert sweeper.sweep(tasks.send_operation_step) == 1
    assert sent == [step_of(c)] * 2
    end_build(b)
    assert sent == [step_of(c)] * 2 + [step_of(d)], "the slot b freed goes to d; c holds the one it was handed"
    task_body(c)
    task_body(d)
    assert (row(c).state, row(d).state, row(e).state) == (S.PROVISIONING, S.PROVISIONING, S.PROVISIONING_SCHEDULED)
    assert row(c).operation_slot_handed is None, "building now: the mark is gone with the step that ran"


@pytest.mark.django_db(transaction=False)
def test_a_recheck_of_zero_still_hands_slots_on(iaas, roles, settings, sent):
    """A queued provision due again at once is not one handed a slot (a mark 'due == last look' said it was)."""
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "OPERATION_QUEUE_RECHECK": 0}
    a, b, c, d = queue_behind_two(iaas, roles, settings, sent, 4, "zero")
    assert [row(u).state for u in (c, d)] == [S.PROVISIONING_SCHEDULED] * 2
    end_build(a)
    assert sent == [step_of(c)]


@pytest.mark.django_db(transaction=False)
def test_a_handed_provision_that_finds_no_slot_queues_again_unmarked(iaas, roles, settings, sent):
    """The operator lowered the cap between the hand-off and its step: it queues anew and holds no phantom slot."""
    a, b, c, d = queue_behind_two(iaas, roles, settings, sent, 4, "lowered")
    end_build(a)
    assert sent == [step_of(c)] and row(c).operation_slot_handed is not None
    cap(settings, 1)
    task_body(c)
    assert row(c).state == S.PROVISIONING_SCHEDULED and row(c).operation_slot_handed is None
    sent.clear()
    end_build(b)
    assert sent == [step_of(c)], "the freed slot goes to c, the oldest queued, again"


@pytest.mark.django_db(transaction=False)
def test_queued_provisions_past_their_recheck_still_get_the_freed_slot(iaas, roles, settings, sent):
    """Due for the sweeper's recheck is not handed: a first try that counted every due one as holding a slot
    stalled P5 (311 Online, 689 queued, none building) once the queue was older than the recheck."""
    a, b, c, d = queue_behind_two(iaas, roles, settings, sent, 4, "late")
    Instance.objects.filter(uuid__in=[c, d]).update(operation_due=timezone.now() - timedelta(seconds=5))
    end_build(a)
    assert sent == [step_of(c)]


@pytest.mark.django_db(transaction=False)
def test_a_fresh_provision_is_not_sent_a_second_message_by_a_hand_off(iaas, roles, settings, sent):
    """Its request's message is on the way (step 0): sending it one per ended build flooded the broker (37,875
    messages two minutes into P5 at 1,000 provisions with a cap that never binds)."""
    cap(settings, 5)
    iaas.env.sim.set_delay("server_build", 0.1)
    a, b, c = create_many(roles, iaas, 3, "fresh")
    task_body(a)
    sent.clear()
    end_build(a)
    assert sent == []
    task_body(b)
    assert row(b).state == S.PROVISIONING and row(c).state == S.PROVISIONING_SCHEDULED


@pytest.mark.django_db(transaction=False)
def test_the_hand_off_sends_as_many_as_there_are_free_slots(iaas, roles, settings, sent):
    cap(settings, 3)
    uuids = create_many(roles, iaas, 6, "many")
    for uuid in uuids:
        task_body(uuid)
    assert [row(u).state for u in uuids].count(S.PROVISIONING) == 3
    cap(settings, 5)  # an operator raises the cap: the next build that ends fills the two new slots and its own
    iaas.env.sim.set_delay("server_build", 0.1)
    end_build(uuids[0])
    assert sent == [step_of(u) for u in uuids[3:6]]


@pytest.mark.django_db(transaction=True)
def test_two_builds_ending_at_once_never_overfill_the_cap_nor_run_a_step_twice(iaas, roles, settings, monkeypatch):
    """Two workers end two builds at the same moment and both hand on (the sends run eagerly, so each queued
    build then runs in the finisher's thread): at most `cap` build at any time and each step runs once."""
    if connection.vendor == "sqlite":
        pytest.skip("an in-memory SQLite test database cannot wait for a lock between threads; CI runs this on "
                    "PostgreSQL")
    cap(settings, 2)
    iaas.env.sim.set_delay("server_build", 0.3)

    def scheduled(n):
        uuid = str(make_instance(iaas, S.PROVISIONING_SCHEDULED, hostname=f"race-{n}").uuid)
        operations.start_in_place(operations.PROVISION, uuid, {"backend_flavor_id": iaas.flavor.backend_id})
        return uuid

    # A first build pushes the tenant's SSH key: two first pushes at once are the backend's race, not this one's.
    build_to_the_end(scheduled(0))
    uuids = [scheduled(n) for n in range(1, 5)]
    for uuid in uuids:  # one step each, sending nothing: two begin, two queue
        advance(operations.PROVISION, uuid)
    assert [row(u).state for u in uuids].count(S.PROVISIONING) == 2
    claims, real_claim = [], operations._claim

    def counted_claim(uuid, token, seq):
        mine = real_claim(uuid, token, seq)
        if mine:
            claims.append((str(uuid), token, seq))
        return mine

    monkeypatch.setattr(operations, "_claim", counted_claim)
    most, stop, errors, barrier = [0], threading.Event(), [], threading.Barrier(2)

    def sample():
        while not stop.is_set():
            most[0] = max(most[0], Instance.objects.filter(state=S.PROVISIONING).count())
            time.sleep(0.005)
        connection.close()

    def finisher(uuid):
        try:
            barrier.wait()
            build_to_the_end(uuid)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    sampler = threading.Thread(target=sample)
    sampler.start()
    threads = [threading.Thread(target=finisher, args=(u,)) for u in uuids[:2]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    stop.set()
    sampler.join(10)
    assert not errors, errors
    assert sorted(Instance.objects.filter(uuid__in=uuids).values_list("state", flat=True)) == [S.ONLINE] * 4
    assert most[0] == 2
    assert len(claims) == len(set(claims)), "a step ran twice"
    creates = [x for x in iaas.env.sim.call_log if x["operation"] == "compute.server_create"]
    assert len(creates) == 5
