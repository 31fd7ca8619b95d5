"""Nova's os-volume_attachments of a server: list, show, attach, detach, and the update of an attachment."""

from .core import ApiError, new_id
from .servers import conflict
from .volumes_model import attach, begin_detach, finish_detach

# Nova's parameter_types.boolean: what a boolean field of a request body may be.
BOOLEANS = {True: True, "True": True, "TRUE": True, "true": True, "1": True, "ON": True, "On": True, "on": True,
            "YES": True, "Yes": True, "yes": True, False: False, "False": False, "FALSE": False, "false": False,
            "0": False, "OFF": False, "Off": False, "off": False, "NO": False, "No": False, "no": False}
# The fields a 2.85 update may name (the GET's); only delete_on_termination may differ from what is there.
UPDATE_FIELDS = ("volumeId", "device", "tag", "delete_on_termination", "serverId", "id")
SWAP_POLICY = "Policy doesn't allow os_compute_api:os-volumes-attachments:swap to be performed."


class AttachmentsMixin:
    """Volume attachment routes of the Compute service; Cinder's side is volumes_model."""

    def attachment_routes(self, v):
        """Register the attachment routes under the version prefix pattern `v`."""
        r = self.route
        att = v + "/servers/(?P<id>[^/]+)/os-volume_attachments"
        r("GET", att, "compute.volume_attachment_list", self.attachment_list)
        r("POST", att, "compute.volume_attach", self.volume_attach)
        r("GET", att + "/(?P<vol>[^/]+)", "compute.volume_attachment_get", self.attachment_get)
        r("PUT", att + "/(?P<vol>[^/]+)", "compute.volume_attachment_update", self.attachment_update)
        r("DELETE", att + "/(?P<vol>[^/]+)", "compute.volume_detach", self.volume_detach)

    def _attachment_view(self, req, s, b):
        out = {"serverId": s["id"], "volumeId": b["volume_id"], "device": b["device"]}
        if not req.version.at_least("2.89"):
            out["id"] = b["volume_id"]
        if req.version.at_least("2.70"):
            out["tag"] = None
        if req.version.at_least("2.79"):
            out["delete_on_termination"] = b["delete_on_termination"]
        if req.version.at_least("2.89"):
            out["attachment_id"] = b.setdefault("attachment_id", new_id())
            out["bdm_uuid"] = b.setdefault("bdm_uuid", new_id())
        return out

    def attachment_list(self, req):
        """GET /servers/{id}/os-volume_attachments."""
        s = self.get_server(req)
        return self.ok({"volumeAttachments": [self._attachment_view(req, s, b) for b in s["bdms"]]})

    def _find_bdm(self, s, volume_id):
        b = next((b for b in s["bdms"] if b["volume_id"] == volume_id), None)
        if b is None:
            raise ApiError(404, f"Volume {volume_id} is not attached to the instance {s['id']}.")
        return b

    def attachment_get(self, req):
        """GET /servers/{id}/os-volume_attachments/{volume}."""
        s = self.get_server(req)
        return self.ok({"volumeAttachment": self._attachment_view(req, s, self._find_bdm(s, req.match["vol"]))})

    def attachment_update(self, req):
        """PUT /servers/{id}/os-volume_attachments/{volume}: from 2.85, with the same volumeId, it changes the
        attachment's delete_on_termination, whatever state the server is in (Nova checks none); below 2.85, or
        naming another volume, it is the swap: admin only, and only on an ACTIVE, PAUSED or resized server."""
        s = self.get_server(req)
        vid = req.match["vol"]
        spec = (req.body or {}).get("volumeAttachment") if isinstance(req.body, dict) else None
        if not isinstance(spec, dict) or not spec.get("volumeId"):
            raise ApiError(400, f"Invalid input for field/attribute volumeAttachment. Value: {spec}. 'volumeId' is "
                                "a required property")
        regular = req.version.at_least("2.85")
        allowed = UPDATE_FIELDS if regular else ("volumeId", "tag")
        extra = [k for k in spec if k not in allowed]
        if extra:
            raise ApiError(400, f"Invalid input for field/attribute volumeAttachment. Value: {spec}. Additional "
                                f"properties are not allowed ('{extra[0]}' was unexpected)")
        swap = not regular or spec["volumeId"] != vid
        if swap and not req.is_admin:
            raise ApiError(403, SWAP_POLICY)
        if regular:
            self._update_attachment(s, vid, spec)
        if swap:
            self._swap_checks(s, vid, spec["volumeId"])
        return self.ok(None, 202)

    def _update_attachment(self, s, vid, spec):
        b = next((b for b in s["bdms"] if b["volume_id"] == vid), None)
        if b is None:
            raise ApiError(404, f"No volume Block Device Mapping with id {vid}.")
        for field, current in (("id", vid), ("serverId", s["id"]), ("device", b["device"]), ("tag", None)):
            if field in spec and spec[field] != current:
                raise ApiError(400, f"The {field} property is not mutable")
        if "delete_on_termination" in spec:
            value = spec["delete_on_termination"]
            if not isinstance(value, (bool, str)) or value not in BOOLEANS:  # 1 is no boolean to Nova
                raise ApiError(400, f"Invalid input for field/attribute delete_on_termination. Value: {value}. "
                                    f"{value!r} is not one of {list(BOOLEANS)}")
            b["delete_on_termination"] = BOOLEANS[value]

    def _swap_checks(self, s, old_id, new_id_):
        """Nova's refusals of a swap, in its order; a swap that passes them is not simulated."""
        st = self.state
        old = st.volumes.get(old_id)
        if old is None:
            raise ApiError(404, f"Volume {old_id} could not be found.")
        new = st.volumes.get(new_id_)
        if new is None:
            raise ApiError(400, f"Volume {new_id_} could not be found.")
        if s["vm_state"] not in ("active", "paused", "resized"):
            raise conflict("swap_volume", s)
        if not any(a["server_id"] == s["id"] for a in old["attachments"]):
            raise ApiError(400, "Invalid volume: Old volume is attached to a different instance.")
        if new["attachments"]:
            raise ApiError(400, "Invalid volume: New volume must be detached in order to swap.")
        if new["size"] < old["size"]:
            raise ApiError(400, "Invalid volume: New volume must be the same size or larger.")
        raise ApiError(501, "Swapping a server's volume is not simulated.")

    def volume_attach(self, req):
        """POST /servers/{id}/os-volume_attachments: reserved -> attaching -> in-use on a timer."""
        st = self.state
        s = self.get_server(req)
        spec = (req.body or {}).get("volumeAttachment") or {}
        vid = spec.get("volumeId")
        if s["vm_state"] not in ("active", "stopped", "resized"):
            raise conflict("attach_volume", s)
        self._busy("attach_volume", s)
        vol = st.volumes.get(vid or "")
        if vol is None or vol["project_id"] != s["project_id"]:
            raise ApiError(404, f"Volume {vid} could not be found.")
        if vol["attachments"] or vol["status"] == "in-use":
            servers = ",".join(a["server_id"] for a in vol["attachments"])
            raise ApiError(400, f"Invalid volume: volume {vid} is already attached to instances: {servers}")
        if vol["status"] != "available":
            raise ApiError(400, f"Invalid volume: Volume {vid} status must be available or downloading to reserve, "
                                f"but the current status is {vol['status']}.")
        used = {b["device"] for b in s["bdms"]}
        device = next(f"/dev/sd{c}" for c in "abcdefghijklmnopqrstuvwxyz" if f"/dev/sd{c}" not in used)
        b = {"volume_id": vid, "boot_index": None, "device": device,
             "delete_on_termination": bool(spec.get("delete_on_termination", False))}
        s["bdms"].append(b)
        vol["status"] = "reserved"
        error = st.faults.take("compute.volume_attach", modes=("error_state",)) is not None
        st.later("volume_attach", self._attach_step, s["id"], vid, error, 1)
        return self.ok({"volumeAttachment": self._attachment_view(req, s, b)})

    def _attach_step(self, sid, vid, error, step):
        st = self.state
        vol, s = st.volumes.get(vid), st.servers.get(sid)
        if vol is None or s is None:
            return
        if step == 1:
            vol["status"] = "attaching"
            st.later("volume_attach", self._attach_step, sid, vid, error, 2)
            return
        b = next((b for b in s["bdms"] if b["volume_id"] == vid), None)
        if error or b is None:
            vol["status"] = "error_attaching" if error else "available"
            if b is not None:
                s["bdms"].remove(b)
            return
        attach(st, vol, sid, b["device"])

    def volume_detach(self, req):
        """DELETE /servers/{id}/os-volume_attachments/{volume}: detaching -> available on a timer."""
        st = self.state
        s = self.get_server(req)
        b = self._find_bdm(s, req.match["vol"])
        if b["boot_index"] == 0:
            raise ApiError(400, "Cannot detach a root device volume")
        if s["vm_state"] not in ("active", "stopped", "resized", "error"):
            raise conflict("detach_volume", s)
        self._busy("detach_volume", s)
        vol = st.volumes[b["volume_id"]]
        if vol["status"] != "in-use":
            raise ApiError(400, "Invalid volume: Unable to detach volume. Volume status must be 'in-use' and "
                                "attach_status must be 'attached' to detach.")
        begin_detach(st, vol)
        error = st.faults.take("compute.volume_detach", modes=("error_state",)) is not None
        st.later("volume_detach", self._detach_done, s["id"], vol["id"], error)
        return self.ok(None, 202)

    def _detach_done(self, sid, vid, error):
        st = self.state
        vol, s = st.volumes.get(vid), st.servers.get(sid)
        if vol is None:
            return
        if error:
            vol["status"] = "error_detaching"
            return
        finish_detach(st, vol, sid)
        if s is not None:
            s["bdms"] = [b for b in s["bdms"] if b["volume_id"] != vid]
