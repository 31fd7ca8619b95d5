"""Floating IP changes are operations of the engine: a job still pending becomes the instance's operation
(the sweeper sends its first step), then the job column goes."""

import uuid

from django.db import migrations
from django.utils import timezone


def jobs_to_operations(apps, schema_editor):
    """Record each pending job as the operation the engine runs; an instance busy with another keeps that one."""
    Instance = apps.get_model("iaas", "Instance")
    for instance in Instance.objects.exclude(floating_ip_job={}).filter(operation_token=""):
        job = instance.floating_ip_job
        params = {"user_uuid": job.get("user_uuid")}
        if job.get("floating_ip"):
            params["floating_ip_id"] = job["floating_ip"]
        Instance.objects.filter(pk=instance.pk).update(
            operation_name=f"{job.get('action', 'assign')}_floating_ip", operation_token=uuid.uuid4().hex,
            operation_seq=0, operation_phase="", operation_params=params, operation_started=None,
            operation_due=timezone.now(), operation_lease_until=None, operation_holder="",
        )


class Migration(migrations.Migration):

    dependencies = [
        ("iaas", "0012_operation_name_fits_every_operation"),
    ]

    operations = [
        migrations.RunPython(jobs_to_operations, migrations.RunPython.noop),
        migrations.RemoveField(model_name="instance", name="floating_ip_job"),
    ]
