"""Floating IPs of a membership's tenant, as the last pull or our own worker saw them in Neutron.

Neutron is the source of truth here: rows follow the cloud (the pull adds, updates and deletes them), and an
IP changes hands only through the instance actions, which a worker applies and then records.
"""

from django.db import models

from nodeconductor.core.models import TimeStampedMixin, UuidMixin

from .cloud import ProjectScopedQuerySet


class FloatingIPStatus(models.TextChoices):
    """Neutron's floating IP statuses."""

    ACTIVE = "ACTIVE", "Active"
    DOWN = "DOWN", "Down"
    ERROR = "ERROR", "Error"


class FloatingIPQuerySet(ProjectScopedQuerySet):
    """Floating IP visibility per user: the IPs of the memberships of projects the user sees."""

    project_path = "membership__project"


class FloatingIP(UuidMixin, TimeStampedMixin):
    """A public address of the tenant's external network, free or on one instance's port."""

    # Unbinding a project forgets its IPs with it; like the tenant, they stay in the cloud.
    membership = models.ForeignKey("iaas.CloudProjectMembership", on_delete=models.CASCADE,
                                   related_name="floating_ips")  # fmt: skip
    backend_id = models.CharField(max_length=64, help_text="Neutron floating IP id")
    address = models.GenericIPAddressField()
    status = models.CharField(max_length=10, choices=FloatingIPStatus.choices, default=FloatingIPStatus.DOWN)
    instance = models.ForeignKey("iaas.Instance", on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="floating_ips")  # fmt: skip
    # The instance (uuid hex) our worker allocated the IP for, as its Neutron tag says; "" when we did not make it.
    allocated_for = models.CharField(max_length=32, blank=True)

    objects = FloatingIPQuerySet.as_manager()

    class Meta:
        ordering = ("address",)
        constraints = [
            models.UniqueConstraint(fields=("membership", "backend_id"), name="iaas_fip_unique_membership_backend")
        ]

    def __str__(self):
        return self.address


# Rows as the cloud reports them: written by the operations that change IPs and by the pull.
def record(membership, data, instance=None):
    """Upsert the row of one IP as the cloud answered it (fip_data), on `instance` or free."""
    row, _ = FloatingIP.objects.update_or_create(
        membership=membership, backend_id=data["id"],
        defaults={"address": data["address"], "status": data["status"], "instance": instance,
                  "allocated_for": data.get("allocated_for", "")},
    )  # fmt: skip
    return row


def external_ips_of(instance):
    """The addresses of the instance's floating IPs as `external_ips` shows them."""
    return ",".join(FloatingIP.objects.filter(instance=instance).order_by("address").values_list("address", flat=True))


def forget_released(instance):
    """Drop the rows of the IPs the delete released (ours, allocated for this instance)."""
    FloatingIP.objects.filter(membership=instance.cloud_project_membership_id,
                              allocated_for=instance.uuid.hex).delete()  # fmt: skip
