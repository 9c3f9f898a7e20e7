"""Classification benchmark on the CPU: gpumetrics against the read floor and its peers.

For every N and C it times, in one process and one run:

* the read floor (a Numba ``prange`` pass reading ``y_true`` and ``y_pred`` once);
* gpumetrics confusion counts (the kernel and the public ``confusion_matrix``), int64 and int32;
* ``np.bincount(y_true * C + y_pred)``, scikit-learn and torchmetrics (validation on and off);
* ``accuracy_score`` and macro ``f1_score`` for gpumetrics, scikit-learn and torchmetrics;
* ``gpumetrics.batched.accuracy_score`` on K prediction sets against K single calls.

Every contender's answer is checked against the others before its time is reported.
Labels are uniform over 0..C-1 and predictions agree with them 80% of the time.

    python -m benchmarks.run_classification --quick
    python -m benchmarks.run_classification --sizes 1e6,1e7,1e8 --classes 2,10,100 \\
        --out benchmarks/results/classification-cpu.json
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the `benchmarks` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks import _harness, _peers  # noqa: E402
from benchmarks._harness import log as _log  # noqa: E402
from benchmarks._harness import numbers  # noqa: E402
from benchmarks._report import render  # noqa: E402


def _run_cases(cases: dict, opts, check) -> dict:
    """Measure every contender; ``check(name, result)`` says whether its answer is right."""
    out = {}
    for name, fn in cases.items():
        peer = not name.startswith(("gm_", "floor"))
        if opts.max_wait > 0:
            _harness.wait_for_quiet(max_wait_s=opts.max_wait)
        m = _harness.measure(
            fn,
            repeats=opts.repeats,
            budget_s=opts.budget,
            limit_s=opts.limit if peer else float("inf"),
        )
        result = m.pop("result")
        if name != "floor":
            m["agrees"] = bool(check(name, result))
            if not m["agrees"]:
                _log(f"  WARNING: {name} disagrees with the reference answer")
        out[name] = m
        shown = m.get("best_s", m.get("warmup_s"))
        load = m.get("foreign_load")
        _log(
            f"  {name:14s} {m['status']:7s} {1e3 * shown:10.2f} ms  (n={m.get('n', 1)}"
            + (f", other processes {100 * load:.0f}% CPU)" if load else ")")
        )
        del result
        gc.collect()
    return out


def _confusion_checker(y_true, y_pred, C):
    expected = np.bincount(y_true.astype(np.int64) * C + y_pred, minlength=C * C).reshape(C, C)

    def check(name, result):
        got = _peers.as_matrix(result)
        return got.shape == expected.shape and bool((got == expected).all())

    return check


def _value_checker(reference: float):
    def check(name, result):
        return abs(float(result) - reference) <= 1e-5 * max(1.0, abs(reference))

    return check


def run_size(n: int, C: int, opts) -> list[dict]:
    rows = []
    _log(f"N={n:.0e} C={C}: generating labels")
    y_true, y_pred = _harness.make_labels(n, C, agreement=opts.agreement, seed=opts.seed)

    _log(f"N={n:.0e} C={C}: confusion counts, int64")
    cases = _peers.confusion(y_true, y_pred, C)
    rows.append(
        {
            "section": "confusion",
            "n": n,
            "classes": C,
            "dtype": "int64",
            "results": _run_cases(cases, opts, _confusion_checker(y_true, y_pred, C)),
        }
    )
    del cases

    for metric in ("accuracy", "f1_macro"):
        _log(f"N={n:.0e} C={C}: {metric}")
        cases = _peers.headline(metric, y_true, y_pred, C)
        reference = cases["gm_public_C"]()
        results = _run_cases(cases, opts, _value_checker(reference))
        rows.append(
            {
                "section": metric,
                "n": n,
                "classes": C,
                "dtype": "int64",
                "value": reference,
                "results": results,
            }
        )
        del cases

    if not opts.no_int32:
        _log(f"N={n:.0e} C={C}: confusion counts, int32")
        check = _confusion_checker(y_true, y_pred, C)
        del y_true, y_pred
        gc.collect()
        t32, p32 = _harness.make_labels(
            n, C, agreement=opts.agreement, seed=opts.seed, dtype=np.int32
        )
        cases = _peers.confusion_int32(t32, p32, C)
        rows.append(
            {
                "section": "confusion",
                "n": n,
                "classes": C,
                "dtype": "int32",
                "results": _run_cases(cases, opts, check),
            }
        )
        del cases, t32, p32
    gc.collect()
    return rows


def run_batched(n: int, C: int, k: int, opts) -> dict:
    _log(f"batched N={n:.0e} C={C} K={k}: generating labels")
    y_true, _ = _harness.make_labels(n, C, agreement=opts.agreement, seed=opts.seed)
    y_sets = _harness.make_prediction_sets(y_true, k, C, agreement=opts.agreement)
    expected = (y_sets == y_true).mean(axis=1)

    def check(name, result):
        return np.allclose(np.asarray(result), expected, rtol=1e-12)

    cases = _peers.batched_accuracy(y_true, y_sets, C)
    row = {
        "section": "batched_accuracy",
        "n": n,
        "classes": C,
        "dtype": "int64",
        "sets": k,
        "results": _run_cases(cases, opts, check),
    }
    del cases, y_true, y_sets
    gc.collect()
    return row


def _warm_up() -> None:
    """Compile every Numba function (or load it from the cache) before any timing."""
    for dtype in (np.int64, np.int32):
        for C in (2, 3):
            t, p = _harness.make_labels(1000, C, dtype=dtype)
            for cases in (
                _peers.confusion(t, p, C),
                _peers.headline("accuracy", t, p, C),
                _peers.headline("f1_macro", t, p, C),
                _peers.batched_accuracy(t, np.stack([p, p]), C),
            ):
                for fn in cases.values():
                    fn()


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=numbers, default=None, help="N values, e.g. 1e6,1e7,1e8")
    ap.add_argument("--classes", type=numbers, default=None, help="C values, e.g. 2,10,100")
    ap.add_argument("--batched-n", type=numbers, default=None,
                    help="batched-case N values (default 1e4,1e5,1e6,1e7; 1e5 with --quick)")
    ap.add_argument("--sets", type=int, default=32, help="K prediction sets (default 32)")
    ap.add_argument("--out", type=Path, default=None, help="JSON results file")
    ap.add_argument("--md", type=Path, default=None,
                    help="markdown table file (default: --out with the suffix .md)")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes and few repeats: a smoke test of the whole run")
    ap.add_argument("--repeats", type=int, default=None, help="most timed calls per case")
    ap.add_argument("--budget", type=float, default=None,
                    help="seconds of timed calls per case before repeats stop (default 2)")
    ap.add_argument("--limit", type=float, default=60.0,
                    help="a peer whose one call takes longer is reported as skipped")
    ap.add_argument("--agreement", type=float, default=0.8,
                    help="fraction of predictions equal to the true label")
    ap.add_argument("--max-wait", type=float, default=30.0,
                    help="seconds to wait for a quiet CPU before each case (0: off)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-int32", action="store_true", help="skip the int32 label runs")
    opts = ap.parse_args(argv)
    opts.sizes = opts.sizes or ([10**5, 10**6] if opts.quick else [10**6, 10**7, 10**8])
    opts.classes = opts.classes or ([2, 10] if opts.quick else [2, 10, 100])
    opts.batched_n = opts.batched_n or ([10**5] if opts.quick else [10**4, 10**5, 10**6, 10**7])
    opts.repeats = opts.repeats or (3 if opts.quick else 7)
    opts.budget = opts.budget or (0.5 if opts.quick else 2.0)
    if opts.md is None and opts.out is not None:
        opts.md = opts.out.with_suffix(".md")
    return opts


def main(argv=None) -> int:
    opts = parse_args(argv)
    started = time.perf_counter()
    info = _harness.machine_info()
    _log(
        f"{info['cpu_model']}, {info['cpus_usable']} CPUs, numba threads "
        f"{info['numba_threads']}; warming up"
    )
    _warm_up()
    rows = []
    for n in opts.sizes:
        for C in opts.classes:
            rows.extend(run_size(n, C, opts))
    for n in opts.batched_n:
        for C in opts.classes:
            rows.append(run_batched(n, C, opts.sets, opts))
    config = {k: v for k, v in vars(opts).items() if k not in ("out", "md")}
    config["timing"] = (
        "perf_counter; one warm-up call, then up to `repeats` timed calls "
        "within `budget` seconds (at least 3, or 1 for calls over 5 s); "
        "ratios use the best time"
    )
    config["elapsed_s"] = round(time.perf_counter() - started, 1)
    report = {"machine": info, "config": config, "rows": rows}
    table = render(report)
    print(table)
    if opts.out is not None:
        _log("wrote {} and {}".format(*_harness.save(report, table, opts.out, opts.md)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
