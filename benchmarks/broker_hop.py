"""P7: one hop through the embedded default's broker (kombu's filesystem transport), and what its looks cost idle.

A provision crosses the broker several times (request -> worker -> tenant poller -> next step), so each hop's wait
adds to every VM of the embedded default (SQLite, `filesystem://`). kombu looks at an empty queue folder once per
`polling_interval`: 1 s by default, 0.1 s in settings.development (NODECONDUCTOR_BROKER_POLLING_INTERVAL).

For each interval (kombu's 1.0 and the setting's 0.1) it starts one real `celery -A nodeconductor worker` on the
development settings in a fresh var folder, then sends --n tasks one at a time, each at a random moment of the
poll cycle, and times each from its send to the worker's "received" log line (the hop). CHECK: every task was
received and succeeded in that worker. It also reads the worker's CPU (user + system, its pool children too) over
--idle seconds with nothing to do: the price of looking more often.

Target: the hop's 95th percentile at the setting's interval <= 0.1 s (issue 25: at most 0.1 s a hop).

    python benchmarks/broker_hop.py [--n 40] [--idle 20] [--runs 1]
"""

import argparse
import os
import random
import re
import shutil
import sys
import tempfile
import time
from datetime import datetime

import _common as c
from _report import Report, spread
from worker_efficiency import tree_cpu

p95 = c.p95

TARGET_P95 = 0.1
RECEIVED = re.compile(r"^\[(?P<at>[\d-]+ [\d:]+,\d+): INFO/MainProcess\] Task [\w.]+\[(?P<id>[\w-]+)\] received")


def log_times(path, pattern):
    """{task id: epoch seconds} of the worker log's lines matching pattern (the log is in local time)."""
    found = {}
    with open(path, errors="replace") as fh:
        for line in fh:
            match = pattern.match(line)
            if match:
                at = datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S,%f")
                found[match["id"]] = at.timestamp()
    return found


def succeeded(path, task_id):
    """Whether the worker log says the task ran to success."""
    with open(path, errors="replace") as fh:
        return f"[{task_id}] succeeded" in fh.read()


def run_interval(var, interval, n, idle, report):
    """Hops and idle CPU of one worker looking every `interval` seconds; returns (hops, idle CPU share)."""
    env = {
        "DJANGO_SETTINGS_MODULE": "settings.development",
        "NODECONDUCTOR_VAR_DIR": var,
        "NODECONDUCTOR_BROKER_POLLING_INTERVAL": str(interval),
    }
    worker = c.start_worker(env, ["-c", "1"])
    from nodeconductor.core.tasks import purge_expired_tokens

    time.sleep(1)
    cpu0, t0 = tree_cpu([worker.pid]), time.monotonic()
    time.sleep(idle)
    idle_share = (tree_cpu([worker.pid]) - cpu0) / (time.monotonic() - t0)
    sent = {}
    for _ in range(n):
        time.sleep(random.uniform(0, interval))  # land anywhere in the worker's poll cycle
        at = time.time()
        result = purge_expired_tokens.apply_async()
        sent[result.id] = at
        deadline = time.monotonic() + 10 * interval + 5
        while not succeeded(worker.log_path, result.id):
            if time.monotonic() > deadline:
                raise RuntimeError(f"task {result.id} not done in time:\n{c.tail(worker)}")
            time.sleep(0.01)
    received = log_times(worker.log_path, RECEIVED)
    report.check(f"interval {interval}: all {n} tasks received and succeeded in the worker",
                 set(sent) <= set(received) and all(succeeded(worker.log_path, i) for i in sent))  # fmt: skip
    worker.stop()
    return [max(0.0, received[i] - sent[i]) for i in sent if i in received], idle_share


def main():
    """Measure both intervals and judge the setting's against the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--idle", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=1, help="batches of --n hops per interval (run_all passes it)")
    args = parser.parse_args()
    c.install_limits(600)
    report = Report("broker_hop")
    os.environ.pop("CELERY_BROKER_URL", None)  # the embedded default: kombu's filesystem transport
    var = tempfile.mkdtemp(prefix="nc-bench-hop-")
    c.on_exit(lambda: shutil.rmtree(var, ignore_errors=True))
    c.setup_django({"DJANGO_SETTINGS_MODULE": "settings.development", "NODECONDUCTOR_VAR_DIR": var})
    c.migrate()
    from django.conf import settings

    configured = settings.CELERY_BROKER_TRANSPORT_OPTIONS["polling_interval"]
    figures = {}
    for interval in (1.0, configured):
        hops, idle_share = run_interval(var, interval, args.n * args.runs, args.idle, report)
        figures[interval] = {"hop_s": hops, "idle_cpu_share": idle_share}
        print(f"polling_interval {interval}: hop {spread(hops, digits=3)}, p95 {p95(hops):.3f} s; "
              f"worker CPU idle {100 * idle_share:.2f} % of one core")  # fmt: skip
    report.target(f"hop p95 at {configured} s <= {TARGET_P95} s",
                  p95(figures[configured]["hop_s"]), TARGET_P95)  # fmt: skip
    report.save(intervals={str(k): v for k, v in figures.items()})
    return report.exit_code()


if __name__ == "__main__":
    sys.exit(main())
