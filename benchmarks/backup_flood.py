"""P6: the 02:00 flood. N instances' backup schedules (200 by default) fire at once; backups take the per-cloud cap.

Setup (not measured): N instances provisioned by the workers on the simulator (fast delays), one schedule each
("0 2 * * *"), then every schedule made due at the same moment and the simulator switched to its realistic
snapshot delay (1.8 s to available, as mini-openstack measured). Measured: from the beat's run of the due
schedules (services.backup_schedules.run_due, what the beat task does) until every backup is Ready, with
`celery -A nodeconductor worker` processes (--workers) on Redis and PostgreSQL, production settings, the cap
OPENSTACK_MAX_CONCURRENT_BACKUPS (--cap, default 10).

Floor: the same 2N snapshots with the raw clients (keystoneauth + cinderclient 3.0, force=True), `cap` threads,
each snapshotting one instance's two volumes and polling both every 0.05 s until available, then the next.

CHECKs, read in the simulator and the database: at most 2 x cap snapshots were being made at once (sampled every
0.05 s under the simulator's lock) and at most cap backups ran at once (the database, every 0.1 s); a queued
backup said what it waits for; exactly two snapshot creates per backup and N backups Ready, each with two
available snapshots of its own instance's two volumes; each schedule fired once. TARGET: median ours / median
floor <= 1.2.

    python benchmarks/backup_flood.py [--n 200] [--cap 10] [--workers 2] [--runs 1]
"""

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import _common as c
from _report import Report, spread, stats


class Sampler(threading.Thread):
    """Peaks of snapshots being made (the simulator, under its lock) and of backups running (the database)."""

    def __init__(self, sim, running=None):
        super().__init__(daemon=True)
        self.sim, self.running, self.stop_flag = sim, running, threading.Event()
        self.peak_creating = self.peak_running = self.samples = 0
        self.waiting_for = set()

    def run(self):
        last_db = 0.0
        while not self.stop_flag.is_set():
            with self.sim.state.lock:
                creating = sum(1 for s in self.sim.state.snapshots.values() if s["status"] == "creating")
            self.peak_creating, self.samples = max(self.peak_creating, creating), self.samples + 1
            if self.running is not None and time.monotonic() - last_db > 0.1:
                last_db = time.monotonic()
                running, waits = self.running()
                self.peak_running = max(self.peak_running, running)
                self.waiting_for.update(waits)
            self.stop_flag.wait(0.05)

    def stop(self):
        self.stop_flag.set()
        self.join()


def _running():
    """(backups running now, what queued ones say they wait for), from the database."""
    from django.db import connection

    from nodeconductor.iaas.models import Backup

    backing_up = Backup.objects.filter(state="backing_up")
    running = backing_up.filter(operation_started__isnull=False).count()
    waits = {p.get("waiting_for", "").split(":")[0] for p in
             backing_up.filter(operation_started__isnull=True).values_list("operation_params", flat=True)[:5]}
    connection.close()
    return running, waits - {""}


def provision_all(sim, seed, n, tag):
    """N instances built by the workers (fast delays); their rows."""
    from nodeconductor.iaas.models import Instance
    from nodeconductor.iaas.services.instances import instance_create

    flavor = seed["flavors"][0]
    made = [instance_create(user=seed["staff"], membership=seed["membership"], template=seed["template"],
                            flavor=flavor, hostname=f"{tag}-{i}", system_volume_size=1024, data_volume_size=1024)
            for i in range(n)]  # fmt: skip
    mine = Instance.objects.filter(pk__in=[i.pk for i in made])
    deadline = time.monotonic() + 600
    while mine.filter(state="online").count() < n:
        if mine.filter(state="erred").exists() or time.monotonic() > deadline:
            raise RuntimeError(f"provisioning failed: {mine.exclude(state='online').first().error_message!r}")
        time.sleep(0.2)
    return list(mine)


