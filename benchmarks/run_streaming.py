"""Streaming benchmark on the CPU: what a ``MetricSet`` of 8 classification metrics costs
against one confusion pass, against 8 separate metrics, against the read floor and against
torchmetrics, in one process and one run.

The data (int32 labels, C classes, 80% agreement) arrive in batches of ``--batch`` rows;
each case runs ``update()`` on every batch and then ``compute()``:

* floor: one parallel pass reading every label once (``_harness.read_floor``);
* one confusion pass: the ``confusion`` kernel alone, batch by batch, into one buffer;
* gpumetrics ``MetricSet`` of 8 (validate on and off): one shared confusion state;
* gpumetrics, the same 8 metrics updated separately (8 states, 8 passes);
* torchmetrics ``MetricCollection`` of the same 8 (its compute groups share states) and
  the 8 metrics updated separately, on CPU tensors.

    python -m benchmarks.run_streaming --sizes 1e6,1e7 --out benchmarks/results/streaming-cpu.json
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from gpumetrics.kernels import cpu  # noqa: E402

from benchmarks import _harness  # noqa: E402
from gpumetrics import metrics as M  # noqa: E402

NAMES = ("accuracy", "precision", "recall", "f1", "specificity", "jaccard", "mcc", "kappa")


def ours(C: int, validate: bool) -> dict:
    kw = {"num_classes": C, "validate": validate}
    return {
        "accuracy": M.Accuracy("multiclass", **kw),
        "precision": M.Precision("multiclass", **kw),
        "recall": M.Recall("multiclass", **kw),
        "f1": M.F1Score("multiclass", **kw),
        "specificity": M.Specificity("multiclass", **kw),
        "jaccard": M.JaccardIndex("multiclass", **kw),
        "mcc": M.MatthewsCorrCoef("multiclass", **kw),
        "kappa": M.CohenKappa("multiclass", **kw),
    }


def theirs(C: int) -> dict:
    import torchmetrics.classification as T

    kw = {"num_classes": C, "validate_args": False}
    return {
        "accuracy": T.MulticlassAccuracy(average="micro", **kw),
        "precision": T.MulticlassPrecision(average="macro", **kw),
        "recall": T.MulticlassRecall(average="macro", **kw),
        "f1": T.MulticlassF1Score(average="macro", **kw),
        "specificity": T.MulticlassSpecificity(average="macro", **kw),
        "jaccard": T.MulticlassJaccardIndex(average="macro", **kw),
        "mcc": T.MulticlassMatthewsCorrCoef(**kw),
        "kappa": T.MulticlassCohenKappa(**kw),
    }


def _batches(n: int, batch: int):
    return [slice(a, min(a + batch, n)) for a in range(0, n, batch)]


def cases(t, p, C: int, batch: int) -> dict:
    slices = _batches(t.shape[0], batch)

    def floor():
        return _harness.read_floor(t, p)

    def confusion_pass():
        out = np.zeros((1, C + 1, C + 1), np.int64)
        for sl in slices:
            cpu.confusion(t[None, sl], p[None, sl], C, out=out)
        return int(np.trace(out[0]))

    def metric_set(validate):
        def run():
            s = M.MetricSet(ours(C, validate))
            for sl in slices:
                s.update(t[sl], p[sl])
            return s.compute()["accuracy"]
        return run

    def separate():
        ms = ours(C, False)
        for sl in slices:
            for m in ms.values():
                m.update(t[sl], p[sl])
        return {k: m.compute() for k, m in ms.items()}["accuracy"]

    out = {"floor": floor, "confusion_pass": confusion_pass,
           "set_validate": metric_set(True), "set_no_validate": metric_set(False),
           "separate_8": separate}
    try:
        import torch
        from torchmetrics import MetricCollection
    except ImportError:
        return out
    tt, tp = torch.from_numpy(t.astype(np.int64)), torch.from_numpy(p.astype(np.int64))

    def tm_collection():
        col = MetricCollection(theirs(C))
        for sl in slices:
            col.update(tp[sl], tt[sl])
        return float(col.compute()["accuracy"])

    def tm_separate():
        ms = theirs(C)
        for sl in slices:
            for m in ms.values():
                m.update(tp[sl], tt[sl])
        return float(ms["accuracy"].compute())

    out.update({"torchmetrics_collection": tm_collection, "torchmetrics_separate": tm_separate})
    return out


def render(report: dict) -> str:
    lines = [f"# Streaming: a MetricSet of 8 metrics vs one confusion pass "
             f"({report['machine'].get('cpu_model', 'CPU')})", "",
             f"Batches of {report['batch']:,} rows, int32 labels, C = {report['classes']}; "
             "best of n runs, each over all batches plus compute().", "",
             "| N | case | best ms | x floor | x one confusion pass |",
             "|---|---|---|---|---|"]
    for row in report["rows"]:
        floor = row["cases"]["floor"]["best_s"]
        one = row["cases"]["confusion_pass"]["best_s"]
        for name, m in row["cases"].items():
            if m["status"] != "ok":
                lines.append(f"| {row['n']:.0e} | {name} | {m['status']} | | |")
                continue
            lines.append(f"| {row['n']:.0e} | {name} | {m['best_s'] * 1e3:.1f} | "
                         f"{m['best_s'] / floor:.1f} | {m['best_s'] / one:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1e6,1e7")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--batch", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    rows = []
    for n in (int(float(s)) for s in args.sizes.split(",")):
        t, p = _harness.make_labels(n, args.classes, dtype=np.int32)
        row = {"n": n, "cases": {}}
        for name, fn in cases(t, p, args.classes, args.batch).items():
            _harness.wait_for_quiet()
            m = _harness.measure(fn, budget_s=3.0)
            m.pop("result", None)
            row["cases"][name] = m
            print(f"N={n:.0e} {name}: {m.get('best_s', float('nan')) * 1e3:.1f} ms",
                  file=sys.stderr)
        rows.append(row)
    report = {"machine": _harness.machine_info(), "batch": args.batch,
              "classes": args.classes, "rows": rows,
              "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}
    text = render(report)
    return _harness.publish(report, text, args.out)


if __name__ == "__main__":
    sys.exit(main())
