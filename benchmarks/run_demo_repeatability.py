"""Is the demo's answer repeatable? ``gpumetrics demo`` run ``--repeats`` times alone and as
many times beside a process that keeps one core busy, interleaved (alone, loaded, alone,
...) so that both see the same spells of the host, each run a fresh process as a user
would start it.

For each of the demo's four training runs it reports the gCO2e of every repeat (median,
min-max, max/min), the ratio of the loaded median to the quiet one (other processes' work
must not be charged: 1.0 is right), and whether the acc-gCO2e ranking came out the same
every time. The same demo profiled with ``scope="machine"`` shows what charging the
machine did. A fixed piece of the same work timed with ``time.process_time()`` in a fresh
process between the demo runs gives the host's own floor: how much the CPU time of
identical work moves on this machine, whatever measures it.

    python -m benchmarks.run_demo_repeatability --out benchmarks/results/demo-repeatability-cpu.json
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import _harness  # noqa: E402
from benchmarks._load import BusyCore  # noqa: E402

# A fixed share of the demo's work (the logistic model's training steps), timed in a
# fresh process: its spread is the host's, not the profiler's.
PROBE = """
import time
import numpy as np
from threadpoolctl import threadpool_limits
from gpumetrics.runs.demo import Model, make_data
x, y = make_data(20000, seed=0)
model = Model(x.shape[1], 0, lr=0.5)
with threadpool_limits(limits=1, user_api="blas"):
    start = time.process_time()
    for i in range(0, len(y), 64):
        model.step(x[i:i + 64], y[i:i + 64])
    print(time.process_time() - start)
