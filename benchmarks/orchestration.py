"""P1: orchestration overhead of one provision, ours (REST API + worker) against a raw client script.

Ours: POST /api/instances/ to gunicorn, one `celery -A nodeconductor worker` on Redis db 15, a throwaway
PostgreSQL database, production settings; polled via GET /api/instances/<uuid>/ until Online.
Floor: the shortest raw script doing the same work with keystoneauth (v3 password, no discovery; the token of its
warm-up run reused, as our worker reuses its own) + cinderclient + novaclient: create the root (from the image) and
data volumes, poll until both are available, boot from the root volume with the data volume attached and no network
(as ours, see bench_settings.py), poll until ACTIVE.
Both poll every --raw-poll seconds from outside (ours through our API). Runs alternate which side goes first.
On the simulator with two delay profiles in the issue's range (1-2 s per volume, 3-5 s per boot): one whose delays
are multiples of the 2 s poll interval, one just past them; then, when OS_AUTH_URL is set (mini-openstack's
env.sh with OS_ADMIN_* for the admin, as the realcloud tests read them), on the real cloud too. Resizes run once
on the simulator with the second profile.

Each provision (ours and the floor's) is checked in the cloud's own state: server ACTIVE, both volumes in-use
and attached to it. The ratio is median(ours) / median(floor); target <= 1.05 on every cloud and profile.

    python benchmarks/orchestration.py [--runs 5] [--raw-poll 0.05] [--no-real]
"""

import argparse
import os
import sys
import time
import uuid

import _common as c
from _report import Report, provisioned_in_sim, spread, stats

# server_build runs twice (two build steps); root volume = volume_create + volume_download.
PROFILES = [
    # Multiples of the default 2 s poll interval: the luckiest case for fixed-interval polling.
    (
        "sim aligned: root 2.0 s, data 1.0 s, boot 4.0 s",
        {"volume_create": 1.0, "volume_download": 1.0, "server_build": 2.0},
    ),
    # Just past a poll each time: the unlucky case (the same range of 1-2 s per volume, 3-5 s per boot).
    (
        "sim unaligned: root 2.2 s, data 1.1 s, boot 4.4 s",
        {"volume_create": 1.1, "volume_download": 1.1, "server_build": 2.2},
    ),
]


class Cloud:
    """One cloud under test: credentials of its admin, the tenant, and how to check and clean up in it."""

    def __init__(self, label, credentials, tenant_id, sim=None):
        self.label, self.credentials, self.tenant_id, self.sim = label, credentials, tenant_id, sim
        self.made = []  # (server_id, root_id, data_id) of every provision, for the real cloud's clean-up
        self.released = 0
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

        from nodeconductor.iaas.models import Instance

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
        # Our rows of deleted servers would count against the membership's quota in our database.
        Instance.objects.filter(backend_id__in=[s for s, _, _ in self.made]).delete()
        self.released += len(self.made)
        self.made = []
        if left:
            print(f"{self.label}: servers not gone after 120 s: {sorted(left)}")

    def clean_up(self, key_name):
        """Real cloud only, at exit: release what is left and delete the keypair ours pushed."""
        if self.sim is not None:
            return
        from novaclient import client as nova_client
        from novaclient import exceptions as nova_exc

        self.release()
        try:
            nova_client.Client("2.37", session=self.session()).keypairs.delete(key_name)
        except nova_exc.NotFound:
            pass
        print(f"{self.label}: deleted {self.released} servers with their volumes, and keypair {key_name}")


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


def ours_provision(api, seed, cloud, hostname, poll):
    """POST and poll the API until Online; returns (seconds, (server, root, data ids), instance body)."""
    t0 = time.monotonic()
    body = api.create_instance(seed, hostname)
    _, _, inst = api.wait_state(body["uuid"], {"Online"}, interval=poll)
    seconds = time.monotonic() - t0
    row = (inst["backend_id"], inst["system_volume_id"], inst["data_volume_id"])
    cloud.made.append(row)
    return seconds, row, inst


