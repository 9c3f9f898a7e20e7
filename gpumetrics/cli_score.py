"""The ``gpumetrics score`` command: the metric names it takes and how each is built
(``Options``, ``build_metrics``, ``default_metrics``), the ``Plan`` its arguments make
(task, metrics and columns; the task inferred from the columns when not given), the result
it prints (``report`` as JSON, ``table`` as text), and its flags (``add_parsers``) and run
(``score``: bad input is one line on stderr, exit code 2). The files are read and scored
by ``gpumetrics.scoring``.

    >>> p = plan(y_true="y", y_score="p0,p1,p2")
    >>> p.options.task, p.options.size, p.metrics
    ('multiclass', 3, ['accuracy', 'balanced_accuracy', 'f1', 'mcc', 'kappa', 'auroc', 'top_k'])
    >>> build_metrics(["auroc"], p.options, p.scores)  # doctest: +ELLIPSIS
    MetricSet(...)

Bad arguments raise ``ScoreError``, one line saying what is wrong.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpumetrics import metrics as M
from gpumetrics._files import unwritable, write_atomic
from gpumetrics.cli_args import backend_problem, positive
from gpumetrics.functional import Binned
from gpumetrics.scoring import (
    DEFAULT_BATCH,
    Columns,
    ScoreError,
    score_files,
    score_on_cluster,
)

TASKS = ("binary", "multiclass", "multilabel", "regression")
DEFAULT_BINS = 4096


# --- metric names --------------------------------------------------------------------------


def _task_sizes(opts) -> dict:
    """``num_classes`` / ``num_labels`` keywords of a classification metric."""
    if opts.task == "multilabel":
        return {"num_labels": opts.size}
    if opts.task == "multiclass":
        return {"num_classes": opts.size}
    return {}


def _average(opts) -> dict:
    """The ``average`` keyword when one was asked for (``"none"``: per-class values)."""
    if opts.average is None:
        return {}
    return {"average": None if opts.average == "none" else opts.average}


def _label_metric(cls, **fixed):
    """A metric of predicted labels (scores are turned into labels by the set)."""
    takes_average = "average" in inspect.signature(cls).parameters

    def make(opts):
        kw = {**fixed, **_task_sizes(opts), **(_average(opts) if takes_average else {})}
        return cls(opts.task, **kw)
    return make


def _ranking_metric(cls):
    """A ranking metric: binned over ``opts.thresholds`` bins, or exact."""
    def make(opts):
        kw = {"thresholds": None if opts.exact else opts.thresholds, **_task_sizes(opts),
              **_average(opts)}
        return cls(opts.task, **kw)
    return make


def _regression_metric(cls):
    return lambda opts: cls(num_outputs=opts.size)


def _classes(opts) -> int:
    return opts.size if opts.task == "multiclass" else 2


METRIC_NAMES: dict[str, Callable] = {
    "accuracy": _label_metric(M.Accuracy),
    "hamming_loss": _label_metric(M.HammingLoss),
    "precision": _label_metric(M.Precision),
    "recall": _label_metric(M.Recall),
    "f1": _label_metric(M.F1Score),
    "specificity": _label_metric(M.Specificity),
    "jaccard": _label_metric(M.JaccardIndex),
    "balanced_accuracy": _label_metric(M.BalancedAccuracy),
    "mcc": _label_metric(M.MatthewsCorrCoef),
    "kappa": _label_metric(M.CohenKappa),
    "confusion_matrix": _label_metric(M.ConfusionMatrix),
    "top_k": lambda o: M.TopKAccuracy(o.k, num_classes=o.size),
    "auroc": _ranking_metric(M.AUROC),
    "average_precision": _ranking_metric(M.AveragePrecision),
    "log_loss": lambda o: M.LogLoss(num_classes=_classes(o)),
    "cross_entropy": lambda o: M.CrossEntropy(num_classes=_classes(o)),
    "mse": _regression_metric(M.MeanSquaredError),
    "rmse": _regression_metric(M.RootMeanSquaredError),
    "mae": _regression_metric(M.MeanAbsoluteError),
    "mape": _regression_metric(M.MeanAbsolutePercentageError),
    "r2": _regression_metric(M.R2Score),
    "explained_variance": _regression_metric(M.ExplainedVariance),
    "pearson": _regression_metric(M.PearsonCorrCoef),
    "max_error": _regression_metric(M.MaxError),
}
"""Metric names of the command line, and how each is built from ``Options``."""

SCORE_ONLY = {"top_k", "auroc", "average_precision", "log_loss", "cross_entropy"}
RANKING = {"auroc", "average_precision"}
REGRESSION = {"mse", "rmse", "mae", "mape", "r2", "explained_variance", "pearson", "max_error"}


def default_metrics(task: str, scores: bool) -> list[str]:
    """The metrics scored when ``--metrics`` is not given."""
    if task == "regression":
        return ["mse", "rmse", "mae", "r2", "pearson"]
    if task == "binary":
        return (["accuracy", "f1", "auroc", "average_precision", "log_loss"] if scores
                else ["accuracy", "precision", "recall", "f1", "mcc"])
    if task == "multiclass":
        base = ["accuracy", "balanced_accuracy", "f1", "mcc", "kappa"]
        return base + (["auroc", "top_k"] if scores else [])
    return ["accuracy", "hamming_loss", "f1"] + (["auroc"] if scores else [])


@dataclass
class Options:
    """How the metrics are built: task, size of the label axis, averaging and bins."""

    task: str = "binary"
    size: int = 2  # classes (multiclass), labels (multilabel) or outputs (regression)
    average: str | None = None  # None: each metric's default; "none": per class
    thresholds: int = DEFAULT_BINS
    exact: bool = False
    k: int = 2
    threshold: float = 0.5
    backend: str | None = None


def build_metrics(names: list[str], opts: Options, scores: bool) -> M.MetricSet:
    """One ``MetricSet`` for the named metrics, so that they share their states."""
    unknown = [n for n in names if n not in METRIC_NAMES]
    if unknown:
        raise ScoreError(f"unknown metrics {unknown}; choose from {', '.join(METRIC_NAMES)}")
    if len(set(names)) < len(names):
        raise ScoreError(f"a metric is named twice in {names}")
    for name in names:
        if name in SCORE_ONLY and not scores:
            raise ScoreError(f"metric {name!r} needs scores: pass --y-score instead of --y-pred")
        if (name in REGRESSION) != (opts.task == "regression"):
            raise ScoreError(f"metric {name!r} does not apply to --task {opts.task}")
    try:
        made = {name: METRIC_NAMES[name](opts) for name in names}
        return M.MetricSet(made, backend=opts.backend, threshold=opts.threshold)
    except (ValueError, RuntimeError) as exc:
        raise ScoreError(str(exc)) from None


# --- the plan of the arguments -------------------------------------------------------------


@dataclass
class Plan:
    """What to score: metric names, how to build them, and the columns to read."""

    metrics: list[str]
    options: Options
    columns: Columns
    scores: bool  # predictions are scores (--y-score), not labels (--y-pred)


def _names(text: str | None) -> list[str]:
    return [name for name in (text or "").split(",") if name]


def _label_axis(task: str, pred: list[str], scores: bool, num_classes: int | None) -> int:
    """Classes (multiclass), labels (multilabel) or outputs (regression)."""
    if task == "binary":
        return 2
    if task != "multiclass":
        return len(pred)
    size = num_classes or (len(pred) if scores and len(pred) > 1 else None)
    if size is None:
        raise ScoreError("--task multiclass needs --num-classes (or one --y-score column per "
                         "class)")
    if scores and len(pred) > 1 and len(pred) != size:
        raise ScoreError(f"--num-classes is {size} but --y-score names {len(pred)} columns")
    return size


def plan(*, y_true: str, y_pred: str | None = None, y_score: str | None = None,
         sample_weight: str | None = None, task: str | None = None,
         num_classes: int | None = None, metrics: str | None = None, **options) -> Plan:
    """The ``Plan`` of the command-line arguments (column and metric names comma-separated);
    ``options`` are the other fields of ``Options``. Without a task, the columns say it:
    several score columns for one target column are multiclass, as many target columns
    multilabel; labels with ``num_classes`` above 2 are multiclass; else binary."""
    if (y_pred is None) == (y_score is None):
        raise ScoreError("pass exactly one of --y-pred (labels, or one score column) and "
                         "--y-score (score columns)")
    if task is None:
        n_pred, n_true = len(_names(y_score or y_pred)), len(_names(y_true))
        if n_pred > 1:
            task = "multilabel" if n_true == n_pred else "multiclass"
        else:
            task = "multiclass" if (num_classes or 2) > 2 else "binary"
    if task not in TASKS:
        raise ScoreError(f"--task must be one of {TASKS}; got {task!r}")
    scores = y_score is not None
    pred, true = _names(y_score or y_pred), _names(y_true)
    if not pred or not true:
        raise ScoreError("--y-true and --y-pred/--y-score need column names")
    size = _label_axis(task, pred, scores, num_classes)
    expected = 1 if task in ("binary", "multiclass") else len(pred)
    if len(true) != expected:
        raise ScoreError(f"--task {task} needs {expected} --y-true column"
                         f"{'s' if expected > 1 else ''}; got {len(true)}")
    regression = task == "regression"
    floats = [*(true if regression else []), *(pred if scores or regression else []),
              *([sample_weight] if sample_weight else [])]
    return Plan(metrics=_names(metrics) or default_metrics(task, scores),
                options=Options(task=task, size=size, **options),
                columns=Columns(true, pred, sample_weight, floats=floats), scores=scores)


# --- results -------------------------------------------------------------------------------


def plain(value):
    """A metric's value as JSON-ready Python values: lists for arrays (and tuples of
    arrays), None for an undefined (NaN or infinite) value."""
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    array = np.asarray(value)
    if array.ndim > 0:
        return [plain(v) for v in array]
    if array.dtype.kind in "biu":
        return int(array)
    number = float(array)
    return number if np.isfinite(number) else None


def report(results: dict, *, rows: int, paths: list, seconds: float, task: str,
           bins: int | None) -> dict:
    """The JSON report: plain values in ``metrics``, and the error bound of every binned
    value in ``binned``."""
    values, bounds = {}, {}
    for name, value in results.items():
        if isinstance(value, Binned):
            values[name], bounds[name] = plain(value.value), plain(value.bound)
        else:
            values[name] = plain(value)
    return {"metrics": values, "rows": rows, "files": [str(p) for p in paths],
            "seconds": round(seconds, 4), "task": task, "binned": bounds,
            "bins": bins if bounds else None}


def _number(x) -> str:
    if x is None:
        return "undefined"
    if isinstance(x, float):
        return f"{x:.6f}" if x == x and 1e-4 <= abs(x) < 1e6 or x == 0 else f"{x:.6g}"
    return str(x)


def _cell(v, number=_number) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_cell(x, number) for x in v) + "]"
    return number(v)


def table(result: dict) -> str:
    """The report as an aligned text table: metric, value and the bound of binned values;
    matrices printed under their name. A footer gives rows, files, seconds and rows/s."""
    metrics, bounds = result["metrics"], result["binned"]
    width = max(len("metric"), *map(len, metrics))
    lines = [f"{'metric':<{width}}  {'value':>12}" + ("  bound" if bounds else "")]
    for name, v in metrics.items():
        if isinstance(v, list) and v and all(isinstance(r, list) for r in v):
            lines.append(f"{name:<{width}}")
            cells = [[_number(x) for x in row] for row in v]
            cw = max(len(c) for row in cells for c in row)
            lines.extend(" " * (width + 2) + "  ".join(f"{c:>{cw}}" for c in row)
                         for row in cells)
            continue
        bound = f"  {_cell(bounds[name], '{:.2e}'.format)}" if name in bounds else ""
        lines.append(f"{name:<{width}}  {_cell(v):>12}{bound}".rstrip())
    rows, seconds = result["rows"], result["seconds"]
    files = result["files"]
    lines.append("")
    if bounds:
        lines.append(f"binned over {result['bins']} equal bins of [0, 1]: |value - exact| "
                     "<= bound (--exact for exact values)")
    lines.append(f"{rows:,} rows from {len(files)} file{'s' if len(files) != 1 else ''} "
                 f"({', '.join(files)}) in {seconds:.2f} s, "
                 f"{rows / max(seconds, 1e-9) / 1e6:.2f} M rows/s")
    return "\n".join(lines)


@contextlib.contextmanager
def one_line_warnings(prefix: str, stream=None):
    """Show warnings raised inside as one line each: ``<prefix>: warning: <message>``."""
    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        (stream or sys.stderr).write(f"{prefix}: warning: {text}\n")

    with warnings.catch_warnings():  # restores showwarning on the way out
        warnings.showwarning = show
        yield


# --- the command ---------------------------------------------------------------------------


def _fail(message: str) -> int:
    """Report bad input as one printable line on stderr; exit code 2."""
    text = " ".join(str(message).split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    print(f"gpumetrics score: error: {text}", file=sys.stderr)
    return 2


def score(args) -> int:
    """Score prediction files; bad input is one line on stderr and exit code 2."""
    from gpumetrics.parquet_checksums import unchecked_parquet

    problem = backend_problem(args.backend)  # before any file is read
    if problem:
        return _fail(problem)
    paths = [Path(p) for p in args.paths]
    out = Path(args.out) if args.out else None
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    start = time.perf_counter()
    with one_line_warnings("gpumetrics score"):
        try:
            score_plan = plan(
                y_true=args.y_true, y_pred=args.y_pred, y_score=args.y_score,
                sample_weight=args.sample_weight, task=args.task, num_classes=args.num_classes,
                metrics=args.metrics, average=args.average, thresholds=args.thresholds,
                exact=args.exact, k=args.k, threshold=args.threshold, backend=args.backend)
            metrics = build_metrics(score_plan.metrics, score_plan.options, score_plan.scores)
            if out and (problem := unwritable(out)):
                return _fail(f"{out}: cannot write the result: {problem}")
            if args.exact and RANKING & set(score_plan.metrics):
                print("gpumetrics score: warning: --exact keeps every score in memory: memory "
                      "grows with the data (the default binned mode does not)", file=sys.stderr)
            if args.dask_scheduler:
                results, rows = score_on_cluster(paths, metrics, score_plan.columns,
                                                 args.dask_scheduler)
            else:
                rows = score_files(paths, metrics, score_plan.columns,
                                   batch_size=args.batch_size, progress=progress,
                                   progress_delay=0.5 if args.progress is None else 0)
                results = metrics.compute()
        except ScoreError as exc:
            return _fail(str(exc))
        except (ValueError, ZeroDivisionError) as exc:  # raised by compute() from the states
            return _fail(f"{', '.join(map(str, paths))}: {exc}")
        except KeyboardInterrupt:
            _fail("interrupted")
            return 130
    if args.dask_scheduler and any(p.suffix.lower() == ".parquet" for p in paths):
        print("gpumetrics score: warning: --dask-scheduler: the cluster's workers do not "
              "verify Parquet page checksums", file=sys.stderr)
    for path in ([] if args.dask_scheduler else unchecked_parquet(paths)):
        print(f"gpumetrics score: warning: {path}: its pages carry no checksums, so "
              "corruption inside a page could not be detected (write it with pyarrow's "
              "write_page_checksum=True)", file=sys.stderr)
    result = report(results, rows=rows, paths=paths, task=score_plan.options.task,
                    seconds=time.perf_counter() - start,
                    bins=None if args.exact else args.thresholds)
    text = json.dumps(result, indent=1)
    if out:
        try:
            write_atomic(out, text + "\n")
        except OSError as exc:
            return _fail(f"{out}: cannot write the result ({exc})")
    print(text if args.json else table(result))
    return 0


def add_parsers(sub) -> None:
    """The ``score`` subcommand."""
    from gpumetrics.dispatch import BACKENDS

    p = sub.add_parser(
        "score", help="score prediction files larger than memory",
        description="Score Parquet, CSV or .npy prediction files, streamed in bounded memory. "
        "Several files are scored as one dataset. Ranking metrics are binned (their error "
        "bound is printed) unless --exact.")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help=".parquet/.pq, .csv/.csv.gz or .npy (2-D: columns 0, 1, ...)")
    p.add_argument("--y-true", required=True, metavar="COL",
                   help="column of true labels or targets (multilabel: one per label)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--y-pred", metavar="COL",
                       help="column of predicted labels (or one score column)")
    group.add_argument("--y-score", metavar="COL[,COL...]",
                       help="score column(s), e.g. one probability per class")
    p.add_argument("--sample-weight", metavar="COL", help="column of sample weights")
    p.add_argument("--task", default=None, choices=TASKS,
                   help="default: from the columns (several --y-score columns for one "
                   "--y-true: multiclass; as many --y-true columns: multilabel; "
                   "--num-classes above 2: multiclass; else binary)")
    p.add_argument("--num-classes", type=positive(2), metavar="C",
                   help="classes of a multiclass task")
    p.add_argument("--metrics", metavar="NAME[,NAME...]",
                   help="metrics to compute (default: per task); names: accuracy, f1, "
                   "precision, recall, specificity, jaccard, balanced_accuracy, mcc, kappa, "
                   "confusion_matrix, hamming_loss, top_k, auroc, average_precision, log_loss, "
                   "cross_entropy, mse, rmse, mae, mape, r2, explained_variance, pearson, "
                   "max_error")
    p.add_argument("--average",
                   choices=("binary", "micro", "macro", "weighted", "samples", "none"),
                   help="average of precision, recall, f1, jaccard, specificity, auroc, "
                   "average_precision (none: one value per class)")
    p.add_argument("--thresholds", type=positive(2), default=DEFAULT_BINS, metavar="B",
                   help="equal bins over [0, 1] of the ranking metrics (default 4096): "
                   "bounded memory; every value comes with its error bound")
    p.add_argument("--exact", action="store_true",
                   help="exact ranking metrics (keeps every score: memory grows with data)")
    p.add_argument("--threshold", type=float, default=0.5, metavar="T",
                   help="scores >= T are positive for the label metrics (default 0.5)")
    p.add_argument("--k", type=positive(), default=2, help="k of top_k (default 2)")
    p.add_argument("--batch-size", type=positive(), default=DEFAULT_BATCH, metavar="N",
                   help="rows per batch (default 2,000,000)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--out", metavar="FILE",
                   help="also write the JSON result to FILE (atomically)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.add_argument("--dask-scheduler", metavar="ADDRESS",
                   help="compute on the Dask cluster at ADDRESS (Parquet or CSV files)")
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="kernel backend (default: the fastest that runs here)")
    p.set_defaults(func=score)
