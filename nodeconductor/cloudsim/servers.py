"""Nova servers: list, show and boot (incl. BDM v2 boot-from-volume); actions and delete are in server_actions,
volume attachments in server_attachments."""

import base64
import binascii
import re

from .core import ApiError, isotime, new_id
from .http import Response
from .server_networks import ALLOCATION_FAILED, addresses, allocate, plan_nics, release, security_group_names
from .volumes_model import attach, new_volume

# (vm_state, task_state) -> status, as nova.api.openstack.common.status_from_state maps them.
TASK_STATUS = {"rebooting": "REBOOT", "reboot_started": "REBOOT", "rebooting_hard": "HARD_REBOOT",
               "reboot_started_hard": "HARD_REBOOT", "resize_prep": "RESIZE", "resize_migrating": "RESIZE",
               "resize_migrated": "RESIZE", "resize_finish": "RESIZE", "resize_reverting": "REVERT_RESIZE"}
VM_STATUS = {"building": "BUILD", "active": "ACTIVE", "stopped": "SHUTOFF", "resized": "VERIFY_RESIZE",
             "error": "ERROR", "deleted": "DELETED"}
POWER = {"active": 1, "stopped": 4, "building": 0, "error": 0, "resized": 1}


def server_status(s):
    """Return Nova's status for a server's vm_state / task_state."""
    if s["vm_state"] in ("active", "stopped", "resized") and s["task_state"] in TASK_STATUS:
        if s["vm_state"] == "resized" and s["task_state"] != "resize_reverting":
            return "VERIFY_RESIZE"
        return TASK_STATUS[s["task_state"]]
    return VM_STATUS.get(s["vm_state"], "UNKNOWN")


def conflict(action, s, attr="vm_state"):
    """Nova's 409 for an action the server's state does not allow."""
    return ApiError(409, f"Cannot '{action}' instance {s['id']} while it is in {attr} {s[attr]}")


# Nova's fault when a build failed on every host it could try (the conductor's MaxRetriesExceeded): on
# mini-openstack's one host, what a transient Neutron 500 during the port binding ends in.
RETRIES_EXHAUSTED = ("Exceeded maximum number of retries. Exhausted all hosts available for retrying build failures "
                     "for instance {}.")

# Nova's schema: user_data is a base64 string of at most 65535 characters.
USER_DATA_MAX = 65535