def run_ours(sim, instances, cap, tag, timeout):
    """Fire one schedule per instance at one moment; wait until every backup is Ready; the figures."""
    from django.utils import timezone

    from nodeconductor.iaas.models import Backup, BackupSchedule
    from nodeconductor.iaas.services import backup_schedules

    now = timezone.now()
    schedules = [backup_schedules.schedule_create(i, None, schedule="0 2 * * *", timezone="UTC",
                                                  description=tag) for i in instances]  # fmt: skip
    BackupSchedule.objects.filter(pk__in=[s.pk for s in schedules]).update(next_trigger_at=now)
    sim.clear_call_log()
    sampler = Sampler(sim, _running)
    sampler.start()
    t0 = time.monotonic()
    fired = backup_schedules.run_due(now)
    mine = Backup.objects.filter(schedule__in=schedules)
    while mine.filter(state="ready").count() < len(instances):
        if mine.filter(state="erred").exists():
            raise RuntimeError(f"a backup Erred: {mine.filter(state='erred').first().error_message}")
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"only {mine.filter(state='ready').count()}/{len(instances)} Ready after {timeout} s")
        time.sleep(0.05)
    wall = time.monotonic() - t0
    sampler.stop()
    creates = sum(1 for call in sim.call_log if call["operation"] == "snapshot.create")
    snapshots = {s["id"]: s for s in sim.snapshots()}
    volumes = {i.pk: {i.system_volume_id, i.data_volume_id} for i in instances}
    good = sum(1 for b in mine if len(set(b.snapshot_ids)) == 2 and all(
        snapshots.get(s, {}).get("status") == "available" for s in b.snapshot_ids)
        and {snapshots[s]["volume_id"] for s in b.snapshot_ids} == volumes[b.instance_id])  # fmt: skip
    calls = list(BackupSchedule.objects.filter(pk__in=[s.pk for s in schedules]).values_list("call_count", flat=True))
    return {"wall": wall, "fired": fired, "creates": creates, "good": good, "n": len(instances),
            "peak_creating": sampler.peak_creating, "peak_running": sampler.peak_running,
            "waiting_for": sorted(sampler.waiting_for), "calls_once": calls.count(1), "samples": sampler.samples,
            "backups": list(mine.values_list("pk", flat=True)), "schedules": [s.pk for s in schedules]}  # fmt: skip


def run_floor(sim, seed, instances, cap):
    """The same snapshots with the raw clients, `cap` instances at a time; the wall time and the ids made."""
    from cinderclient import client as cinder_client
    from keystoneauth1 import session as ks_session
    from keystoneauth1.identity import v3

    auth = v3.Password(auth_url=sim.auth_url, username="admin", password="admin", project_name="demo",
                       user_domain_name="Default", project_domain_name="Default")  # fmt: skip
    cinder = cinder_client.Client("3.0", session=ks_session.Session(auth=auth))
    made = []

    def one(instance):
        snaps = [cinder.volume_snapshots.create(v, force=True, name=f"floor-{instance.pk}")
                 for v in (instance.system_volume_id, instance.data_volume_id)]  # fmt: skip
        while any(cinder.volume_snapshots.get(s.id).status != "available" for s in snaps):
            time.sleep(0.05)
        made.extend(s.id for s in snaps)

    t0 = time.monotonic()
    with ThreadPoolExecutor(cap) as pool:
        list(pool.map(one, instances))
    return time.monotonic() - t0, made


