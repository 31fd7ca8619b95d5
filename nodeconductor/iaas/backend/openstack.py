"""OpenStackBackend: catalogue, tenants and quotas of one cloud account; instance work comes from a mixin."""


from cinderclient import exceptions as cinder_exc
from glanceclient import exc as glance_exc
from novaclient import exceptions as nova_exc

from . import clients
from .backups import BackupsMixin
from .console import ConsoleMixin
from .errors import CloudBackendError, translate_errors
from .floating_ips import FloatingIPsMixin
from .imports import ImportsMixin
from .instance_actions import InstanceActionsMixin
from .instances import InstanceOperationsMixin
from .networking import NetworkingMixin
from .security_groups import SecurityGroupsMixin
from .session import forget_session, get_session
from .snapshots import SnapshotMixin
from .specs import CloudAccess
from .units import MIB_PER_GIB, gib_to_mib, mib_to_gib  # noqa: F401 - callers name them here

NOVA_HEADERS = {
    "X-OpenStack-Nova-API-Version": clients.NOVA_MICROVERSION,
    "OpenStack-API-Version": f"compute {clients.NOVA_MICROVERSION}",
}


def _client_error(service_type, resp, path):
    """The exception the service's client library raises for this error answer (it parses the cloud's message)."""
    if service_type == "image":
        return glance_exc.from_response(resp, resp.content)
    try:
        body = resp.json() if resp.text else None
    except ValueError:
        body = None
    if service_type == "compute":
        return nova_exc.from_response(resp, body, path, "GET")
    return cinder_exc.from_response(resp, body)


