"""Clustering-score benchmark on the CPU: gpumetrics against scikit-learn and the read
floor, in one process and one run.

For every N and number of groups G (classes and clusters alike) it times the scores that
``sklearn.metrics.cluster`` computes from one contingency table: adjusted Rand, normalized
mutual information, V-measure, Fowlkes-Mallows, and the table itself; the read floor is
one parallel pass over both label arrays. Labels are int64, uniform over G classes, and a
sample's cluster is its class 70% of the time (else uniform). Every gpumetrics value is
checked against scikit-learn's before its time is reported. The adjusted mutual
information is left out at these sizes: its expected value sums about N * G^2 / G terms
(10^10 at N = 1e7, G = 1000) for scikit-learn and gpumetrics alike.

    python -m benchmarks.run_clustering --quick
    python -m benchmarks.run_clustering --sizes 1e6,1e7 --groups 1000 \\
        --out benchmarks/results/clustering-cpu.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import gpumetrics as gm  # noqa: E402
from benchmarks import _harness  # noqa: E402
from benchmarks._harness import log as _log  # noqa: E402
from benchmarks._harness import numbers  # noqa: E402

SCORES = ("adjusted_rand_score", "normalized_mutual_info_score", "v_measure_score",
          "fowlkes_mallows_score", "contingency_matrix")


def make_labellings(n: int, groups: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels_true = rng.integers(0, groups, n)
    labels_pred = np.where(rng.random(n) < 0.7, labels_true, rng.integers(0, groups, n))
    return labels_true, labels_pred


def _agrees(ours, theirs) -> bool:
    if isinstance(theirs, np.ndarray):
        return bool(np.array_equal(ours, theirs))
    return abs(ours - theirs) <= 1e-9 * max(1.0, abs(theirs))


def run_case(n: int, groups: int, opts) -> list[dict]:
    from sklearn.metrics import cluster as skc

    _log(f"N={n:.0e} G={groups}: generating labels")
    t, p = make_labellings(n, groups, opts.seed)
    floor = _harness.measure(lambda: _harness.read_floor(t, p), repeats=opts.repeats,
                             budget_s=opts.budget)
    floor.pop("result")
    rows = []
    for name in SCORES:
        ours = _harness.measure(lambda name=name: getattr(gm, name)(t, p),
                                repeats=opts.repeats, budget_s=opts.budget)
        theirs = _harness.measure(lambda name=name: getattr(skc, name)(t, p),
                                  repeats=opts.repeats, budget_s=opts.budget,
                                  limit_s=opts.limit)
        agrees = _agrees(ours.pop("result"), theirs.pop("result"))
        if not agrees:
            _log(f"  WARNING: {name} disagrees with scikit-learn")
        rows.append({"n": n, "groups": groups, "score": name, "floor": floor,
                     "gpumetrics": ours, "sklearn": theirs, "agrees": agrees})
        _log(f"  {name:30s} gpumetrics {1e3 * ours['best_s']:9.1f} ms   scikit-learn "
             f"{1e3 * theirs.get('best_s', theirs['warmup_s']):9.1f} ms")
    return rows


def render(report: dict) -> str:
    info = report["machine"]
    lines = ["# Clustering scores, CPU", "",
             f"{info['date']} - {info['cpu_model']}, {info['cpus_usable']} usable CPUs, "
             f"numpy {info['versions']['numpy']}, numba {info['versions']['numba']}, "
             f"scikit-learn {info['versions']['sklearn']}, gpumetrics commit "
             f"{(info['git_commit'] or '?')[:10]}.", "",
             "Times in ms, best of several calls after a warm-up; int64 labels, G classes and "
             "G clusters. `x floor`: gpumetrics time / one parallel read of both label "
             "arrays. `speed-up`: scikit-learn time / gpumetrics time.", "",
             "| N | G | score | read floor | gpumetrics (x floor) | scikit-learn | speed-up |",
             "|---|---|---|---|---|---|---|"]
    for r in report["rows"]:
        floor, ours, theirs = r["floor"]["best_s"], r["gpumetrics"], r["sklearn"]
        sk = theirs.get("best_s")
        sk_text = f"{1e3 * sk:.0f}" if sk else f"skipped ({theirs['warmup_s']:.0f} s/call)"
        speed = f"{sk / ours['best_s']:.1f}x" if sk else "-"
        lines.append(f"| {r['n']:.0e} | {r['groups']} | `{r['score']}` | {1e3 * floor:.1f} | "
                     f"{1e3 * ours['best_s']:.1f} ({ours['best_s'] / floor:.1f}x) | "
                     f"{sk_text} | {speed}" + ("" if r["agrees"] else " (DISAGREES)") + " |")
    return "\n".join(lines)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=numbers, default=None, help="N values, e.g. 1e6,1e7")
    ap.add_argument("--groups", type=numbers, default=None, help="G values, e.g. 10,1000")
    ap.add_argument("--out", type=Path, default=None, help="JSON results file (and .md)")
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--budget", type=float, default=None)
    ap.add_argument("--limit", type=float, default=60.0,
                    help="a peer whose one call takes longer is reported as skipped")
    ap.add_argument("--seed", type=int, default=0)
    opts = ap.parse_args(argv)
    opts.sizes = opts.sizes or ([10**5] if opts.quick else [10**6, 10**7])
    opts.groups = opts.groups or ([10] if opts.quick else [10, 1000])
    opts.repeats = opts.repeats or (3 if opts.quick else 5)
    opts.budget = opts.budget or (0.5 if opts.quick else 2.0)
    return opts


def main(argv=None) -> int:
    opts = parse_args(argv)
    started = time.perf_counter()
    info = _harness.machine_info()
    _log(f"{info['cpu_model']}, {info['cpus_usable']} CPUs; warming up")
    t, p = make_labellings(2000, 10)
    for name in SCORES:
        getattr(gm, name)(t, p)
    rows = []
    for n in opts.sizes:
        for groups in opts.groups:
            rows.extend(run_case(n, groups, opts))
    config = {k: v for k, v in vars(opts).items() if k != "out"}
    config["elapsed_s"] = round(time.perf_counter() - started, 1)
    report = {"machine": info, "config": config, "rows": rows}
    return _harness.publish(report, render(report), opts.out)


if __name__ == "__main__":
    sys.exit(main())
