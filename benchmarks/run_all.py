"""Run the seven benchmarks one after another (each in its own process, each cleaning up after itself), then plot.

Exits 1 when any benchmark exited non-zero: a missed target (MISSED), a failed done-check or a crash.
The plot (plot.py, needs matplotlib) is drawn from the result files at the end; its failure is reported, not counted.

    python benchmarks/run_all.py [--runs N] [--scale-out-n N] [--plot-python PATH]
"""

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# (script, time limit in seconds); worker_efficiency carries 500-provision batches and a worker sweep, scale_out
# six runs of 1,000 provisions (at the build cap of 10, 100 rounds of ~8 s builds: ~14 min a run).
SCRIPTS = [
    ("orchestration.py", 1800),
    ("worker_efficiency.py", 3600),
    ("api_scale.py", 1800),
    ("pull_scale.py", 1800),
    ("scale_out.py", 7200),
    ("backup_flood.py", 3600),
    ("broker_hop.py", 600),
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, help="pass --runs N to every benchmark (default: each script's own)")
    parser.add_argument("--scale-out-n", type=int, help="provisions per scale_out.py run (default its own, 1000)")
    parser.add_argument("--plot-python", default=sys.executable, help="interpreter with matplotlib for plot.py")
    args = parser.parse_args(argv)
    failed = []
    for name, limit in SCRIPTS:
        print(f"\n######## {name}", flush=True)
        extra = ["--runs", str(args.runs)] if args.runs else []
        if args.scale_out_n and name == "scale_out.py":
            extra += ["--n", str(args.scale_out_n)]
        try:
            rc = subprocess.call(
                [sys.executable, str(HERE / name), *extra, "--time-limit", str(limit)], timeout=limit + 120
            )
        except subprocess.TimeoutExpired:
            rc = "timeout"
        print(f"######## {name}: exit {rc}", flush=True)
        if rc:
            failed.append(f"{name} (exit {rc})")
    if subprocess.call([args.plot_python, str(HERE / "plot.py")]):
        print("plot.py failed (matplotlib missing? pip install -r benchmarks/requirements.txt)")
    if failed:
        print("\nMISSED or FAILED: " + ", ".join(failed))
        return 1
    print("\nall benchmarks met their targets and passed their checks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
