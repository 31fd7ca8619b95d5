"""Cinder v3 volume snapshots, as mini-openstack's Cinder 21 (Zed) answers: create, list, show, update, delete.

Also the snapshot side of POST /volumes (a volume made from a snapshot). Texts and shapes were measured on
mini-openstack with cinderclient (3.0, 3.59, 3.66); the Cinder source they come from is named next to each.
"""

from .core import ApiError, isotime, new_id
from .http import Response

# cinder.api.microversions
GROUP_SNAPSHOTS, SNAPSHOT_LIST_USER_ID, USE_QUOTA, SNAPSHOT_IN_USE = "3.14", "3.41", "3.65", "3.66"
SNAPSHOT_DELETABLE = ("available", "error")
LIST_PARAMS = ("all_tenants", "limit", "marker", "offset", "sort", "sort_key", "sort_dir", "with_count")
# cinder.api.v3.snapshots.SNAPSHOT_IN_USE_FLAG_MSG (the two spaces and the typo are Cinder's).
FORCE_INVALID = (
    "Since microversion 3.66 the 'force' flag is invalid for this request.  For backward "
    "compatability, however, when the 'force' flag is passed with a value evaluating to True, it is "
    "silently ignored."
)
# cinder.api.validation.parameter_types.boolean: the values the schema accepts for `force`.
TRUE_VALUES = (True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes", "y", "t")
FALSE_VALUES = (False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no", "n", "f")
# cinder.volume.api.delete_snapshot
DELETE_REFUSED = "Invalid snapshot: Snapshot status must be available or error and must not be part of a group."


def parse_force(value):
    """Read `force` as Cinder's schema does: None when absent, else a strict boolean (400 otherwise)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value in TRUE_VALUES:
        return True
    if isinstance(value, str) and value in FALSE_VALUES:
        return False
    allowed = ", ".join(repr(v) for v in TRUE_VALUES + FALSE_VALUES)
    raise ApiError(400, f"Invalid input for field/attribute force. Value: {value}. {value!r} is not one of [{allowed}]")


class SnapshotsMixin:
    """The snapshot routes of the Volume service (kept apart so volume.py stays small)."""

    def add_snapshot_routes(self, p):
        """Register /snapshots under the project prefix `p` (detail before {id}, as routing is first-match)."""
        r = self.route
        r("GET", p + "/snapshots", "snapshot.list", self.snapshot_list)
        r("GET", p + "/snapshots/detail", "snapshot.list", self.snapshot_list)
        r("POST", p + "/snapshots", "snapshot.create", self.snapshot_create)
        r("GET", p + "/snapshots/(?P<id>[^/]+)", "snapshot.get", self.snapshot_get)
        r("PUT", p + "/snapshots/(?P<id>[^/]+)", "snapshot.update", self.snapshot_update)
        r("DELETE", p + "/snapshots/(?P<id>[^/]+)", "snapshot.delete", self.snapshot_delete)

    # -- views -----------------------------------------------------------------------------------------

    def snapshot_view(self, req, s, detail=True, extended=False):
        """Render a snapshot: the summary (index) or detail view, plus the extended attributes on show/detail."""
        out = {
            "id": s["id"],
            "created_at": s["created_at"],
            "updated_at": s["updated_at"],
            "name": s["name"],
            "description": s["description"],
            "volume_id": s["volume_id"],
            "status": s["status"],
            "size": s["size"],
            "metadata": dict(s["metadata"]),
        }
        if detail:
            if req.version.at_least(GROUP_SNAPSHOTS):
                out["group_snapshot_id"] = None
            if req.version.at_least(SNAPSHOT_LIST_USER_ID):
                out["user_id"] = s["user_id"]
            if req.version.at_least(USE_QUOTA):
                out["consumes_quota"] = True
        if extended:
            # The ExtendedSnapshotAttributes extension: show and detail list only, for project readers and admins.
            out["os-extended-snapshot-attributes:project_id"] = s["project_id"]
            out["os-extended-snapshot-attributes:progress"] = s["progress"]
        return out

    def get_snapshot(self, req, sid=None):
        """Return a snapshot the caller may see, or Cinder's 404 (another project's snapshot is 404 too)."""
        sid = sid or req.match["id"]
        s = self.state.snapshots.get(sid)
        if s is None or (s["project_id"] != req.project_id and not req.is_admin):
            raise ApiError(404, f"Snapshot {sid} could not be found.")
        return s

    # -- read ------------------------------------------------------------------------------------------

    def snapshot_list(self, req):
        """GET /snapshots[/detail]: the caller's snapshots (all_tenants for admins), newest first."""
        if req.version.at_least("3.31"):
            # As for volumes: without resource_filters.json every filter is refused from 3.31 on.
            invalid = [k for k in req.query if k not in LIST_PARAMS]
            if invalid:
                raise ApiError(400, f"Invalid filters {','.join(invalid)} are found in query options.")
        snaps = [
            s
            for s in self.state.snapshots.values()
            if s["project_id"] == req.project_id or (req.is_admin and req.arg("all_tenants"))
        ]
        for key in ("name", "status", "volume_id"):
            if req.arg(key) is not None:
                snaps = [s for s in snaps if s[key] == req.arg(key)]
        snaps.sort(key=lambda s: s["created_at"], reverse=True)
        if req.arg("limit"):
            snaps = snaps[: int(req.arg("limit"))]
        detail = req.path.endswith("/detail")
        return Response(200, {"snapshots": [self.snapshot_view(req, s, detail, extended=detail) for s in snaps]})

    def snapshot_get(self, req):
        """GET /snapshots/{id}."""
        return Response(200, {"snapshot": self.snapshot_view(req, self.get_snapshot(req), extended=True)})

    # -- create ----------------------------------------------------------------------------------------

    def snapshot_create(self, req):
        """POST /snapshots: checks in Cinder's order, then creating -> available (or error, by fault)."""
        st = self.state
        spec = (req.body or {}).get("snapshot") if isinstance(req.body, dict) else None
        if not isinstance(spec, dict) or not spec.get("volume_id"):
            raise ApiError(
                400, f"Invalid input for field/attribute snapshot. Value: {spec}. 'volume_id' is a required property"
            )
        force = parse_force(spec.get("force"))
        vol = self.get_volume(req, spec["volume_id"])
        if force is False and req.version.at_least(SNAPSHOT_IN_USE):
            raise ApiError(400, FORCE_INVALID)
        # cinder.volume.api._create_snapshot_in_db_validate, then create_snapshot_in_db.
        if vol["status"] == "creating":
            raise ApiError(400, "Invalid volume: volume is not assigned to a host")
        if vol["status"] == "error":
            raise ApiError(400, "Invalid volume: The snapshot cannot be created when the volume is in error status.")
        valid = ("available", "in-use") if force or req.version.at_least(SNAPSHOT_IN_USE) else ("available",)
        if vol["status"] not in valid:
            raise ApiError(
                400,
                f"Invalid volume: Volume {vol['id']} status must be {', '.join(valid)}, but current "
                f"status is: {vol['status']}.",
            )
        self.check_snapshot_quota(req.project_id, vol["size"])
        snap = new_snapshot(
            st,
            vol,
            req.project_id,
            req.user_id,
            spec.get("name", spec.get("display_name")),
            spec.get("description", spec.get("display_description")),
            spec.get("metadata"),
        )
        error = st.faults.take("snapshot.create", modes=("error_state",)) is not None
        st.later("snapshot_create", self._snapshot_created, snap["id"], error)
        return Response(202, {"snapshot": self.snapshot_view(req, snap)})

    def check_snapshot_quota(self, project_id, size):
        """Cinder reserves {'snapshots': 1, 'gigabytes': size}; gigabytes is reported first when both are over."""
        q, used = self.state.cinder_quota(project_id), self.state.cinder_usage(project_id)
        if q["gigabytes"] >= 0 and used["gigabytes"] + size > q["gigabytes"]:
            raise ApiError(
                413,
                "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed "
                f"gigabytes quota. Requested {size}G, quota is {q['gigabytes']}G and "
                f"{used['gigabytes']}G has been consumed.",
            )
        if q["snapshots"] >= 0 and used["snapshots"] + 1 > q["snapshots"]:
            raise ApiError(
                413, f"SnapshotLimitExceeded: Maximum number of snapshots allowed ({q['snapshots']}) exceeded"
            )

    def _snapshot_created(self, sid, error):
        snap = self.state.snapshots.get(sid)
        if snap is None or snap["status"] != "creating":
            return
        snap["updated_at"] = isotime(micro=True)
        snap["status"] = "error" if error else "available"
        snap["progress"] = "0%" if error else "100%"

    # -- update and delete -----------------------------------------------------------------------------

    def snapshot_update(self, req):
        """PUT /snapshots/{id}: name and description (display_* accepted too)."""
        s = self.get_snapshot(req)
        spec = (req.body or {}).get("snapshot") if isinstance(req.body, dict) else None
        if not isinstance(spec, dict):
            raise ApiError(400, "Missing required element 'snapshot' in request body.")
        for key in ("name", "description"):
            for given in (key, f"display_{key}"):
                if given in spec:
                    s[key] = spec[given]
        return Response(200, {"snapshot": self.snapshot_view(req, s)})

    def snapshot_delete(self, req):
        """DELETE /snapshots/{id}: only available or error ones; deleting -> gone (or error_deleting, by fault)."""
        st = self.state
        s = self.get_snapshot(req)
        if s["status"] not in SNAPSHOT_DELETABLE:
            raise ApiError(400, DELETE_REFUSED)
        s["status"] = "deleting"
        s["updated_at"] = isotime(micro=True)
        error = st.faults.take("snapshot.delete", modes=("error_state",)) is not None
        st.later("snapshot_delete", self._snapshot_deleted, s["id"], error)
        return Response(202)

    def _snapshot_deleted(self, sid, error):
        snap = self.state.snapshots.get(sid)
        if snap is None or snap["status"] != "deleting":
            return
        if error:
            snap["status"] = "error_deleting"
            snap["updated_at"] = isotime(micro=True)
        else:
            del self.state.snapshots[sid]

    # -- volumes from snapshots ------------------------------------------------------------------------

    def source_snapshot(self, req, spec):
        """The snapshot a POST /volumes names (404 if not visible, 400 unless available), or None."""
        sid = spec.get("snapshot_id")
        if not sid:
            return None
        snap = self.get_snapshot(req, sid)
        if snap["status"] != "available":
            raise ApiError(400, "Invalid snapshot: Originating snapshot status must be one of 'available' values")
        return snap

    @staticmethod
    def check_size_for_snapshot(size, snap):
        """Cinder's create flow: a volume from a snapshot is at least the snapshot's size."""
        if snap is not None and size < snap["size"]:
            raise ApiError(
                400,
                f"Invalid input received: Volume size '{size}'GB cannot be smaller than the "
                f"snapshot size {snap['size']}GB. They must be >= original snapshot size.",
            )

    def fill_from_snapshot(self, vol, snap):
        """Give a new volume its source: bootable from the snapshot's volume, image metadata from the snapshot."""
        if snap is None:
            return
        source = self.state.volumes.get(snap["volume_id"])
        vol["snapshot_id"] = snap["id"]
        vol["bootable"] = bool(source["bootable"]) if source else False
        vol["image_metadata"] = dict(snap["image_metadata"])


def new_snapshot(state, vol, project_id, user_id, name, description, metadata):
    """Create a snapshot record of `vol` in `creating` (size and image metadata are the volume's at this time)."""
    now = isotime(micro=True)
    sid = new_id()
    state.snapshots[sid] = {
        "id": sid,
        "name": name,
        "description": description,
        "status": "creating",
        "size": vol["size"],
        "volume_id": vol["id"],
        "project_id": project_id,
        "user_id": user_id,
        "created_at": now,
        "updated_at": None,
        "metadata": dict(metadata or {}),
        "progress": "0%",
        "image_metadata": dict(vol.get("image_metadata") or {}),
    }
    return state.snapshots[sid]
