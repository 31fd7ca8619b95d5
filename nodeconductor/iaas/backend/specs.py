"""Plain data the backend takes instead of our models, so it never reads the database (issue 11 point 6).

Only the application layer builds these (nodeconductor/iaas/backend_specs.py), from the rows it loaded.
"""

import dataclasses
import uuid as uuid_lib


@dataclasses.dataclass(frozen=True)
class CloudAccess:
    """One cloud account as the backend needs it: a name for messages and the admin credentials of its auth_url."""

    name: str
    auth_url: str
    credentials: dict | None = dataclasses.field(default=None, repr=False)  # never printed: it holds a password


@dataclasses.dataclass(frozen=True)
class SshKey:
    """An SSH public key to push as a Nova keypair; its uuid names the keypair."""

    uuid: uuid_lib.UUID
    name: str
    public_key: str


@dataclasses.dataclass(frozen=True)
class ImageRef:
    """The Glance image an instance's template has in its cloud (min_disk in MiB)."""

    backend_id: str
    min_disk: int = 0


@dataclasses.dataclass(frozen=True)
class InstanceSpec:
    """What the instance steps read of an instance, its membership, key and image; the steps return changes."""

    uuid: uuid_lib.UUID
    hostname: str
    tenant_id: str
    backend_id: str = ""
    system_volume_id: str = ""
    data_volume_id: str = ""
    port_id: str = ""
    system_volume_size: int = 0
    data_volume_size: int = 0
    # The key's name as copied at creation: a key deleted since is reported by it.
    key_name: str = ""
    ssh_key: SshKey | None = None
    # Only a provision needs the image; None there means the template has no image in this cloud.
    image: ImageRef | None = None
    template_name: str = ""
    # cloud-init's user data, as the user wrote it; only a provision reads it (novaclient base64-encodes it).
    user_data: str = ""
    # Of the membership: its sync state, networking kind and the network ids its sync found or made.
    membership_state: str = ""
    networking: str = ""
    network_id: str = ""
    external_network_id: str = ""


@dataclasses.dataclass(frozen=True)
class BackupSpec:
    """What the backup steps read of a backup: its tenant, the volumes it snapshots and the snapshots it made."""

    uuid: uuid_lib.UUID
    tenant_id: str
    hostname: str = ""
    system_volume_id: str = ""
    data_volume_id: str = ""
    system_snapshot_id: str = ""
    data_snapshot_id: str = ""
