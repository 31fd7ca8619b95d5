"""Render benchmarks/scaling.svg from the result files the benchmarks wrote (benchmarks/results/*.json).

Five panels: provisioning wall time against N (one worker process), provisioning throughput against worker
processes (P2 at N = 50, and P5's scale-out at each build cap), the instance list against the number of instances,
the catalogue pull against the number of images;
each with its floor or ideal, medians with min-max bars. Panels whose result file is missing are left empty.
matplotlib is a benchmark-only dependency (benchmarks/requirements.txt), imported only here.

    python benchmarks/plot.py [--out benchmarks/scaling.svg]
"""

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def load(name):
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def bars(ax, xs, stat_list, label, scale=1.0, **kw):
    """Medians joined by a line, with min-max error bars."""
    med = [s["median"] * scale for s in stat_list]
    lo = [(s["median"] - s["min"]) * scale for s in stat_list]
    hi = [(s["max"] - s["median"]) * scale for s in stat_list]
    ax.errorbar(xs, med, yerr=[lo, hi], label=label, marker="o", capsize=3, **kw)


def provisioning(ax, res):
    rows = res["by_n"]
    ns = [r["n"] for r in rows]
    bars(ax, ns, [r["wall"] for r in rows], "wall, first POST to last Online")
    one = next(r["wall"]["median"] for r in rows if r["n"] == 1)
    ax.axhline(one, color="grey", ls=":", label=f"one provision ({one:.1f} s)")
    for n, k in ((50, 1.3), (500, 2.5)):
        ax.plot([n], [k * one], marker="_", ms=18, color="red", ls="none")
    ax.plot([], [], marker="_", color="red", ls="none", label="targets (1.3x at 50, 2.5x at 500)")
    ax.set_xscale("log")
    ax.set_xlabel("provisions submitted together (N)")
    ax.set_ylabel("seconds")
    ax.set_title(f"P2: N provisions, one worker process ({res['boot']:.0f} s boot)")


def throughput(ax, res):
    rows = res.get("throughput") or []
    if not rows:
        ax.set_title("P2: throughput (no --workers sweep in the results)")
        return
    ks = [r["workers"] for r in rows]
    bars(ax, ks, [r["throughput"] for r in rows], f"N = {rows[0]['n']}")
    ax.set_xticks(ks)
    ax.set_xlabel("worker processes (default concurrency each)")
    ax.set_ylabel("provisions per second")
    ax.set_ylim(bottom=0)
    ax.set_title(f"P2: throughput against workers ({res['machine'].get('nproc')} CPUs)")


def api(ax, res):
    cases = [r for r in res["cases"] if r["params"] == {"page_size": 100}]
    for who in ("staff", "owner"):
        mine = sorted((r for r in cases if r["who"] == who), key=lambda r: r["size"])
        if not mine:
            continue
        xs = [r["size"] for r in mine]
        bars(ax, xs, [r["api"] for r in mine], f"API, {who}", scale=1e3)
        bars(ax, xs, [r["floor"] for r in mine], f"floor, {who}", scale=1e3, ls="--")
    ax.set_xscale("log")
    ax.set_xlabel("instances in the database")
    ax.set_ylabel("ms per request")
    ax.set_ylim(bottom=0)
    ax.set_title("P3: GET /api/instances/?page_size=100")


def pull(ax, res):
    for kind in ("first", "repeat"):
        mine = sorted((r for r in res["pulls"] if r["kind"] == kind), key=lambda r: r["images"])
        xs = [r["images"] for r in mine]
        bars(ax, xs, [r["ours"] for r in mine], f"ours, {kind}", scale=1e3)
        bars(ax, xs, [r["floor"] for r in mine], f"floor, {kind}", scale=1e3, ls="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("images in the cloud (flavors = images / 10)")
    ax.set_ylabel("ms per pull")
    ax.set_title("P4: catalogue pull")


def scale_out(ax, res):
    for cap in res["caps"]:
        rows = sorted((r for r in res["results"] if r["cap"] == cap), key=lambda r: r["workers"])
        bars(ax, [r["workers"] for r in rows], [r["vms_per_min"] for r in rows], f"build cap {cap}")
    ks = sorted({r["workers"] for r in res["results"]})
    ax.set_xticks(ks)
    ax.set_xlabel("worker processes (default concurrency each)")
    ax.set_ylabel("VMs per minute, first POST to last Online")
    ax.set_ylim(bottom=0)
    cpus = res["machine"].get("nproc")
    ax.set_title(f"P5: {res['n']} provisions against workers ({cpus} CPUs, {res['boot']:.0f} s boot)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(HERE / "scaling.svg"))
    args = parser.parse_args(argv)
    try:
        import matplotlib
    except ImportError:
        print("plot.py needs matplotlib: pip install -r benchmarks/requirements.txt", file=sys.stderr)
        return 2
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "nodeconductor"  # stable ids: a re-render of the same data diffs clean
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(18, 9))
    axes.flat[-1].axis("off")
    panels = [
        ("worker_efficiency", provisioning),
        ("worker_efficiency", throughput),
        ("api_scale", api),
        ("pull_scale", pull),
        ("scale_out", scale_out),
    ]
    dates = set()
    for ax, (name, draw) in zip(axes.flat[: len(panels)], panels, strict=True):
        res = load(name)
        if res is None:
            ax.set_title(f"{name}: no results yet")
            continue
        dates.add(res["started"])
        draw(ax, res)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(f"NodeConductor scaling (medians, min-max bars; runs of {', '.join(sorted(dates))})")
    fig.tight_layout()
    fig.savefig(args.out, metadata={"Date": None})
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
