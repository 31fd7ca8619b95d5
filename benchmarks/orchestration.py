"""P1: orchestration overhead of one provision, ours (REST API + worker) against a raw client script.

Ours, twice in one run, each with its own API process and its own `celery -A nodeconductor worker`:
- Redis + PostgreSQL: gunicorn, Redis db 15, a throwaway PostgreSQL database, production settings
  (bench_settings.py);
- the embedded default: settings.development (bench_dev_settings.py) in a fresh temporary NODECONDUCTOR_VAR_DIR,
  SQLite and kombu's filesystem broker, the API on runserver as scripts/run-dev.sh serves it (_embedded.py).
Both are polled via GET /api/instances/<uuid>/ until Online.
Floor: the shortest raw script doing the same work with keystoneauth (v3 password, no discovery; the token of its
warm-up run reused, as our worker reuses its own) + cinderclient + novaclient: create the root (from the image) and
data volumes, poll until both are available, boot from the root volume with the data volume attached and no network
(as ours, see bench_settings.py), poll until ACTIVE.
All poll every --raw-poll seconds from outside (ours through our API). Each run is one provision of each of the
three sides, rotating which goes first. On the simulator with two delay profiles in the issue's range (1-2 s per
volume, 3-5 s per boot): one whose delays are multiples of the 2 s poll interval, one just past them; then, when
OS_AUTH_URL is set (mini-openstack's env.sh with OS_ADMIN_* for the admin, as the realcloud tests read them), on
the real cloud too. Resizes run once on the simulator with the second profile (Redis stack).

Each provision (all three sides) is checked in the cloud's own state: server ACTIVE, both volumes in-use and
attached to it. P1 is median(ours) / median(floor); target <= 1.05 for Redis + PostgreSQL on every cloud and
profile, and the embedded default's P1 / Redis's P1 <= 1.1 (issue 25).

    python benchmarks/orchestration.py [--runs 5] [--raw-poll 0.05] [--no-real]
"""

import argparse
import sys
import time
import uuid

import _common as c
from _embedded import Embedded
from _p1_clouds import Cloud, env_tenant, raw_provision, real_cloud
from _report import Report, spread, stats

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


def ours_provision(api, seed, cloud, hostname, poll):
    """POST and poll the API until Online; returns (seconds, (server, root, data ids), instance body)."""
    t0 = time.monotonic()
    body = api.create_instance(seed, hostname)
    _, _, inst = api.wait_state(body["uuid"], {"Online"}, interval=poll)
    seconds = time.monotonic() - t0
    row = (inst["backend_id"], inst["system_volume_id"], inst["data_volume_id"])
    cloud.made.append(row)
    return seconds, row, inst


STACKS = {"redis": "Redis+PostgreSQL", "embedded": "embedded default"}


def one(side, cloud, seeds, apis, key_name, poll, prefix="bench"):
    """One provision of one side ('floor' or a stack's name): (seconds, ids, instance body or None)."""
    if side == "floor":
        seed = seeds["redis"]
        t, row = raw_provision(cloud, seed["image"]["id"], seed["flavors"][0].backend_id, key_name, poll)
        return t, row, None
    return ours_provision(apis[side], seeds[side], cloud, f"{prefix}-{uuid.uuid4().hex[:6]}", poll)


