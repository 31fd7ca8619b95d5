"""Plain-data reads of the servers of a tenant, for importing servers that no instance tracks.

Nothing here decides whether a server can be imported (that needs our catalogue: see iaas/importable.py);
it only says what the cloud holds: the server, its flavor, its volumes (sizes in MiB) and addresses.
"""

from datetime import UTC

from django.utils.dateparse import parse_datetime

from .errors import CloudResourceNotFound
from .instances import META_KEY, _ips, _server_fault
from .units import gib_to_mib


def _when(text):
    """An aware datetime from Nova's timestamps (UTC, sometimes without an offset), or None."""
    if not text:
        return None
    value = parse_datetime(str(text))
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _volume(volume, server_id):
    """One Cinder volume as plain data, with its device on `server_id` (sizes in MiB)."""
    device = ""
    for attachment in getattr(volume, "attachments", None) or ():
        if attachment.get("server_id") == server_id:
            device = attachment.get("device") or ""
    image = getattr(volume, "volume_image_metadata", None) or {}
    bootable = getattr(volume, "bootable", False)
    return {
        "id": volume.id,
        "size": gib_to_mib(volume.size),
        "status": volume.status,
        "bootable": bootable is True or str(bootable).lower() == "true",
        "device": device,
        "image_id": image.get("image_id", ""),
    }


def _server(server, volumes_by_id):
    """One Nova server with its attached volumes as plain data; the root volume comes first."""
    image = getattr(server, "image", None)
    flavor = getattr(server, "flavor", None) or {}
    attached = [v["id"] for v in getattr(server, "os-extended-volumes:volumes_attached", None) or ()]
    volumes = [volumes_by_id.get(vid) or {"id": vid, "size": 0, "status": "unknown", "bootable": False,
                                          "device": "", "image_id": ""} for vid in attached]  # fmt: skip
    root_device = getattr(server, "OS-EXT-SRV-ATTR:root_device_name", None) or ""
    # The root volume is the one on the root device (admins see it), else the first bootable one by device.
    volumes.sort(key=lambda v: (v["device"] != root_device if root_device else not v["bootable"], v["device"]))
    internal, external = _ips(server)
    return {
        "id": server.id,
        "name": server.name,
        "status": server.status,
        "task_state": getattr(server, "OS-EXT-STS:task_state", None),
        "fault": _server_fault(server) if server.status == "ERROR" else "",
        "flavor_id": str(flavor.get("id", "")),
        # Booted from a volume, Nova shows no image ("" or None); from an image, {"id": ...}.
        "image_id": image.get("id", "") if isinstance(image, dict) else "",
        "owner": (getattr(server, "metadata", None) or {}).get(META_KEY, ""),
        "volumes": volumes,
        "internal_ips": internal,
        "external_ips": external,
        "created": _when(getattr(server, "created", None)),
        "launched_at": _when(getattr(server, "OS-SRV-USG:launched_at", None)),
    }


class ImportsMixin:
    """Reads of a tenant's servers as plain dicts; mixed into OpenStackBackend."""

    def describe_tenant_servers(self, tenant_id):
        """Every server of the tenant with its flavor id, volumes, addresses and times (two cloud calls)."""
        with self._call(f"list servers of tenant {tenant_id}"):
            servers = self.nova(tenant_id).servers.list()
        with self._call(f"list volumes of tenant {tenant_id}"):
            volumes = self.cinder(tenant_id).volumes.list()
        described = {}
        for volume in volumes:
            for attachment in getattr(volume, "attachments", None) or ():
                described[(attachment.get("server_id"), volume.id)] = volume
        return [
            _server(s, {vid: _volume(v, s.id) for (sid, vid), v in described.items() if sid == s.id}) for s in servers
        ]

    def describe_tenant_server(self, tenant_id, server_id):
        """One server of the tenant, described as describe_tenant_servers does, or None when it is not there."""
        nova, cinder = self.nova(tenant_id), self.cinder(tenant_id)
        try:
            with self._call(f"get server {server_id}"):
                server = nova.servers.get(server_id)
        except CloudResourceNotFound:
            return None
        if getattr(server, "tenant_id", tenant_id) != tenant_id:
            return None  # an admin token sees other tenants' servers by id: not this tenant's
        volumes = {}
        for item in getattr(server, "os-extended-volumes:volumes_attached", None) or ():
            try:
                with self._call(f"get volume {item['id']}"):
                    volumes[item["id"]] = _volume(cinder.volumes.get(item["id"]), server.id)
            except CloudResourceNotFound:
                continue
        return _server(server, volumes)
