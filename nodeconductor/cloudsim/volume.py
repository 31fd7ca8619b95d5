"""Cinder v3 (microversions 3.0-3.70): volumes, extend, delete, limits and quota sets (snapshots: volume_snapshots)."""

from . import microversion
from .core import ApiError, isotime
from .http import Response, Service
from .state import CINDER_DEFAULT_QUOTAS
from .volume_snapshots import SnapshotsMixin
from .volumes_model import has_snapshots, new_volume

MIN_VERSION, MAX_VERSION = "3.0", "3.70"
DELETABLE = ("available", "error", "error_restoring", "error_extending", "error_managing")
IN_USE_DELETE = ("Invalid volume: Volume status must be available or error or error_restoring or error_extending or "
                 "error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a "
                 "transfer, or be disassociated from snapshots after volume transfer.")
LIST_PARAMS = ("all_tenants", "limit", "marker", "offset", "sort", "sort_key", "sort_dir", "with_count")
VOLUME_ACTIONS = {"os-extend": "volume.extend", "os-reset_status": "volume.reset_status",
                  "os-set_bootable": "volume.set_bootable", "os-update_readonly_flag": "volume.update_readonly"}


def action_operation(req):
    """Name a POST /volumes/{id}/action call after its action, e.g. volume.extend."""
    body = req.body if isinstance(req.body, dict) else {}
    return next((VOLUME_ACTIONS[k] for k in body if k in VOLUME_ACTIONS), "volume.action")