def forget(sim, backup_pks, schedule_pks, snapshot_ids):
    """Remove what a run made (its rows; its snapshots from the simulator's state), so runs do not add up."""
    from nodeconductor.iaas.models import Backup, BackupSchedule

    Backup.objects.filter(pk__in=backup_pks).delete()
    BackupSchedule.objects.filter(pk__in=schedule_pks).delete()
    with sim.state.lock:
        for sid in snapshot_ids:
            sim.state.snapshots.pop(sid, None)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=200, help="instances whose schedules fire together (default 200)")
    parser.add_argument("--cap", type=int, default=10, help="OPENSTACK_MAX_CONCURRENT_BACKUPS (default 10)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--runs", type=int, default=1, help="runs of each side (default 1; medians reported)")
    parser.add_argument("--time-limit", type=int, default=3600)
    args = parser.parse_args(argv)
    c.install_limits(args.time_limit)
    report = Report("backup_flood")

    sim = c.start_sim("fast")
    demo = sim.project_id("demo")
    sim.set_quota(demo, volume={"snapshots": -1, "volumes": -1, "gigabytes": -1})
    db = c.create_database()
    env = c.product_env(db, sim.auth_url, NODECONDUCTOR_OPENSTACK_MAX_CONCURRENT_BACKUPS=args.cap,
                        NODECONDUCTOR_OPENSTACK_MAX_CONCURRENT_BUILDS=0)  # fmt: skip
    c.setup_django(env)
    c.migrate()
    c.flush_redis()
    c.on_exit(c.flush_redis)
    seed = c.seed_cloud(sim)
    workers = [c.start_worker(env, ["-n", f"p6w{i}@%h"]) for i in range(args.workers)]
    t0 = time.monotonic()
    instances = provision_all(sim, seed, args.n, "p6")
    print(f"setup: {args.n} instances Online in {time.monotonic() - t0:.1f} s", flush=True)
    sim.set_delay("snapshot_create", 1.8)  # mini-openstack: an attached volume's snapshot is available in ~1.8 s
    print(f"N={args.n} schedules firing at once; cap {args.cap}; {args.workers} worker process(es); snapshot "
          f"1.8 s to available", flush=True)  # fmt: skip
    ours, floors = [], []
    for r in range(args.runs):
        res = run_ours(sim, instances, args.cap, f"p6r{r}", max(600, 2 * args.n))
        print(f"  ours, run {r + 1}: {res['wall']:.1f} s for {args.n} backups ({res['fired']} fired); peaks: "
              f"{res['peak_running']} running, {res['peak_creating']} snapshots being made", flush=True)
        report.check(f"run {r + 1}: backups running within the cap", res["peak_running"] <= args.cap,
                     f"at most {res['peak_running']} backups ran at once (database), cap {args.cap}")
        report.check(f"run {r + 1}: snapshots being made within the cap", res["peak_creating"] <= 2 * args.cap,
                     f"at most {res['peak_creating']} snapshots creating at once ({res['samples']} samples), "
                     f"2 x cap = {2 * args.cap}")
        report.check(f"run {r + 1}: queued backups said what they wait for", "a backup slot" in res["waiting_for"],
                     f"waiting_for seen: {res['waiting_for']}")
        report.check(f"run {r + 1}: every backup made once, in the cloud",
                     res["creates"] == 2 * args.n and res["good"] == args.n and res["fired"] == args.n
                     and res["calls_once"] == args.n,
                     f"{res['creates']} snapshot creates for {args.n} backups; {res['good']}/{args.n} Ready with "
                     f"two available snapshots of their own instance's volumes; {res['calls_once']} schedules "
                     "fired exactly once")  # fmt: skip
        ours.append(res["wall"])
        made = [s["id"] for s in sim.snapshots()]
        forget(sim, res["backups"], res["schedules"], made)
        wall, floor_made = run_floor(sim, seed, instances, args.cap)
        print(f"  floor, run {r + 1}: {wall:.1f} s ({len(floor_made)} snapshots)", flush=True)
        floors.append(wall)
        forget(sim, [], [], floor_made)
    for w in workers:
        w.stop()
    ratio = c.median(ours) / c.median(floors)
    print(f"ours {spread(ours)}; floor {spread(floors)}")
    report.target(f"median ours / median floor (N={args.n}, cap {args.cap})", ratio, 1.2)
    report.save(n=args.n, cap=args.cap, workers=args.workers, ours=stats(ours), floor=stats(floors), ratio=ratio)
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
