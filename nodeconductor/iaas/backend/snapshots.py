"""One look at a whole tenant: its servers and volumes listed once, for the steps of one poller tick.

While a backend reads from a snapshot (`with backend.reading(snapshot)`), the lookups of the steps
(get_server, get_volume, the search for our volumes by name, the server's attached volumes) answer from it
instead of making one GET each; the steps' writes still go to the cloud. A tick of many waiting operations
then costs two list calls, not several calls per operation.
"""

import concurrent.futures
import contextlib
import dataclasses
import time

from .instances import META_KEY


@dataclasses.dataclass
class TenantSnapshot:
    """Every server and volume of one tenant as the clients returned them, and when the listing began."""

    tenant_id: str
    servers: dict
    volumes: dict
    taken: float
    _by_owner: dict = dataclasses.field(default=None, repr=False, compare=False)

    def volumes_of(self, instance_uuid):
        """The volumes carrying the instance's uuid in our metadata (found by name too, recorded or not)."""
        if self._by_owner is None:  # indexed once per snapshot: a tick asks it for every waiting instance
            self._by_owner = {}
            for volume in self.volumes.values():
                owner = (volume.metadata or {}).get(META_KEY)
                if owner:
                    self._by_owner.setdefault(owner, []).append(volume)
        return self._by_owner.get(str(instance_uuid), [])

    def server_for(self, instance_uuid, hostname, backend_id=""):
        """Our server of an instance: by id, else by our metadata and its host name; None when absent."""
        if backend_id:
            return self.servers.get(backend_id)
        for server in self.servers.values():
            meta = getattr(server, "metadata", None) or {}
            if server.name == hostname and meta.get(META_KEY) == str(instance_uuid):
                return server
        return None

    def volume_named(self, name, instance_uuid):
        """Our volume of that name carrying the instance's uuid, or None."""
        for volume in self.volumes.values():
            if volume.name == name and (volume.metadata or {}).get(META_KEY) == str(instance_uuid):
                return volume
        return None


def attached_ids(server):
    """Ids of the volumes Nova lists on a server (its os-extended-volumes attribute)."""
    return {v["id"] for v in getattr(server, "os-extended-volumes:volumes_attached", None) or ()}


class SnapshotMixin:
    """Lists a tenant once and lets the steps read from that listing; mixed into OpenStackBackend."""

    _snapshot = None

    def snapshot_tenant(self, tenant_id):
        """List every server and volume of the tenant (two calls, at the same time) as a TenantSnapshot.

        The two lists go out together: a tick sees a change only from its next listing on, so every wait ends
        up to one listing late (on mini-openstack, idle: 32 ms for Nova's, 16 ms for Cinder's).
        """
        taken = time.time()
        # The clients are made here, not in the thread: the backend's client cache is not shared across threads.
        nova, cinder = self.nova(tenant_id), self.cinder(tenant_id)

        with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="snapshot") as pool:
            volumes = pool.submit(cinder.volumes.list)
            # Retried like every server read: Nova's transient 500 while a port binding is updated.
            servers = self._nova_read(f"list servers of tenant {tenant_id}", nova.servers.list)
            try:
                volumes = volumes.result()
            except Exception:  # noqa: BLE001 - asked again below, alone, where its error is translated
                # Both calls carried the same token: when Keystone rejects it, only one of them renews it (the
                # other's invalidate finds nothing to drop and does not retry), so the volume list is asked again.
                volumes = None
        if volumes is None:
            with self._call(f"list volumes of tenant {tenant_id}"):
                volumes = cinder.volumes.list()
        return TenantSnapshot(tenant_id, {s.id: s for s in servers}, {v.id: v for v in volumes}, taken)

    @contextlib.contextmanager
    def reading(self, snapshot):
        """Within the block, the steps' lookups in the snapshot's tenant answer from the snapshot."""
        previous, self._snapshot = self._snapshot, snapshot
        try:
            yield self
        finally:
            self._snapshot = previous

    def snapshot_of(self, tenant_id):
        """The snapshot being read for this tenant, or None (then the lookups call the cloud)."""
        snapshot = self._snapshot
        return snapshot if snapshot is not None and snapshot.tenant_id == tenant_id else None

    @staticmethod
    def fingerprint(snapshot, instance):
        """What the snapshot shows of an instance's server and volumes, as plain data: when it is the same as at
        the last look, a step would see nothing new, so the poller does not run it."""
        server = snapshot.server_for(instance.uuid, instance.hostname, instance.backend_id)
        seen = []
        if server is not None:
            # The floating addresses too: a provision waits for one to show while the server stays ACTIVE.
            floating = sorted(a.get("addr", "") for nets in (getattr(server, "addresses", None) or {}).values()
                              for a in nets if a.get("OS-EXT-IPS:type") == "floating")  # fmt: skip
            seen.append(["server", server.id, server.status, getattr(server, "OS-EXT-STS:task_state", None),
                         sorted(attached_ids(server)), getattr(server, "flavor", {}).get("id"), floating])  # fmt: skip
        else:
            seen.append(["server", None])
        for volume_id in (instance.system_volume_id, instance.data_volume_id):
            volume = snapshot.volumes.get(volume_id) if volume_id else None
            seen.append(["volume", volume_id, volume.status if volume else None, int(volume.size) if volume else None])
        # Ours by metadata too: a step may act on a volume it found by name and never recorded (a refused
        # provision's clean-up deletes such a root volume and waits for it to go), so its change or its
        # disappearance must count as well.
        seen.append(["ours", sorted([v.id, v.status, int(v.size)] for v in snapshot.volumes_of(instance.uuid))])
        return seen
