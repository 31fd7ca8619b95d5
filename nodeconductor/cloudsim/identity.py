"""Keystone v3 (and the legacy v2.0 token call) as keystoneauth1 and keystoneclient speak to it."""

from .core import ApiError, in_seconds, isotime, new_hex_id, utcnow
from .http import Response, Service
from .identity_admin import IdentityAdminMixin
from .state import DEFAULT_DOMAIN_ID

V3_UPDATED = "2022-09-07T00:00:00Z"
MEDIA_V3 = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]
BAD_CREDENTIALS = "The request you have made requires authentication."


def catalog_entries(base, project_id):
    """Return (service type, name, url) of every catalog entry; all services share one port."""
    volume = f"{base}/volume/v3/{project_id}" if project_id else f"{base}/volume/v3"
    return [
        ("identity", "keystone", f"{base}/v3/"),
        ("compute", "nova", f"{base}/compute/v2.1"),
        ("volumev3", "cinderv3", volume),
        ("block-storage", "cinder", volume),
        ("image", "glance", f"{base}/image"),
        ("network", "neutron", f"{base}/network"),
    ]


class Identity(IdentityAdminMixin, Service):
    """Keystone: password auth, token validation, catalog, projects, users, roles and grants."""

    name = "identity"
    prefix = ""

    def __init__(self, state):
        super().__init__(state)
        r = self.route
        r("GET", "/", "identity.versions", self.versions, auth=False)
        r("GET", "/v3", "identity.version", self.version_v3, auth=False)
        r("GET", "/v2.0", "identity.version", self.version_v2, auth=False)
        r("POST", "/v3/auth/tokens", "identity.auth", self.auth_v3, auth=False)
        r("POST", "/v2.0/tokens", "identity.auth", self.auth_v2, auth=False)
        r("GET", "/v3/auth/tokens", "identity.token_validate", self.validate)
        r("DELETE", "/v3/auth/tokens", "identity.token_revoke", self.revoke)
        r("GET", "/v3/auth/catalog", "identity.catalog", self.catalog)
        r("GET", "/v3/auth/projects", "identity.auth_projects", self.auth_projects)
        r("GET", "/v3/domains", "identity.domain_list", self.domain_list)
        r("GET", "/v3/domains/(?P<id>[^/]+)", "identity.domain_get", self.domain_get)
        r("GET", "/v3/projects", "identity.project_list", self.project_list)
        r("POST", "/v3/projects", "identity.project_create", self.project_create)
        r("GET", "/v3/projects/(?P<id>[^/]+)", "identity.project_get", self.project_get)
        r("PATCH", "/v3/projects/(?P<id>[^/]+)", "identity.project_update", self.project_update)
        r("DELETE", "/v3/projects/(?P<id>[^/]+)", "identity.project_delete", self.project_delete)
        r("GET", "/v3/users", "identity.user_list", self.user_list)
        r("POST", "/v3/users", "identity.user_create", self.user_create)
        r("GET", "/v3/users/(?P<id>[^/]+)", "identity.user_get", self.user_get)
        r("DELETE", "/v3/users/(?P<id>[^/]+)", "identity.user_delete", self.user_delete)
        r("GET", "/v3/users/(?P<id>[^/]+)/projects", "identity.user_projects", self.user_projects)
        r("GET", "/v3/roles", "identity.role_list", self.role_list)
        r("GET", "/v3/role_assignments", "identity.role_assignment_list", self.assignment_list)
        grant = "/v3/projects/(?P<p>[^/]+)/users/(?P<u>[^/]+)/roles/(?P<r>[^/]+)"
        r("PUT", grant, "identity.role_grant", self.role_grant)
        r("GET", grant, "identity.role_check", self.role_check)
        r("DELETE", grant, "identity.role_revoke", self.role_revoke)

    def error(self, status, message):
        """Keystone's error body."""
        titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict"}
        return {"error": {"code": status, "title": titles.get(status, "Internal Server Error"), "message": message}}

    # -- discovery -----------------------------------------------------------------------------------

    def _v3_doc(self):
        base = self.state.base_url
        return {"id": "v3.14", "status": "stable", "updated": V3_UPDATED, "media-types": MEDIA_V3,
                "links": [{"rel": "self", "href": f"{base}/v3/"}]}

    def versions(self, req):
        """Unversioned root: like Zed, only v3 is listed (v2.0 tokens still answer for old clients)."""
        return Response(300, {"versions": {"values": [self._v3_doc()]}})

    def version_v3(self, req):
        """The v3 version document keystoneauth's discovery reads."""
        return Response(200, {"version": self._v3_doc()})

    def version_v2(self, req):
        """A v2.0 version document, so keystoneauth's generic plugin can use a /v2.0 auth_url."""
        base = self.state.base_url
        return Response(200, {"version": {
            "id": "v2.0", "status": "deprecated", "updated": "2016-08-04T00:00:00Z",
            "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v2.0+json"}],
            "links": [{"rel": "self", "href": f"{base}/v2.0/"}]}})

    # -- tokens --------------------------------------------------------------------------------------

    def _find_user(self, spec):
        st = self.state
        if "id" in spec:
            return st.users.get(spec["id"])
        domain = spec.get("domain") or {}
        domain_id = domain.get("id")
        if domain_id is None and "name" in domain:
            d = next((d for d in st.domains.values() if d["name"] == domain["name"]), None)
            domain_id = d["id"] if d else "-missing-"
        if domain_id is None:
            raise ApiError(400, "Expecting to find domain in user. The server could not comply with the "
                                "request since it is either malformed or otherwise incorrect. The client is "
                                "assumed to be in error.")
        return st.user_named(spec.get("name"), domain_id)

    def _find_project(self, spec):
        st = self.state
        if "id" in spec:
            return st.projects.get(spec["id"])
        domain = spec.get("domain") or {}
        domain_id = domain.get("id")
        if domain_id is None and "name" in domain:
            d = next((d for d in st.domains.values() if d["name"] == domain["name"]), None)
            domain_id = d["id"] if d else "-missing-"
        return st.project_named(spec.get("name"), domain_id)

    def _issue(self, user, project):
        st = self.state
        if project is not None:
            roles = st.roles_of(user["id"], project["id"])
            if not roles:
                raise ApiError(401, BAD_CREDENTIALS)
        else:
            roles = []
        token_id = "gAAAAA" + new_hex_id() + new_hex_id()
        token = {"id": token_id, "user_id": user["id"], "project_id": project["id"] if project else None,
                 "roles": roles, "role_names": [r["name"] for r in roles], "issued": utcnow(),
                 "expires": in_seconds(st.token_lifetime), "audit_id": new_hex_id()[:22]}
        st.tokens[token_id] = token
        return token

    def _token_body(self, token):
        st = self.state
        user = st.users[token["user_id"]]
        body = {
            "methods": ["password"], "audit_ids": [token["audit_id"]],
            "expires_at": isotime(token["expires"], micro=True) + "Z",
            "issued_at": isotime(token["issued"], micro=True) + "Z",
            "user": {"id": user["id"], "name": user["name"], "password_expires_at": None,
                     "domain": {"id": user["domain_id"], "name": st.domains[user["domain_id"]]["name"]}},
        }
        if token["project_id"]:
            project = st.projects[token["project_id"]]
            body["project"] = {"id": project["id"], "name": project["name"],
                               "domain": {"id": project["domain_id"],
                                          "name": st.domains[project["domain_id"]]["name"]}}
            body["is_domain"] = False
            body["roles"] = [{"id": r["id"], "name": r["name"]} for r in token["roles"]]
            body["catalog"] = self._catalog(token["project_id"])
        return body

    def _catalog(self, project_id):
        entries = []
        for stype, name, url in catalog_entries(self.state.base_url, project_id):
            endpoints = [{"id": new_hex_id(), "interface": iface, "region": "RegionOne", "region_id": "RegionOne",
                          "url": url} for iface in ("public", "internal", "admin")]
            entries.append({"id": new_hex_id(), "type": stype, "name": name, "endpoints": endpoints})
        return entries

    def auth_v3(self, req):
        """POST /v3/auth/tokens: password auth, project-scoped or unscoped."""
        auth = (req.body or {}).get("auth") if isinstance(req.body, dict) else None
        if not auth:
            raise ApiError(400, "Expecting to find auth in request body.")
        st = self.state
        identity = auth.get("identity") or {}
        if "token" in identity.get("methods", []):
            old = st.tokens.get((identity.get("token") or {}).get("id"))
            if old is None or old["expires"] <= utcnow():
                raise ApiError(401, BAD_CREDENTIALS)
            user = st.users[old["user_id"]]
        else:
            pw = (identity.get("password") or {}).get("user") or {}
            user = self._find_user(pw)
            if user is None or user["password"] != pw.get("password") or not user["enabled"]:
                raise ApiError(401, BAD_CREDENTIALS)
        project = None
        scope = auth.get("scope")
        if isinstance(scope, dict) and "project" in scope:
            project = self._find_project(scope["project"])
            if project is None or not project["enabled"]:
                raise ApiError(401, BAD_CREDENTIALS)
        elif scope is None and user.get("default_project_id") in st.projects:
            project = st.projects[user["default_project_id"]]
        token = self._issue(user, project)
        return Response(201, {"token": self._token_body(token)}, {"X-Subject-Token": token["id"]})

    def auth_v2(self, req):
        """POST /v2.0/tokens: the legacy call keystoneauth's v2 plugin makes."""
        auth = (req.body or {}).get("auth") or {}
        creds = auth.get("passwordCredentials") or {}
        st = self.state
        user = st.user_named(creds.get("username"), DEFAULT_DOMAIN_ID)
        if user is None or user["password"] != creds.get("password"):
            raise ApiError(401, BAD_CREDENTIALS)
        project = None
        if auth.get("tenantId"):
            project = st.projects.get(auth["tenantId"])
        elif auth.get("tenantName"):
            project = st.project_named(auth["tenantName"], DEFAULT_DOMAIN_ID)
        if (auth.get("tenantId") or auth.get("tenantName")) and project is None:
            raise ApiError(401, BAD_CREDENTIALS)
        token = self._issue(user, project)
        access = {
            "token": {"id": token["id"], "issued_at": isotime(token["issued"], micro=True),
                      "expires": isotime(token["expires"]), "audit_ids": [token["audit_id"]]},
            "user": {"id": user["id"], "name": user["name"], "username": user["name"],
                     "roles": [{"name": r["name"]} for r in token["roles"]], "roles_links": []},
            "metadata": {"is_admin": 0, "roles": [r["id"] for r in token["roles"]]},
            "serviceCatalog": [],
        }
        if project:
            access["token"]["tenant"] = {"id": project["id"], "name": project["name"], "enabled": True,
                                         "description": project["description"]}
            for stype, name, url in catalog_entries(st.base_url, project["id"]):
                if stype == "identity":
                    url = f"{st.base_url}/v2.0"
                access["serviceCatalog"].append({"type": stype, "name": name, "endpoints_links": [], "endpoints": [
                    {"id": new_hex_id(), "region": "RegionOne", "publicURL": url, "internalURL": url,
                     "adminURL": url}]})
        return Response(200, {"access": access})

    def _subject(self, req):
        token = self.state.tokens.get(req.header("X-Subject-Token") or "")
        if token is None or token["expires"] <= utcnow():
            raise ApiError(404, f"Could not find token: {req.header('X-Subject-Token')}.")
        return token

    def validate(self, req):
        """GET /v3/auth/tokens: validate the X-Subject-Token."""
        token = self._subject(req)
        return Response(200, {"token": self._token_body(token)}, {"X-Subject-Token": token["id"]})

    def revoke(self, req):
        """DELETE /v3/auth/tokens: revoke the X-Subject-Token."""
        token = self._subject(req)
        self.state.tokens.pop(token["id"], None)
        return Response(204)

    def catalog(self, req):
        """GET /v3/auth/catalog."""
        return Response(200, {"catalog": self._catalog(req.project_id), "links": {}})

    def auth_projects(self, req):
        """GET /v3/auth/projects: projects the caller has a role on."""
        st = self.state
        ids = {p for (u, p, _r) in st.assignments if u == req.user_id}
        return Response(200, {"projects": [self._project(st.projects[p]) for p in sorted(ids) if p in st.projects],
                              "links": {}})
