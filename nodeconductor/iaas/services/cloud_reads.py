"""Reads of the cloud that a request needs now (a server's console, a tenant's untracked servers): asked of a
worker, waited for a moment, answered from the database. No request calls the cloud itself."""

import time
import uuid as uuid_lib
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.exceptions import APIException

from nodeconductor.core.exceptions import ServiceUnavailable

from ..engine import messages
from ..models import CloudRead

QUEUE_DOWN = "The task queue is unavailable, so the cloud could not be read; retry shortly."


class CloudReadFailed(APIException):
    """The cloud refused or failed the read: its own message, as a 502 (the request itself was fine)."""

    status_code = status.HTTP_502_BAD_GATEWAY
    default_detail = "The cloud failed the read."
    default_code = "cloud_error"


def fresh_for():
    """Seconds an answer of the cloud is reused: a portal polling a list costs the cloud one read per this."""
    return float(settings.NODECONDUCTOR.get("CLOUD_READ_FRESH_FOR", 5))


def wait_limit():
    """Seconds a request waits for a worker's answer before it answers 503 with Retry-After."""
    return float(settings.NODECONDUCTOR.get("CLOUD_READ_WAIT", 15))


def _row(key, kind, params):
    """The record of reads of `key`, made on the first ask (one query when it exists)."""
    row = CloudRead.objects.filter(key=key).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return CloudRead.objects.create(key=key, kind=kind, params=params)
    except IntegrityError:  # another request made it first
        return CloudRead.objects.get(key=key)


def _fresh(row, fresh_for, now):
    """Whether the row holds the answer to its last ask, read no longer than `fresh_for` seconds ago."""
    return (row.answered is not None and row.token and row.answered_token == row.token
            and row.answered >= now - timedelta(seconds=fresh_for))  # fmt: skip


def read(key, kind, params, fresh_for):
    """The answer to the read `key` (the row), no older than `fresh_for` seconds; a worker reads the cloud.

    `key` names the read with all its parameters, so two reads that differ in any have rows of their own. A read
    already asked for and not answered is waited for rather than asked again. 502 with the cloud's own message
    when the cloud failed it; 503 when no worker answered in time (or the queue refused the message).
    """
    now = timezone.now()
    row = _row(key, kind, params)
    if _fresh(row, fresh_for, now):
        return _answer(row)
    limit = wait_limit()
    out = row.token and row.answered_token != row.token and row.requested is not None
    if out and row.requested >= now - timedelta(seconds=limit):
        token = row.token  # another request asked a moment ago: its answer is this one's too
    else:
        token = uuid_lib.uuid4().hex
        CloudRead.objects.filter(pk=row.pk).update(token=token, requested=now, params=params, kind=kind)
        try:
            messages.send_cloud_read(row.pk, token)
        except Exception:  # noqa: BLE001 - any refusal by the broker: nothing was changed but the request's record
            raise ServiceUnavailable(QUEUE_DOWN, retry_after=5) from None
    deadline = time.monotonic() + limit
    pause = 0.05
    while True:
        row.refresh_from_db()
        if row.answered_token == token:
            return _answer(row)
        if row.token != token:
            token = row.token  # a later request asked anew (ours was older than the wait): its answer serves
        if time.monotonic() >= deadline:
            raise ServiceUnavailable(f"No worker read the cloud within {limit:g} s; retry shortly.", retry_after=5)
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def _answer(row):
    """The row's answer, or its failure as a 502 with the cloud's message."""
    if row.error:
        raise CloudReadFailed(row.error)
    return row


# The longest console log a request may ask for, in lines; the default when it does not say.
CONSOLE_LOG_MAX_LINES = 1000
CONSOLE_LOG_LINES = 100


def console_log(instance, length):
    """The last `length` lines of the instance's console, read by a worker (the row: its lines and when)."""
    return read(f"console_log:{instance.uuid}:{length}", "console_log",
                {"instance": str(instance.uuid), "length": length}, fresh_for=fresh_for())  # fmt: skip