"""

def run_demo_once(samples: int, epochs: int, scope: str = "process") -> dict:
    """One ``gpumetrics demo`` in a fresh process, as a user starts it: each run's gCO2e
    and CPU seconds, and the ranking."""
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "gpumetrics.cli", "demo", "--out", out,
                        "--samples", str(samples), "--epochs", str(epochs), "--scope", scope],
                       check=True, capture_output=True, text=True)
        from gpumetrics.runs import RunStore

        with RunStore(Path(out) / "runs.db") as store:
            ranking = [r.run.name for r in store.compare()]
            runs = {}
            for run in store.runs():
                energy = run.summary["energy"]
                cpu = energy["components"]["cpu"]["details"]
                runs[run.name] = {"gco2e": run.summary["gco2e"],
                                  "cpu_s": cpu.get("process_cpu_s"),
                                  "excluded_cpu_s": energy.get("excluded_cpu_s", {})}
    return {"ranking": ranking, "runs": runs}


def probe() -> float:
    done = subprocess.run([sys.executable, "-c", PROBE], check=True, capture_output=True,
                          text=True)
    return float(done.stdout)


def repeat_demo(repeats: int, samples: int, epochs: int, scope: str = "process",
                with_probe: bool = False) -> dict:
    """``repeats`` demos alone and ``repeats`` beside a busy core, interleaved."""
    out: dict = {"quiet": [], "loaded": [], "probe_quiet": [], "probe_loaded": []}
    for _ in range(repeats):
        for loaded in (False, True):
            key = "loaded" if loaded else "quiet"
            if loaded:
                with BusyCore():
                    out[key].append(run_demo_once(samples, epochs, scope))
                    if with_probe:
                        out[f"probe_{key}"].append(probe())
            else:
                out[key].append(run_demo_once(samples, epochs, scope))
                if with_probe:
                    out[f"probe_{key}"].append(probe())
    return out


def spread(values: list[float]) -> float:
    """max / min (1.0: identical)."""
    return max(values) / min(values) if min(values) > 0 else float("inf")


def summarise(result: dict) -> dict:
    """Per run: gCO2e median, min, max and max/min under each condition, the loaded median
    over the quiet one, and the max/min of its share of its demo's total gCO2e (what the
    ranking's min-max scaling sees: a spell that slows the whole machine moves every run
    of a demo alike and leaves the shares); the gCO2e charged per CPU second of the run's
    own process, loaded over quiet (what another process's work would raise, whatever
    the host's spells do to the run's CPU time: 1.0 is right); the rankings seen."""
    names = list(result["quiet"][0]["runs"])
    runs = {}
    for name in names:
        row = {}
        for key in ("quiet", "loaded"):
            values = [demo["runs"][name]["gco2e"] for demo in result[key]]
            shares = [demo["runs"][name]["gco2e"]
                      / sum(r["gco2e"] for r in demo["runs"].values()) for demo in result[key]]
            row[key] = {"median": statistics.median(values), "min": min(values),
                        "max": max(values), "spread": spread(values), "values": values,
                        "share_spread": spread(shares)}
            per_cpu_s = [demo["runs"][name]["gco2e"] / demo["runs"][name]["cpu_s"]
                         for demo in result[key] if demo["runs"][name]["cpu_s"]]
            row[key]["per_cpu_s"] = statistics.median(per_cpu_s) if per_cpu_s else None
        row["loaded_over_quiet"] = row["loaded"]["median"] / row["quiet"]["median"]
        if row["quiet"]["per_cpu_s"] and row["loaded"]["per_cpu_s"]:
            row["per_cpu_s_loaded_over_quiet"] = (row["loaded"]["per_cpu_s"]
                                                  / row["quiet"]["per_cpu_s"])
        runs[name] = row
    rankings = [tuple(d["ranking"]) for key in ("quiet", "loaded") for d in result[key]]
    return {"runs": runs, "rankings": sorted({" > ".join(r) for r in rankings}),
            "rankings_identical": len(set(rankings)) == 1, "demos": len(rankings)}


def _table(title: str, summary: dict) -> list[str]:
    lines = [f"### {title}", "",
             "| run | quiet: median µgCO2e (min-max) | max/min | share max/min | beside a "
             "busy core: median (min-max) | max/min | share max/min | loaded / quiet | per own "
             "CPU second: loaded / quiet |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, row in summary["runs"].items():
        q, ld = row["quiet"], row["loaded"]
        lines.append(f"| {name} | {q['median'] * 1e6:.0f} ({q['min'] * 1e6:.0f}-"
                     f"{q['max'] * 1e6:.0f}) | {q['spread']:.2f} | {q['share_spread']:.2f} | "
                     f"{ld['median'] * 1e6:.0f} ({ld['min'] * 1e6:.0f}-{ld['max'] * 1e6:.0f})"
                     f" | {ld['spread']:.2f} | {ld['share_spread']:.2f} | "
                     f"{row['loaded_over_quiet']:.2f} | "
                     f"{row.get('per_cpu_s_loaded_over_quiet', float('nan')):.2f} |")
    same = "identical" if summary["rankings_identical"] else "NOT identical"
    lines += ["", f"acc-gCO2e ranking over the {summary['demos']} demos: {same} "
              f"({'; '.join(summary['rankings'])}).", ""]
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--samples", type=int, default=40_000)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    process = repeat_demo(args.repeats, args.samples, args.epochs, "process", with_probe=True)
    machine = repeat_demo(args.repeats, args.samples, args.epochs, "machine")
    floor = {key: {"seconds": process[f"probe_{key}"],
                   "spread": spread(process[f"probe_{key}"])} for key in ("quiet", "loaded")}
    report = {"machine": _harness.machine_info(), "repeats": args.repeats,
              "samples": args.samples, "epochs": args.epochs,
              "process_scope": {**summarise(process), "raw": process},
              "machine_scope": {**summarise(machine), "raw": machine},
              "host_floor": floor}
    cpu = report["machine"].get("cpu_model", "CPU")
    lines = [f"# Demo repeatability ({cpu}, {report['machine']['cpus_usable']} logical CPUs)",
             "",
             f"`gpumetrics demo` ({args.samples:,} samples, {args.epochs} epochs) run "
             f"{args.repeats} times alone and {args.repeats} times beside a process keeping "
             "one core busy, interleaved; every demo a fresh process. Host floor: the CPU "
             "time of one fixed piece of the same work (the logistic model's steps over "
             "20,000 samples), timed between the demos, varied by "
             f"{floor['quiet']['spread']:.2f}x alone and {floor['loaded']['spread']:.2f}x "
             "beside the busy core.", ""]
    lines += _table("Charged to the run (scope: process, the default)",
                    report["process_scope"])
    lines += _table("Charged to the machine (scope: machine)", report["machine_scope"])
    text = "\n".join(lines)
    return _harness.publish(report, text, args.out)


if __name__ == "__main__":
    sys.exit(main())
