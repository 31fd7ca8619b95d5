"""Volume records shared by Nova (boot, attach, detach) and Cinder, so both APIs see one truth."""

from .core import isotime, new_id


def new_volume(state, project_id, user_id, size, name, image=None, status="creating", metadata=None,
               description=None):
    """Create a Cinder volume record; `image` (a Glance record) makes it bootable with image metadata."""
    vid = new_id()
    now = isotime(micro=True)
    vol = {"id": vid, "name": name, "description": description, "size": int(size), "status": status,
           "project_id": project_id, "user_id": user_id, "bootable": image is not None,
           "image_id": image["id"] if image else None, "metadata": dict(metadata or {}), "created_at": now,
           "updated_at": now, "attachments": [], "volume_type": "__DEFAULT__", "image_metadata": {}}
    if image is not None:
        vol["image_metadata"] = {"image_id": image["id"], "image_name": image["name"],
                                 "checksum": image["checksum"], "container_format": image["container_format"],
                                 "disk_format": image["disk_format"], "min_disk": str(image["min_disk"]),
                                 "min_ram": str(image["min_ram"]), "size": str(image["size"])}
    state.volumes[vid] = vol
    return vol


def has_snapshots(state, volume_id):
    """Whether any snapshot (in any status) is of this volume: Cinder then refuses to delete the volume."""
    return any(s["volume_id"] == volume_id for s in state.snapshots.values())


def attach(state, vol, server_id, device):
    """Mark a volume in-use by a server (what Nova's attach or boot ends with)."""
    vol["attachments"] = [{"id": vol["id"], "attachment_id": new_id(), "volume_id": vol["id"],
                           "server_id": server_id, "host_name": None, "device": device,
                           "attached_at": isotime(micro=True)}]
    vol["status"] = "in-use"
    vol["updated_at"] = isotime(micro=True)


def begin_detach(state, vol):
    """Start a detach: Cinder shows `detaching` until the timer finishes it."""
    vol["status"] = "detaching"
    vol["updated_at"] = isotime(micro=True)


def finish_detach(state, vol, server_id):
    """Drop the server's attachment; the volume is available again once nothing holds it."""
    vol["attachments"] = [a for a in vol["attachments"] if a["server_id"] != server_id]
    if not vol["attachments"]:
        vol["status"] = "available"
    vol["updated_at"] = isotime(micro=True)