def _user_data(value):
    """The create's user_data as Nova checks it: base64 text within the limit, else its 400; None when absent."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, f"Invalid input for field/attribute user_data. Value: {value}. {value} is not of type "
                            "'string'")
    if len(value) > USER_DATA_MAX:
        raise ApiError(400, f"Invalid input for field/attribute user_data. Value: {value[:40]}... is too long")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "User data needs to be valid base 64.") from None
    return value


class ServersMixin:
    """Server routes and their timed state machine, mixed into the Compute service."""

    def server_routes(self, v):
        """Register the server routes under the version prefix pattern `v`."""
        r = self.route
        r("GET", v + "/servers", "compute.server_list", self.server_list)
        r("GET", v + "/servers/detail", "compute.server_list", self.server_list)
        r("POST", v + "/servers", "compute.server_create", self.server_create)
        r("GET", v + "/servers/(?P<id>[^/]+)", "compute.server_get", self.server_get)
        r("DELETE", v + "/servers/(?P<id>[^/]+)", "compute.server_delete", self.server_delete)
        # ServerActionsMixin's and AttachmentsMixin's, beside this one in the Compute service.
        self.server_action_routes(v)
        self.attachment_routes(v)

    # -- views ---------------------------------------------------------------------------------------

    def get_server(self, req, server_id=None):
        """Return a server visible to the caller or raise Nova's 404."""
        sid = server_id or req.match["id"]
        s = self.state.servers.get(sid)
        if s is None or (s["project_id"] != req.project_id and not req.is_admin):
            raise ApiError(404, f"Instance {sid} could not be found.")
        return s

    def server_view(self, req, s, detail=True):
        """Render a server for the request's microversion."""
        out = {"id": s["id"], "name": s["name"], "links": self.link("servers", s["id"])}
        if not detail:
            return out
        f = s["flavor"]
        if req.version.at_least("2.47"):
            flavor = {"vcpus": f["vcpus"], "ram": f["ram"], "disk": f["disk"], "ephemeral": f["ephemeral"],
                      "swap": f["swap"], "original_name": f["name"], "extra_specs": dict(f["extra_specs"])}
        else:
            flavor = {"id": f["id"], "links": [self.link("flavors", f["id"])[1]]}
        image = ""
        if s["image_id"]:
            image = {"id": s["image_id"], "links": [self.link("images", s["image_id"])[1]]}
        volumes = []
        for b in s["bdms"]:
            item = {"id": b["volume_id"]}
            if req.version.at_least("2.3"):
                item["delete_on_termination"] = b["delete_on_termination"]
            volumes.append(item)
        out.update({
            "status": server_status(s), "tenant_id": s["project_id"], "user_id": s["user_id"],
            "metadata": dict(s["metadata"]), "hostId": s["host_id"], "image": image, "flavor": flavor,
            "created": s["created"], "updated": s["updated"], "addresses": addresses(self.state, s),
            "accessIPv4": "", "accessIPv6": "",
            "OS-DCF:diskConfig": "MANUAL", "progress": 0, "OS-EXT-AZ:availability_zone": "nova",
            "config_drive": "", "key_name": s["key_name"], "OS-SRV-USG:launched_at": s["launched_at"],
            "OS-SRV-USG:terminated_at": None, "OS-EXT-STS:task_state": s["task_state"],
            "OS-EXT-STS:vm_state": s["vm_state"], "OS-EXT-STS:power_state": s["power_state"],
            "os-extended-volumes:volumes_attached": volumes,
        })
        if req.is_admin:
            out.update({"OS-EXT-SRV-ATTR:host": "minicloud", "OS-EXT-SRV-ATTR:hypervisor_hostname": "minicloud",
                        "OS-EXT-SRV-ATTR:instance_name": s["instance_name"]})
            if req.version.at_least("2.3"):
                out["OS-EXT-SRV-ATTR:user_data"] = s["user_data"]
        if req.version.at_least("2.9"):
            out["locked"] = False
        if req.version.at_least("2.19"):
            out["description"] = s["description"]
        if req.version.at_least("2.26"):
            out["tags"] = []
        if req.version.at_least("2.63"):
            out["trusted_image_certificates"] = None
        if req.version.at_least("2.73"):
            out["locked_reason"] = None
        if s["nics"]:
            out["security_groups"] = security_group_names(self.state, s)
        if s["fault"]:
            out["fault"] = dict(s["fault"])
        return out

    def server_list(self, req):
        """GET /servers[/detail] with name / status filters and all_tenants for admins."""
        servers = [s for s in self.state.servers.values()
                   if s["project_id"] == req.project_id or (req.is_admin and req.arg("all_tenants"))]
        if req.arg("name"):
            servers = [s for s in servers if re.search(req.arg("name"), s["name"])]
        if req.arg("status"):
            servers = [s for s in servers if server_status(s) == req.arg("status").upper()]
        servers.sort(key=lambda s: s["created_seq"], reverse=True)
        detail = req.path.endswith("/detail")
        return self.ok({"servers": [self.server_view(req, s, detail) for s in servers]})

    def server_get(self, req):
        """GET /servers/{id}."""
        return self.ok({"server": self.server_view(req, self.get_server(req))})

    @staticmethod
    def ok(body, status=200):
        """Build a Response (local import keeps the mixin free of the http module)."""
        return Response(status, body)

    # -- create --------------------------------------------------------------------------------------

    def _bdm_volumes(self, req, spec):
        st = self.state
        bdms = []
        for i, b in enumerate(spec.get("block_device_mapping_v2") or []):
            src, dest = b.get("source_type"), b.get("destination_type")
            boot_index = b.get("boot_index")
            boot_index = int(boot_index) if boot_index not in (None, "") else None
            dot = bool(b.get("delete_on_termination", False))
            if src == "volume" and dest == "volume":
                vol = st.volumes.get(b.get("uuid") or "")
                if vol is None or vol["project_id"] != req.project_id:
                    raise ApiError(400, f"Block Device Mapping is Invalid: failed to get volume {b.get('uuid')}.")
                if vol["attachments"] or vol["status"] == "in-use":
                    servers = ",".join(a["server_id"] for a in vol["attachments"])
                    raise ApiError(400, f"Invalid volume: volume {vol['id']} is already attached to instances: "
                                        f"{servers}")
                if vol["status"] != "available":
                    raise ApiError(400, f"Invalid volume: Volume {vol['id']} status must be available or downloading "
                                        f"to reserve, but the current status is {vol['status']}.")
                if boot_index == 0 and not vol["bootable"]:
                    raise ApiError(400, f"Block Device {vol['id']} is not bootable.")
                bdms.append({"volume_id": vol["id"], "boot_index": boot_index, "delete_on_termination": dot,
                             "new": None})
            elif src == "image" and dest == "volume":
                image = st.images.get(b.get("uuid") or "")
                if image is None or image["status"] != "active":
                    raise ApiError(400, f"Block Device Mapping is Invalid: failed to get image {b.get('uuid')}.")
                size = int(b.get("volume_size") or 0)
                if size < image["min_disk"] or size <= 0:
                    raise ApiError(400, f"Volume is smaller than the minimum size specified in image metadata. "
                                        f"Volume size is {size * 1024 ** 3} bytes, minimum size is "
                                        f"{image['min_disk'] * 1024 ** 3} bytes.")
                bdms.append({"volume_id": None, "boot_index": boot_index, "delete_on_termination": dot,
                             "new": (image, size)})
            elif i == 0 and src == "image" and dest == "local":
                continue
            else:
                raise ApiError(400, f"Block Device Mapping is Invalid: Unrecognized legacy format. {b}")
        return bdms

    def _check_quota(self, project_id, flavor, instances=1, old_flavor=None):
        st = self.state
        q, used = st.nova_quota(project_id), st.nova_usage(project_id)
        if old_flavor is None:
            wanted = {"instances": instances, "cores": flavor["vcpus"], "ram": flavor["ram"]}
        else:
            wanted = {"cores": flavor["vcpus"] - old_flavor["vcpus"], "ram": flavor["ram"] - old_flavor["ram"]}
        for key in ("instances", "cores", "ram"):
            want = wanted.get(key, 0)
            if want > 0 and q[key] >= 0 and used[key] + want > q[key]:
                raise ApiError(403, f"Quota exceeded for {key}: Requested {want}, but already used {used[key]} of "
                                    f"{q[key]} {key}")

    def server_create(self, req):
        """POST /servers: validate, reserve the volumes, then BUILD -> ACTIVE on a timer."""
        st = self.state
        spec = (req.body or {}).get("server") if isinstance(req.body, dict) else None
        if not isinstance(spec, dict) or not spec.get("name"):
            raise ApiError(400, "Invalid input for field/attribute server. Value: None. 'name' is a required property")
        if req.version.at_least("2.37") and "networks" not in spec:
            raise ApiError(400, f"Invalid input for field/attribute server. Value: {spec}. 'networks' is a required "
                                "property")
        networks = spec.get("networks")
        nics = plan_nics(st, req, networks)
        flavor = self.get_flavor(spec.get("flavorRef"), status=400)
        bdms = self._bdm_volumes(req, spec)
        image_id = spec.get("imageRef") or None
        if image_id:
            image = st.images.get(image_id)
            if image is None or image["status"] != "active":
                raise ApiError(400, f"Image {image_id} could not be found.")
            if flavor["disk"] and flavor["disk"] < image["min_disk"]:
                raise ApiError(400, "Flavor's disk is too small for requested image. Flavor disk is "
                                    f"{flavor['disk'] * 1024 ** 3} bytes, image is {image['size']} bytes.")
        elif not any(b["boot_index"] == 0 for b in bdms):
            raise ApiError(400, "Block Device Mapping is Invalid: Boot sequence for the instance and image/block "
                                "device mapping combination is not valid.")
        user_data = _user_data(spec.get("user_data"))
        key_name = spec.get("key_name")
        if key_name and (req.user_id, key_name) not in st.keypairs:
            raise ApiError(400, "Invalid key_name provided.")
        self._check_quota(req.project_id, flavor)
        sid = new_id()
        now = isotime()
        server = {
            "id": sid, "name": spec["name"], "project_id": req.project_id, "user_id": req.user_id,
            "vm_state": "building", "task_state": "scheduling", "power_state": 0, "flavor": dict(flavor),
            "old_flavor": None, "image_id": image_id, "bdms": [], "key_name": key_name,
            "metadata": dict(spec.get("metadata") or {}), "created": now, "updated": now, "launched_at": None,
            "fault": None, "pre_resize_vm_state": None, "description": spec.get("description"),
            "host_id": new_id().replace("-", "")[:28], "instance_name": f"instance-{len(st.servers) + 1:08x}",
            "created_seq": st.scheduler_seq(), "nics": nics, "user_data": user_data,
            "security_group_names": [g.get("name") for g in spec.get("security_groups") or () if isinstance(g, dict)],
        }
        for b in sorted(bdms, key=lambda b: (b["boot_index"] is None or b["boot_index"] < 0, b["boot_index"] or 0)):
            if b["new"] is not None:
                image, size = b.pop("new")
                vol = new_volume(st, req.project_id, req.user_id, size, None, image=image, status="available")
                b["volume_id"] = vol["id"]
            b.pop("new", None)
            b["device"] = f"/dev/sd{chr(ord('a') + len(server['bdms']))}"
            st.volumes[b["volume_id"]]["status"] = "reserved"
            server["bdms"].append(b)
        st.servers[sid] = server
        fault = st.faults.take("compute.server_create", modes=("error_state", "retries_exhausted"))
        st.later("server_build", self._build_step, sid, fault.mode if fault else None, 0 if nics else 1)
        body = {"id": sid, "links": self.link("servers", sid), "OS-DCF:diskConfig": "MANUAL"}
        if not req.version.at_least("2.37") or networks != "none":
            body["security_groups"] = [{"name": "default"}]
        body["adminPass"] = new_id().replace("-", "")[:12]
        return self.ok({"server": body}, 202)

    def _build_step(self, sid, failure, step):
        st = self.state
        s = st.servers.get(sid)
        if s is None or s["vm_state"] != "building":
            return
        s["updated"] = isotime()
        if step == 3:
            # The reschedule found no other host (mini-openstack has one): the conductor gives up on the build.
            self._build_failed(s, RETRIES_EXHAUSTED.format(sid))
            return
        if step == 0:
            # BUILD/networking: nova-compute binds the ports before it maps the block devices.
            if not allocate(st, s, s["security_group_names"]):
                self._build_failed(s, ALLOCATION_FAILED.format(sid))
                return
            s["task_state"] = "networking"
            st.later("server_build", self._build_step, sid, failure, 1)
            return
        if step == 1:
            s["task_state"] = "block_device_mapping"
            for b in s["bdms"]:
                st.volumes[b["volume_id"]]["status"] = "attaching"
            st.later("server_build", self._build_step, sid, failure, 2)
            return
        if failure == "retries_exhausted":
            # The spawn failed (Neutron's 500 while it bound the port): nova-compute frees the ports and the
            # volumes' attachments and hands the build back to the conductor to reschedule.
            release(st, s)
            for b in s["bdms"]:
                st.volumes[b["volume_id"]]["status"] = "available"
            s["task_state"] = "scheduling"
            st.later("server_build", self._build_step, sid, failure, 3)
            return
        if failure:
            self._build_failed(s, f"Build of instance {sid} aborted: Injected fault (simulated).")
            return
        s.update(vm_state="active", task_state=None, power_state=1, launched_at=isotime(micro=True))
        for b in s["bdms"]:
            attach(st, st.volumes[b["volume_id"]], sid, b["device"])

    def _build_failed(self, s, message):
        """End a build in ERROR with Nova's fault; the volumes stay in its mappings but are free in Cinder."""
        s.update(vm_state="error", task_state=None, power_state=0,
                 fault={"code": 500, "created": isotime(), "message": message})
        for b in s["bdms"]:
            self.state.volumes[b["volume_id"]]["status"] = "available"