def measure(report, api, seed, cloud, label, runs, poll, key_name):
    """`runs` pairs of (ours, floor), alternating which goes first; check both in the cloud; one target."""
    flavor = seed["flavors"][0]
    ours, raw, rows_ours, rows_raw, inst = [], [], [], [], None
    checks = {"ours": [0, []], "floor": [0, []]}
    for i in range(runs):

        def one_ours(i=i):
            t, row, body = ours_provision(api, seed, cloud, f"bench-{uuid.uuid4().hex[:6]}-{i}", poll)
            ours.append(t)
            rows_ours.append(row)
            return body

        def one_raw():
            t, row = raw_provision(cloud, seed["image"]["id"], flavor.backend_id, key_name, poll)
            raw.append(t)
            rows_raw.append(row)

        if i % 2 == 0:
            inst = one_ours()
            one_raw()
        else:
            one_raw()
            inst = one_ours()
        print(
            f"{label}, run {i + 1}: ours {ours[-1]:.2f} s, floor {raw[-1]:.2f} s, ratio {ours[-1] / raw[-1]:.3f}",
            flush=True,
        )
        # Checked after each pair, so the real cloud's servers can go before the next pair needs its quota.
        for who, rows in (("ours", rows_ours), ("floor", rows_raw)):
            done, problems = cloud.provisioned(rows[-1:])
            checks[who][0] += done
            checks[who][1].extend(problems)
        cloud.release()
    for who, (done, problems) in checks.items():
        report.check(
            f"{label}: {who} provisions done in the cloud",
            done == runs,
            f"{done}/{runs} servers ACTIVE with both volumes in-use and attached {problems[:3]}",
        )
    ratio = c.median(ours) / c.median(raw)
    per_run = [o / r for o, r in zip(ours, raw, strict=True)]
    print(f"{label}: ours {spread(ours)}; floor {spread(raw)}; per-run ratios {spread(per_run, unit='')}")
    report.target(f"P1 orchestration overhead, {label} (median ours / median floor)", ratio, 1.05)
    return inst, {
        "label": label,
        "ours": stats(ours),
        "floor": stats(raw),
        "ratio": ratio,
        "per_run_ratio": stats(per_run),
    }


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed pairs per cloud and profile (default 5)")
    parser.add_argument("--raw-poll", type=float, default=0.05, help="poll interval of both sides (s)")
    parser.add_argument("--no-real", action="store_true", help="skip the real cloud even when OS_AUTH_URL is set")
    parser.add_argument("--time-limit", type=int, default=1500)
    args = parser.parse_args(argv)
    c.install_limits(args.time_limit)
    report = Report("orchestration")

    real = None if args.no_real else real_cloud()
    sim = c.start_sim("realistic")
    db = c.create_database()
    env = c.product_env(db, sim.auth_url, more_credentials=[real] if real else [])
    c.setup_django(env)
    c.migrate()
    c.flush_redis()
    c.on_exit(c.flush_redis)
    seed = c.seed_cloud(sim)
    from django.conf import settings

    from nodeconductor.iaas.backend.instances import keypair_name

    key_name = keypair_name(seed["key"])
    sim_admin = {"auth_url": sim.auth_url, "username": "admin", "password": "admin"}
    clouds = [(Cloud("sim", sim_admin, sim.project_id("demo"), sim=sim), seed)]
    if real:
        from nodeconductor.iaas.backend import OpenStackBackend
        from nodeconductor.iaas.backend_specs import cloud_access
        from nodeconductor.iaas.models import Cloud as CloudModel

        probe = OpenStackBackend(cloud_access(CloudModel(auth_url=real["auth_url"], name="probe")))
        tenant = next(p.id for p in probe.keystone().projects.list() if p.name == env_tenant())
        image_id = probe.list_images()[0]["backend_id"]
        real_seed = c.seed_account(
            real["auth_url"], tenant, image_id, staff=seed["staff"], key=seed["key"], name="Real"
        )
        real_cloud_ = Cloud("real cloud", real, tenant)
        c.on_exit(lambda: real_cloud_.clean_up(key_name))
        clouds.append((real_cloud_, real_seed))
    _, base = c.start_gunicorn(env)
    c.start_worker(env)
    api = c.Api(base, seed["token"])
    print(
        f"OPENSTACK_POLL_INTERVAL={settings.NODECONDUCTOR['OPENSTACK_POLL_INTERVAL']} s (adaptive from "
        f"{settings.NODECONDUCTOR['OPENSTACK_MIN_POLL_INTERVAL']} s, "
        f"{settings.NODECONDUCTOR['OPENSTACK_POLL_FRACTION']} of the time waited); "
        f"both sides polled every {args.raw_poll} s; "
        f"real cloud: {real['auth_url'] if real else 'not configured (OS_AUTH_URL unset)'}"
    )

    results, inst = [], None
    for cloud, cseed in clouds:
        # Warm-up per cloud: imports in gunicorn and the worker, tokens in the worker, keypair pushed.
        ours_provision(api, cseed, cloud, f"bench-warmup-{uuid.uuid4().hex[:6]}", args.raw_poll)
        raw_provision(cloud, cseed["image"]["id"], cseed["flavors"][0].backend_id, key_name, args.raw_poll)
        cloud.release()
        profiles = PROFILES if cloud.sim is not None else [("real cloud (its own delays)", {})]
        for label, delays in profiles:
            for name, seconds in delays.items():
                sim.set_delay(name, seconds)
            inst_, res = measure(report, api, cseed, cloud, label, args.runs, args.raw_poll, key_name)
            results.append(res)
            if cloud.sim is not None:
                inst = inst_
                sim.clear_call_log()
                ours_provision(api, cseed, cloud, f"bench-calls-{uuid.uuid4().hex[:6]}", args.raw_poll)
                calls = c.classify_calls(sim.call_log)
                print(
                    f"  cloud API calls of one provision (ours): writes {calls['writes']}, reads {calls['reads']},"
                    f" identity {calls['identity']}: {c.ops_summary(sim.call_log)}\n"
                )
    resizes(report, api, base, seed, sim, inst)
    report.save(provisions=results)
    return report.exit_code()


