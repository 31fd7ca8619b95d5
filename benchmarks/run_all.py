"""Run the four benchmarks one after another (each in its own process, each cleaning up after itself).

    python benchmarks/run_all.py
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["orchestration.py", "worker_efficiency.py", "api_scale.py", "pull_scale.py"]


def main():
    failed = []
    for name in SCRIPTS:
        print(f"\n######## {name}", flush=True)
        rc = subprocess.call([sys.executable, str(HERE / name)], timeout=1800)
        if rc:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