class OpenStackBackend(
    InstanceOperationsMixin,
    InstanceActionsMixin,
    NetworkingMixin,
    FloatingIPsMixin,
    SnapshotMixin,
    ImportsMixin,
    SecurityGroupsMixin,
    BackupsMixin,
    ConsoleMixin,
):
    """Talks to one OpenStack account with the admin credentials configured for its auth_url."""

    def __init__(self, access):
        """Bind to a cloud account (a CloudAccess); refuse clearly when its auth_url has no credentials in settings."""
        if not isinstance(access, CloudAccess):
            # A model here would let the backend read the database again: the application layer builds the access.
            raise TypeError(f"OpenStackBackend takes a CloudAccess (backend_specs.cloud_access), not {type(access)}.")
        self.access = access
        self.credentials = access.credentials
        if self.credentials is None:
            raise CloudBackendError(f"No credentials are configured for auth_url {access.auth_url}.")

    # Sessions and clients -------------------------------------------------------------------------
    def _call(self, what):
        """Context manager translating client errors of one call, with the password scrubbed."""
        return translate_errors(what, secrets=(self.credentials.get("password"),))

    def admin_session(self):
        """Session scoped to the admin's own tenant, for catalogue and identity work."""
        return get_session(self.credentials)

    def tenant_session(self, tenant_id):
        """Session scoped to a project's tenant, for its volumes and servers."""
        if not tenant_id:
            raise CloudBackendError("The membership has no tenant_id yet; sync it first.")
        return get_session(self.credentials, tenant_id)

    def _client(self, kind, factory, tenant_id):
        """One client per kind and scope for this backend's life: building one costs more than a call."""
        cache = self.__dict__.setdefault("_clients", {})
        key = (kind, tenant_id or "")
        if key not in cache:
            cache[key] = factory(self.tenant_session(tenant_id) if tenant_id else self.admin_session())
        return cache[key]

    def nova(self, tenant_id=None):
        """Nova client in the admin's or a tenant's scope."""
        return self._client("nova", clients.nova, tenant_id)

    def cinder(self, tenant_id=None):
        """Cinder client in the admin's or a tenant's scope."""
        return self._client("cinder", clients.cinder, tenant_id)

    def glance(self):
        """Glance client in the admin's scope."""
        return self._client("glance", clients.glance, None)

    def keystone(self):
        """Keystone v3 client in the admin's scope."""
        return clients.keystone(self.admin_session())

    # Catalogue ------------------------------------------------------------------------------------
    # The pull's reads go straight to the admin session as plain JSON: building the Nova, Cinder and Glance
    # clients and wrapping every row in a Resource cost more than the requests themselves at 1,000 images.
    # The requests are the ones the clients send (same URLs, endpoints and Nova microversion); keystoneauth's
    # error answers become the client's own exception, so the cloud's message reads as before.
    def _get_json(self, service_type, path):
        """GET a path of the admin's endpoint of service_type; the parsed body."""
        headers = NOVA_HEADERS if service_type == "compute" else None
        endpoint = {"service_type": service_type, "interface": "public"}
        resp = self.admin_session().get(path, endpoint_filter=endpoint, headers=headers, raise_exc=False)
        if resp.status_code >= 400:
            raise _client_error(service_type, resp, path)
        return resp.json()

    def list_flavors(self):
        """All flavors, public and private, as plain dicts in MiB."""
        with self._call("list flavors"):
            body = self._get_json("compute", "/flavors/detail?is_public=None")
        return [
            {
                "backend_id": f["id"],
                "name": f["name"],
                "cores": f["vcpus"],
                "ram": f["ram"],
                "disk": gib_to_mib(f["disk"]),
            }
            for f in body.get("flavors", ())
        ]

    def list_images(self):
        """Active images visible to the admin, as plain dicts in MiB."""
        images = []
        # Large pages: few calls (glanceclient's images.list() would also validate every image on a schema).
        url = "/v2/images?limit=1000"
        with self._call("list images"):
            while url:
                body = self._get_json("image", url)
                images.extend(body.get("images", ()))
                url = body.get("next")
        return [
            {
                "backend_id": img["id"],
                "name": img.get("name") or "",
                "min_disk": gib_to_mib(img.get("min_disk")),
                "min_ram": int(img.get("min_ram") or 0),
            }
            for img in images
            if img.get("status") == "active"
        ]

    def get_quotas(self, tenant_id):
        """The tenant's limits: vcpu, ram (MiB), storage (MiB), max_instances; -1 means unlimited."""
        with self._call(f"get compute quotas of tenant {tenant_id}"):
            compute = self._get_json("compute", f"/os-quota-sets/{tenant_id}")["quota_set"]
        with self._call(f"get volume quotas of tenant {tenant_id}"):
            volume = self._get_json("volumev3", f"/os-quota-sets/{tenant_id}")["quota_set"]
        gigabytes = int(volume.get("gigabytes", -1))
        return {
            "quota_vcpu": int(compute["cores"]),
            "quota_ram": int(compute["ram"]),
            "quota_storage": -1 if gigabytes < 0 else gib_to_mib(gigabytes),
            "quota_max_instances": int(compute["instances"]),
            "quota_snapshot_count": int(volume.get("snapshots", -1)),
        }

    def set_quotas(self, tenant_id, quotas):
        """Push limits to Nova and Cinder; keys as get_quotas returns them, absent keys left alone."""
        compute = {}
        if "quota_vcpu" in quotas:
            compute["cores"] = quotas["quota_vcpu"]
        if "quota_ram" in quotas:
            compute["ram"] = quotas["quota_ram"]
        if "quota_max_instances" in quotas:
            compute["instances"] = quotas["quota_max_instances"]
        if compute:
            with self._call(f"set compute quotas of tenant {tenant_id}"):
                self.nova().quotas.update(tenant_id, **compute)
        if "quota_storage" in quotas:
            storage = quotas["quota_storage"]
            gigabytes = -1 if storage < 0 else storage // MIB_PER_GIB
            with self._call(f"set volume quotas of tenant {tenant_id}"):
                self.cinder().quotas.update(tenant_id, gigabytes=gigabytes)

    def fetch_cloud_account(self, tenant_ids=()):
        """Read everything a pull needs before writing anything, so a failure half way changes nothing; quotas of
        the tenants given (the cloud's memberships, as the caller found them)."""
        data = {"flavors": self.list_flavors(), "images": self.list_images(), "quotas": {}}
        for tenant_id in sorted(set(filter(None, tenant_ids))):
            data["quotas"][tenant_id] = self.get_quotas(tenant_id)
        return data

    # Tenants --------------------------------------------------------------------------------------
    def _admin_user_id(self):
        """Keystone id of the admin user of these credentials."""
        with self._call("authenticate"):
            return self.admin_session().get_user_id()

    def _ensure_admin_role(self, tenant_id):
        """Grant the admin user the admin role in the tenant unless he holds a role there already."""
        keystone = self.keystone()
        user_id = self._admin_user_id()
        with self._call(f"list role assignments in tenant {tenant_id}"):
            assignments = keystone.role_assignments.list(user=user_id, project=tenant_id)
        if assignments:
            return False
        with self._call("find the admin role"):
            roles = [r for r in keystone.roles.list() if r.name == "admin"]
        if not roles:
            raise CloudBackendError("The cloud has no 'admin' role to grant the admin user in the tenant.")
        with self._call(f"grant the admin role in tenant {tenant_id}"):
            keystone.roles.grant(roles[0], user=user_id, project=tenant_id)
        # The cached tenant session may hold a token issued before the grant.
        forget_session(self.credentials, tenant_id)
        for key in [k for k in self.__dict__.get("_clients", {}) if k[1] == tenant_id]:
            del self._clients[key]
        return True

    def verify_tenant(self, tenant_id):
        """Check the tenant exists and is not the admin's own project, make sure the admin user can work in it, and
        return its id as Keystone spells it.

        The admin project holds the operator's own servers and networks: bound to a customer, a pull would list
        them as that customer's untracked servers and sweep what carries our metadata there.
        """
        with self._call(f"get tenant {tenant_id}"):
            tenant_id = self.keystone().projects.get(tenant_id).id  # as Keystone spells it, whatever was asked
        with self._call("authenticate"):
            admin_project_id = self.admin_session().get_project_id()
        if tenant_id == admin_project_id:
            raise CloudBackendError(
                f"verify tenant {tenant_id} failed: it is the project of the cloud's admin credentials, which is "
                "never a customer's tenant."
            )
        self._ensure_admin_role(tenant_id)
        return tenant_id

    def create_tenant(self, name, description=""):
        """Create (or find, when a retried task made it already) a tenant named name; return its id."""
        keystone = self.keystone()
        with self._call("find the admin's domain"):
            domain_id = keystone.projects.get(self.admin_session().get_project_id()).domain_id
        with self._call(f"find tenant {name}"):
            existing = keystone.projects.list(name=name, domain=domain_id)
        if existing:
            tenant_id = existing[0].id
        else:
            with self._call(f"create tenant {name}"):
                tenant_id = keystone.projects.create(name=name, domain=domain_id, description=description).id
        self._ensure_admin_role(tenant_id)
        return tenant_id

    def ensure_tenant_access(self, tenant_id):
        """Make a tenant usable for provisioning: the admin needs a role there (the seed never syncs)."""
        self._ensure_admin_role(tenant_id)
