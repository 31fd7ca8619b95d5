"""The per-tenant poller's own row: who runs the tenant's tick now, and when the next tick is due."""

from django.db import models


class TenantPoller(models.Model):
    """One row per membership whose operations wait on the cloud; its lease keeps two ticks from running at once.

    A tick is claimed with one UPDATE that matches a free (or expired) lease, like an operation's step, so a
    duplicate or redelivered poll message does nothing, and a poller that died mid-tick is taken over once its
    lease runs out (at once when it died on the same host).
    """

    membership = models.OneToOneField(
        "iaas.CloudProjectMembership", on_delete=models.CASCADE, primary_key=True, related_name="poller"
    )
    lease_until = models.DateTimeField(null=True, blank=True)
    holder = models.CharField(max_length=255, blank=True)
    # When the poll message that was sent last is due; a newer wait due earlier sends another one.
    next_tick = models.DateTimeField(null=True, blank=True)
    ticks = models.PositiveBigIntegerField(default=0, help_text="Ticks run so far (for operators and benchmarks).")

    def __str__(self):
        return f"poller of membership {self.membership_id}"
