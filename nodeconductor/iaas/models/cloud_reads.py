"""A read of the cloud that a request asked a worker for: the request waits a moment for its answer."""

from django.db import models


class CloudRead(models.Model):
    """One read of one thing (`key`, e.g. "importable:<membership uuid>", with every parameter in it), its last
    answer and when.

    No request calls the cloud: it records what it wants here, a worker reads and writes the answer back, and the
    request, waiting on this row, answers with it. An answer younger than the caller's freshness is reused, so a
    portal polling a page every two seconds costs the cloud one read per few seconds, whoever asks.
    """

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=30)
    params = models.JSONField(default=dict, blank=True)
    # Who asked last: the worker writes its answer only while this is still the read asked for.
    token = models.CharField(max_length=32, blank=True)
    requested = models.DateTimeField(null=True, blank=True)
    answered = models.DateTimeField(null=True, blank=True)
    # The ask the answer is for: a request waits for its own token's answer, whatever the hosts' clocks say.
    answered_token = models.CharField(max_length=32, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    def __str__(self):
        return self.key
