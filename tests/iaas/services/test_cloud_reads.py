"""Reads a request waits for: asked of a worker once, reused while fresh, and answered 502 or 503 when they fail."""

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone
from rest_framework.exceptions import APIException

from nodeconductor.core.exceptions import ServiceUnavailable
from nodeconductor.iaas import cloud_reads as worker
from nodeconductor.iaas.models import CloudRead
from nodeconductor.iaas.services import cloud_reads

pytestmark = pytest.mark.django_db


@pytest.fixture
def asked(monkeypatch, settings):
    """The reads sent to the queue, not run: (row id, token) each; a request waits 0.2 s at most."""
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "CLOUD_READ_WAIT": 0.2, "CLOUD_READ_FRESH_FOR": 60}
    sent = []
    monkeypatch.setattr(cloud_reads.messages, "send_cloud_read", lambda pk, token: sent.append((pk, token)))
    return sent


def test_no_worker_answer_is_a_503_and_a_read_still_out_is_not_asked_twice(asked):
    with pytest.raises(ServiceUnavailable) as first:
        cloud_reads.read("k", "importable", {"membership": "m"}, fresh_for=5)
    assert (first.value.status_code, first.value.retry_after) == (503, 5)
    assert str(first.value.detail) == "No worker read the cloud within 0.2 s; retry shortly."
    assert len(asked) == 1
    # Another request asked a moment ago (its read is out): this one waits for that answer, it does not ask again.
    CloudRead.objects.filter(key="k").update(requested=timezone.now())
    with pytest.raises(ServiceUnavailable):
        cloud_reads.read("k", "importable", {"membership": "m"}, fresh_for=5)
    assert len(asked) == 1
    # Out for longer than a request waits: the message was lost or no worker is up, so it is asked again.
    with pytest.raises(ServiceUnavailable):
        cloud_reads.read("k", "importable", {"membership": "m"}, fresh_for=5)
    assert len(asked) == 2


def test_a_fresh_answer_is_reused_and_a_late_one_never_overwrites_a_newer(asked, monkeypatch):
    monkeypatch.setitem(worker.KINDS, "echo", lambda params: {"echo": params["n"]})
    with pytest.raises(ServiceUnavailable):
        cloud_reads.read("k", "echo", {"n": 1}, fresh_for=60)
    old_id, old_token = asked[-1]
    with pytest.raises(ServiceUnavailable):
        cloud_reads.read("k", "echo", {"n": 2}, fresh_for=60)  # other params: asked anew, under a new token
    new_id, new_token = asked[-1]
    assert (new_id, len(asked)) == (old_id, 2) and new_token != old_token
    worker.run(old_id, old_token)  # the late worker of the first ask: superseded, writes nothing
    assert CloudRead.objects.get(pk=old_id).answered is None
    worker.run(new_id, new_token)
    assert cloud_reads.read("k", "echo", {"n": 2}, fresh_for=60).result == {"echo": 2}
    assert len(asked) == 2  # fresh: no third ask


def test_the_clouds_refusal_is_a_502_with_its_message(asked, monkeypatch):
    def refuse(params):
        raise worker.CloudBackendError("get the console log of server s1 failed: Instance s1 could not be found.")

    monkeypatch.setitem(worker.KINDS, "refused", refuse)
    with pytest.raises(ServiceUnavailable):
        cloud_reads.read("k2", "refused", {}, fresh_for=60)
    worker.run(*asked[-1])
    with pytest.raises(APIException) as failed:
        cloud_reads.read("k2", "refused", {}, fresh_for=60)
    assert (failed.value.status_code, failed.value.default_code) == (502, "cloud_error")
    assert str(failed.value.detail) == "get the console log of server s1 failed: Instance s1 could not be found."


def test_a_refused_message_is_a_503(settings, monkeypatch):
    def down(pk, token):
        raise ConnectionError("broker down")

    monkeypatch.setattr(cloud_reads.messages, "send_cloud_read", down)
    with pytest.raises(ServiceUnavailable) as refused:
        cloud_reads.read("k3", "importable", {}, fresh_for=5)
    assert str(refused.value.detail) == cloud_reads.QUEUE_DOWN


def test_a_request_takes_the_answer_to_its_own_ask_whatever_the_clocks_say(settings, monkeypatch):
    settings.NODECONDUCTOR = {**settings.NODECONDUCTOR, "CLOUD_READ_WAIT": 1, "CLOUD_READ_FRESH_FOR": 60}
    monkeypatch.setitem(worker.KINDS, "echo", lambda params: {"echo": params["n"]})

    def worker_behind(pk, token):
        # The worker's host clock is an hour behind the web host's: its answer looks older than the ask.
        worker.run(pk, token)
        CloudRead.objects.filter(pk=pk).update(answered=F("answered") - timedelta(hours=1))

    monkeypatch.setattr(cloud_reads.messages, "send_cloud_read", worker_behind)
    assert cloud_reads.read("skewed", "echo", {"n": 7}, fresh_for=60).result == {"echo": 7}


def test_the_worker_reads_no_tenant_that_is_not_in_sync_any_more(iaas):
    from nodeconductor.iaas.models import CloudProjectMembership, SyncState

    CloudProjectMembership.objects.filter(pk=iaas.membership.pk).update(state=SyncState.ERRED)
    lists = iaas.env.sim.call_counts()["compute.server_list"]
    row = CloudRead.objects.create(key="importable:x", kind="importable", token="t",
                                   params={"membership": str(iaas.membership.uuid)})  # fmt: skip
    worker.run(row.pk, "t")
    row.refresh_from_db()
    assert row.answered_token == "t" and row.error == (
        "The membership is Erred, or its tenant is bound by another customer first: its servers are not read.")
    assert iaas.env.sim.call_counts()["compute.server_list"] == lists  # the tenant was not read
