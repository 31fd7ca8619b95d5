"""Keystone's admin resources (domains, projects, users, roles and grants), mixed into the Identity service."""

from .core import ApiError
from .http import Response
from .state import DEFAULT_DOMAIN_ID


class IdentityAdminMixin:
    """Domains, projects, users, role assignments and grants, as keystoneclient's admin calls see them."""

    def _admin(self, req):
        if not req.is_admin:
            raise ApiError(403, "You are not authorized to perform the requested action: identity:list_projects.")

    def _project(self, p):
        base = self.state.base_url
        return {**p, "links": {"self": f"{base}/v3/projects/{p['id']}"}}

    def _user(self, u):
        base = self.state.base_url
        return {k: v for k, v in u.items() if k != "password"} | {"links": {"self": f"{base}/v3/users/{u['id']}"}}

    def domain_list(self, req):
        """GET /v3/domains."""
        return Response(200, {"domains": list(self.state.domains.values()), "links": {}})

    def domain_get(self, req):
        """GET /v3/domains/{id}."""
        d = self.state.domains.get(req.match["id"])
        if d is None:
            raise ApiError(404, f"Could not find domain: {req.match['id']}.")
        return Response(200, {"domain": d})

    def project_list(self, req):
        """GET /v3/projects, filtered by name / domain_id."""
        self._admin(req)
        projects = list(self.state.projects.values())
        if req.arg("name") is not None:
            projects = [p for p in projects if p["name"] == req.arg("name")]
        if req.arg("domain_id") is not None:
            projects = [p for p in projects if p["domain_id"] == req.arg("domain_id")]
        return Response(200, {"projects": [self._project(p) for p in projects], "links": {}})

    def _get_project(self, pid):
        p = self.state.projects.get(pid)
        if p is None:
            raise ApiError(404, f"Could not find project: {pid}.")
        return p

    def project_get(self, req):
        """GET /v3/projects/{id} (admins, or members of the project)."""
        p = self._get_project(req.match["id"])
        if not req.is_admin and req.project_id != p["id"]:
            raise ApiError(403, "You are not authorized to perform the requested action: identity:get_project.")
        return Response(200, {"project": self._project(p)})

    def project_create(self, req):
        """POST /v3/projects."""
        self._admin(req)
        spec = (req.body or {}).get("project") or {}
        name = spec.get("name")
        if not name:
            raise ApiError(400, "Invalid input for field 'name': None is not of type 'string'")
        domain_id = spec.get("domain_id") or DEFAULT_DOMAIN_ID
        if self.state.project_named(name, domain_id):
            raise ApiError(409, "Conflict occurred attempting to store project - it is not permitted to have two "
                                f"projects with the same name in the same domain : {name}.")
        p = self.state.add_project(name, domain_id, spec.get("description", ""), spec.get("enabled", True))
        return Response(201, {"project": self._project(p)})

    def project_update(self, req):
        """PATCH /v3/projects/{id}."""
        self._admin(req)
        p = self._get_project(req.match["id"])
        for key in ("name", "description", "enabled"):
            if key in ((req.body or {}).get("project") or {}):
                p[key] = req.body["project"][key]
        return Response(200, {"project": self._project(p)})

    def project_delete(self, req):
        """DELETE /v3/projects/{id}."""
        self._admin(req)
        p = self._get_project(req.match["id"])
        del self.state.projects[p["id"]]
        self.state.assignments = {a for a in self.state.assignments if a[1] != p["id"]}
        return Response(204)

    def user_list(self, req):
        """GET /v3/users, filtered by name."""
        self._admin(req)
        users = list(self.state.users.values())
        if req.arg("name") is not None:
            users = [u for u in users if u["name"] == req.arg("name")]
        return Response(200, {"users": [self._user(u) for u in users], "links": {}})

    def user_create(self, req):
        """POST /v3/users."""
        self._admin(req)
        spec = (req.body or {}).get("user") or {}
        domain_id = spec.get("domain_id") or DEFAULT_DOMAIN_ID
        if self.state.user_named(spec.get("name"), domain_id):
            raise ApiError(409, "Conflict occurred attempting to store user - Duplicate entry found with name "
                                f"{spec.get('name')} at domain ID {domain_id}.")
        u = self.state.add_user(spec.get("name"), spec.get("password"), domain_id,
                                spec.get("default_project_id"), spec.get("email"))
        return Response(201, {"user": self._user(u)})

    def _get_user(self, uid):
        u = self.state.users.get(uid)
        if u is None:
            raise ApiError(404, f"Could not find user: {uid}.")
        return u

    def user_get(self, req):
        """GET /v3/users/{id}."""
        if not req.is_admin and req.user_id != req.match["id"]:
            raise ApiError(403, "You are not authorized to perform the requested action: identity:get_user.")
        return Response(200, {"user": self._user(self._get_user(req.match["id"]))})

    def user_delete(self, req):
        """DELETE /v3/users/{id}."""
        self._admin(req)
        u = self._get_user(req.match["id"])
        del self.state.users[u["id"]]
        self.state.assignments = {a for a in self.state.assignments if a[0] != u["id"]}
        return Response(204)

    def user_projects(self, req):
        """GET /v3/users/{id}/projects."""
        if not req.is_admin and req.user_id != req.match["id"]:
            raise ApiError(403, "You are not authorized to perform the requested action: identity:list_user_projects.")
        st = self.state
        ids = sorted({p for (u, p, _r) in st.assignments if u == req.match["id"]})
        return Response(200, {"projects": [self._project(st.projects[p]) for p in ids if p in st.projects],
                              "links": {}})

    def role_list(self, req):
        """GET /v3/roles, filtered by name."""
        roles = list(self.state.roles.values())
        if req.arg("name") is not None:
            roles = [r for r in roles if r["name"] == req.arg("name")]
        return Response(200, {"roles": roles, "links": {}})

    def assignment_list(self, req):
        """GET /v3/role_assignments with user.id / scope.project.id / role.id filters."""
        self._admin(req)
        base = self.state.base_url
        out = []
        for user_id, project_id, role_id in sorted(self.state.assignments):
            if req.arg("user.id") not in (None, user_id) or req.arg("scope.project.id") not in (None, project_id) \
                    or req.arg("role.id") not in (None, role_id):
                continue
            out.append({"role": {"id": role_id}, "user": {"id": user_id}, "scope": {"project": {"id": project_id}},
                        "links": {"assignment": f"{base}/v3/projects/{project_id}/users/{user_id}/roles/{role_id}"}})
        return Response(200, {"role_assignments": out, "links": {}})

    def _grant_args(self, req):
        self._admin(req)
        st = self.state
        self._get_project(req.match["p"])
        self._get_user(req.match["u"])
        if req.match["r"] not in st.roles:
            raise ApiError(404, f"Could not find role: {req.match['r']}.")
        return req.match["u"], req.match["p"], req.match["r"]

    def role_grant(self, req):
        """PUT /v3/projects/{p}/users/{u}/roles/{r}."""
        self.state.grant(*self._grant_args(req))
        return Response(204)

    def role_check(self, req):
        """HEAD/GET /v3/projects/{p}/users/{u}/roles/{r}."""
        key = self._grant_args(req)
        if key not in self.state.assignments:
            raise ApiError(404, f"Could not find role assignment with role: {key[2]}, user or group: {key[0]}, "
                                f"project, domain, or system: {key[1]}.")
        return Response(204)

    def role_revoke(self, req):
        """DELETE /v3/projects/{p}/users/{u}/roles/{r}."""
        key = self._grant_args(req)
        if key not in self.state.assignments:
            raise ApiError(404, f"Could not find role assignment with role: {key[2]}, user or group: {key[0]}, "
                                f"project, domain, or system: {key[1]}.")
        self.state.assignments.discard(key)
        return Response(204)
