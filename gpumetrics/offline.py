"""Offline scoring of prediction files larger than memory: Parquet (row group by row
group), CSV (block by block) and ``.npy`` (memory-mapped), streamed into one ``MetricSet``.

Memory stays bounded by the batch size (plus the exact-mode score buffers, which binned
ranking metrics avoid): a batch is read while the previous one is counted, and nothing else
of a file is held.
"""

from __future__ import annotations

import inspect
import os
import queue
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpumetrics import metrics as M

TASKS = ("binary", "multiclass", "multilabel", "regression")
DEFAULT_BINS = 4096


class ScoreError(Exception):
    """Bad input, reported as one line naming the file and where in it."""


# --- metric names --------------------------------------------------------------------------


def _label_metric(cls, **fixed):
    def make(opts):
        kw = dict(fixed)
        if opts.task == "multilabel":
            kw["num_labels"] = opts.size
        elif opts.task == "multiclass":
            kw["num_classes"] = opts.size
        if opts.average is not None and "average" in inspect.signature(cls).parameters:
            kw["average"] = opts.average
        return cls(opts.task, **kw)
    return make


def _ranking_metric(cls):
    def make(opts):
        kw = {"thresholds": None if opts.exact else opts.thresholds}
        if opts.task == "multilabel":
            kw["num_labels"] = opts.size
        elif opts.task == "multiclass":
            kw["num_classes"] = opts.size
        if opts.average is not None:
            kw["average"] = opts.average
        return cls(opts.task, **kw)
    return make


def _regression_metric(cls):
    return lambda opts: cls(num_outputs=opts.size)


METRIC_NAMES = {
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
    "log_loss": lambda o: M.LogLoss(num_classes=o.size if o.task == "multiclass" else 2),
    "cross_entropy": lambda o: M.CrossEntropy(num_classes=o.size),
    "mse": _regression_metric(M.MeanSquaredError),
    "rmse": _regression_metric(M.RootMeanSquaredError),
    "mae": _regression_metric(M.MeanAbsoluteError),
    "mape": _regression_metric(M.MeanAbsolutePercentageError),
    "r2": _regression_metric(M.R2Score),
    "explained_variance": _regression_metric(M.ExplainedVariance),
    "pearson": _regression_metric(M.PearsonCorrCoef),
    "max_error": _regression_metric(M.MaxError),
}
"""Metric names of the command line, and how each is built."""

SCORE_ONLY = {"top_k", "auroc", "average_precision", "log_loss", "cross_entropy"}
REGRESSION = {"mse", "rmse", "mae", "mape", "r2", "explained_variance", "pearson", "max_error"}


def default_metrics(task: str, scores: bool) -> list[str]:
    if task == "regression":
        return ["mse", "rmse", "mae", "r2", "pearson"]
    if task == "binary":
        return (["accuracy", "f1", "auroc", "average_precision"] if scores
                else ["accuracy", "precision", "recall", "f1", "mcc"])
    if task == "multiclass":
        base = ["accuracy", "balanced_accuracy", "f1", "mcc", "kappa"]
        return base + (["auroc", "top_k"] if scores else [])
    return ["accuracy", "hamming_loss", "f1"] + (["auroc"] if scores else [])


@dataclass
class Options:
    task: str = "binary"
    size: int = 2  # classes, labels or outputs
    average: str | None = None
    thresholds: int = DEFAULT_BINS
    exact: bool = False
    k: int = 2
    threshold: float = 0.5
    backend: str | None = None


def build_metrics(names: list[str], opts: Options, scores: bool) -> M.MetricSet:
    """One ``MetricSet`` for the named metrics: states are shared between them."""
    unknown = [n for n in names if n not in METRIC_NAMES]
    if unknown:
        raise ScoreError(f"unknown metrics {unknown}; choose from {sorted(METRIC_NAMES)}")
    for name in names:
        if name in SCORE_ONLY and not scores:
            raise ScoreError(f"metric {name!r} needs scores: pass --y-score instead of --y-pred")
        if (name in REGRESSION) != (opts.task == "regression"):
            raise ScoreError(f"metric {name!r} does not apply to --task {opts.task}")
    try:
        made = {name: METRIC_NAMES[name](opts) for name in names}
        return M.MetricSet(made, backend=opts.backend, threshold=opts.threshold)
    except ValueError as exc:
        raise ScoreError(str(exc)) from None


# --- readers -------------------------------------------------------------------------------


@dataclass
class Batch:
    where: str  # "row group 3 (rows 3000000-3999999)"
    columns: dict[str, np.ndarray]
    rows: int


def _pyarrow():
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ScoreError("reading Parquet and CSV needs pyarrow: pip install "
                         "'gpumetrics[io]'") from None
    import pyarrow.csv
    import pyarrow.parquet

    return pyarrow


def _column(batch, name: str) -> np.ndarray:
    column = batch.column(name)
    if column.null_count:
        raise ValueError(f"column {name!r} has {column.null_count} missing values")
    values = column.to_numpy(zero_copy_only=False)
    if values.dtype.kind not in "biuf":
        raise ValueError(f"column {name!r} has type {column.type}; numbers are expected")
    return values


