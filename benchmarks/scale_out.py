"""P5: scale-out. N provisions (1,000 by default) on Redis + PostgreSQL carried by 1, 2 and 4 worker processes.

Each worker is `celery -A nodeconductor worker` at default concurrency (prefork, one slot per CPU), Redis db 15 as
broker, gunicorn (2 sync workers) serving the API, a throwaway PostgreSQL database, production settings. The
simulator has its realistic delays with a 5 s boot, as P2. The per-cloud build cap (OPENSTACK_MAX_CONCURRENT_BUILDS)
is a parameter: every worker count runs at each cap of --caps (default: the setting's default 10, and N, which
never binds), so both limits show: the cloud's (the cap) and the machine's (the CPUs).

Per run it prints: throughput in VMs/min from the first POST to the last Online, and of the POST phase alone; the
CPU seconds (and share of the wall) of the workers, of gunicorn and of this process (which hosts the simulator);
and these CHECKs, read in the simulator: the most servers seen in BUILD at once (sampled every 0.05 s under the
simulator's lock) never exceeds the cap; exactly one server create per instance (compute.server_create calls in
the call log = N, and every instance's hostname names exactly one server); all N servers ACTIVE with both volumes
in-use and attached. P5 has no ratio target: its CHECKs decide the exit code.

    python benchmarks/scale_out.py [--n 1000] [--workers 1 2 4] [--caps 10 1000] [--runs 1]
"""

import argparse
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import _common as c
from _report import Report, provisioned_in_sim, spread, stats
from worker_efficiency import forget, tree_cpu


class BuildSampler(threading.Thread):
    """Counts the simulator's servers in BUILD every 0.05 s under its lock; .peak is the most seen at once."""

    def __init__(self, sim):
        super().__init__(daemon=True)
        from nodeconductor.cloudsim.servers import server_status

        self.sim, self.status, self.peak, self.samples, self.stop_flag = sim, server_status, 0, 0, threading.Event()

    def run(self):
        st = self.sim.state
        while not self.stop_flag.is_set():
            with st.lock:
                building = sum(1 for s in st.servers.values() if self.status(s) == "BUILD")
            self.peak, self.samples = max(self.peak, building), self.samples + 1
            self.stop_flag.wait(0.05)

    def stop(self):
        self.stop_flag.set()
        self.join()
        return self.peak


def self_cpu():
    """User + system CPU seconds of this process (the simulator's threads and the Online poll)."""
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def run_once(api, seed, sim, workers, gunicorn, n, cap, tag, timeout):
    """Provision n instances at once with `workers`; return the figures and the done-checks' inputs."""
    from nodeconductor.iaas.models import Instance

    sim.clear_call_log()
    sampler = BuildSampler(sim)
    sampler.start()
    wpids = [w.pid for w in workers]
    cpu0 = (tree_cpu(wpids), tree_cpu([gunicorn.pid]), self_cpu())
    hostnames = [f"{tag}-{i}.example.com" for i in range(n)]
    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        uuids = list(pool.map(lambda h: api.create_instance(seed, h)["uuid"], hostnames))
    posts = time.monotonic() - t0
    mine = Instance.objects.filter(uuid__in=uuids)
    while True:
        online = mine.filter(state="online").count()
        if online == n:
            break
        if mine.filter(state="erred").exists():
            raise RuntimeError(f"instances Erred in run {tag}: {mine.filter(state='erred').first().error_message}")
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"only {online}/{n} Online after {timeout} s")
        time.sleep(0.1)
    wall = time.monotonic() - t0
    peak = sampler.stop()
    cpu1 = (tree_cpu(wpids), tree_cpu([gunicorn.pid]), self_cpu())
    cpu = [after - before for after, before in zip(cpu1, cpu0, strict=True)]
    log = sim.call_log
    creates = sum(1 for call in log if call["operation"] == "compute.server_create")
    per_name = Counter(s["name"] for s in sim.servers())
    rows = list(mine.values_list("backend_id", "system_volume_id", "data_volume_id"))
    done, problems = provisioned_in_sim(sim, rows)
    return {
        "n": n,
        "cap": cap,
        "workers": len(workers),
        "wall": wall,
        "posts": posts,
        "vms_per_min": 60 * n / wall,
        "post_rate_per_min": 60 * n / posts,
        "peak_building": peak,
        "samples": sampler.samples,
        "server_creates": creates,
        "names_not_one": sum(1 for h in hostnames if per_name.get(h) != 1),
        "done": done,
        "problems": problems[:3],
        "cpu_workers": cpu[0],
        "cpu_gunicorn": cpu[1],
        "cpu_bench_and_sim": cpu[2],
        "uuids": uuids,
        "rows": rows,
    }


def start_workers(env, k):
    return [c.start_worker(env, ["-n", f"p5w{i}@%h"]) for i in range(k)]


