"""The in-memory cloud: identity, flavors, images, servers, volumes, keypairs, networks and quotas, behind one lock."""

import functools
import threading

from .core import DELAY_PROFILES, CallLog, FaultRegistry, Scheduler, isotime, new_hex_id, new_id
from .network_model import add_public_network

# The seed guide's own tenant and image ids, so its example runs against the simulator with only the
# auth_url changed (a real cloud has its own ids; the guide says where to find them).
TINY_IMAGE_ID = "d15dc2c4-25d6-4150-93fe-a412499298d8"
DEMO_PROJECT_ID = "593af1f7b67b4d63b691fcabd2dad126"
DEFAULT_DOMAIN_ID = "default"

NOVA_DEFAULT_QUOTAS = {
    "instances": 10, "cores": 20, "ram": 51200, "key_pairs": 100, "metadata_items": 128,
    "injected_files": 5, "injected_file_content_bytes": 10240, "injected_file_path_bytes": 255,
    "server_groups": 10, "server_group_members": 10,
}
CINDER_DEFAULT_QUOTAS = {
    "volumes": 10, "snapshots": 10, "gigabytes": 1000, "backups": 10, "backup_gigabytes": 1000,
    "per_volume_gigabytes": -1, "groups": 10,
}


class State:
    """All simulated resources; handlers and timers touch it only while holding `lock`."""

    def __init__(self, admin_password="admin", demo_password="demo", delays="fast"):
        self.lock = threading.RLock()
        self.scheduler = Scheduler(self.lock)
        self.faults = FaultRegistry()
        self.calls = CallLog()
        self.admin_password = admin_password
        self.demo_password = demo_password
        self.delay_profile = delays
        self.base_url = "http://127.0.0.1"
        self.reset()

    # -- lifecycle -----------------------------------------------------------------------------------

    def reset(self):
        """Back to the initial cloud: no servers or volumes, default quotas, delays and no faults."""
        with self.lock:
            self.scheduler.clear()
            self.faults.clear()
            self.calls.clear()
            if self.delay_profile not in DELAY_PROFILES:
                raise ValueError(f"unknown delay profile {self.delay_profile!r}")
            self.delays = dict(DELAY_PROFILES[self.delay_profile])
            self.latency = {"identity": 0.0, "compute": 0.0, "volume": 0.0, "image": 0.0, "network": 0.0}
            self.token_lifetime = 3600.0
            self.tokens = {}
            self.domains = {DEFAULT_DOMAIN_ID: {"id": DEFAULT_DOMAIN_ID, "name": "Default", "enabled": True,
                                                "description": "The default domain"}}
            self.roles = {}
            for name in ("admin", "member", "reader", "service"):
                rid = new_hex_id()
                self.roles[rid] = {"id": rid, "name": name, "domain_id": None, "description": None}
            self.projects = {}
            self.users = {}
            self.assignments = set()  # (user_id, project_id, role_id)
            admin_p = self.add_project("admin", description="Bootstrap project for initializing the cloud.")
            self.add_project("service", description="Service project")
            demo_p = self.add_project("demo", description="Demo project", project_id=DEMO_PROJECT_ID)
            admin_u = self.add_user("admin", self.admin_password)
            demo_u = self.add_user("demo", self.demo_password)
            self.grant(admin_u["id"], admin_p["id"], self.role_named("admin")["id"])
            self.grant(demo_u["id"], demo_p["id"], self.role_named("member")["id"])
            self.grant(demo_u["id"], demo_p["id"], self.role_named("reader")["id"])
            self.flavors = {}
            for fid, name, vcpus, ram, disk in (("1", "m1.tiny", 1, 512, 1), ("2", "m1.small", 1, 2048, 20),
                                                ("3", "m1.medium", 2, 4096, 40)):
                self.add_flavor(name, vcpus=vcpus, ram=ram, disk=disk, flavor_id=fid)
            self.images = {}
            self.add_image("tiny-qcow2", min_disk=1, min_ram=0, image_id=TINY_IMAGE_ID, owner=admin_p["id"])
            self.servers = {}
            self._seq = 0
            self.volumes = {}
            self.snapshots = {}
            self.keypairs = {}  # (user_id, name) -> keypair
            self.nova_quotas = {}  # project_id -> overrides
            self.cinder_quotas = {}
            # Neutron: the admin's external network `public` exists from the start, tenants have nothing.
            self.networks, self.subnets, self.ports, self.routers = {}, {}, {}, {}
            self.security_groups, self.sg_rules, self.floatingips = {}, {}, {}
            self.neutron_quotas = {}
            add_public_network(self, admin_p["id"])

    # -- identity ------------------------------------------------------------------------------------

    def add_project(self, name, domain_id=DEFAULT_DOMAIN_ID, description="", enabled=True, project_id=None):
        """Create a project record."""
        pid = project_id or new_hex_id()
        self.projects[pid] = {"id": pid, "name": name, "domain_id": domain_id, "description": description,
                              "enabled": enabled, "parent_id": domain_id, "is_domain": False, "tags": [],
                              "options": {}}
        return self.projects[pid]

    def add_user(self, name, password, domain_id=DEFAULT_DOMAIN_ID, default_project_id=None, email=None):
        """Create a user record (password kept in clear: this is a test double)."""
        uid = new_hex_id()
        self.users[uid] = {"id": uid, "name": name, "domain_id": domain_id, "enabled": True, "password": password,
                           "default_project_id": default_project_id, "email": email,
                           "password_expires_at": None, "options": {}}
        return self.users[uid]

    def grant(self, user_id, project_id, role_id):
        """Give a user a role on a project."""
        self.assignments.add((user_id, project_id, role_id))

    def role_named(self, name):
        """Return the role called `name`, or None."""
        return next((r for r in self.roles.values() if r["name"] == name), None)

    def project_named(self, name, domain_id=None):
        """Return the project called `name` (optionally within a domain), or None."""
        return next((p for p in self.projects.values()
                     if p["name"] == name and (domain_id is None or p["domain_id"] == domain_id)), None)

    def user_named(self, name, domain_id=None):
        """Return the user called `name` (optionally within a domain), or None."""
        return next((u for u in self.users.values()
                     if u["name"] == name and (domain_id is None or u["domain_id"] == domain_id)), None)

    def roles_of(self, user_id, project_id):
        """Return the roles a user holds on a project."""
        return [self.roles[r] for (u, p, r) in sorted(self.assignments) if u == user_id and p == project_id
                and r in self.roles]

    # -- catalogue -----------------------------------------------------------------------------------

    def add_flavor(self, name, vcpus=1, ram=512, disk=1, flavor_id=None, is_public=True, ephemeral=0, swap=0):
        """Add a flavor to the catalogue."""
        fid = str(flavor_id or new_id())
        self.flavors[fid] = {"id": fid, "name": name, "vcpus": vcpus, "ram": ram, "disk": disk,
                             "ephemeral": ephemeral, "swap": swap, "is_public": is_public, "rxtx_factor": 1.0,
                             "description": None, "extra_specs": {}, "disabled": False}
        return self.flavors[fid]

    def add_image(self, name, min_disk=0, min_ram=0, image_id=None, owner=None, visibility="public",
                  status="active", size=200704, disk_format="qcow2", container_format="bare"):
        """Add an image to the catalogue."""
        iid = image_id or new_id()
        now = isotime()
        self.images[iid] = {
            "id": iid, "name": name, "status": status, "visibility": visibility, "protected": False,
            "min_disk": min_disk, "min_ram": min_ram, "size": size if status == "active" else None,
            "virtual_size": 67108864 if status == "active" else None, "disk_format": disk_format,
            "container_format": container_format, "checksum": "c1f3b0b4b6e0a5e0b3a5d1d5e2f0a9b1" if status == "active"
            else None, "owner": owner, "created_at": now, "updated_at": now, "tags": [], "os_hidden": False,
            "os_hash_algo": "sha512" if status == "active" else None, "os_hash_value": None,
            "file": f"/v2/images/{iid}/file", "schema": "/v2/schemas/image", "self": f"/v2/images/{iid}",
        }
        return self.images[iid]

    # -- quotas --------------------------------------------------------------------------------------

    def nova_quota(self, project_id):
        """Return the effective Nova quota of a project."""
        return {**NOVA_DEFAULT_QUOTAS, **self.nova_quotas.get(project_id, {})}

    def cinder_quota(self, project_id):
        """Return the effective Cinder quota of a project."""
        return {**CINDER_DEFAULT_QUOTAS, **self.cinder_quotas.get(project_id, {})}

    def nova_usage(self, project_id):
        """Return what a project's servers consume, in Nova quota units."""
        used = {"instances": 0, "cores": 0, "ram": 0}
        for s in self.servers.values():
            if s["project_id"] == project_id:
                flavor = s["flavor"]
                used["instances"] += 1
                used["cores"] += flavor["vcpus"]
                used["ram"] += flavor["ram"]
        return used

    def cinder_usage(self, project_id):
        """Return what a project's volumes and snapshots consume, in Cinder quota units (snapshot GiB count)."""
        vols = [v for v in self.volumes.values() if v["project_id"] == project_id]
        snaps = [s for s in self.snapshots.values() if s["project_id"] == project_id]
        return {"volumes": len(vols), "snapshots": len(snaps),
                "gigabytes": sum(v["size"] for v in vols) + sum(s["size"] for s in snaps)}

    def scheduler_seq(self):
        """Return an increasing number so listings can sort newest first like Nova."""
        self._seq += 1
        return self._seq

    # -- timers ---------------------------------------------------------------------------------------

    def later(self, delay_name, fn, *args, **kwargs):
        """Schedule a transition after the configured delay called `delay_name`."""
        self.scheduler.schedule(self.delays.get(delay_name, 0.05), functools.partial(fn, *args, **kwargs))
