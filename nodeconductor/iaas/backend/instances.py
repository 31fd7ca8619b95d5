"""Instance work in the cloud as non-blocking steps: each call looks, acts once, and says what to wait for.

A step never sleeps. It returns a Step: done, or the next phase to call again after a poll interval, plus
the fields of our Instance it learned (backend ids, IPs). Workers re-enqueue the next phase with a countdown
instead of holding a worker slot while the cloud works; the shell path loops with a sleep. Every step finds
before it creates (names and metadata carry our uuid), so a redelivered task never makes a second server.
"""

import dataclasses
import logging
import time

from django.utils import timezone
from novaclient import exceptions as nova_exceptions

from .errors import CloudBackendError, CloudResourceNotFound
from .networking import networks_mode, port_name
from .units import mib_to_gib

logger = logging.getLogger(__name__)

META_KEY = "nodeconductor_instance"
# Nova answers GET /servers/<id> with a transient 500 while a security-group lookup in Neutron races a port
# binding update (mini-openstack NOTES.md); the next read works, so server reads are retried a few times.
NOVA_READ_ATTEMPTS = 4
NOVA_READ_RETRY_PAUSE = 0.5
# Nova's fault of a build that failed on every host it could try (MaxRetriesExceeded). On mini-openstack a
# transient Neutron 500 during the port binding ends in it; the next build usually works, so it is retried once.
TRANSIENT_BUILD_FAULT = "Exceeded maximum number of retries"
VOLUME_ERROR_STATES = {"error", "error_extending", "error_deleting", "error_restoring", "error_detaching",
                       "error_attaching", "error_managing"}


@dataclasses.dataclass
class Step:
    """Outcome of one step: done, or the phase to run next; changes are Instance fields to store."""

    done: bool = False
    phase: str = ""
    changes: dict = dataclasses.field(default_factory=dict)
    waiting_for: str = ""
    # Parameters the next phase needs (e.g. an extend error to report after re-attaching).
    carry: dict = dataclasses.field(default_factory=dict)


def _owner(resource):
    """The instance uuid a server's or volume's metadata names, or "" when it carries none of ours."""
    return (getattr(resource, "metadata", None) or {}).get(META_KEY) or ""


def volume_name(instance, role):
    """Name of an instance's system or data volume in Cinder; carries our uuid so a retry finds it."""
    return f"nc-{instance.uuid.hex}-{role}"


def keypair_name(key):
    """Nova keypair name of one of our SSH keys (keypairs belong to the admin user, so names must be unique)."""
    return f"nc-{key.uuid.hex}"


def networks_setting():
    """What to pass as nics at boot when there is no port of ours: 'none', 'auto' or a list of nics (settings)."""
    mode = networks_mode()
    return "none" if mode == "tenant" else mode


def uses_port(membership):
    """Whether the membership's instances boot on ports of its tenant network (a membership, or an InstanceSpec,
    which carries its membership's networking)."""
    return networks_mode() == "tenant" and membership.networking != "none"


def _server_fault(server):
    """The cloud's reason for a server in ERROR."""
    fault = getattr(server, "fault", None) or {}
    return fault.get("message") or "no reason given"


def _ips(server):
    """(internal, external) addresses of a server, comma-separated."""
    internal, external = [], []
    for addresses in (getattr(server, "addresses", None) or {}).values():
        for addr in addresses:
            target = external if addr.get("OS-EXT-IPS:type") == "floating" else internal
            target.append(addr.get("addr", ""))
    return ",".join(filter(None, internal)), ",".join(filter(None, external))


