"""Figure 2: N concurrent provisions carried by ONE worker process at default settings.

One `celery -A nodeconductor worker` (default concurrency = number of CPUs, prefork), Redis db 15 as broker,
gunicorn serving the API, a throwaway PostgreSQL database, production settings. The simulator has its realistic
delays with a 5 s boot (root volume 2.1 s, data volume 0.6 s). For each N the N instances are POSTed through the
API (8 client threads) and the clock stops when the API lists all N Online. Ratio = wall(N) / wall(1).
Peak memory is the largest RSS sum of the worker and its pool children sampled every 0.2 s.

    python benchmarks/worker_efficiency.py [--n 1 10 50 200] [--concurrency K]
"""

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import _common as c


class RssSampler(threading.Thread):
    """Samples the RSS of a process tree; .peak in bytes."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop_flag = pid, 0, threading.Event()

    def run(self):
        while not self.stop_flag.is_set():
            self.peak = max(self.peak, c.tree_rss(self.pid))
            self.stop_flag.wait(0.2)

    def stop(self):
        self.stop_flag.set()
        self.join()
        return self.peak


def count_state(api, state):
    return int(api.get("/api/instances/", state=state, page_size=1).headers["X-Result-Count"])


def task_runs(worker):
    with open(worker.log_path, errors="replace") as fh:
        return fh.read().count("succeeded in")


def batch(api, seed, worker, n, tag, timeout):
    """Provision n instances at once; return (wall seconds, post seconds, peak RSS bytes, task runs)."""
    online0 = count_state(api, "online")
    runs0 = task_runs(worker)
    sampler = RssSampler(worker.pid)
    sampler.start()
    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: api.create_instance(seed, f"{tag}-{i}.example.com"), range(n)))
    posted = time.monotonic() - t0
    while True:
        done = count_state(api, "online") - online0
        if done >= n:
            break
        erred = count_state(api, "erred")
        if erred:
            raise RuntimeError(f"{erred} instances Erred")
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"only {done}/{n} Online after {timeout} s")
        time.sleep(0.1)
    wall = time.monotonic() - t0
    return wall, posted, sampler.stop(), task_runs(worker) - runs0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, nargs="+", default=[1, 10, 50, 200])
    parser.add_argument("--boot", type=float, default=5.0, help="boot latency in seconds (default 5)")
    parser.add_argument("--concurrency", type=int, help="worker --concurrency (default: celery's, = CPUs)")
    parser.add_argument("--pool", help="worker --pool (default: celery's, prefork)")
    parser.add_argument("--time-limit", type=int, default=1500)
    args = parser.parse_args(argv)
    c.install_limits(args.time_limit)

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

    _, base = c.start_gunicorn(env)
    extra = []
    if args.concurrency:
        extra += ["--concurrency", str(args.concurrency)]
    if args.pool:
        extra += ["--pool", args.pool]
    worker = c.start_worker(env, extra)
    api = c.Api(base, seed["token"])
    d = sim.delays
    print(f"machine: {c.machine()}")
    print(f"worker: one process, {' '.join(extra) or 'default concurrency/pool'}; OPENSTACK_POLL_INTERVAL="
          f"{settings.NODECONDUCTOR['OPENSTACK_POLL_INTERVAL']} s; prefetch multiplier "
          f"{settings.CELERY_WORKER_PREFETCH_MULTIPLIER}, acks_late {settings.CELERY_TASK_ACKS_LATE}")
    print(f"cloud: boot {2 * d['server_build']:.1f} s, root volume {d['volume_create'] + d['volume_download']:.1f} s,"
          f" data volume {d['volume_create']:.1f} s")
    batch(api, seed, worker, 1, "warmup", 120)
    rows, base_wall = [], None
    for n in args.n:
        sim.clear_call_log()
        wall, posted, peak, runs = batch(api, seed, worker, n, f"n{n}", max(120, 3 * n))
        calls = c.classify_calls(sim.call_log)
        base_wall = base_wall or (wall if n == 1 else None)
        ratio = wall / base_wall if base_wall else float("nan")
        rows.append((n, wall, posted, ratio, peak, runs, calls))
        print(f"N={n:4d}: wall {wall:7.2f} s (POSTs {posted:5.2f} s), ratio to one {ratio:6.2f}, "
              f"peak worker RSS {peak / 2**20:6.0f} MiB, task runs {runs} ({runs / n:.1f}/VM), "
              f"cloud calls {calls['total']} ({calls['total'] / n:.1f}/VM)", flush=True)
    print("\n   N    wall   ratio  wall/N  peak RSS")
    for n, wall, _posted, ratio, peak, _runs, _calls in rows:
        print(f"{n:4d} {wall:7.2f} {ratio:7.2f} {wall / n:7.3f} {peak / 2**20:6.0f} MiB")
    at50 = [r for r in rows if r[0] == 50]
    if at50 and base_wall:
        print(f"ratio at N=50: {at50[0][3]:.2f} (target <= 1.3) {'OK' if at50[0][3] <= 1.3 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
