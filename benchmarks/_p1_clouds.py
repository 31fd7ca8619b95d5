"""P1's clouds: the simulator or a real OpenStack, the raw floor script, and the checks and clean-up in the cloud."""

import os
import time
import uuid

from _report import provisioned_in_sim


class Cloud:
    """One cloud under test: credentials of its admin, the tenant, and how to check and clean up in it."""

    def __init__(self, label, credentials, tenant_id, sim=None):
        self.label, self.credentials, self.tenant_id, self.sim = label, credentials, tenant_id, sim
        self.made = []  # (server_id, root_id, data_id) of every provision, for the real cloud's clean-up
        self.released = 0
        self.forgetters = []  # per stack: delete its rows of the deleted servers (they count against its quota)
        self._sess = None

    def session(self):
        from keystoneauth1 import session
        from keystoneauth1.identity import v3

        if self._sess is None:
            cr = self.credentials
            self._sess = session.Session(
                auth=v3.Password(
                    auth_url=cr["auth_url"],
                    username=cr["username"],
                    password=cr["password"],
                    user_domain_name=cr.get("user_domain_name", "Default"),
                    project_id=self.tenant_id,
                )
            )
        return self._sess

    def provisioned(self, rows):
        """(done, problems) for provisions, read from the simulator's state or the real cloud's APIs."""
        if self.sim is not None:
            return provisioned_in_sim(self.sim, rows)
        from cinderclient import client as cinder_client
        from novaclient import client as nova_client

        nova = nova_client.Client("2.37", session=self.session())
        cinder = cinder_client.Client("3.0", session=self.session())
        done, problems = 0, []
        for server_id, root_id, data_id in rows:
            if not _exists(nova.servers.get, server_id):
                # The real cloud is shared: someone else's clean-up may delete our servers. A problem, not a crash.
                problems.append(f"server {server_id}: gone (deleted by someone else?)")
                continue
            status = nova.servers.get(server_id).status
            vols = [cinder.volumes.get(v) for v in (root_id, data_id)]
            bad = [
                v.id for v in vols if v.status != "in-use" or server_id not in {a["server_id"] for a in v.attachments}
            ]
            if status != "ACTIVE" or bad:
                problems.append(f"server {server_id}: {status}, volumes not attached: {bad}")
            else:
                done += 1
        return done, problems

    def release(self):
        """Real cloud only: delete the servers and volumes made so far (the tenant's quota is small and shared)."""
        if self.sim is not None or not self.made:
            return
        from cinderclient import client as cinder_client
        from novaclient import client as nova_client
        from novaclient import exceptions as nova_exc

        nova = nova_client.Client("2.37", session=self.session())
        cinder = cinder_client.Client("3.0", session=self.session())
        for server_id, _, _ in self.made:
            try:
                nova.servers.delete(server_id)
            except nova_exc.NotFound:
                pass
        deadline = time.monotonic() + 120
        left = {s for s, _, _ in self.made}
        while left and time.monotonic() < deadline:
            time.sleep(0.5)
            left = {s for s in left if _exists(nova.servers.get, s)}
        for _, root_id, data_id in self.made:
            for vid in (root_id, data_id):
                try:
                    cinder.volumes.delete(vid)
                except Exception:  # noqa: BLE001 - deleted with its server already
                    pass
        # Our rows of deleted servers would count against the membership's quota in each stack's database.
        for forget in self.forgetters:
            forget([s for s, _, _ in self.made])
        self.released += len(self.made)
        self.made = []
        if left:
            print(f"{self.label}: servers not gone after 120 s: {sorted(left)}")

    def clean_up(self, *key_names):
        """Real cloud only, at exit: release what is left and delete the keypairs our stacks pushed."""
        if self.sim is not None:
            return
        from novaclient import client as nova_client
        from novaclient import exceptions as nova_exc

        self.release()
        for key_name in key_names:
            try:
                nova_client.Client("2.37", session=self.session()).keypairs.delete(key_name)
            except nova_exc.NotFound:
                pass
        print(f"{self.label}: deleted {self.released} servers with their volumes, and keypairs {', '.join(key_names)}")


def _exists(get, id_):
    try:
        get(id_)
        return True
    except Exception:  # noqa: BLE001 - NotFound
        return False


def raw_provision(cloud, image_id, flavor_id, key_name, poll):
    """The shortest raw client script for the same work. Returns (seconds, (server, root, data ids))."""
    from cinderclient import client as cinder_client
    from novaclient import client as nova_client

    t0 = time.monotonic()
    # The session (and its token) of the warm-up run is reused, as our worker reuses its own.
    sess = cloud.session()
    cinder = cinder_client.Client("3.0", session=sess)
    nova = nova_client.Client("2.37", session=sess)
    name = "bench-raw-" + uuid.uuid4().hex[:8]
    root = cinder.volumes.create(size=1, imageRef=image_id, name=name + "-system")
    data = cinder.volumes.create(size=1, name=name + "-data")
    pending = {root.id, data.id}
    while pending:
        time.sleep(poll)
        for v in list(pending):
            status = cinder.volumes.get(v).status
            if status == "error":
                raise RuntimeError(f"raw volume {v} went to error")
            if status == "available":
                pending.discard(v)
    server = nova.servers.create(
        name,
        image=None,
        flavor=flavor_id,
        key_name=key_name,
        nics="none",
        block_device_mapping_v2=[
            {
                "uuid": root.id,
                "source_type": "volume",
                "destination_type": "volume",
                "boot_index": 0,
                "delete_on_termination": True,
            },
            {
                "uuid": data.id,
                "source_type": "volume",
                "destination_type": "volume",
                "boot_index": -1,
                "delete_on_termination": True,
            },
        ],
    )
    cloud.made.append((server.id, root.id, data.id))
    while True:
        time.sleep(poll)
        status = nova.servers.get(server.id).status
        if status == "ACTIVE":
            break
        if status == "ERROR":
            raise RuntimeError("raw server went to ERROR")
    return time.monotonic() - t0, (server.id, root.id, data.id)


def real_cloud():
    """Credentials and tenant of the real cloud named by OS_* (as tests/fixtures/iaas.py reads them), or None."""
    if not os.environ.get("OS_AUTH_URL"):
        return None
    env = os.environ.get
    return {
        "auth_url": env("OS_AUTH_URL"),
        "username": env("OS_ADMIN_USERNAME") or env("OS_USERNAME", "admin"),
        "password": env("OS_ADMIN_PASSWORD") or env("OS_PASSWORD", ""),
        "tenant_name": env("OS_ADMIN_PROJECT_NAME") or env("OS_PROJECT_NAME") or "admin",
        "user_domain_name": env("OS_USER_DOMAIN_NAME", "Default"),
        "project_domain_name": env("OS_PROJECT_DOMAIN_NAME", "Default"),
    }


def env_tenant():
    return os.environ.get("NC_REAL_TENANT", "demo")