def _parquet(path: Path, columns: list[str], batch_size: int) -> Iterator[Batch]:
    pa = _pyarrow()
    try:
        file = pa.parquet.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise ScoreError(f"{path}: not a readable Parquet file ({exc})") from None
    names = file.schema_arrow.names
    missing = [c for c in columns if c not in names]
    if missing:
        raise ScoreError(f"{path}: no column {missing[0]!r}; the file has {names}")
    start = 0
    for group in range(file.num_row_groups):
        rows = file.metadata.row_group(group).num_rows
        where = f"row group {group} (rows {start}-{start + rows - 1})"
        try:
            for record in file.iter_batches(batch_size=batch_size, row_groups=[group],
                                            columns=columns, use_threads=True):
                yield Batch(where, {c: _column(record, c) for c in columns}, record.num_rows)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise ScoreError(f"{path}: {where}: {exc}") from None
        start += rows


def _csv(path: Path, columns: list[str], batch_size: int) -> Iterator[Batch]:
    pa = _pyarrow()
    options = pa.csv.ConvertOptions(include_columns=columns)
    read = pa.csv.ReadOptions(block_size=max(1 << 20, min(batch_size * 32, 1 << 28)))
    try:
        reader = pa.csv.open_csv(path, read_options=read, convert_options=options)
    except (pa.ArrowException, OSError) as exc:
        text = str(exc)
        if "include_columns" in text or "not found" in text.lower():
            raise ScoreError(f"{path}: a column of {columns} is missing ({text})") from None
        raise ScoreError(f"{path}: not a readable CSV file ({text})") from None
    start = 0
    while True:
        try:
            record = reader.read_next_batch()
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            raise ScoreError(f"{path}: rows from {start}: {exc}") from None
        where = f"rows {start}-{start + record.num_rows - 1}"
        try:
            yield Batch(where, {c: _column(record, c) for c in columns}, record.num_rows)
        except ValueError as exc:
            raise ScoreError(f"{path}: {where}: {exc}") from None
        start += record.num_rows


def _npy(path: Path, columns: list[str], batch_size: int) -> Iterator[Batch]:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ScoreError(f"{path}: not a readable .npy file ({exc})") from None
    if array.dtype.names:
        missing = [c for c in columns if c not in array.dtype.names]
        if missing:
            raise ScoreError(f"{path}: no field {missing[0]!r}; the array has "
                             f"{list(array.dtype.names)}")

        def take(part, c):
            return np.ascontiguousarray(part[c])
    elif array.ndim == 2:
        try:
            index = {c: int(c) for c in columns}
        except ValueError:
            raise ScoreError(f"{path}: a 2-D array's columns are numbers 0..{array.shape[1] - 1}"
                             f"; got {columns}") from None
        bad = [c for c, i in index.items() if not 0 <= i < array.shape[1]]
        if bad:
            raise ScoreError(f"{path}: no column {bad[0]}; the array has {array.shape[1]}")

        def take(part, c):
            return np.ascontiguousarray(part[:, index[c]])
    else:
        raise ScoreError(f"{path}: expected a 2-D array or a structured array; got shape "
                         f"{array.shape}")
    if array.dtype.names is None and array.dtype.kind not in "biuf":
        raise ScoreError(f"{path}: dtype {array.dtype}; numbers are expected")
    for start in range(0, array.shape[0], batch_size):
        part = array[start:start + batch_size]
        where = f"rows {start}-{start + part.shape[0] - 1}"
        cols = {c: take(part, c) for c in columns}
        for c, v in cols.items():
            if v.dtype.kind not in "biuf":
                raise ScoreError(f"{path}: {where}: field {c!r} has dtype {v.dtype}; numbers "
                                 "are expected")
        yield Batch(where, cols, part.shape[0])


def reader_for(path: Path):
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return _parquet
    if name.endswith((".csv", ".csv.gz", ".tsv")):
        return _csv
    if name.endswith(".npy"):
        return _npy
    raise ScoreError(f"{path}: unknown format; expected .parquet, .pq, .csv or .npy")


def total_rows(path: Path) -> int | None:
    """Rows in a file when its metadata says so (Parquet, npy), else None."""
    try:
        if reader_for(path) is _parquet:
            return _pyarrow().parquet.ParquetFile(path).metadata.num_rows
        if reader_for(path) is _npy:
            return int(np.load(path, mmap_mode="r", allow_pickle=False).shape[0])
    except Exception:
        return None
    return None


# --- the scoring loop ----------------------------------------------------------------------


