"""The record of the operation under way on a row, which the engine claims, leases and sweeps.

Every resource the engine changes in the cloud carries these fields (instances, clouds, memberships, security
groups), so one claim, one lease and one sweep serve them all.
"""

from django.db import models


class OperationRecord(models.Model):
    """The operation under way, recorded so that a lost message or a dead worker loses nothing.

    The token fences off messages of an older operation, the sequence number lets exactly one message claim each
    step, the lease and its holder tell a running step from a dead one, and `due` tells the sweeper when to look.
    """

    operation_name = models.CharField(max_length=40, blank=True, editable=False)
    operation_token = models.CharField(max_length=32, blank=True, editable=False)
    operation_seq = models.PositiveIntegerField(default=0, editable=False)
    operation_phase = models.CharField(max_length=40, blank=True, editable=False)
    operation_params = models.JSONField(default=dict, blank=True, editable=False)
    operation_started = models.DateTimeField(null=True, blank=True, editable=False)
    operation_due = models.DateTimeField(null=True, blank=True, editable=False)
    operation_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    operation_holder = models.CharField(max_length=120, blank=True, editable=False)

    class Meta:
        abstract = True

    @property
    def busy(self):
        """Whether an operation is recorded on the row: scheduled or running, so other actions wait for it."""
        return bool(self.operation_token)
