"""Command line: ``gpumetrics demo``, ``gpumetrics score`` and ``gpumetrics info``."""

from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np


def _synthetic_checkpoints(n_samples: int, n_classes: int, n_checkpoints: int, seed: int):
    """Labels of an imbalanced task and the predictions of checkpoints that improve with
    training: checkpoint k is right with probability rising from chance to ~0.9, and its
    mistakes lean towards the majority class."""
    rng = np.random.default_rng(seed)
    prior = np.geomspace(1.0, 0.05, n_classes)
    prior /= prior.sum()
    y_true = rng.choice(n_classes, size=n_samples, p=prior).astype(np.int32)
    skill = np.linspace(1.0 / n_classes, 0.9, n_checkpoints)
    right = rng.random((n_checkpoints, n_samples)) < skill[:, None]
    guesses = rng.choice(n_classes, size=(n_checkpoints, n_samples), p=prior).astype(np.int32)
    return y_true, np.where(right, y_true, guesses)


def demo(args) -> int:
    import gpumetrics
    from gpumetrics import batched, dispatch

    y_true, y_pred = _synthetic_checkpoints(args.samples, args.classes, args.checkpoints,
                                            args.seed)
    backend = dispatch.resolve(args.backend)
    print(f"gpumetrics {gpumetrics.__version__} demo: {args.checkpoints} checkpoints x "
          f"{args.samples:,} samples, {args.classes} classes, backend={backend}\n")
    C = args.classes
    start = time.perf_counter()
    columns = {
        "accuracy": batched.accuracy_score(y_true, y_pred, num_classes=C, backend=backend),
        "balanced": batched.balanced_accuracy_score(y_true, y_pred, num_classes=C,
                                                    backend=backend),
        "macro F1": batched.f1_score(y_true, y_pred, average="macro", num_classes=C,
                                     backend=backend),
        "MCC": batched.matthews_corrcoef(y_true, y_pred, num_classes=C, backend=backend),
        "kappa": batched.cohen_kappa_score(y_true, y_pred, num_classes=C, backend=backend),
    }
    seconds = time.perf_counter() - start
    header = f"{'checkpoint':>10} " + " ".join(f"{name:>9}" for name in columns)
    print(header)
    print("-" * len(header))
    for k in range(args.checkpoints):
        print(f"{k:>10} " + " ".join(f"{values[k]:>9.4f}" for values in columns.values()))
    best = int(np.argmax(columns["macro F1"]))
    majority = np.bincount(y_true).max() / y_true.shape[0]
    print(f"\nmajority-class baseline accuracy: {majority:.4f}")
    print(f"best checkpoint by macro F1: {best}\n")
    print(gpumetrics.classification_report(y_true, y_pred[best], digits=3))
    print(f"{len(columns)} batched metrics over {args.checkpoints} checkpoints in "
          f"{seconds * 1e3:.1f} ms ({y_pred.size / seconds / 1e6:.0f} M predictions/s, "
          "first call includes kernel compilation)")
    return 0


def info(args) -> int:
    import numpy

    import gpumetrics
    from gpumetrics import dispatch

    print(f"gpumetrics {gpumetrics.__version__}, Python {platform.python_version()}, "
          f"NumPy {numpy.__version__}")
    print(f"backends available: {', '.join(dispatch.available())}")
    reason = dispatch.cuda_unavailable_reason()
    if reason:
        print(f"cuda: {reason}")
    return 0


