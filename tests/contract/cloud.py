"""A target cloud for the contract suite: real clients on a session, polling helpers and cleanup tracking."""

import os
import time

from cinderclient import client as cinder_client
from cinderclient import exceptions as cinder_exc
from glanceclient import client as glance_client
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3
from neutronclient.common import exceptions as neutron_exc
from neutronclient.v2_0 import client as neutron_client
from novaclient import client as nova_client
from novaclient import exceptions as nova_exc

# 2.79: >= 2.37 for networks='none', >= 2.47 for the embedded flavor, delete_on_termination in attachments.
NOVA_MV = "2.79"
# 3.59 is what check.py uses; extend-while-attached only appears at 3.42, tested explicitly.
CINDER_MV = "3.59"
REAL_HOWTO = ("real-cloud contract tests need OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME, "
              "OS_USER_DOMAIN_NAME and OS_PROJECT_DOMAIN_NAME; e.g. `. ../shared/mini-openstack/env.sh demo` "
              "(optionally OS_ADMIN_USERNAME / OS_ADMIN_PASSWORD / OS_ADMIN_PROJECT_NAME for the quota cases)")



class ReadRetryingNeutron(neutron_client.Client):
    """neutronclient whose reads retry Neutron 21's transient 500 (the eventlet API worker's oslo.db race,
    mini-openstack NOTES.md): a GET changes nothing, so asking again is what any client of that cloud must do.
    Writes are never retried here: the scenarios assert what each write answers."""

    read_attempts = 5

    def get(self, action, body=None, headers=None, params=None):
        """A GET, asked again after a 500 (up to read_attempts in all)."""
        for attempt in range(self.read_attempts):
            try:
                return super().get(action, body=body, headers=headers, params=params)
            except neutron_exc.InternalServerError:
                if attempt == self.read_attempts - 1:
                    raise
                time.sleep(0.5)

class Credentials:
    """What a keystoneauth Password plugin needs."""

    def __init__(self, auth_url, username, password, project_name, user_domain="Default", project_domain="Default"):
        self.auth_url = auth_url
        self.username = username
        self.password = password
        self.project_name = project_name
        self.user_domain = user_domain
        self.project_domain = project_domain

    def session(self):
        """A keystoneauth1 session with a v3 password plugin scoped by project name + domain."""
        auth = v3.Password(auth_url=self.auth_url, username=self.username, password=self.password,
                           project_name=self.project_name, user_domain_name=self.user_domain,
                           project_domain_name=self.project_domain)
        return ks_session.Session(auth=auth)

    @classmethod
    def from_env(cls, prefix="OS_"):
        """Read OS_* variables (or OS_ADMIN_* for the admin pair); None if incomplete."""
        env = os.environ
        username, password = env.get(prefix + "USERNAME"), env.get(prefix + "PASSWORD")
        project = env.get(prefix + "PROJECT_NAME")
        if not (env.get("OS_AUTH_URL") and username and password and project):
            return None
        return cls(env["OS_AUTH_URL"], username, password, project, env.get("OS_USER_DOMAIN_NAME", "Default"),
                   env.get("OS_PROJECT_DOMAIN_NAME", "Default"))


