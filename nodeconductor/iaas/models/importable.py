"""Servers of a tenant that no instance tracks, as the last pull saw them: what can be imported, and why not."""

from django.db import models


class ImportableServer(models.Model):
    """One untracked server of a membership's tenant, with the reasons (computed at pull time) it cannot be imported.

    The pull rewrites a membership's rows from the cloud, so the list endpoint reads only the database; an
    import verifies the server in the cloud again in a worker.
    """

    membership = models.ForeignKey(
        "iaas.CloudProjectMembership", on_delete=models.CASCADE, related_name="importable_servers"
    )
    backend_id = models.CharField(max_length=255, help_text="Nova server id")
    name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=30, blank=True, help_text="Nova status, e.g. ACTIVE")
    flavor_backend_id = models.CharField(max_length=255, blank=True)
    flavor = models.ForeignKey("iaas.Flavor", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    image_backend_id = models.CharField(max_length=255, blank=True, help_text="Glance image of the root volume")
    template = models.ForeignKey("iaas.Template", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    system_volume_id = models.CharField(max_length=255, blank=True)
    system_volume_size = models.PositiveIntegerField(null=True, blank=True, help_text="MiB")
    data_volume_id = models.CharField(max_length=255, blank=True)
    data_volume_size = models.PositiveIntegerField(null=True, blank=True, help_text="MiB")
    internal_ips = models.CharField(max_length=255, blank=True)
    external_ips = models.CharField(max_length=255, blank=True)
    created_in_cloud = models.DateTimeField(null=True, blank=True)
    launched_at = models.DateTimeField(null=True, blank=True)
    # Why the server cannot be imported, one sentence each; empty when it can.
    reasons = models.JSONField(default=list, blank=True)
    pulled = models.DateTimeField(help_text="When a pull recorded these facts of the server")

    class Meta:
        ordering = ("name", "backend_id")
        constraints = [
            models.UniqueConstraint(fields=("membership", "backend_id"), name="iaas_importable_unique_server")
        ]

    def __str__(self):
        return f"{self.name} ({self.backend_id})"

    @property
    def importable(self):
        """True when the last pull found nothing that stands in the way of an import."""
        return not self.reasons