class Progress:
    """A one-line progress bar on stderr: rows done, share of the total, rows per second."""

    def __init__(self, total: int | None, enabled: bool, stream=sys.stderr):
        self.total, self.enabled, self.stream = total, enabled, stream
        self.done, self.start, self.last = 0, time.perf_counter(), 0.0

    def advance(self, rows: int):
        self.done += rows
        now = time.perf_counter()
        if self.enabled and now - self.last > 0.2:
            self.last = now
            self._draw(now)

    def _draw(self, now):
        rate = self.done / max(now - self.start, 1e-9)
        if self.total:
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(30 * share)
            text = (f"\r[{bar:<30}] {100 * share:5.1f}% {self.done:,}/{self.total:,} rows "
                    f"{rate / 1e6:.1f} M rows/s")
        else:
            text = f"\r{self.done:,} rows {rate / 1e6:.1f} M rows/s"
        self.stream.write(text)
        self.stream.flush()

    def close(self):
        if self.enabled:
            self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()


def _prefetch(batches: Iterator, depth: int = 2) -> Iterator:
    """Read the next batches in a thread while the current one is counted (pyarrow and
    NumPy release the GIL); at most ``depth`` batches wait, so memory stays bounded."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for item in batches:
                if stop.is_set():
                    return
                q.put(item)
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)


@dataclass
class Columns:
    y_true: str
    y_pred: list[str]  # one column of labels or scores, or several score columns
    sample_weight: str | None = None

    @property
    def all(self) -> list[str]:
        names = [self.y_true, *self.y_pred]
        if self.sample_weight:
            names.append(self.sample_weight)
        return list(dict.fromkeys(names))


def score_files(paths: list[Path], metrics: M.MetricSet, columns: Columns, *,
                batch_size: int = 2_000_000, progress: bool = False) -> int:
    """Stream every file into ``metrics``; returns the number of rows scored."""
    for path in paths:
        if not path.exists():
            raise ScoreError(f"{path}: no such file")
        reader_for(path)
    totals = [total_rows(p) for p in paths]
    bar = Progress(sum(totals) if all(t is not None for t in totals) else None, progress)
    rows = 0
    try:
        for path in paths:
            n_file = 0
            for batch in _prefetch(reader_for(path)(path, columns.all, batch_size)):
                cols = batch.columns
                pred = (cols[columns.y_pred[0]] if len(columns.y_pred) == 1
                        else np.column_stack([cols[c] for c in columns.y_pred]))
                weight = cols[columns.sample_weight] if columns.sample_weight else None
                try:
                    metrics.update(cols[columns.y_true], pred, sample_weight=weight)
                except ValueError as exc:
                    raise ScoreError(f"{path}: {batch.where}: {exc}") from None
                rows += batch.rows
                n_file += batch.rows
                bar.advance(batch.rows)
            if n_file == 0:
                raise ScoreError(f"{path}: the file holds no rows")
    finally:
        bar.close()
    return rows


def score_on_cluster(paths: list[Path], metrics: M.MetricSet, columns: Columns,
                     address: str) -> int:
    """Score Parquet or CSV files on a Dask cluster; returns the number of rows."""
    try:
        import dask.dataframe as dd
        from dask.distributed import Client
    except ImportError:
        raise ScoreError("--dask-scheduler needs Dask: pip install 'gpumetrics[dask]'") from None
    from gpumetrics import dask as gdask

    kinds = {reader_for(p) for p in paths}
    if kinds == {_parquet}:
        frame = dd.read_parquet([str(p) for p in paths], columns=columns.all)
    elif kinds == {_csv}:
        frame = dd.read_csv([str(p) for p in paths], usecols=columns.all)
    else:
        raise ScoreError("--dask-scheduler reads Parquet or CSV files (all of one kind)")
    with Client(address) as client:  # noqa: F841 - the active client runs the graph
        y_pred = columns.y_pred[0] if len(columns.y_pred) == 1 else columns.y_pred
        try:
            gdask.score_dataframe(metrics, frame, y_true=columns.y_true, y_pred=y_pred,
                                  sample_weight=columns.sample_weight)
        except ValueError as exc:
            raise ScoreError(str(exc)) from None
        return int(frame.shape[0].compute())


# --- results -------------------------------------------------------------------------------


def plain(value):
    """A result as JSON-ready Python values (a binned value as {value, bound})."""
    if isinstance(value, M._ranking.Binned):
        return {"value": plain(value.value), "bound": plain(value.bound)}
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    array = np.asarray(value)
    if array.ndim == 0:
        return float(array) if array.dtype.kind == "f" else int(array)
    return array.tolist()


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half a file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def table(results: dict) -> str:
    """Results as an aligned text table (matrices below their name)."""
    width = max(len(n) for n in results)
    lines = []
    for name, value in results.items():
        v = plain(value)
        if isinstance(v, dict):
            lines.append(f"{name:<{width}}  {v['value']:.6f}  (binned, |error| <= "
                         f"{v['bound']:.2e})" if isinstance(v["value"], float)
                         else f"{name:<{width}}  {v['value']}  (bound {v['bound']})")
        elif isinstance(v, list) and v and isinstance(v[0], list):
            lines.append(f"{name}:")
            lines.extend("  " + " ".join(f"{x:>10}" for x in row) for row in v)
        elif isinstance(v, float):
            lines.append(f"{name:<{width}}  {v:.6f}")
        else:
            lines.append(f"{name:<{width}}  {v}")
    return "\n".join(lines)
