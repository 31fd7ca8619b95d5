"""Profile what one worker task run and one create POST cost, in this process (pyinstrument).

Runs the provision operation's steps (tests.iaas.steps.advance, what one task run does) for --n instances against the
simulator with fast delays, timing each step, and the POST /api/instances/ through Django's test Client.
Prints per-step timings and pyinstrument's call tree of the slowest part.

    python benchmarks/profile_steps.py [--n 20] [--tree]
"""

import argparse
import sys
import time
from collections import defaultdict

import _common as c


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--tree", action="store_true", help="print pyinstrument call trees")
    parser.add_argument("--time-limit", type=int, default=600)
    args = parser.parse_args(argv)
    c.install_limits(args.time_limit)

    sim = c.start_sim("fast")
    db = c.create_database()
    env = c.product_env(db, sim.auth_url)
    c.setup_django(env)
    c.migrate()
    c.flush_redis()
    c.on_exit(c.flush_redis)
    seed = c.seed_cloud(sim)
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from pyinstrument import Profiler

    from nodeconductor.iaas.engine import operations
    from tests.iaas.steps import advance

    # POST /api/instances/ (the task is only sent to Redis; no worker runs here).
    client = Client()
    base = "http://testserver"

    def post(i):
        body = {
            "hostname": f"p{i}.example.com",
            "template": f"{base}/api/iaas-templates/{seed['template'].uuid}/",
            "flavor": f"{base}/api/flavors/{seed['flavors'][0].uuid}/",
            "project": f"{base}/api/projects/{seed['project'].uuid}/",
            "ssh_public_key": f"{base}/api/keys/{seed['key'].uuid}/",
            "data_volume_size": 1024,
        }
        r = client.post(
            "/api/instances/", body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {seed['token']}"
        )
        assert r.status_code == 201, r.content[:300]
        return r.json()["uuid"]

    post(-1)
    prof = Profiler(interval=0.001)
    times, uuids = [], []
    with CaptureQueriesContext(connection) as ctx:
        post(-2)
    prof.start()
    for i in range(args.n):
        t0 = time.perf_counter()
        uuids.append(post(i))
        times.append(time.perf_counter() - t0)
    prof.stop()
    print(f"machine: {c.machine()}")
    print(
        f"POST /api/instances/ (test Client, task sent to Redis): median {c.median(times) * 1e3:.1f} ms, "
        f"p95 {c.p95(times) * 1e3:.1f} ms, {len(ctx.captured_queries)} queries"
    )
    if args.tree:
        print(prof.output_text(unicode=False, color=False, show_all=False))

    # The provision steps, as one task run each (fast cloud: wait a little between steps as a worker would).
    by_phase = defaultdict(list)
    calls_by_phase = defaultdict(int)
    prof = Profiler(interval=0.001)
    from nodeconductor.iaas.models import Instance

    state = {u: ("", {"backend_flavor_id": seed["flavors"][0].backend_id}) for u in uuids}
    rounds = 0
    while state and rounds < 50:
        rounds += 1
        time.sleep(0.3)
        for u, (phase, params) in list(state.items()):
            sim.clear_call_log()
            prof.start()
            t0 = time.perf_counter()
            out = advance(operations.PROVISION, u, params)
            dt = time.perf_counter() - t0
            prof.stop()
            by_phase[phase or "first"].append(dt)
            calls_by_phase[phase or "first"] += len([x for x in sim.call_log if not x["operation"].startswith("sim")])
            if out.finished:
                del state[u]
            else:
                state[u] = (Instance.objects.get(uuid=u).operation_phase, None)
    print("\nprovision steps (advance = one task run), in-process:")
    for phase, ts in by_phase.items():
        print(
            f"  phase {phase:8}: {len(ts):4d} runs, median {c.median(ts) * 1e3:6.1f} ms, p95 {c.p95(ts) * 1e3:6.1f}"
            f" ms, cloud calls/run {calls_by_phase[phase] / len(ts):.1f}"
        )
    if args.tree:
        print(prof.output_text(unicode=False, color=False, show_all=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