class Cloud:
    """One contract target (the simulator or a real OpenStack) with clients and resource tracking."""

    def __init__(self, name, creds, admin_creds=None, sim=None):
        self.name = name
        self.sim = sim
        self.creds = creds
        self.session = creds.session()
        self.nova = nova_client.Client(NOVA_MV, session=self.session)
        self.cinder = cinder_client.Client(CINDER_MV, session=self.session)
        self.cinder30 = cinder_client.Client("3.0", session=self.session)
        self.cinder342 = cinder_client.Client("3.42", session=self.session)
        self.glance = glance_client.Client("2", session=self.session)
        self.admin_creds = admin_creds
        self.poll = 0.05 if sim else 0.5
        self.timeout = 20 if sim else 240
        self.prefix = f"contract-{int(time.time())}"
        self.servers, self.volumes, self.images = [], [], []
        self.snapshots = []
        self.neutron = ReadRetryingNeutron(session=self.session)
        # Neutron resources in creation order as (kind, id); cleanup_network() undoes them newest first.
        self.made = []

    @property
    def project_id(self):
        """The demo project's id, from the token."""
        return self.session.get_project_id()

    def admin_session(self):
        """An admin session, or None when the target gives no admin credentials."""
        return self.admin_creds.session() if self.admin_creds else None

    # -- polling ---------------------------------------------------------------------------------------

    def wait_for(self, fetch, done, fail=lambda o: False, describe=lambda o: getattr(o, "status", None)):
        """Poll fetch() until done(obj); return (obj, distinct states seen); raise on fail(obj) or timeout."""
        seen, deadline = [], time.time() + self.timeout
        while True:
            obj = fetch()
            state = describe(obj)
            if not seen or seen[-1] != state:
                seen.append(state)
            if done(obj):
                return obj, seen
            if fail(obj):
                raise AssertionError(f"entered failure state {state} (seen {seen})")
            if time.time() > deadline:
                raise AssertionError(f"timeout; states seen {seen}")
            time.sleep(self.poll)

    def wait_server(self, sid, status):
        """Wait until a server has `status` and no task."""
        return self.wait_for(lambda: self.nova.servers.get(sid),
                             lambda s: s.status == status and getattr(s, "OS-EXT-STS:task_state") is None,
                             lambda s: s.status == "ERROR",
                             lambda s: f"{s.status}/{getattr(s, 'OS-EXT-STS:task_state')}")

    def wait_volume(self, vid, status, cinder=None):
        """Wait until a volume has `status` (error* fails)."""
        cinder = cinder or self.cinder
        return self.wait_for(lambda: cinder.volumes.get(vid), lambda v: v.status == status,
                             lambda v: v.status.startswith("error") and not status.startswith("error"))

    def wait_gone(self, get):
        """Wait until get() raises NotFound; return the states seen."""
        seen, deadline = [], time.time() + self.timeout
        while time.time() < deadline:
            try:
                state = getattr(get(), "status", "?")
            except (nova_exc.NotFound, cinder_exc.NotFound):
                return seen + ["GONE"]
            if not seen or seen[-1] != state:
                seen.append(state)
            time.sleep(self.poll)
        raise AssertionError(f"not deleted in time; states {seen}")

    def attached_ids(self, sid):
        """Volume ids Nova lists as attached to a server."""
        return {a.volumeId for a in self.nova.volumes.get_server_volumes(sid)}

    # -- creation with tracking ------------------------------------------------------------------------

    def create_volume(self, size, image=None, suffix="vol"):
        """Create a tracked volume (from image when given)."""
        vol = self.cinder.volumes.create(size, name=f"{self.prefix}-{suffix}", imageRef=image,
                                         metadata={"contract": "1"})
        self.volumes.append(vol.id)
        return vol

    def create_snapshot(self, volume_id, suffix="snap", force=True, **extra):
        """Create a tracked snapshot at 3.0, the product's microversion (force=True: attached volumes too)."""
        snap = self.cinder30.volume_snapshots.create(volume_id, force=force, name=f"{self.prefix}-{suffix}", **extra)
        self.snapshots.append(snap.id)
        return snap

    def wait_snapshot(self, sid, status):
        """Wait until a snapshot has `status` (error* fails)."""
        return self.wait_for(lambda: self.cinder30.volume_snapshots.get(sid), lambda s: s.status == status,
                             lambda s: s.status.startswith("error") and not status.startswith("error"))

    def boot(self, flavor_id, volumes, suffix="vm"):
        """Boot a tracked server from volumes: the first is the root (boot_index 0)."""
        bdm = [{"uuid": vid, "source_type": "volume", "destination_type": "volume", "boot_index": 0 if i == 0 else -1,
                "delete_on_termination": False} for i, vid in enumerate(volumes)]
        srv = self.nova.servers.create(f"{self.prefix}-{suffix}", image=None, flavor=flavor_id,
                                       block_device_mapping_v2=bdm, nics="none")
        self.servers.append(srv.id)
        return srv

    def flavor(self, name):
        """The flavor called `name`."""
        return next(f for f in self.nova.flavors.list() if f.name == name)

    def image(self, name="tiny-qcow2"):
        """The image called `name`."""
        return next(iter(self.glance.images.list(filters={"name": name})))

    def cleanup(self):
        """Delete what the tests made: servers first (volumes go back to available), then snapshots (a volume
        with snapshots cannot be deleted), volumes and images."""
        errors = []
        for sid in list(self.servers):
            try:
                self.nova.servers.delete(sid)
                self.wait_gone(lambda sid=sid: self.nova.servers.get(sid))
                self.servers.remove(sid)
            except nova_exc.NotFound:
                self.servers.remove(sid)
            except Exception as e:  # keep cleaning the rest
                errors.append(f"server {sid}: {e}")
        for sid in list(self.snapshots):
            try:
                self.wait_for(lambda sid=sid: self.cinder30.volume_snapshots.get(sid),
                              lambda s: s.status in ("available", "error"))
                self.cinder30.volume_snapshots.delete(sid)
                self.wait_gone(lambda sid=sid: self.cinder30.volume_snapshots.get(sid))
                self.snapshots.remove(sid)
            except cinder_exc.NotFound:
                self.snapshots.remove(sid)
            except Exception as e:  # keep cleaning the rest
                errors.append(f"snapshot {sid}: {e}")
        for vid in list(self.volumes):
            try:
                vol = self.wait_for(lambda vid=vid: self.cinder.volumes.get(vid),
                                    lambda v: v.status in ("available", "error", "error_extending") and
                                    not v.attachments)[0]
                if vol.status == "error_extending" and self.admin_session():
                    cinder_client.Client("3.0", session=self.admin_session()).volumes.reset_state(vid, "available")
                self.cinder.volumes.delete(vid)
                self.wait_gone(lambda vid=vid: self.cinder.volumes.get(vid))
                self.volumes.remove(vid)
            except cinder_exc.NotFound:
                self.volumes.remove(vid)
            except Exception as e:
                errors.append(f"volume {vid}: {e}")
        for iid in list(self.images):
            try:
                self.glance.images.delete(iid)
            except Exception as e:
                errors.append(f"image {iid}: {e}")
            self.images.remove(iid)
        return errors

    # -- networking (additive: the network scenarios use these) -----------------------------------------

    def admin_neutron(self):
        """A Neutron client on the admin session, or None without admin credentials."""
        admin = self.admin_session()
        return ReadRetryingNeutron(session=admin) if admin else None

    def public_network(self):
        """The external network `public` as the demo user sees it."""
        return self.neutron.list_networks(name="public", **{"router:external": True})["networks"][0]

    def track(self, kind, item_id, client=None):
        """Remember a Neutron resource (or a router interface, id = (router, subnet)) for cleanup_network()."""
        self.made.append((kind, item_id, client or self.neutron))
        return item_id

    def make_network(self, suffix, cidr="10.20.0.0/24"):
        """A tracked tenant network with one IPv4 subnet; returns (network, subnet)."""
        net = self.neutron.create_network({"network": {"name": f"{self.prefix}-{suffix}"}})["network"]
        self.track("network", net["id"])
        sub = self.neutron.create_subnet({"subnet": {"name": f"{self.prefix}-{suffix}-subnet", "network_id": net["id"],
                                                     "ip_version": 4, "cidr": cidr}})["subnet"]
        self.track("subnet", sub["id"])
        return net, sub

    def make_router(self, suffix, subnet_id=None):
        """A tracked router with its gateway on `public`, with an interface on subnet_id when given."""
        body = {"name": f"{self.prefix}-{suffix}", "external_gateway_info": {"network_id": self.public_network()["id"]}}
        router = self.neutron.create_router({"router": body})["router"]
        self.track("router", router["id"])
        if subnet_id:
            self.neutron.add_interface_router(router["id"], {"subnet_id": subnet_id})
            self.track("interface", (router["id"], subnet_id))
        return router

    def make_port(self, network_id, **extra):
        """A tracked port on the network."""
        port = self.neutron.create_port({"port": {"network_id": network_id, **extra}})["port"]
        self.track("port", port["id"])
        return port

    def make_floatingip(self, network_id=None, client=None, **extra):
        """A tracked floating IP on `public` (or another external network)."""
        client = client or self.neutron
        network_id = network_id or self.public_network()["id"]
        fip = client.create_floatingip({"floatingip": {"floating_network_id": network_id, **extra}})["floatingip"]
        self.track("floatingip", fip["id"], client)
        return fip

    def forget(self, kind, item_id):
        """Drop a resource a test deleted itself from the cleanup list."""
        self.made = [m for m in self.made if (m[0], m[1]) != (kind, item_id)]

    def get_server(self, sid, attempts=5):
        """servers.get, retrying the transient 500 Nova answers while a port binding races a group lookup."""
        for attempt in range(attempts):
            try:
                return self.nova.servers.get(sid)
            except nova_exc.ClientException as e:
                if getattr(e, "code", None) != 500 or attempt == attempts - 1:
                    raise
                time.sleep(self.poll)

    def wait_server_up(self, sid, status="ACTIVE"):
        """wait_server through get_server (retrying transient 500s); waits for the server, never for its ports."""
        return self.wait_for(lambda: self.get_server(sid),
                             lambda s: s.status == status and getattr(s, "OS-EXT-STS:task_state") is None,
                             lambda s: s.status == "ERROR",
                             lambda s: f"{s.status}/{getattr(s, 'OS-EXT-STS:task_state')}")

    def cleanup_network(self, attempts=3):
        """Delete the tracked Neutron resources newest first (run cleanup() first: servers hold ports).

        A delete that meets Neutron 21's transient 500 (the default-group race, mini-openstack NOTES.md) is
        tried again: deletes are idempotent, and a 404 means it is gone.
        """
        errors = []
        for kind, item_id, client in reversed(list(self.made)):
            for attempt in range(attempts):
                try:
                    if kind == "interface":
                        client.remove_interface_router(item_id[0], {"subnet_id": item_id[1]})
                    else:
                        getattr(client, f"delete_{kind}")(item_id)
                except neutron_exc.NotFound:
                    pass
                except neutron_exc.InternalServerError as e:
                    if attempt < attempts - 1:
                        time.sleep(self.poll)
                        continue
                    errors.append(f"{kind} {item_id}: {e}")
                    break
                except Exception as e:  # keep cleaning the rest
                    errors.append(f"{kind} {item_id}: {e}")
                    break
                self.made.remove((kind, item_id, client))
                break
        return errors

    def boot_on(self, nics, suffix="netvm", attempts=2):
        """Boot m1.tiny from the image (root volume deleted with it) on `nics`; return (server, failed attempts).

        Neutron 21's eventlet API sometimes answers nova-compute's port update with a 500 (a race in
        _ensure_default_security_group, mini-openstack NOTES.md); the build then ends in ERROR. That one is
        retried with a fresh server; the faults of failed attempts are returned so tests can pin them.
        """
        bdm = [{"uuid": self.image().id, "source_type": "image", "destination_type": "volume", "volume_size": 1,
                "boot_index": 0, "delete_on_termination": True}]
        faults = []
        for _ in range(attempts):
            srv = self.nova.servers.create(f"{self.prefix}-{suffix}", image=None, flavor=self.flavor("m1.tiny").id,
                                           nics=nics, block_device_mapping_v2=bdm)
            self.servers.append(srv.id)
            srv, _ = self.wait_for(lambda sid=srv.id: self.get_server(sid),
                                   lambda s: s.status in ("ACTIVE", "ERROR") and
                                   getattr(s, "OS-EXT-STS:task_state") is None,
                                   describe=lambda s: f"{s.status}/{getattr(s, 'OS-EXT-STS:task_state')}")
            if srv.status == "ACTIVE":
                return srv, faults
            faults.append(getattr(srv, "fault", {}).get("message"))
            self.nova.servers.delete(srv.id)
            self.wait_gone(lambda sid=srv.id: self.nova.servers.get(sid))
            self.servers.remove(srv.id)
        raise AssertionError(f"boot on {nics} failed {attempts} times: {faults}")
