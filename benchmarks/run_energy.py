"""Energy profiler overhead: a fixed CPU-bound workload of about ``--seconds`` (default 60)
timed without the profiler, under it, and without it again, in one process and one run.

Cases under the profiler:

* ``this machine``: the profiler as it runs here by default (its sources are whatever this
  machine has: RAPL and NVML when readable, else the utilisation estimates, which read the
  kernel's CPU accounting at laps only);
* ``10 Hz sampling``: the sampling thread reading a RAPL-shaped counter tree (a temporary
  copy with 4 domains) every 0.1 s, the cost of a sampled source.

The overhead is the profiled time over the mean of the two unprofiled times, minus one;
the sampling thread's own CPU time is reported too (a direct measure of its cost).

    python -m benchmarks.run_energy --out benchmarks/results/energy-overhead-cpu.json
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import _harness  # noqa: E402
from gpumetrics.energy import EnergyProfiler  # noqa: E402


def work(steps: int) -> int:
    """Pure-Python integer work: no I/O, no sleeping, one core busy."""
    x = 0
    for i in range(steps):
        x = (x * 1103515245 + i) & 0xFFFFFFFF
    return x


def calibrate(seconds: float) -> int:
    steps = 1_000_000
    t = time.perf_counter()
    work(steps)
    rate = steps / (time.perf_counter() - t)
    return int(rate * seconds)


def rapl_tree(root: Path) -> Path:
    for entry, name in (("intel-rapl:0", "package-0"), ("intel-rapl:0:0", "core"),
                        ("intel-rapl:0:1", "dram"), ("intel-rapl:1", "package-1")):
        d = root / entry
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
        (d / "energy_uj").write_text("1000\n")
        (d / "max_energy_range_uj").write_text("262143328850\n")
    return root


def timed(steps: int, profiler: EnergyProfiler | None) -> dict:
    t = time.perf_counter()
    if profiler is None:
        work(steps)
        return {"seconds": time.perf_counter() - t}
    with profiler:
        work(steps)
    out = {"seconds": time.perf_counter() - t,
           "sampler_cpu_s": getattr(profiler, "sampler_cpu_s", 0.0),
           "methods": {n: c.method for n, c in profiler.report.components.items()}}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    steps = calibrate(args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        tree = rapl_tree(Path(tmp) / "powercap")
        runs = {}
        runs["baseline_1"] = timed(steps, None)
        runs["this_machine"] = timed(steps, EnergyProfiler(carbon_intensity=0))
        runs["sampling_10hz"] = timed(steps, EnergyProfiler(gpus=False, rapl_root=tree,
                                                            interval_s=0.1,
                                                            carbon_intensity=0))
        runs["baseline_2"] = timed(steps, None)
    base = (runs["baseline_1"]["seconds"] + runs["baseline_2"]["seconds"]) / 2
    for name in ("this_machine", "sampling_10hz"):
        runs[name]["overhead"] = runs[name]["seconds"] / base - 1
        runs[name]["sampler_cpu_share"] = runs[name]["sampler_cpu_s"] / runs[name]["seconds"]
    report = {"machine": _harness.machine_info(), "workload_steps": steps,
              "target_seconds": args.seconds, "baseline_s": base,
              "baseline_spread": abs(runs["baseline_1"]["seconds"]
                                     - runs["baseline_2"]["seconds"]) / base,
              "runs": runs}
    lines = [f"# Energy profiler overhead ({report['machine'].get('cpu_model', 'CPU')})", "",
             f"A CPU-bound workload of {base:.1f} s; the two unprofiled runs differ by "
             f"{report['baseline_spread'] * 100:.2f}%.", "",
             "| case | seconds | overhead | sampler CPU / wall | sources |",
             "|---|---|---|---|---|"]
    for name, run in runs.items():
        overhead = f"{run['overhead'] * 100:+.2f}%" if "overhead" in run else ""
        share = f"{run['sampler_cpu_share'] * 100:.3f}%" if "sampler_cpu_share" in run else ""
        methods = ", ".join(f"{k}: {v}" for k, v in run.get("methods", {}).items())
        lines.append(f"| {name} | {run['seconds']:.2f} | {overhead} | {share} | {methods} |")
    text = "\n".join(lines) + "\n"
    return _harness.publish(report, text, args.out)


if __name__ == "__main__":
    sys.exit(main())