class InstanceOperationsMixin:
    """Provision, power, resize and delete steps; mixed into OpenStackBackend. `instance` is an InstanceSpec
    (specs.py): plain data, so no step reads the database."""

    def run_step(self, step, instance, **kwargs):
        """Run one step (a step function of this backend, on an InstanceSpec) with every client error translated,
        even one raised by a lazily loaded attribute."""
        with self._call(step.__name__.removesuffix("_step").replace("_", " ")):
            return step(self, instance, **kwargs)

    # Lookups ---------------------------------------------------------------------------------------
    def _tenant(self, instance):
        """Tenant id of the instance's membership."""
        return instance.tenant_id

    def _nova_read(self, what, fn, *args, **kwargs):
        """A Nova read, retried while it fails with a 500 (the transient port-binding race), then translated."""
        for attempt in range(NOVA_READ_ATTEMPTS):
            with self._call(what):
                try:
                    return fn(*args, **kwargs)
                except nova_exceptions.ClientException as exc:
                    if getattr(exc, "code", None) != 500 or attempt == NOVA_READ_ATTEMPTS - 1:
                        raise
                    logger.info("%s: transient 500 (%s), reading again", what, exc)
            time.sleep(NOVA_READ_RETRY_PAUSE)

    def get_server(self, instance):
        """The instance's Nova server, or None when the cloud no longer has it."""
        snapshot = self.snapshot_of(self._tenant(instance))
        if snapshot is not None:
            return snapshot.server_for(instance.uuid, instance.hostname, instance.backend_id)
        nova = self.nova(self._tenant(instance))
        if instance.backend_id:
            try:
                return self._nova_read(f"get server {instance.backend_id}", nova.servers.get, instance.backend_id)
            except CloudResourceNotFound:
                return None
        servers = self._nova_read("list servers", nova.servers.list, search_opts={"name": instance.hostname})
        for server in servers:
            if (getattr(server, "metadata", None) or {}).get(META_KEY) == str(instance.uuid):
                return server
        return None

    def get_volume(self, instance, volume_id):
        """A Cinder volume by id, or None when it is gone."""
        snapshot = self.snapshot_of(self._tenant(instance))
        if snapshot is not None:
            return snapshot.volumes.get(volume_id)
        try:
            with self._call(f"get volume {volume_id}"):
                return self.cinder(self._tenant(instance)).volumes.get(volume_id)
        except CloudResourceNotFound:
            return None

    def _find_volume(self, instance, role):
        """Our system or data volume by its name and metadata, or None."""
        name = volume_name(instance, role)
        snapshot = self.snapshot_of(self._tenant(instance))
        if snapshot is not None:
            return snapshot.volume_named(name, instance.uuid)
        with self._call(f"find volume {name}"):
            volumes = self.cinder(self._tenant(instance)).volumes.list(search_opts={"name": name})
        for volume in volumes:
            if volume.name == name and (volume.metadata or {}).get(META_KEY) == str(instance.uuid):
                return volume
        return None

    # Provisioning -----------------------------------------------------------------------------------
    def _image_backend_id(self, instance):
        """The Glance image of the instance's template in this cloud."""
        image = instance.image
        if image is None:
            raise CloudBackendError(
                f"Template {instance.template_name} has no image in cloud {self.access.name}; pull the cloud first."
            )
        return image.backend_id, image.min_disk

    def _ensure_volume(self, instance, role, size_mib, image_id=None, snapshot_id=None):
        """Find or create the system (from image) or data (empty) volume, or either from a backup's snapshot."""
        current_id = instance.system_volume_id if role == "system" else instance.data_volume_id
        volume = self.get_volume(instance, current_id) if current_id else self._find_volume(instance, role)
        if volume is None:
            name = volume_name(instance, role)
            with self._call(f"create {role} volume {name}"):
                volume = self.cinder(self._tenant(instance)).volumes.create(
                    size=mib_to_gib(size_mib),
                    name=name,
                    imageRef=image_id,
                    snapshot_id=snapshot_id,
                    metadata={META_KEY: str(instance.uuid)},
                    description=f"{role} volume of {instance.hostname}",
                )
        if volume.status in VOLUME_ERROR_STATES:
            raise CloudBackendError(f"The {role} volume {volume.id} went to status {volume.status} in the cloud.")
        return volume

    def _ensure_keypair(self, instance):
        """Push the instance's SSH key as a Nova keypair (or reuse it); a key that cannot be pushed fails."""
        key = instance.ssh_key
        if key is None:
            if instance.key_name:
                raise CloudBackendError(f"SSH key {instance.key_name} was deleted before the instance was built.")
            return None
        nova = self.nova(self._tenant(instance))
        name = keypair_name(key)
        try:
            with self._call(f"get keypair {name}"):
                nova.keypairs.get(name)
            return name
        except CloudResourceNotFound:
            pass
        with self._call(f"push SSH key {key.name}"):
            try:
                nova.keypairs.create(name, public_key=key.public_key)
            except nova_exceptions.Conflict:
                # Keypairs belong to the admin user, not to a tenant: another build with the same key (in this
                # tenant or another, on another worker) pushed it since our look. Theirs is ours: same name, same key.
                nova.keypairs.get(name)
        return name

    def _ensure_instance_port(self, instance, security_group_ids):
        """The instance's port on its membership's network (found by name before it is made): its id, or ""
        when the tenant turns out to have no networking (a cloud without Neutron).

        security_group_ids None gives the port the tenant's default group. Ports stay DOWN on clouds without
        an OVN controller, so nothing waits for the port: the server's ACTIVE is what counts.
        """
        tenant = self._tenant(instance)
        network_id = instance.network_id
        if not network_id:
            # A membership bound without a sync (the seed's shell example): its network set is found or made now.
            network_id = self.ensure_membership_network(tenant)["network_id"]
            if not network_id:
                return ""
        return self.ensure_port(tenant, network_id, port_name(instance), security_group_ids)["id"]

    def provision_step(self, instance, backend_flavor_id, phase="", security_group_ids=None, assign_floating_ip=False,
                       floating_ip=None, system_snapshot_id="", data_snapshot_id="", build_retry="",
                       failed_server_id=""):
        """Advance provisioning by one look: volumes and port, then the server, then wait for ACTIVE; with
        assign_floating_ip, then a floating IP on the port, and wait for Nova to show its address. A restore
        makes both volumes from a backup's snapshots (at the instance's sizes, the snapshots') instead.

        Nova's transient build failure is retried once on the same volumes (phase "rebuild", rebuild_step in
        instance_actions.py); build_retry carries the first failure's fault, so a second failure is final and
        says both.
        """
        if phase == "rebuild":
            return self.rebuild_step(instance, backend_flavor_id, build_retry, failed_server_id)
        changes = {}
        if not instance.backend_id:
            first_look = not instance.system_volume_id and not instance.data_volume_id
            if first_look and instance.membership_state != "in_sync":
                # The seed binds tenants without a sync: make sure the admin may work there.
                self.ensure_tenant_access(self._tenant(instance))
            if system_snapshot_id:
                root = self._ensure_volume(instance, "system", instance.system_volume_size,
                                           snapshot_id=system_snapshot_id)  # fmt: skip
            else:
                image_id, min_disk = self._image_backend_id(instance)
                root = self._ensure_volume(instance, "system", max(instance.system_volume_size, min_disk), image_id)
            data = self._ensure_volume(instance, "data", instance.data_volume_size,
                                       snapshot_id=data_snapshot_id or None)  # fmt: skip
            changes.update(system_volume_id=root.id, data_volume_id=data.id)
            if not instance.port_id and uses_port(instance):
                port_id = self._ensure_instance_port(instance, security_group_ids)
                changes.update({"port_id": port_id} if port_id else {})
            if {root.status, data.status} & {"creating", "downloading"}:
                # No server can exist before both volumes were available: skip looking for one.
                return Step(phase="volumes", changes=changes, waiting_for="volumes to become available")
            server = self.get_server(instance)
            if server is None:
                if root.status != "available" or data.status != "available":
                    return Step(phase="volumes", changes=changes, waiting_for="volumes to become available")
                key_name = self._ensure_keypair(instance)
                port_id = changes.get("port_id", instance.port_id)
                server = self._boot(instance, backend_flavor_id, root.id, data.id, key_name, port_id)
                # The create answer holds only the id; look at the server on the next step.
                changes["backend_id"] = server.id
                return Step(phase="server", changes=changes, waiting_for="server build")
            changes["backend_id"] = server.id
        else:
            server = self.get_server(instance)
            if server is None:
                raise CloudBackendError(f"Server {instance.backend_id} vanished from the cloud while building.")
        if server.status == "ERROR":
            return self._build_failed(server, changes, build_retry)
        if server.status != "ACTIVE":
            building = f" (built again after: {build_retry})" if build_retry else ""
            return Step(phase="rebuilt" if build_retry else "server", changes=changes,
                        waiting_for=f"server {server.status}{building}")  # fmt: skip
        internal, external = _ips(server)
        if assign_floating_ip and phase != "floating_ip":
            fip = self.give_floating_ip(instance, changes.get("port_id", instance.port_id))
            return Step(phase="floating_ip", changes={**changes, "internal_ips": internal}, carry={"floating_ip": fip},
                        waiting_for=f"floating IP {fip['address']} on the server")  # fmt: skip
        if assign_floating_ip and not external:
            # Nova shows the address only after Neutron's network-changed event (1.3-3.3 s on mini-openstack).
            return Step(phase="floating_ip", changes=changes, waiting_for="the floating IP on the server")
        changes.update(internal_ips=internal, external_ips=external, start_time=timezone.now())
        return Step(done=True, changes=changes)

    @staticmethod
    def _build_failed(server, changes, build_retry):
        """A server in ERROR: Nova's transient build failure goes to the retry once; any other, or a second, fails."""
        fault = _server_fault(server)
        if build_retry:
            raise CloudBackendError(f"The server went to ERROR in the cloud again, after one retry: {fault} "
                                    f"(the first build failed with: {build_retry})")  # fmt: skip
        if TRANSIENT_BUILD_FAULT not in fault:
            raise CloudBackendError(f"The server went to ERROR in the cloud: {fault}")
        # The failed server is found by name and metadata from now on, as the second one will be until it is booted.
        return Step(phase="rebuild", changes={**changes, "backend_id": ""},
                    carry={"build_retry": fault, "failed_server_id": server.id},
                    waiting_for=f"a second build of the server, after Nova's transient failure: {fault}")  # fmt: skip

    def give_floating_ip(self, instance, port_id, floating_ip_id=""):
        """The floating IP step that a provision asked for and the assign action share: the port's IP, else
        `floating_ip_id`, else a free one of ours, else a new one; returns its fip_data."""
        return self.assign_floating_ip(instance.tenant_id, port_id, instance.external_network_id, instance.uuid.hex,
                                       floating_ip_id)  # fmt: skip

    def _boot(self, instance, backend_flavor_id, root_id, data_id, key_name, port_id=""):
        """Boot the server from the root volume with the data volume attached (both go with the server), on
        our port when there is one (it outlives the server: the delete step removes it)."""
        bdm = [
            {"uuid": root_id, "source_type": "volume", "destination_type": "volume", "boot_index": 0,
             "delete_on_termination": True},
            {"uuid": data_id, "source_type": "volume", "destination_type": "volume", "boot_index": -1,
             "delete_on_termination": True},
        ]  # fmt: skip
        with self._call(f"boot server {instance.hostname}"):
            return self.nova(self._tenant(instance)).servers.create(
                name=instance.hostname,
                image=None,
                flavor=backend_flavor_id,
                key_name=key_name,
                block_device_mapping_v2=bdm,
                nics=[{"port-id": port_id}] if port_id else networks_setting(),
                meta={META_KEY: str(instance.uuid)},
                userdata=instance.user_data or None,
            )

    def list_servers(self, tenant_id):
        """Servers of a tenant as plain dicts keyed by id: status, task_state and the fault message."""
        servers = self._nova_read(f"list servers of tenant {tenant_id}", self.nova(tenant_id).servers.list)
        return {
            s.id: {
                "status": s.status,
                "task_state": getattr(s, "OS-EXT-STS:task_state", None),
                "fault": _server_fault(s) if s.status == "ERROR" else "",
            }
            for s in servers
        }

    def list_ours(self, tenant_id):
        """Servers and deletable volumes of a tenant that carry our metadata: {"servers": [...], "volumes": [...]},
        each {"id", "owner"} (owner: the instance uuid the metadata names). What a sweep chooses from.

        A create that timed out on our side may still land in the cloud after the provision gave up and cleaned
        up: nothing would track it. The periodic pull sweeps such leftovers.
        """
        servers = self._nova_read(f"list servers of tenant {tenant_id}", self.nova(tenant_id).servers.list)
        with self._call(f"list volumes of tenant {tenant_id}"):
            volumes = self.cinder(tenant_id).volumes.list()
        # An attached or busy volume goes with its server, or waits for the next sweep.
        volumes = [v for v in volumes if v.status in {"available"} | VOLUME_ERROR_STATES]
        return {
            "servers": [{"id": s.id, "owner": owner} for s in servers if (owner := _owner(s))],
            "volumes": [{"id": v.id, "owner": owner} for v in volumes if (owner := _owner(v))],
        }

    def delete_leftovers(self, tenant_id, servers, volumes):
        """Delete the servers and volumes given (dicts of list_ours); return what was deleted, one line each."""
        deleted = []
        nova, cinder = self.nova(tenant_id), self.cinder(tenant_id)
        for server in servers:
            with self._call(f"delete untracked server {server['id']}"):
                nova.servers.delete(server["id"])
            deleted.append(f"server {server['id']} of instance {server['owner']}")
        for volume in volumes:
            with self._call(f"delete untracked volume {volume['id']}"):
                cinder.volumes.delete(volume["id"])
            deleted.append(f"volume {volume['id']} of instance {volume['owner']}")
        return deleted