def env_tenant():
    return os.environ.get("NC_REAL_TENANT", "demo")


def resizes(report, api, base, seed, sim, inst):
    """Flavor then disk resize of the last simulated instance, each checked in the simulator's state."""
    uuid_ = inst["uuid"]
    api.post(f"/api/instances/{uuid_}/stop/")
    api.wait_state(uuid_, {"Offline"})
    bigger = seed["flavors"][1]
    d = sim.delays

    def timed(body):
        sim.clear_call_log()
        t0 = time.monotonic()
        api.post(f"/api/instances/{uuid_}/resize/", body)
        api.wait_state(uuid_, {"Offline"})
        return time.monotonic() - t0, c.classify_calls(sim.call_log), c.ops_summary(sim.call_log)

    t, calls, ops = timed({"flavor": f"{base}/api/flavors/{bigger.uuid}/"})
    server = next(s for s in sim.servers() if s["id"] == inst["backend_id"])
    print(
        f"flavor resize: {t:.2f} s (resize {d['server_resize']} s + confirm {d['server_confirm_resize']} s); "
        f"calls: writes {calls['writes']}, reads {calls['reads']}, identity {calls['identity']}: {ops}"
    )
    report.check(
        "flavor resize done in the simulator",
        server["flavor"]["id"] == bigger.backend_id and server["status"] == "SHUTOFF",
        f"server flavor {server['flavor']['id']} (asked {bigger.backend_id}), status {server['status']}",
    )
    t, calls, ops = timed({"disk_size": 2048})
    vol = next(v for v in sim.volumes() if v["id"] == inst["data_volume_id"])
    cloud_t = d["volume_detach"] + d["volume_extend"] + d["volume_attach"]
    print(
        f"disk resize: {t:.2f} s (detach + extend + attach {cloud_t:.1f} s); calls: writes {calls['writes']}, "
        f"reads {calls['reads']}, identity {calls['identity']}: {ops}"
    )
    attached = inst["backend_id"] in {a["server_id"] for a in vol["attachments"]}
    report.check(
        "disk resize done in the simulator",
        vol["size"] == 2 and attached,
        f"data volume {vol['size']} GiB (asked 2), attached again: {attached}",
    )


if __name__ == "__main__":
    sys.exit(main())
