"""Power, resize and delete of an existing instance, and the retry of a failed build, as non-blocking phased steps
(see instances.py)."""

from django.utils import timezone
from novaclient.v2.servers import Server

from . import clients
from .errors import CloudBackendError, CloudResourceNotFound
from .instances import VOLUME_ERROR_STATES, Step, _server_fault, uses_port
from .networking import port_name
from .snapshots import attached_ids
from .units import mib_to_gib


class InstanceActionsMixin:
    """Steps of the actions on a built instance; each phase acts at most once and names the next."""

    def _server_or_fail(self, instance):
        """The server, or a clear error when the cloud lost it."""
        server = self.get_server(instance)
        if server is None:
            raise CloudBackendError(f"Server {instance.backend_id} was not found in the cloud.")
        if server.status == "ERROR":
            raise CloudBackendError(f"The server is in ERROR in the cloud: {_server_fault(server)}")
        return server

    @staticmethod
    def _task_state(server):
        """Nova's task_state of a server (None when idle)."""
        return getattr(server, "OS-EXT-STS:task_state", None)

    def _power_step(self, instance, phase, action, target):
        """Issue a power action (a novaclient Server method) once, then wait until the server is idle in the
        target status."""
        server = self._server_or_fail(instance)
        if phase == "":
            if server.status == target and self._task_state(server) is None:
                return Step(done=True, changes=self._power_changes(server, target))
            if self._task_state(server) is not None:
                # A redelivered task finds the action under way: wait instead of issuing it twice.
                return Step(phase="wait", waiting_for=f"server {target}")
            with self._call(f"{action.__name__} server {server.id}"):
                action(server)
            return Step(phase="wait", waiting_for=f"server {target}")
        if server.status == target and self._task_state(server) is None:
            return Step(done=True, changes=self._power_changes(server, target))
        return Step(phase="wait", waiting_for=f"server {target} (now {server.status})")

    @staticmethod
    def _power_changes(server, target):
        """Fields learned from a server that reached a power state."""
        return {"start_time": timezone.now()} if target == "ACTIVE" else {"start_time": None}

    def stop_step(self, instance, phase=""):
        """Stop the server and wait for SHUTOFF."""
        return self._power_step(instance, phase, Server.stop, "SHUTOFF")

    def start_step(self, instance, phase=""):
        """Start the server and wait for ACTIVE."""
        return self._power_step(instance, phase, Server.start, "ACTIVE")

    def restart_step(self, instance, phase=""):
        """Reboot the server and wait until it is ACTIVE again."""
        server = self._server_or_fail(instance)
        if phase == "":
            if self._task_state(server) is not None or server.status in ("REBOOT", "HARD_REBOOT"):
                return Step(phase="wait", waiting_for="server reboot")
            with self._call(f"reboot server {server.id}"):
                server.reboot()
            return Step(phase="wait", waiting_for="server reboot")
        if server.status == "ACTIVE" and self._task_state(server) is None:
            return Step(done=True, changes={"start_time": timezone.now()})
        return Step(phase="wait", waiting_for=f"server ACTIVE (now {server.status})")

    def resize_flavor_step(self, instance, backend_flavor_id, phase=""):
        """Resize a stopped server: resize, wait VERIFY_RESIZE, confirm, wait SHUTOFF; disks untouched."""
        server = self._server_or_fail(instance)
        task_state = self._task_state(server)
        if phase == "" and (task_state is not None or server.status in ("RESIZE", "VERIFY_RESIZE")):
            phase = "verify"
        if phase == "":
            with self._call(f"resize server {server.id} to flavor {backend_flavor_id}"):
                server.resize(backend_flavor_id)
            return Step(phase="verify", waiting_for="VERIFY_RESIZE")
        if phase == "verify":
            if server.status == "VERIFY_RESIZE":
                with self._call(f"confirm resize of server {server.id}"):
                    server.confirm_resize()
                return Step(phase="confirm", waiting_for="SHUTOFF after confirm")
            if task_state is None and server.status in ("SHUTOFF", "ACTIVE"):
                raise CloudBackendError(f"The cloud did not resize server {server.id}: {_server_fault(server)}")
            return Step(phase="verify", waiting_for=f"VERIFY_RESIZE (now {server.status})")
        if server.status == "SHUTOFF" and task_state is None:
            return Step(done=True)
        return Step(phase="confirm", waiting_for=f"SHUTOFF (now {server.status})")

    def _attached_volume_ids(self, instance):
        """Ids of the volumes Nova lists as attached to the server."""
        snapshot = self.snapshot_of(self._tenant(instance))
        if snapshot is not None:
            server = snapshot.servers.get(instance.backend_id)
            return attached_ids(server) if server is not None else set()
        with self._call(f"list volume attachments of server {instance.backend_id}"):
            attachments = self.nova(self._tenant(instance)).volumes.get_server_volumes(instance.backend_id)
        return {a.volumeId for a in attachments}

    def _data_volume(self, instance):
        """The data volume, or a clear error when it is gone."""
        volume = self.get_volume(instance, instance.data_volume_id)
        if volume is None:
            raise CloudBackendError(f"Data volume {instance.data_volume_id} was not found in the cloud.")
        return volume

    def resize_disk_step(self, instance, new_size_mib, phase="", extend_error=""):
        """Grow the data volume: detach, wait, extend, wait, re-attach (even when extend failed), wait in-use.

        Returns Step(done=True, changes={"data_volume_size": ...}) only when the extend succeeded; an extend
        failure is carried in the step's `extend_error` so that the volume is re-attached before we fail.
        """
        tenant = self._tenant(instance)
        volume_id = instance.data_volume_id
        if phase == "":
            self._server_or_fail(instance)
            volume = self._data_volume(instance)
            if volume.status == "in-use" and volume_id in self._attached_volume_ids(instance):
                with self._call(f"detach volume {volume_id}"):
                    self.nova(tenant).volumes.delete_server_volume(instance.backend_id, volume_id)
            return Step(phase="detached", waiting_for="data volume detached")
        if phase == "detached":
            volume = self._data_volume(instance)
            if volume.status == "extending":
                # A step taken over after its worker died: the extend it asked for is under way.
                return Step(phase="extended", waiting_for="data volume extended")
            if volume_id in self._attached_volume_ids(instance) or volume.status != "available":
                if volume.status in VOLUME_ERROR_STATES:
                    raise CloudBackendError(f"Data volume {volume_id} went to {volume.status} while detaching.")
                return Step(phase="detached", waiting_for=f"data volume available (now {volume.status})")
            if int(volume.size) >= mib_to_gib(new_size_mib):
                # Extended already, by a run of this step whose worker died before it could say so.
                return Step(phase="attach", carry={"extend_error": ""})
            try:
                with self._call(f"extend volume {volume_id} to {mib_to_gib(new_size_mib)} GiB"):
                    self.cinder(tenant).volumes.extend(volume_id, mib_to_gib(new_size_mib))
            except CloudBackendError as exc:
                return Step(phase="attach", carry={"extend_error": str(exc)})
            return Step(phase="extended", waiting_for="data volume extended")
        if phase == "extended":
            volume = self._data_volume(instance)
            if volume.status == "extending":
                return Step(phase="extended", waiting_for="data volume extended")
            if volume.status == "error_extending":
                # Only an admin can leave error_extending; without it the volume could never be re-attached.
                with self._call(f"reset status of volume {volume_id} after a failed extend"):
                    self.cinder().volumes.reset_state(volume_id, "available")
                error = f"The cloud failed to extend volume {volume_id} (error_extending); its size is unchanged."
                return Step(phase="attach", carry={"extend_error": error})
            if volume.status != "available" or int(volume.size) < mib_to_gib(new_size_mib):
                error = f"The cloud failed to extend volume {volume_id}: status {volume.status}, size {volume.size} GiB"
                return Step(phase="attach", carry={"extend_error": error})
            return Step(phase="attach", carry={"extend_error": ""})
        if phase == "attach":
            if volume_id not in self._attached_volume_ids(instance):
                with self._call(f"attach volume {volume_id}"):
                    self.nova(tenant).volumes.create_server_volume(instance.backend_id, volume_id)
            return Step(phase="attached", waiting_for="data volume in-use", carry={"extend_error": extend_error})
        volume = self._data_volume(instance)
        if volume.status != "in-use" or volume_id not in self._attached_volume_ids(instance):
            if volume.status in VOLUME_ERROR_STATES:
                raise CloudBackendError(f"Data volume {volume_id} did not re-attach (status {volume.status}).")
            return Step(
                phase="attached",
                waiting_for=f"data volume in-use (now {volume.status})",
                carry={"extend_error": extend_error},
            )
        if extend_error:
            raise CloudBackendError(extend_error)
        return Step(done=True, changes={"data_volume_size": new_size_mib})

    def _delete_instance_port(self, instance):
        """Remove the instance's port once its server is gone: by its id, else found by its name; gone is fine."""
        tenant = self._tenant(instance)
        if instance.port_id:
            port_ids = [instance.port_id]
        elif uses_port(instance):
            # A step that made the port but died before storing its id (e.g. a failed provision's first step).
            port_ids = self.find_port_ids(tenant, port_name(instance))
        else:
            return
        for port_id in port_ids:
            self.delete_port(tenant, port_id)

    def delete_step(self, instance, phase=""):
        """Delete the server, wait until it is gone, then delete both volumes and wait until they are gone,
        then release the floating IPs allocated for it, then the port (a port we made outlives its server)."""
        tenant = self._tenant(instance)
        if phase == "":
            server = self.get_server(instance)
            # A server already being deleted (by a run of this step whose worker died) is not deleted twice.
            if server is not None and self._task_state(server) != "deleting" and server.status != "DELETED":
                with self._call(f"delete server {server.id}"):
                    server.delete()
            return Step(phase="server_gone", waiting_for="server deleted")
        if phase == "server_gone":
            if self.get_server(instance) is not None:
                return Step(phase="server_gone", waiting_for="server deleted")
            phase = "volumes"
        pending = []
        for role, volume_id in (("system", instance.system_volume_id), ("data", instance.data_volume_id)):
            volume = self.get_volume(instance, volume_id) if volume_id else self._find_volume(instance, role)
            if volume is None:
                continue
            pending.append(f"{role} volume {volume.status}")
            if volume.status == "available" or volume.status in VOLUME_ERROR_STATES:
                try:
                    with self._call(f"delete volume {volume.id}"):
                        self.cinder(tenant).volumes.delete(volume.id)
                except CloudResourceNotFound:
                    pass
        if pending:
            return Step(phase="volumes", waiting_for=", ".join(pending))
        if instance.external_network_id and uses_port(instance):
            # Before the port: once it is gone, an IP of ours on it would look like a free spare.
            self.release_instance_floating_ips(tenant, instance.port_id, instance.uuid.hex)
        self._delete_instance_port(instance)
        return Step(done=True, changes={"port_id": ""})

    def rebuild_step(self, instance, backend_flavor_id, build_retry, failed_server_id):
        """One look of a provision's one retry after Nova's transient build failure (`build_retry`, its fault): keep
        both volumes and delete the failed server, wait until it is gone and both volumes are available, then boot
        again on them. The instance has no backend_id meanwhile: its servers are found by name and metadata."""
        server = self.get_server(instance)
        if server is not None and server.id == failed_server_id:
            if self._task_state(server) != "deleting" and server.status != "DELETED":
                self._keep_volumes(instance, server.id, build_retry)
                with self._call(f"delete the failed server {server.id}"):
                    server.delete()
            return Step(phase="rebuild", waiting_for=f"the failed server {server.id} to be gone")
        if server is not None:
            # The look that booted it died before its id was stored.
            return Step(phase="rebuilt", changes={"backend_id": server.id}, waiting_for="the server built again")
        waiting = []
        for role, volume_id in (("root", instance.system_volume_id), ("data", instance.data_volume_id)):
            volume = self.get_volume(instance, volume_id)
            if volume is None or volume.status in VOLUME_ERROR_STATES:
                what = "is gone" if volume is None else f"went to status {volume.status}"
                raise CloudBackendError(f"The server went to ERROR in the cloud: {build_retry} It was not built "
                                        f"again: its {role} volume {volume_id} {what}.")  # fmt: skip
            if volume.status != "available":
                waiting.append(f"{role} volume {volume.status}")
        if waiting:
            return Step(phase="rebuild", waiting_for=f"both volumes available to boot again ({', '.join(waiting)})")
        key_name = self._ensure_keypair(instance)
        server = self._boot(instance, backend_flavor_id, instance.system_volume_id, instance.data_volume_id, key_name,
                            instance.port_id)  # fmt: skip
        return Step(phase="rebuilt", changes={"backend_id": server.id}, waiting_for="the server built again")

    def _keep_volumes(self, instance, server_id, build_retry):
        """Make Nova leave both volumes when it deletes the failed server: the boot gave them to the server
        (delete_on_termination), and the retry boots on them. Nova 2.85 allows this on a server in ERROR."""
        nova = self._client("nova-attachments", clients.nova_attachments, self._tenant(instance))
        for volume_id in (instance.system_volume_id, instance.data_volume_id):
            try:
                with self._call(f"keep volume {volume_id} when server {server_id} is deleted"):
                    nova.volumes.update_server_volume(server_id, volume_id, volume_id, delete_on_termination=False)
            except CloudBackendError as exc:
                raise CloudBackendError(f"The server went to ERROR in the cloud: {build_retry} It was not built "
                                        f"again: {exc}") from None  # fmt: skip

    def inspect_instance(self, instance):
        """What the cloud holds of an instance, as plain data: the server's status and what is not healthy.

        Healthy means: the server exists, is ACTIVE or SHUTOFF with no task under way, and both our volumes
        exist, are in-use and attached to it. Recovery moves an Erred instance on only when nothing is wrong.
        """
        problems = []
        server = self.get_server(instance)
        if server is None:
            missing = instance.backend_id or instance.hostname
            return {"status": "", "problems": [f"server {missing} is not in the cloud"]}
        if server.status == "ERROR":
            problems.append(f"server {server.id} is in ERROR: {_server_fault(server)}")
        elif server.status not in ("ACTIVE", "SHUTOFF") or self._task_state(server) is not None:
            problems.append(f"server {server.id} is {server.status} (task {self._task_state(server)})")
        attached = self._attached_volume_ids(instance) if instance.backend_id else set()
        for role, volume_id in (("root", instance.system_volume_id), ("data", instance.data_volume_id)):
            volume = self.get_volume(instance, volume_id) if volume_id else None
            if volume is None:
                problems.append(f"the {role} volume {volume_id or '(no id)'} is not in the cloud")
            elif volume.status != "in-use" or volume.id not in attached:
                problems.append(f"the {role} volume {volume.id} is {volume.status}, not attached to the server")
        return {"status": server.status, "problems": problems, "server_id": server.id}

    def recover_step(self, instance, phase=""):
        """Recovery's one look: done when the server and both volumes are healthy (carrying whether the server
        runs), else refused with what is wrong, so the instance stays Erred saying it."""
        try:
            found = self.inspect_instance(instance)
        except CloudBackendError as exc:
            found = {"status": "", "problems": [str(exc)]}
        if found["problems"]:
            raise CloudBackendError("Not recovered: " + "; ".join(found["problems"]) + ".")
        return Step(done=True, carry={"running": found["status"] == "ACTIVE"})

    def security_groups_step(self, instance, phase="", security_group_ids=()):
        """Give every port of the running server exactly these groups (Neutron ids); one call per port that
        differs, none when they match."""
        if not instance.backend_id:
            raise CloudBackendError("The instance has no server in the cloud.")
        self.set_server_security_groups(instance.tenant_id, instance.backend_id, security_group_ids)
        return Step(done=True)

    def assign_floating_ip_step(self, instance, phase="", floating_ip_id=""):
        """Give the instance's port a floating IP (the provision's own step), carrying its fip_data."""
        if not instance.port_id:
            raise CloudBackendError("The instance has no port on its tenant network, so it cannot have a floating IP.")
        return Step(done=True, carry={"floating_ip": self.give_floating_ip(instance, instance.port_id, floating_ip_id)})

    def unassign_floating_ip_step(self, instance, phase="", floating_ip_id=""):
        """Take the port's floating IPs (or only `floating_ip_id`) off it, carrying the fip_data of each freed."""
        released = self.unassign_floating_ips(instance.tenant_id, instance.port_id, floating_ip_id) \
            if instance.port_id else []  # fmt: skip
        return Step(done=True, carry={"released": released})