def measure(report, apis, seeds, cloud, label, runs, poll, key_name):
    """`runs` rounds of one provision per side, rotating which goes first; checks in the cloud; the targets."""
    sides = [*STACKS, "floor"]
    times = {s: [] for s in sides}
    checks = {s: [0, []] for s in sides}
    inst = None
    for i in range(runs):
        order = sides[i % len(sides) :] + sides[: i % len(sides)]
        rows = {}
        for side in order:
            t, rows[side], body = one(side, cloud, seeds, apis, key_name, poll)
            times[side].append(t)
            inst = body if side == "redis" else inst
        cells = ", ".join(f"{STACKS.get(s, s)} {times[s][-1]:.2f} s" for s in sides)
        print(f"{label}, run {i + 1} ({order[0]} first): {cells}", flush=True)
        # Checked after each round, so the real cloud's servers can go before the next round needs its quota.
        for side in sides:
            done, problems = cloud.provisioned([rows[side]])
            checks[side][0] += done
            checks[side][1].extend(problems)
        cloud.release()
    for side, (done, problems) in checks.items():
        report.check(
            f"{label}: {STACKS.get(side, side)} provisions done in the cloud",
            done == runs,
            f"{done}/{runs} servers ACTIVE with both volumes in-use and attached {problems[:3]}",
        )
    floor = times["floor"]
    print(f"{label}: floor {spread(floor)}")
    res = {"label": label, "floor": stats(floor)}
    p1 = {}
    for side, title in STACKS.items():
        p1[side] = c.median(times[side]) / c.median(floor)
        per_run = [o / r for o, r in zip(times[side], floor, strict=True)]
        print(f"{label}: P1 {title}: ours {spread(times[side])}; P1 {p1[side]:.3f}; per-run {spread(per_run, unit='')}")
        res[side] = {"ours": stats(times[side]), "ratio": p1[side], "per_run_ratio": stats(per_run)}
    # The Redis figures keep the keys and target label they had when P1 measured Redis alone.
    res.update(ours=res["redis"]["ours"], ratio=p1["redis"], per_run_ratio=res["redis"]["per_run_ratio"])
    report.target(f"P1 orchestration overhead, {label} (median ours / median floor)", p1["redis"], 1.05)
    res["embedded_over_redis"] = p1["embedded"] / p1["redis"]
    report.target(f"P1 embedded default / P1 Redis+PostgreSQL, {label} (same floor)", res["embedded_over_redis"], 1.1)
    return inst, res


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="timed rounds per cloud and profile (default 5)")
    parser.add_argument("--raw-poll", type=float, default=0.05, help="poll interval of every side (s)")
    parser.add_argument("--no-real", action="store_true", help="skip the real cloud even when OS_AUTH_URL is set")
    parser.add_argument("--time-limit", type=int, default=1800)
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
    embedded = Embedded(sim, [real] if real else [])
    embedded.migrate()
    seed = c.seed_cloud(sim)
    from django.conf import settings

    from nodeconductor.iaas.backend.instances import keypair_name
    from nodeconductor.iaas.models import Instance

    def forget_pg(server_ids):
        Instance.objects.filter(backend_id__in=server_ids).delete()

    key_name = keypair_name(seed["key"])
    sim_admin = {"auth_url": sim.auth_url, "username": "admin", "password": "admin"}
    sim_cloud = Cloud("sim", sim_admin, sim.project_id("demo"), sim=sim)
    clouds = [(sim_cloud, seed)]
    specs = [{"auth_url": sim.auth_url, "tenant": sim_cloud.tenant_id, "image": seed["image"]["id"], "name": "Sim"}]
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
        clouds.append((Cloud("real cloud", real, tenant), real_seed))
        specs.append({"auth_url": real["auth_url"], "tenant": tenant, "image": image_id, "name": "Real"})
    emb_token, emb_key_name, emb_seeds = embedded.seed(specs)
    for cloud, _ in clouds:
        cloud.forgetters = [forget_pg, embedded.forget]
        if cloud.sim is None:
            c.on_exit(lambda cloud=cloud: cloud.clean_up(key_name, emb_key_name))
    _, base = c.start_gunicorn(env)
    c.start_worker(env)
    apis = {"redis": c.Api(base, seed["token"]), "embedded": c.Api(embedded.start(), emb_token)}
    print(
        f"Redis+PostgreSQL: gunicorn, OPENSTACK_POLL_INTERVAL={settings.NODECONDUCTOR['OPENSTACK_POLL_INTERVAL']} s"
        f" (adaptive from {settings.NODECONDUCTOR['OPENSTACK_MIN_POLL_INTERVAL']} s, "
        f"{settings.NODECONDUCTOR['OPENSTACK_POLL_FRACTION']} of the time waited); embedded default: "
        f"{embedded.describe()}; every side polled every {args.raw_poll} s; "
        f"real cloud: {real['auth_url'] if real else 'not configured (OS_AUTH_URL unset)'}",
        flush=True,
    )

    results, inst, warmups = [], None, []
    for (cloud, cseed), emb_seed in zip(clouds, emb_seeds, strict=True):
        seeds = {"redis": cseed, "embedded": emb_seed}
        # Warm-up per cloud (the floor boots with the keypair Redis's worker pushes, so after it): imports in the
        # APIs and workers, tokens, keypairs, and whatever a tenant's first VM costs the cloud (printed: on
        # mini-openstack a first VM was seen taking twice as long as the next).
        warm = {}
        for side in ("redis", "floor", "embedded"):
            warm[side] = one(side, cloud, seeds, apis, key_name, args.raw_poll, prefix="bench-warmup")[0]
        print(
            f"{cloud.label}: warm-up (first provision of each side): "
            + ", ".join(f"{STACKS.get(s, s)} {t:.2f} s" for s, t in warm.items()),
            flush=True,
        )
        warmups.append({"cloud": cloud.label, **warm})
        cloud.release()
        profiles = PROFILES if cloud.sim is not None else [("real cloud (its own delays)", {})]
        for label, delays in profiles:
            for name, seconds in delays.items():
                sim.set_delay(name, seconds)
            inst_, res = measure(report, apis, seeds, cloud, label, args.runs, args.raw_poll, key_name)
            results.append(res)
            if cloud.sim is not None:
                inst = inst_
                sim.clear_call_log()
                ours_provision(apis["redis"], cseed, cloud, f"bench-calls-{uuid.uuid4().hex[:6]}", args.raw_poll)
                calls = c.classify_calls(sim.call_log)
                print(
                    f"  cloud API calls of one provision (ours, Redis): writes {calls['writes']}, reads "
                    f"{calls['reads']}, identity {calls['identity']}: {c.ops_summary(sim.call_log)}\n"
                )
    resizes(report, apis["redis"], base, seed, sim, inst)
    report.save(provisions=results, warmups=warmups)
    return report.exit_code()


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
