"""Verdicts, spreads and result files shared by the benchmarks, so every script reports the same way.

A target prints OK or MISSED, a done-check prints OK or FAILED; `Report.exit_code()` is 1 when anything was
missed or failed, so `run_all.py` (and CI, if it ever runs them) sees it. Results go to benchmarks/results/NAME.json,
which plot.py reads.
"""

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def spread(xs, scale=1.0, unit="s", digits=2):
    """'median X [min A – max B, n runs]' of a list of timings."""
    if not xs:
        return "no runs"
    xs = [x * scale for x in xs]
    med = statistics.median(xs)
    unit = f" {unit}" if unit else ""
    return f"{med:.{digits}f}{unit} [min {min(xs):.{digits}f}, max {max(xs):.{digits}f}, n={len(xs)}]"


def stats(xs):
    """Median, min, max and count of a list, for the result files."""
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs), "runs": list(xs)}


def machine_facts():
    """nproc, RAM, Python, PostgreSQL and Redis versions, kernel and load: what the figures depend on."""
    facts = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": f"{platform.system()} {platform.release()}",
        "load_1min": round(os.getloadavg()[0], 2),
    }
    try:
        import psutil

        facts["ram_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    try:
        import psycopg
        from _common import PG_ADMIN

        with psycopg.connect(PG_ADMIN, connect_timeout=3) as conn:
            facts["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    except Exception:  # noqa: BLE001 - a fact we could not read is left out, not fatal
        pass
    try:
        import redis
        from _common import REDIS_URL

        facts["redis"] = redis.Redis.from_url(REDIS_URL, socket_timeout=3).info("server")["redis_version"]
    except Exception:  # noqa: BLE001
        pass
    return facts


def git_commit():
    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True).strip()
    except Exception:  # noqa: BLE001
        return "?"


class Report:
    """Collects the targets and done-checks of one benchmark run and writes its result file."""

    def __init__(self, name):
        self.name = name
        self.missed, self.failed = [], []
        self.data = {
            "benchmark": name,
            "command": " ".join([f"python benchmarks/{Path(sys.argv[0]).name}", *sys.argv[1:]]),
            "started": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": git_commit(),
            "machine": machine_facts(),
            "targets": [],
            "checks": [],
        }
        m = self.data["machine"]
        print(
            f"machine: {m.get('nproc')} CPUs, {m.get('ram_gib', '?')} GiB RAM, Python {m['python']}, PostgreSQL "
            f"{m.get('postgresql', '-')}, Redis {m.get('redis', '-')}, {m['kernel']}; load average "
            f"{m['load_1min']} (shared machine); {self.data['started']}, commit {self.data['commit']}",
            flush=True,
        )

    def target(self, label, value, limit, fmt="{:.3f}"):
        """Print `label: value (target <= limit) OK|MISSED` and remember a miss."""
        ok = value <= limit
        verdict = "OK" if ok else "MISSED"
        print(f"TARGET {label}: {fmt.format(value)} (target <= {fmt.format(limit)}) {verdict}", flush=True)
        self.data["targets"].append({"label": label, "value": value, "limit": limit, "ok": ok})
        if not ok:
            self.missed.append(label)
        return ok

    def check(self, label, ok, detail=""):
        """Print a done-check: what was verified in the cloud's (simulator's) or the database's state."""
        verdict = "OK" if ok else "FAILED"
        print(f"CHECK {label}: {detail} {verdict}".replace("  ", " "), flush=True)
        self.data["checks"].append({"label": label, "ok": bool(ok), "detail": detail})
        if not ok:
            self.failed.append(label)
        return ok

    def save(self, **results):
        """Write benchmarks/results/NAME.json (plot.py reads it)."""
        RESULTS.mkdir(exist_ok=True)
        self.data.update(results)
        self.data["missed"], self.data["failed"] = self.missed, self.failed
        path = RESULTS / f"{self.name}.json"
        path.write_text(json.dumps(self.data, indent=1, default=str) + "\n")
        print(f"results written to {path.relative_to(HERE.parent)}")

    def exit_code(self):
        """1 when a target was missed or a done-check failed, else 0; prints the summary line."""
        if self.missed or self.failed:
            parts = []
            if self.missed:
                parts.append("MISSED: " + "; ".join(self.missed))
            if self.failed:
                parts.append("FAILED checks: " + "; ".join(self.failed))
            print(f"\n{self.name}: " + " | ".join(parts))
            return 1
        print(f"\n{self.name}: every target met, every check passed")
        return 0


def provisioned_in_sim(sim, rows):
    """Check in the simulator's own state that each (backend_id, system_volume_id, data_volume_id) is done.

    Done means: the server exists and is ACTIVE, and both volumes exist, are in-use and attached to that server.
    Returns (number done, list of problems).
    """
    servers = {s["id"]: s for s in sim.servers()}
    volumes = {v["id"]: v for v in sim.volumes()}
    done, problems = 0, []
    for server_id, root_id, data_id in rows:
        server = servers.get(server_id)
        if server is None or server["status"] != "ACTIVE":
            problems.append(f"server {server_id}: {server and server['status']}")
            continue
        bad = [
            vid
            for vid in (root_id, data_id)
            if vid not in volumes
            or volumes[vid]["status"] != "in-use"
            or server_id not in {a["server_id"] for a in volumes[vid]["attachments"]}
        ]
        if bad:
            problems.append(f"server {server_id}: volumes not attached: {bad}")
            continue
        done += 1
    return done, problems