def report_run(report, res, label):
    """Print one run's figures and its three CHECKs."""
    wall = res["wall"]
    print(
        f"  {label}: {res['vms_per_min']:6.1f} VMs/min (wall {wall:6.1f} s); POST phase {res['posts']:6.1f} s = "
        f"{res['post_rate_per_min']:6.1f} POSTs/min; CPU s (share of wall): workers {res['cpu_workers']:.0f} "
        f"({res['cpu_workers'] / wall:.0%}), gunicorn {res['cpu_gunicorn']:.0f} ({res['cpu_gunicorn'] / wall:.0%}), "
        f"bench + simulator {res['cpu_bench_and_sim']:.0f} ({res['cpu_bench_and_sim'] / wall:.0%}); "
        f"worker CPU {res['cpu_workers'] / res['n']:.3f} s/VM",
        flush=True,
    )
    n, cap = res["n"], res["cap"]
    report.check(
        f"{label}: concurrent builds in the simulator within the cap",
        res["peak_building"] <= cap,
        f"at most {res['peak_building']} servers in BUILD at once ({res['samples']} samples), cap {cap}",
    )
    report.check(
        f"{label}: one server create per instance",
        res["server_creates"] == n and res["names_not_one"] == 0,
        f"{res['server_creates']} compute.server_create calls for {n} instances, "
        f"{res['names_not_one']} hostnames without exactly one server",
    )
    report.check(
        f"{label}: done in the simulator",
        res["done"] == n,
        f"{res['done']}/{n} servers ACTIVE with both volumes in-use and attached {res['problems']}",
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="provisions per run (default 1000)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--caps", type=int, nargs="+", help="build caps (default: the setting's default, and N)")
    parser.add_argument("--runs", type=int, default=1, help="runs per (cap, workers) (default 1; medians reported)")
    parser.add_argument("--boot", type=float, default=5.0, help="boot latency in seconds (default 5)")
    parser.add_argument("--time-limit", type=int, default=7200)
    args = parser.parse_args(argv)
    c.install_limits(args.time_limit)
    report = Report("scale_out")

    sim = c.start_sim("realistic")
    sim.set_delay("server_build", args.boot / 2)  # the simulator builds in two steps of this delay
    db = c.create_database()
    env = c.product_env(db, sim.auth_url)
    c.setup_django(env)
    c.migrate()
    c.flush_redis()
    c.on_exit(c.flush_redis)
    seed = c.seed_cloud(sim)
    from django.conf import settings

    default_cap = settings.NODECONDUCTOR["OPENSTACK_MAX_CONCURRENT_BUILDS"]
    caps = args.caps or [default_cap, args.n]
    gunicorn, base = c.start_gunicorn(env)
    api = c.Api(base, seed["token"])
    d = sim.delays
    print(
        f"N={args.n} provisions per run; workers {args.workers} (default concurrency each: {c.os.cpu_count()} slots); "
        f"caps {caps} (setting's default {default_cap}); batched polling "
        f"{settings.NODECONDUCTOR['OPERATION_BATCHED_POLLING']}; cloud: boot {2 * d['server_build']:.1f} s, root "
        f"volume {d['volume_create'] + d['volume_download']:.1f} s, data volume {d['volume_create']:.1f} s",
        flush=True,
    )
    results = []
    for cap in caps:
        cap_env = {**env, "NODECONDUCTOR_OPENSTACK_MAX_CONCURRENT_BUILDS": str(cap)}
        print(f"\ncap {cap}:")
        for k in sorted(set(args.workers)):
            workers = start_workers(cap_env, k)
            forget(sim, run_once(api, seed, sim, workers, gunicorn, 1, cap, f"c{cap}w{k}warm", 120))
            runs = []
            for r in range(args.runs):
                res = run_once(api, seed, sim, workers, gunicorn, args.n, cap, f"c{cap}w{k}r{r}", max(300, 3 * args.n))
                forget(sim, res)
                report_run(report, res, f"cap {cap}, {k} worker(s), run {r + 1}")
                runs.append({key: v for key, v in res.items() if key not in ("uuids", "rows")})
            for w in workers:
                w.stop()
            tput = [x["vms_per_min"] for x in runs]
            results.append(
                {
                    "cap": cap,
                    "workers": k,
                    "n": args.n,
                    "vms_per_min": stats(tput),
                    "post_rate_per_min": stats([x["post_rate_per_min"] for x in runs]),
                    "runs": runs,
                }
            )
    print("\n  cap  workers  VMs/min (median [min, max])              POSTs/min  peak BUILD  worker CPU share")
    for row in results:
        last = row["runs"][-1]
        print(
            f"{row['cap']:5d}  {row['workers']:7d}  {spread(row['vms_per_min']['runs'], unit=''):40}  "
            f"{row['post_rate_per_min']['median']:9.1f}  {max(x['peak_building'] for x in row['runs']):10d}  "
            f"{last['cpu_workers'] / last['wall']:.0%} of one CPU"
        )
    report.save(n=args.n, caps=caps, boot=args.boot, results=results)
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