def score(args) -> int:
    """Score prediction files; bad input is one line on stderr and exit code 2."""
    import json
    from pathlib import Path

    from gpumetrics import offline

    def fail(message: str) -> int:
        lines = [" ".join(part.split()) for part in message.splitlines()]
        text = "; ".join(line for line in lines if line)
        text = "".join(c if c.isprintable() else "?" for c in text)  # one printable line
        print(f"gpumetrics score: error: {text}", file=sys.stderr)
        return 2

    if (args.y_pred is None) == (args.y_score is None):
        return fail("pass exactly one of --y-pred (labels or one score column) and --y-score")
    scores = args.y_score is not None
    pred_columns = (args.y_score or args.y_pred).split(",")
    task = args.task
    if task == "multiclass":
        size = args.num_classes
        if size is None:
            if not scores or len(pred_columns) < 2:
                return fail("--task multiclass needs --num-classes (or one --y-score column "
                            "per class)")
            size = len(pred_columns)
    elif task == "multilabel":
        size = len(pred_columns)
        if size < 2:
            return fail("--task multilabel needs one column per label in --y-pred/--y-score")
    else:
        size = 2 if task == "binary" else len(pred_columns)
    names = args.metrics.split(",") if args.metrics else offline.default_metrics(task, scores)
    opts = offline.Options(task=task, size=size, average=args.average,
                           thresholds=args.thresholds, exact=args.exact, k=args.k,
                           threshold=args.threshold, backend=args.backend)
    columns = offline.Columns(args.y_true, pred_columns, args.sample_weight)
    paths = [Path(p) for p in args.paths]
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    start = time.perf_counter()
    try:
        metrics = offline.build_metrics(names, opts, scores)
        if args.dask_scheduler:
            rows = offline.score_on_cluster(paths, metrics, columns, args.dask_scheduler)
        else:
            rows = offline.score_files(paths, metrics, columns, batch_size=args.batch_size,
                                       progress=progress)
        results = metrics.compute()
    except offline.ScoreError as exc:
        return fail(str(exc))
    except (ValueError, ZeroDivisionError) as exc:
        return fail(f"{', '.join(map(str, paths))}: {exc}")
    seconds = time.perf_counter() - start
    report = {
        "metrics": {name: offline.plain(v) for name, v in results.items()},
        "rows": rows, "files": [str(p) for p in paths], "task": task,
        "seconds": round(seconds, 4),
        "binned": None if args.exact else {"bins": args.thresholds, "range": [0.0, 1.0]},
    }
    text = json.dumps(report, indent=1)
    if args.out:
        offline.write_atomic(Path(args.out), text + "\n")
    if args.json:
        print(text)
    else:
        print(offline.table(results))
        print(f"\n{rows:,} rows from {len(paths)} file(s) in {seconds:.2f} s "
              f"({rows / max(seconds, 1e-9) / 1e6:.1f} M rows/s)")
    return 0


def _add_score_parser(sub):
    from gpumetrics import offline

    p = sub.add_parser("score", help="score prediction files larger than memory",
                       description="Score Parquet, CSV or .npy prediction files, streamed in "
                       "bounded memory. Several files form one dataset.")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--y-true", required=True, help="column of true labels or targets")
    p.add_argument("--y-pred", help="column of predicted labels (or one score column)")
    p.add_argument("--y-score", help="score column(s), comma-separated (one per class)")
    p.add_argument("--sample-weight", help="column of sample weights")
    p.add_argument("--task", default="binary",
                   choices=("binary", "multiclass", "multilabel", "regression"))
    p.add_argument("--num-classes", type=int, help="classes of a multiclass task")
    p.add_argument("--metrics", help="comma-separated metric names (default: per task)")
    p.add_argument("--average", help="average of the per-class metrics (macro, micro, ...)")
    p.add_argument("--thresholds", type=int, default=offline.DEFAULT_BINS,
                   help="bins over [0, 1] for the ranking metrics (default 4096); results "
                   "carry their error bound")
    p.add_argument("--exact", action="store_true",
                   help="exact ranking metrics (buffers every score: memory grows with data)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="scores >= threshold are positive for the label metrics")
    p.add_argument("--k", type=int, default=2, help="k of top_k")
    p.add_argument("--batch-size", type=int, default=2_000_000, help="rows per batch")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--out", help="also write the JSON result to this file (atomically)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.add_argument("--dask-scheduler", metavar="ADDRESS",
                   help="compute on a Dask cluster (Parquet or CSV files)")
    p.add_argument("--backend", default=None, help="reference, cpu or cuda (default: auto)")
    p.set_defaults(func=score)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="gpumetrics", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="score synthetic model checkpoints in one batched launch")
    p.add_argument("--samples", type=int, default=1_000_000)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--checkpoints", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backend", default=None, help="reference, cpu or cuda (default: auto)")
    p.set_defaults(func=demo)
    _add_score_parser(sub)
    p = sub.add_parser("info", help="show versions and the backends that can run here")
    p.set_defaults(func=info)
    args = parser.parse_args(argv)
    for name in ("samples", "classes", "checkpoints", "batch_size", "k", "thresholds"):
        if getattr(args, name, 2) < 1 or (name == "thresholds" and args.thresholds < 2):
            parser.error(f"--{name.replace('_', '-')} must be a positive integer"
                         + (" of at least 2 bins" if name == "thresholds" else ""))
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
