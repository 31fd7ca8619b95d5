"""Plain data for the backend, built from our rows: the one place that turns models into backend specs.

The backend (nodeconductor/iaas/backend/) takes only these, so it never reads the database; what it reads of an
instance is decided here, next to the façade that calls it (cloud_facade.py).
"""

from .backend.specs import BackupSpec, CloudAccess, ImageRef, InstanceSpec, SshKey
from .models import Image


def cloud_access(cloud):
    """A cloud account's name, auth_url and the credentials settings give for it."""
    return CloudAccess(name=cloud.name, auth_url=cloud.auth_url, credentials=cloud.get_credentials())


def _image(instance, cloud_id):
    """The Glance image of the instance's template in its cloud, or None when the cloud was not pulled."""
    # One (cloud, template) row at most: no ordering, so no join for Image's default one.
    rows = Image.objects.filter(template_id=instance.template_id, cloud_id=cloud_id).order_by()
    row = rows.values_list("backend_id", "min_disk").first()
    return ImageRef(*row) if row else None


# The spec's fields that are the instance row's own, under the same names; the fingerprint compares the first ones.
ROW_FIELDS = ("uuid", "hostname", "backend_id", "system_volume_id", "data_volume_id", "port_id",
              "system_volume_size", "data_volume_size", "key_name")  # fmt: skip
SEEN_FIELDS = ROW_FIELDS[:5]


def _copied(instance, fields):
    return {f: getattr(instance, f) for f in fields}


def instance_spec(instance, provision=False):
    """What the backend's steps read of an instance; with `provision`, its SSH key and image too (only a build
    before the server exists needs them, so the other steps cost no query for them)."""
    membership = instance.cloud_project_membership
    ssh_key = image = None
    template_name = ""
    if provision:
        key = instance.ssh_public_key
        ssh_key = SshKey(uuid=key.uuid, name=key.name, public_key=key.public_key) if key is not None else None
        image = _image(instance, membership.cloud_id)
        # The name is only shown when the image is missing: no template row is read otherwise.
        template_name = instance.template.name if image is None else ""
    return InstanceSpec(
        **_copied(instance, ROW_FIELDS),
        tenant_id=membership.tenant_id,
        ssh_key=ssh_key,
        image=image,
        template_name=template_name,
        user_data=instance.user_data if provision else "",
        membership_state=membership.state,
        networking=membership.networking,
        network_id=membership.network_id,
        external_network_id=membership.external_network_id,
    )


def seen_spec(instance, tenant_id):
    """The ids a snapshot fingerprint compares, for a row of the snapshot's tenant: no membership is read."""
    return InstanceSpec(**_copied(instance, SEEN_FIELDS), tenant_id=tenant_id)


def tenant_ids(cloud):
    """The tenants of a cloud's memberships (a pull reads their quotas)."""
    return list(cloud.memberships.exclude(tenant_id="").values_list("tenant_id", flat=True))


def backup_spec(backup):
    """What the backup steps read of a backup: its tenant, its snapshots, and the volumes it snapshots."""
    meta = backup.metadata
    return BackupSpec(
        uuid=backup.uuid,
        tenant_id=backup.membership.tenant_id,
        hostname=meta.get("hostname", ""),
        system_volume_id=meta.get("system_volume_id", ""),
        data_volume_id=meta.get("data_volume_id", ""),
        system_snapshot_id=backup.system_snapshot_id,
        data_snapshot_id=backup.data_snapshot_id,
    )