class Volume(SnapshotsMixin, Service):
    """Cinder's block-storage API under /volume."""

    name = "volume"
    prefix = "/volume"

    def __init__(self, state):
        super().__init__(state)
        r = self.route
        r("GET", "/", "volume.versions", self.versions, auth=False)
        r("GET", "/v3", "volume.version", self.version, auth=False)
        p = "/v3/(?P<project>[^/]+)"
        r("GET", p + "/volumes", "volume.list", self.volume_list)
        r("GET", p + "/volumes/detail", "volume.list", self.volume_list)
        r("POST", p + "/volumes", "volume.create", self.volume_create)
        r("GET", p + "/volumes/(?P<id>[^/]+)", "volume.get", self.volume_get)
        r("PUT", p + "/volumes/(?P<id>[^/]+)", "volume.update", self.volume_update)
        r("DELETE", p + "/volumes/(?P<id>[^/]+)", "volume.delete", self.volume_delete)
        r("POST", p + "/volumes/(?P<id>[^/]+)/action", action_operation, self.volume_action)
        self.add_snapshot_routes(p)
        r("GET", p + "/limits", "volume.limits", self.limits)
        r("GET", p + "/os-quota-sets/(?P<target>[^/]+)", "volume.quota_get", self.quota_get)
        r("GET", p + "/os-quota-sets/(?P<target>[^/]+)/defaults", "volume.quota_defaults", self.quota_defaults)
        r("PUT", p + "/os-quota-sets/(?P<target>[^/]+)", "volume.quota_update", self.quota_update)

    def negotiate(self, req):
        """Read the volume microversion (missing = 3.0) and check the URL's project against the token."""
        microversion.negotiate(req, "volume", MIN_VERSION, MAX_VERSION)
        if req.match and "project" in req.match.groupdict() and req.token is not None:
            if req.match["project"] != req.project_id and not req.is_admin:
                raise ApiError(403, "Malformed request url")

    def decorate(self, req, resp):
        """Echo the volume microversion."""
        microversion.headers(resp, "volume", req.version)

    def _version_doc(self):
        return {"id": "v3.0", "status": "CURRENT", "version": MAX_VERSION, "min_version": MIN_VERSION,
                "updated": "2016-02-08T12:20:21Z",
                "links": [{"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
                          {"rel": "self", "href": f"{self.state.base_url}/volume/v3/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.volume+json;version=3"}]}

    def versions(self, req):
        """GET /volume/: the version list cinderclient reads for server_api_version()."""
        return Response(300, {"versions": [self._version_doc()]})

    def version(self, req):
        """GET /volume/v3."""
        return Response(200, {"versions": [self._version_doc()]})

    # -- volumes -------------------------------------------------------------------------------------

    def _links(self, req, vid):
        base = f"{self.state.base_url}/volume/v3/{req.match['project']}/volumes/{vid}"
        return [{"rel": "self", "href": base}, {"rel": "bookmark", "href": base.replace("/v3/", "/")}]

    def view(self, req, v, detail=True):
        """Render a volume for the request's microversion."""
        out = {"id": v["id"], "name": v["name"], "links": self._links(req, v["id"])}
        if not detail:
            return out
        out.update({
            "status": v["status"], "size": v["size"], "availability_zone": "nova", "created_at": v["created_at"],
            "updated_at": v["updated_at"], "description": v["description"], "volume_type": v["volume_type"],
            "snapshot_id": v.get("snapshot_id"), "source_volid": None, "metadata": dict(v["metadata"]),
            "user_id": v["user_id"],
            "bootable": "true" if v["bootable"] else "false", "encrypted": False, "multiattach": False,
            "replication_status": None, "consistencygroup_id": None,
            "os-vol-tenant-attr:tenant_id": v["project_id"],
            "attachments": [dict(a) for a in v["attachments"]],
        })
        if v["image_metadata"]:
            out["volume_image_metadata"] = dict(v["image_metadata"])
        if req.is_admin:
            out.update({"os-vol-host-attr:host": "minicloud@nfs1#nfs1", "os-vol-mig-status-attr:migstat": None,
                        "os-vol-mig-status-attr:name_id": None})
        if req.version.at_least("3.13"):
            out["group_id"] = None
        if req.version.at_least("3.21"):
            out["provider_id"] = None
        if req.version.at_least("3.48"):
            out["shared_targets"] = False
            out["service_uuid"] = "5f6a1c4e-0d7b-4b1e-9a3c-2e8f7d6c5b4a"
        if req.version.at_least("3.61"):
            out["cluster_name"] = None
        if req.version.at_least("3.63"):
            out["volume_type_id"] = "9a3f6c2e-1b4d-4e8f-a7c5-0d2b1e3f4a5c"
        if req.version.at_least("3.65"):
            out["consumes_quota"] = True
        return out

    def get_volume(self, req, vid=None):
        """Return a volume the caller may see, or Cinder's 404."""
        vid = vid or req.match["id"]
        v = self.state.volumes.get(vid)
        if v is None or (v["project_id"] != req.project_id and not req.is_admin):
            raise ApiError(404, f"Volume {vid} could not be found.")
        return v

    def volume_list(self, req):
        """GET /volumes[/detail] with name, status and metadata filters."""
        if req.version.at_least("3.31"):
            # From 3.31 Cinder checks filters against resource_filters.json; mini-openstack (like any deployment
            # without that file) then refuses every filter, so clients must filter below 3.31 or client-side.
            invalid = [k for k in req.query if k not in LIST_PARAMS]
            if invalid:
                raise ApiError(400, f"Invalid filters {','.join(invalid)} are found in query options.")
        vols = [v for v in self.state.volumes.values()
                if v["project_id"] == req.project_id or (req.is_admin and req.arg("all_tenants"))]
        if req.arg("name") is not None:
            vols = [v for v in vols if v["name"] == req.arg("name")]
        if req.arg("status") is not None:
            vols = [v for v in vols if v["status"] == req.arg("status")]
        vols.sort(key=lambda v: v["created_at"], reverse=True)
        if req.arg("limit"):
            vols = vols[:int(req.arg("limit"))]
        detail = req.path.endswith("/detail")
        return Response(200, {"volumes": [self.view(req, v, detail) for v in vols]})

    def volume_get(self, req):
        """GET /volumes/{id}."""
        return Response(200, {"volume": self.view(req, self.get_volume(req))})

    def _check_quota(self, project_id, gigabytes, volumes):
        q, used = self.state.cinder_quota(project_id), self.state.cinder_usage(project_id)
        if volumes and q["volumes"] >= 0 and used["volumes"] + volumes > q["volumes"]:
            raise ApiError(413, f"VolumeLimitExceeded: Maximum number of volumes allowed ({q['volumes']}) "
                                "exceeded for quota 'volumes'.")
        if q["gigabytes"] >= 0 and used["gigabytes"] + gigabytes > q["gigabytes"]:
            raise ApiError(413, "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed "
                                f"gigabytes quota. Requested {gigabytes}G, quota is {q['gigabytes']}G and "
                                f"{used['gigabytes']}G has been consumed.")

    def volume_create(self, req):
        """POST /volumes: empty or from a snapshot (creating -> available), from imageRef (... downloading ...)."""
        st = self.state
        spec = (req.body or {}).get("volume") if isinstance(req.body, dict) else None
        if not isinstance(spec, dict):
            raise ApiError(400, "Missing required element 'volume' in request body.")
        snapshot = self.source_snapshot(req, spec)
        try:
            size = int(snapshot["size"] if spec.get("size") is None and snapshot else spec.get("size"))
            if size <= 0:
                raise ValueError(size)
        except (TypeError, ValueError):
            raise ApiError(400, f"Invalid input for field/attribute size. Value: {spec.get('size')}. "
                                f"{spec.get('size')!r} is not valid under any of the given schemas")
        image = None
        image_ref = spec.get("imageRef") or spec.get("image_id")
        if image_ref:
            image = st.images.get(image_ref) or next((i for i in st.images.values() if i["name"] == image_ref), None)
            if image is None:
                raise ApiError(400, "Invalid image identifier or unable to access requested image.")
            if image["status"] != "active":
                raise ApiError(400, f"Invalid input received: Image {image['id']} is not active.")
            if size < image["min_disk"]:
                raise ApiError(400, f"Invalid input received: Volume size {size}GB cannot be smaller than the image "
                                    f"minDisk size {image['min_disk']}GB.")
        self.check_size_for_snapshot(size, snapshot)
        self._check_quota(req.project_id, size, 1)
        vol = new_volume(st, req.project_id, req.user_id, size, spec.get("name"), image=image,
                         metadata=spec.get("metadata"), description=spec.get("description"))
        self.fill_from_snapshot(vol, snapshot)
        error = st.faults.take("volume.create", modes=("error_state",)) is not None
        st.later("volume_create", self._create_step, vol["id"], error)
        return Response(202, {"volume": self.view(req, vol)})

    def _create_step(self, vid, error):
        st = self.state
        vol = st.volumes.get(vid)
        if vol is None or vol["status"] not in ("creating", "downloading"):
            return
        vol["updated_at"] = isotime(micro=True)
        if vol["image_id"] and vol["status"] == "creating":
            vol["status"] = "downloading"
            st.later("volume_download", self._create_step, vid, error)
            return
        vol["status"] = "error" if error else "available"

    def volume_update(self, req):
        """PUT /volumes/{id}: name, description, metadata."""
        v = self.get_volume(req)
        spec = (req.body or {}).get("volume") or {}
        for key in ("name", "description", "metadata"):
            if key in spec:
                v[key] = spec[key]
        return Response(200, {"volume": self.view(req, v)})

    def volume_delete(self, req):
        """DELETE /volumes/{id}: refused while attached or with snapshots, else deleting -> gone."""
        st = self.state
        v = self.get_volume(req)
        if v["status"] not in DELETABLE or v["attachments"] or has_snapshots(st, v["id"]):
            raise ApiError(400, IN_USE_DELETE)
        v["status"] = "deleting"
        error = st.faults.take("volume.delete", modes=("error_state",)) is not None
        st.later("volume_delete", self._delete_done, v["id"], error)
        return Response(202)

    def _delete_done(self, vid, error):
        vol = self.state.volumes.get(vid)
        if vol is None:
            return
        if error:
            vol["status"] = "error_deleting"
        else:
            del self.state.volumes[vid]

    def volume_action(self, req):
        """POST /volumes/{id}/action: os-extend, os-reset_status (admin), os-set_bootable."""
        body = req.body if isinstance(req.body, dict) else {}
        v = self.get_volume(req)
        if "os-extend" in body:
            return self._extend(req, v, body["os-extend"] or {})
        if "os-reset_status" in body:
            if not req.is_admin:
                raise ApiError(403, 'Policy doesn\'t allow volume_extension:volume_admin_actions:reset_status to be '
                                    'performed.')
            spec = body["os-reset_status"] or {}
            v["status"] = spec.get("status", v["status"])
            if spec.get("attach_status") == "detached":
                v["attachments"] = []
            return Response(202)
        if "os-set_bootable" in body:
            v["bootable"] = str((body["os-set_bootable"] or {}).get("bootable")).lower() == "true"
            return Response(200)
        if "os-update_readonly_flag" in body:
            return Response(202)
        raise ApiError(400, f"There is no such action: {next(iter(body), None)}")

    def _extend(self, req, v, spec):
        st = self.state
        try:
            new_size = int(spec.get("new_size"))
        except (TypeError, ValueError):
            raise ApiError(400, f"Invalid input for field/attribute new_size. Value: {spec.get('new_size')}.")
        allowed = ("available", "in-use") if req.version.at_least("3.42") else ("available",)
        if v["status"] not in allowed:
            expected = "{'status': ['available', 'in-use']}" if len(allowed) > 1 else "{'status': 'available'}"
            raise ApiError(400, f"Invalid volume: Volume {v['id']} status must be '{expected}' to extend, "
                                f"currently {v['status']}.")
        if new_size <= v["size"]:
            raise ApiError(400, "Invalid input received: New size for extend must be greater than current size. "
                                f"(current: {v['size']}, extended: {new_size}).")
        self._check_quota(v["project_id"], new_size - v["size"], 0)
        error = st.faults.take("volume.extend", modes=("error_state",)) is not None
        # The mini-openstack NFS backend never extends attached volumes: in-use at >= 3.42 ends in error_extending.
        error = error or v["status"] == "in-use"
        back = v["status"]
        v["status"] = "extending"
        st.later("volume_extend", self._extend_done, v["id"], new_size, back, error)
        return Response(202)

    def _extend_done(self, vid, new_size, back, error):
        vol = self.state.volumes.get(vid)
        if vol is None or vol["status"] != "extending":
            return
        vol["updated_at"] = isotime(micro=True)
        if error:
            vol["status"] = "error_extending"
            return
        vol["size"] = new_size
        vol["status"] = back

    # -- limits and quotas ---------------------------------------------------------------------------

    def limits(self, req):
        """GET /limits: Cinder's absolute limits and usage."""
        q, used = self.state.cinder_quota(req.project_id), self.state.cinder_usage(req.project_id)
        return Response(200, {"limits": {"rate": [], "absolute": {
            "maxTotalVolumes": q["volumes"], "maxTotalVolumeGigabytes": q["gigabytes"],
            "maxTotalSnapshots": q["snapshots"], "maxTotalBackups": q["backups"],
            "maxTotalBackupGigabytes": q["backup_gigabytes"], "totalVolumesUsed": used["volumes"],
            "totalGigabytesUsed": used["gigabytes"], "totalSnapshotsUsed": used["snapshots"], "totalBackupsUsed": 0,
            "totalBackupGigabytesUsed": 0}}})

    def _quota_view(self, quota, target, usage=None):
        out = {"id": target}
        for key, value in quota.items():
            if usage is None:
                out[key] = value
            else:
                out[key] = {"limit": value, "in_use": usage.get(key, 0), "reserved": 0, "allocated": 0}
        for key in ("volumes", "gigabytes", "snapshots"):  # the per-type quotas of the only type, __DEFAULT__
            in_use = (usage or {}).get(key, 0)
            out[f"{key}___DEFAULT__"] = -1 if usage is None else {"limit": -1, "in_use": in_use, "reserved": 0,
                                                                   "allocated": 0}
        return out

    def quota_get(self, req):
        """GET /os-quota-sets/{project}[?usage=True]."""
        target = req.match["target"]
        if target != req.project_id and not req.is_admin:
            raise ApiError(403, "Policy doesn't allow volume_extension:quotas:show to be performed.")
        usage = self.state.cinder_usage(target) if (req.arg("usage") or "").lower() == "true" else None
        return Response(200, {"quota_set": self._quota_view(self.state.cinder_quota(target), target, usage)})

    def quota_defaults(self, req):
        """GET /os-quota-sets/{project}/defaults."""
        return Response(200, {"quota_set": self._quota_view(CINDER_DEFAULT_QUOTAS, req.match["target"])})

    def quota_update(self, req):
        """PUT /os-quota-sets/{project} (admin only)."""
        if not req.is_admin:
            raise ApiError(403, "Policy doesn't allow volume_extension:quotas:update to be performed.")
        target = req.match["target"]
        spec = (req.body or {}).get("quota_set") or {}
        overrides = self.state.cinder_quotas.setdefault(target, {})
        for key, value in spec.items():
            if key in ("tenant_id", "id"):
                continue  # Cinder's NON_QUOTA_KEYS: cinderclient always sends tenant_id
            if key not in CINDER_DEFAULT_QUOTAS:
                raise ApiError(400, f"Bad key(s) in quota set: {key}")
            overrides[key] = int(value)
        view = self._quota_view(self.state.cinder_quota(target), target)
        view.pop("id")
        return Response(200, {"quota_set": view})
