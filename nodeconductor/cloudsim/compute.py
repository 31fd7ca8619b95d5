"""Nova v2.1 (microversions 2.1-2.93): discovery, flavors, keypairs, limits and quota sets; servers in servers.py."""

import base64
import hashlib
import os
import struct

from . import microversion
from .core import ApiError, isotime, new_id
from .http import Response, Service
from .server_actions import ServerActionsMixin
from .server_attachments import AttachmentsMixin
from .servers import ServersMixin
from .state import NOVA_DEFAULT_QUOTAS

MIN_VERSION, MAX_VERSION = "2.1", "2.93"
LEGACY_HEADER = "X-OpenStack-Nova-API-Version"
KEY_TYPES = ("ssh-rsa", "ssh-dss", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521")


def fingerprint(public_key):
    """Return Nova's MD5 colon fingerprint, or raise the 400 Nova answers for unparsable key data."""
    try:
        parts = public_key.strip().split()
        if len(parts) < 2 or parts[0] not in KEY_TYPES:
            raise ValueError(public_key)
        blob = base64.b64decode(parts[1], validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        if blob[4:4 + length].decode() != parts[0]:
            raise ValueError(public_key)
    except (ValueError, struct.error, UnicodeDecodeError):
        raise ApiError(400, "Keypair data is invalid: failed to generate fingerprint")
    digest = hashlib.md5(blob).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def generated_keypair():
    """Return (public, private) key text for a server-generated keypair (random ed25519-shaped blob)."""
    kind = b"ssh-ed25519"
    blob = struct.pack(">I", len(kind)) + kind + struct.pack(">I", 32) + os.urandom(32)
    public = "ssh-ed25519 " + base64.b64encode(blob).decode() + " Generated-by-Nova"
    private = ("-----BEGIN OPENSSH PRIVATE KEY-----\n" + base64.b64encode(os.urandom(180)).decode()
               + "\n-----END OPENSSH PRIVATE KEY-----\n")
    return public, private


class Compute(ServersMixin, ServerActionsMixin, AttachmentsMixin, Service):
    """Nova's compute API under /compute."""

    name = "compute"
    prefix = "/compute"

    def __init__(self, state):
        super().__init__(state)
        r = self.route
        r("GET", "/", "compute.versions", self.versions, auth=False)
        r("GET", "/v2.1", "compute.version", self.version, auth=False)
        v = "/v2(?:\\.1)?"
        r("GET", v + "/flavors", "compute.flavor_list", self.flavor_list)
        r("GET", v + "/flavors/detail", "compute.flavor_list", self.flavor_list)
        r("GET", v + "/flavors/(?P<id>[^/]+)", "compute.flavor_get", self.flavor_get)
        r("GET", v + "/os-keypairs", "compute.keypair_list", self.keypair_list)
        r("POST", v + "/os-keypairs", "compute.keypair_create", self.keypair_create)
        r("GET", v + "/os-keypairs/(?P<name>[^/]+)", "compute.keypair_get", self.keypair_get)
        r("DELETE", v + "/os-keypairs/(?P<name>[^/]+)", "compute.keypair_delete", self.keypair_delete)
        r("GET", v + "/limits", "compute.limits", self.limits)
        r("GET", v + "/os-quota-sets/(?P<p>[^/]+)", "compute.quota_get", self.quota_get)
        r("GET", v + "/os-quota-sets/(?P<p>[^/]+)/detail", "compute.quota_get", self.quota_detail)
        r("GET", v + "/os-quota-sets/(?P<p>[^/]+)/defaults", "compute.quota_defaults", self.quota_defaults)
        r("PUT", v + "/os-quota-sets/(?P<p>[^/]+)", "compute.quota_update", self.quota_update)
        self.server_routes(v)

    # -- plumbing ------------------------------------------------------------------------------------

    def negotiate(self, req):
        """Read the compute microversion (missing = 2.1)."""
        microversion.negotiate(req, "compute", MIN_VERSION, MAX_VERSION, LEGACY_HEADER)

    def decorate(self, req, resp):
        """Echo the microversion and Nova's request id header."""
        microversion.headers(resp, "compute", req.version, LEGACY_HEADER)
        resp.headers["X-Compute-Request-Id"] = "req-" + new_id()

    def link(self, kind, item_id):
        """Return the self/bookmark links Nova attaches to resources."""
        base = self.state.base_url
        return [{"rel": "self", "href": f"{base}/compute/v2.1/{kind}/{item_id}"},
                {"rel": "bookmark", "href": f"{base}/compute/{kind}/{item_id}"}]

    def _version_doc(self):
        return {"id": "v2.1", "status": "CURRENT", "version": MAX_VERSION, "min_version": MIN_VERSION,
                "updated": "2013-07-23T11:33:21Z",
                "links": [{"rel": "self", "href": f"{self.state.base_url}/compute/v2.1/"},
                          {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.compute+json;version=2.1"}]}

    def versions(self, req):
        """GET /compute/: the version list (v2.0 legacy and v2.1 with microversions)."""
        legacy = {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
                  "updated": "2011-01-21T11:33:21Z",
                  "links": [{"rel": "self", "href": f"{self.state.base_url}/compute/v2/"}]}
        doc = self._version_doc()
        return Response(200, {"versions": [legacy, {k: doc[k] for k in ("id", "status", "version", "min_version",
                                                                         "updated", "links")}]})

    def version(self, req):
        """GET /compute/v2.1: the document novaclient reads to learn the microversion range."""
        return Response(200, {"version": self._version_doc()})

    # -- flavors -------------------------------------------------------------------------------------

    def get_flavor(self, flavor_id, status=404):
        """Return a flavor or raise Nova's not-found (404 on GET, 400 when referenced by a request)."""
        flavor = self.state.flavors.get(str(flavor_id))
        if flavor is None:
            raise ApiError(status, f"Flavor {flavor_id} could not be found.")
        return flavor

    def flavor_view(self, req, f, detail=True):
        """Render a flavor for the request's microversion."""
        out = {"id": f["id"], "name": f["name"], "links": self.link("flavors", f["id"])}
        if req.version.at_least("2.55"):
            out["description"] = f["description"]
        if not detail:
            return out
        out.update({"ram": f["ram"], "disk": f["disk"], "vcpus": f["vcpus"],
                    "OS-FLV-EXT-DATA:ephemeral": f["ephemeral"], "OS-FLV-DISABLED:disabled": f["disabled"],
                    "swap": f["swap"] if req.version.at_least("2.75") else (f["swap"] or ""),
                    "rxtx_factor": f["rxtx_factor"], "os-flavor-access:is_public": f["is_public"]})
        if req.version.at_least("2.61"):
            out["extra_specs"] = dict(f["extra_specs"])
        return out

    def flavor_list(self, req):
        """GET /flavors[/detail], with is_public true/false/none, minDisk, minRam, marker and limit."""
        flavors = sorted(self.state.flavors.values(), key=lambda f: (f["vcpus"], f["ram"], f["disk"], f["id"]))
        public = (req.arg("is_public") or "true").lower()
        if public in ("none", "") and req.is_admin:
            pass
        elif public == "false" and req.is_admin:
            flavors = [f for f in flavors if not f["is_public"]]
        else:
            flavors = [f for f in flavors if f["is_public"]]
        if req.arg("minDisk"):
            flavors = [f for f in flavors if f["disk"] >= int(req.arg("minDisk"))]
        if req.arg("minRam"):
            flavors = [f for f in flavors if f["ram"] >= int(req.arg("minRam"))]
        if req.arg("marker"):
            ids = [f["id"] for f in flavors]
            if req.arg("marker") not in ids:
                raise ApiError(400, f"marker [{req.arg('marker')}] not found")
            flavors = flavors[ids.index(req.arg("marker")) + 1:]
        if req.arg("limit"):
            flavors = flavors[:int(req.arg("limit"))]
        detail = req.path.endswith("/detail")
        return Response(200, {"flavors": [self.flavor_view(req, f, detail) for f in flavors]})

    def flavor_get(self, req):
        """GET /flavors/{id}."""
        return Response(200, {"flavor": self.flavor_view(req, self.get_flavor(req.match["id"]))})

    # -- keypairs ------------------------------------------------------------------------------------

    def _keypair_view(self, req, kp, full=False):
        out = {"name": kp["name"], "public_key": kp["public_key"], "fingerprint": kp["fingerprint"]}
        if req.version.at_least("2.2"):
            out["type"] = kp["type"]
        if full:
            out.update({"user_id": kp["user_id"], "id": kp["id"], "created_at": kp["created_at"], "deleted": False,
                        "deleted_at": None, "updated_at": None})
        return out

    def _owner(self, req):
        if req.arg("user_id") and req.version.at_least("2.10"):
            if not req.is_admin and req.arg("user_id") != req.user_id:
                raise ApiError(403, "Policy doesn't allow os_compute_api:os-keypairs:index to be performed.")
            return req.arg("user_id")
        return req.user_id

    def keypair_list(self, req):
        """GET /os-keypairs."""
        owner = self._owner(req)
        kps = sorted((kp for (uid, _), kp in self.state.keypairs.items() if uid == owner), key=lambda k: k["name"])
        return Response(200, {"keypairs": [{"keypair": self._keypair_view(req, kp)} for kp in kps]})

    def keypair_create(self, req):
        """POST /os-keypairs: import a public key, or (below 2.92) generate one."""
        spec = (req.body or {}).get("keypair") if isinstance(req.body, dict) else None
        if not isinstance(spec, dict) or not spec.get("name"):
            raise ApiError(400, "Invalid input for field/attribute keypair. Value: None. 'name' is a required property")
        name = spec["name"]
        if not all(c.isalnum() or c in "-_ ." for c in name) or len(name) > 255:
            raise ApiError(400, "Keypair data is invalid: Keypair name contains unsafe characters")
        owner = spec.get("user_id") if req.is_admin and spec.get("user_id") else req.user_id
        st = self.state
        if (owner, name) in st.keypairs:
            raise ApiError(409, f"Key pair '{name}' already exists.")
        used = sum(1 for (uid, _) in st.keypairs if uid == owner)
        if used >= st.nova_quota(req.project_id)["key_pairs"]:
            raise ApiError(403, "Quota exceeded, too many key pairs.")
        private = None
        public = spec.get("public_key")
        if public is None:
            if req.version.at_least("2.92"):
                raise ApiError(400, "Invalid input for field/attribute keypair. Value: "
                                    f"{spec}. 'public_key' is a required property")
            public, private = generated_keypair()
        kp = {"name": name, "public_key": public.strip(), "fingerprint": fingerprint(public), "user_id": owner,
              "type": spec.get("type", "ssh"), "id": len(st.keypairs) + 1, "created_at": isotime(micro=True)}
        st.keypairs[(owner, name)] = kp
        body = self._keypair_view(req, kp)
        body["user_id"] = owner
        if private:
            body["private_key"] = private
        return Response(201 if req.version.at_least("2.2") else 200, {"keypair": body})

    def _get_keypair(self, req):
        owner = self._owner(req)
        kp = self.state.keypairs.get((owner, req.match["name"]))
        if kp is None:
            raise ApiError(404, f"Keypair {req.match['name']} not found for user {owner}")
        return kp

    def keypair_get(self, req):
        """GET /os-keypairs/{name}."""
        return Response(200, {"keypair": self._keypair_view(req, self._get_keypair(req), full=True)})

    def keypair_delete(self, req):
        """DELETE /os-keypairs/{name}."""
        kp = self._get_keypair(req)
        del self.state.keypairs[(kp["user_id"], kp["name"])]
        return Response(204 if req.version.at_least("2.2") else 202)

    # -- limits and quotas ---------------------------------------------------------------------------

    def limits(self, req):
        """GET /limits: absolute limits and usage of the caller's project."""
        project = req.arg("tenant_id") if req.is_admin and req.arg("tenant_id") else req.project_id
        q, used = self.state.nova_quota(project), self.state.nova_usage(project)
        absolute = {"maxTotalCores": q["cores"], "maxTotalInstances": q["instances"], "maxTotalRAMSize": q["ram"],
                    "maxServerMeta": q["metadata_items"], "maxServerGroups": q["server_groups"],
                    "maxServerGroupMembers": q["server_group_members"], "totalCoresUsed": used["cores"],
                    "totalInstancesUsed": used["instances"], "totalRAMUsed": used["ram"], "totalServerGroupsUsed": 0}
        if not req.version.at_least("2.57"):
            absolute.update({"maxPersonality": q["injected_files"],
                             "maxPersonalitySize": q["injected_file_content_bytes"],
                             "maxImageMeta": q["metadata_items"]})
        if not req.version.at_least("2.36"):
            absolute.update({"maxTotalFloatingIps": 10, "maxSecurityGroups": 10, "maxSecurityGroupRules": 20,
                             "totalFloatingIpsUsed": 0, "totalSecurityGroupsUsed": 0})
        absolute["maxTotalKeypairs"] = q["key_pairs"]
        return Response(200, {"limits": {"rate": [], "absolute": absolute}})

    def _quota_view(self, req, quota, project_id):
        keys = ["instances", "cores", "ram", "key_pairs", "metadata_items", "server_groups", "server_group_members"]
        if not req.version.at_least("2.57"):
            keys += ["injected_files", "injected_file_content_bytes", "injected_file_path_bytes"]
        out = {k: quota[k] for k in keys}
        if not req.version.at_least("2.36"):
            out.update({"fixed_ips": -1, "floating_ips": 10, "security_groups": 10, "security_group_rules": 20})
        out["id"] = project_id
        return out

    def _quota_project(self, req):
        pid = req.match["p"]
        if not req.is_admin and pid != req.project_id:
            raise ApiError(403, "Policy doesn't allow os_compute_api:os-quota-sets:show to be performed.")
        return pid

    def quota_get(self, req):
        """GET /os-quota-sets/{project}."""
        pid = self._quota_project(req)
        return Response(200, {"quota_set": self._quota_view(req, self.state.nova_quota(pid), pid)})

    def quota_detail(self, req):
        """GET /os-quota-sets/{project}/detail: limits with in_use and reserved."""
        pid = self._quota_project(req)
        view = self._quota_view(req, self.state.nova_quota(pid), pid)
        used = self.state.nova_usage(pid)
        detail = {k: {"limit": v, "in_use": used.get(k, 0), "reserved": 0} for k, v in view.items() if k != "id"}
        return Response(200, {"quota_set": {**detail, "id": pid}})

    def quota_defaults(self, req):
        """GET /os-quota-sets/{project}/defaults."""
        return Response(200, {"quota_set": self._quota_view(req, NOVA_DEFAULT_QUOTAS, req.match["p"])})

    def quota_update(self, req):
        """PUT /os-quota-sets/{project} (admin only)."""
        if not req.is_admin:
            raise ApiError(403, "Policy doesn't allow os_compute_api:os-quota-sets:update to be performed.")
        pid = req.match["p"]
        spec = (req.body or {}).get("quota_set") or {}
        used = self.state.nova_usage(pid)
        force = str(spec.get("force", "false")).lower() == "true"
        for key, value in spec.items():
            if key in ("force", "id"):
                continue
            if key not in self.state.nova_quota(pid):
                raise ApiError(400, f"Invalid input for field/attribute quota_set. Value: {spec}. Additional "
                                    f"properties are not allowed ('{key}' was unexpected)")
            if not force and 0 <= int(value) < used.get(key, 0):
                raise ApiError(400, f"Quota limit {int(value)} for {key} must be greater than or equal to already "
                                    f"used and reserved {used[key]}.")
        overrides = self.state.nova_quotas.setdefault(pid, {})
        for key, value in spec.items():
            if key not in ("force", "id"):
                overrides[key] = int(value)
        return Response(200, {"quota_set": {k: v for k, v in self._quota_view(req, self.state.nova_quota(pid), pid)
                                            .items() if k != "id"}})
