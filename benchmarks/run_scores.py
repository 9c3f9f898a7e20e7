"""Ranking and regression benchmark on the CPU: gpumetrics against the read floor and its
peers, in one process and one run.

For every N it times:

* AUROC (binary; float32 scores, uint8 labels): the read floor (one parallel pass reading
  the scores and labels), NumPy's sort of the scores (the bar of the exact AUROC),
  gpumetrics exact, binned (4096 bins, with its bound) and exact
  by refinement of those bins; scikit-learn; torchmetrics exact and ``thresholds=200``;
* average precision: gpumetrics exact and binned, scikit-learn, torchmetrics exact;
* R^2 and MSE (float64): the read floor, gpumetrics, scikit-learn, torchmetrics.

Every contender's answer is checked (exact ones against scikit-learn's or the exact value,
binned ones against their own bound) before its time is reported. Scores are
``sigmoid(z + 1.5 y)`` with ``z`` standard normal and 30% positives (AUC about 0.85).

    python -m benchmarks.run_scores --quick
    python -m benchmarks.run_scores --sizes 1e6,1e7,1e8 --out benchmarks/results/scores-cpu.json
"""

from __future__ import annotations

import argparse
import gc
import os
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

_GEN = 1 << 22
BINS = 4096


def make_scores(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.empty(n, np.uint8)
    s = np.empty(n, np.float32)
    for a in range(0, n, _GEN):
        b = min(a + _GEN, n)
        yy = rng.random(b - a) < 0.3
        y[a:b] = yy
        s[a:b] = 1 / (1 + np.exp(-(rng.normal(size=b - a) + 1.5 * yy)))
    return y, s


def make_regression(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    t = np.empty(n)
    p = np.empty(n)
    for a in range(0, n, _GEN):
        b = min(a + _GEN, n)
        t[a:b] = rng.normal(size=b - a)
        p[a:b] = t[a:b] + 0.5 * rng.normal(size=b - a)
    return t, p


def _peers(*arrays):
    """scikit-learn's and torchmetrics' functions, and ``arrays`` as torch tensors (labels
    as int64, as torchmetrics wants them)."""
    import torch
    import torchmetrics.functional as tmf
    from sklearn import metrics as skm

    torch.set_num_threads(os.cpu_count() or 1)
    tensors = [torch.from_numpy(a.astype(np.int64) if a.dtype.kind in "biu" else a)
               for a in arrays]
    return skm, tmf, *tensors


def auroc_cases(y, s):
    skm, tmf, ty, ts = _peers(y, s)
    return {
        "floor": lambda: _harness.read_floor(s, y),
        "np_sort": lambda: np.sort(s),  # the bar for the exact AUROC: one sort of the scores
        "gm_exact": lambda: gm.roc_auc_score(y, s),
        "gm_binned": lambda: gm.roc_auc_score(y, s, thresholds=BINS),
        "gm_refine": lambda: gm.roc_auc_score(y, s, thresholds=BINS, refine=True),
        "sklearn": lambda: skm.roc_auc_score(y, s),
        "torchmetrics": lambda: tmf.classification.binary_auroc(ts, ty, validate_args=False),
        "torchmetrics_200": lambda: tmf.classification.binary_auroc(
            ts, ty, thresholds=200, validate_args=False),
    } | ({} if y.shape[0] <= TM_BINNED_MAX_N else {"torchmetrics_200": None})


# torchmetrics' thresholds=200 AUROC builds a (N, 200) comparison: one call took 206 s at
# N = 1e8 on the 2-core machine, so it is timed up to this size only.
TM_BINNED_MAX_N = 10**7


def ap_cases(y, s):
    skm, tmf, ty, ts = _peers(y, s)
    return {
        "floor": lambda: _harness.read_floor(s, y),
        "gm_exact": lambda: gm.average_precision_score(y, s),
        "gm_binned": lambda: gm.average_precision_score(y, s, thresholds=BINS),
        "sklearn": lambda: skm.average_precision_score(y, s),
        "torchmetrics": lambda: tmf.classification.binary_average_precision(
            ts, ty, validate_args=False),
    }


def regression_cases(metric, t, p):
    skm, tmf, tt, tp = _peers(t, p)
    gm_fn, sk_fn, tm_fn = {
        "r2": (gm.r2_score, skm.r2_score, tmf.r2_score),
        "mse": (gm.mean_squared_error, skm.mean_squared_error, tmf.mean_squared_error),
    }[metric]
    return {
        "floor": lambda: _harness.read_floor(t, p),
        "gm": lambda: gm_fn(t, p),
        "sklearn": lambda: sk_fn(t, p),
        "torchmetrics": lambda: tm_fn(tp, tt),
    }


def _value(result) -> float:
    if isinstance(result, gm.Binned):
        return float(result.value)
    return float(result)


def _run(cases, reference, bound_of, opts):
    out = {}
    for name, fn in cases.items():
        if fn is None:
            out[name] = {"status": "not run", "warmup_s": float("nan")}
            continue
        peer = not name.startswith(("gm_", "floor", "np_")) and name != "gm"
        if opts.max_wait > 0:
            _harness.wait_for_quiet(max_wait_s=opts.max_wait)
        m = _harness.measure(fn, repeats=opts.repeats, budget_s=opts.budget,
                             limit_s=opts.limit if peer else float("inf"))
        result = m.pop("result")
        if not name.startswith(("floor", "np_")):  # the bars, not answers
            value = _value(result)
            m["value"] = value
            if isinstance(result, gm.Binned):
                m["bound"] = float(result.bound)
                m["agrees"] = abs(value - reference) <= m["bound"] + 1e-12
            else:
                m["agrees"] = abs(value - reference) <= bound_of(name)
            if not m["agrees"]:
                _log(f"  WARNING: {name} disagrees with the reference answer")
        out[name] = m
        shown = m.get("best_s", m.get("warmup_s"))
        _log(f"  {name:17s} {m['status']:7s} {1e3 * shown:10.2f} ms  (n={m.get('n', 1)})")
        del result
        gc.collect()
    return out


def _tolerance(name: str) -> float:
    # torchmetrics accumulates in float32, and its thresholds=200 curve is binned
    if name == "torchmetrics_200":
        return 1e-2
    return 1e-5 if name.startswith("torchmetrics") else 1e-9


def run_size(n: int, opts) -> list[dict]:
    rows = []
    _log(f"N={n:.0e}: generating scores")
    y, s = make_scores(n, opts.seed)
    reference = gm.roc_auc_score(y, s)
    _log(f"N={n:.0e}: AUROC = {reference:.6f}")
    rows.append({"section": "auroc", "n": n, "value": reference,
                 "results": _run(auroc_cases(y, s), reference, _tolerance, opts)})
    reference = gm.average_precision_score(y, s)
    _log(f"N={n:.0e}: AP = {reference:.6f}")
    rows.append({"section": "average_precision", "n": n, "value": reference,
                 "results": _run(ap_cases(y, s), reference, _tolerance, opts)})
    del y, s
    gc.collect()
    t, p = make_regression(n, opts.seed)
    for metric in ("r2", "mse"):
        reference = (gm.r2_score if metric == "r2" else gm.mean_squared_error)(t, p)
        _log(f"N={n:.0e}: {metric} = {reference:.6f}")
        rows.append({"section": metric, "n": n, "value": reference,
                     "results": _run(regression_cases(metric, t, p), reference,
                                     lambda name: 1e-5 if name == "torchmetrics" else 1e-9,
                                     opts)})
    del t, p
    gc.collect()
    return rows


def _ratio(a: dict, b: dict) -> str:
    if a.get("status") != "ok" or b.get("status") != "ok":
        return "-"
    return f"{a['best_s'] / b['best_s']:.1f}x"


def _ms(m: dict) -> str:
    if m.get("status") == "not run":
        return "not run"
    if m.get("status") != "ok":
        return f"skipped ({m['warmup_s']:.0f} s/call)"
    ms = 1e3 * m["best_s"]
    return (f"{ms:.2f}" if ms < 100 else f"{ms:.0f}") + ("" if m.get("agrees", True)
                                                          else " (WRONG)")


def render(report: dict) -> str:
    lines = [f"Machine: {report['machine']['cpu_model']}, "
             f"{report['machine']['cpus_usable']} CPUs. Times in ms (best of n); "
             "ratios: time / gpumetrics, and gpumetrics / read floor.", ""]
    for section, ours in (("auroc", ("gm_exact", "gm_binned", "gm_refine")),
                          ("average_precision", ("gm_exact", "gm_binned")),
                          ("r2", ("gm",)), ("mse", ("gm",))):
        rows = [r for r in report["rows"] if r["section"] == section]
        if not rows:
            continue
        names = list(rows[0]["results"])
        lines.append(f"### {section}")
        lines.append("| N | " + " | ".join(names) + " |")
        lines.append("|---" * (len(names) + 1) + "|")
        for r in rows:
            res = r["results"]
            cells = []
            for name in names:
                text = _ms(res[name])
                if name in ours:
                    text += f" ({_ratio(res[name], res['floor'])} floor)"
                    if "bound" in res[name]:
                        text += f", bound {res[name]['bound']:.1e}"
                elif name != "floor":
                    text += f" ({_ratio(res[name], res[ours[0]])})"
                cells.append(text)
            lines.append(f"| {r['n']:.0e} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=numbers, default=None, help="N values, e.g. 1e6,1e7,1e8")
    ap.add_argument("--out", type=Path, default=None, help="JSON results file (and .md)")
    ap.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--budget", type=float, default=None)
    ap.add_argument("--limit", type=float, default=60.0,
                    help="a peer whose one call takes longer is reported as skipped")
    ap.add_argument("--max-wait", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=0)
    opts = ap.parse_args(argv)
    opts.sizes = opts.sizes or ([10**5] if opts.quick else [10**6, 10**7, 10**8])
    opts.repeats = opts.repeats or (3 if opts.quick else 5)
    opts.budget = opts.budget or (0.5 if opts.quick else 2.0)
    return opts


def main(argv=None) -> int:
    opts = parse_args(argv)
    started = time.perf_counter()
    info = _harness.machine_info()
    _log(f"{info['cpu_model']}, {info['cpus_usable']} CPUs; warming up")
    y, s = make_scores(2000)
    t, p = make_regression(2000)
    for cases in (auroc_cases(y, s), ap_cases(y, s), regression_cases("r2", t, p),
                  regression_cases("mse", t, p)):
        for fn in cases.values():
            fn()
    rows = []
    for n in opts.sizes:
        rows.extend(run_size(n, opts))
    config = {k: v for k, v in vars(opts).items() if k != "out"}
    config["bins"] = BINS
    config["elapsed_s"] = round(time.perf_counter() - started, 1)
    report = {"machine": info, "config": config, "rows": rows}
    table = render(report)
    print(table)
    if opts.out is not None:
        _log("wrote {} and {}".format(*_harness.save(report, table, opts.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
