"""Offline scoring of prediction files larger than memory: Parquet (row group by row
group), CSV (block by block) and ``.npy`` (memory-mapped, slice by slice), streamed into one
``MetricSet``. Several files are scored together as the shards of one dataset.

Memory stays bounded by the batch size (plus the exact-mode score buffers, which the
default binned ranking metrics avoid): the next batch is read while the current one is
counted, and nothing else of a file is held.

    >>> import numpy as np, os, tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, "p.npy")  # columns 0 (y_true) and 1 (scores)
    >>> np.save(path, np.array([[0, 0.1], [1, 0.8], [1, 0.4], [0, 0.3]]))
    >>> metrics = build_metrics(["accuracy", "auroc"], Options(task="binary"), scores=True)
    >>> score_files([path], metrics, Columns(["0"], ["1"]))
    4
    >>> result = metrics.compute()
    >>> float(result["accuracy"]), float(result["auroc"].value)
    (0.75, 1.0)
    >>> folder.cleanup()

Bad input raises ``ScoreError`` with one line naming the file and where in it::

    <file>: row group <i> (rows <a>-<b>): <what is wrong>
"""

from __future__ import annotations

import contextlib
import gzip
import inspect
import mmap
import os
import queue
import re
import sys
import tempfile
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gpumetrics import metrics as M
from gpumetrics.functional import Binned

TASKS = ("binary", "multiclass", "multilabel", "regression")
DEFAULT_BINS = 4096
DEFAULT_BATCH = 2_000_000
CSV_BLOCK = 4 << 20  # bytes of CSV text per batch: pyarrow's reader holds ~32 blocks ahead


class ScoreError(Exception):
    """Bad input, reported as one line naming the file and where in it."""


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


# --- columns -------------------------------------------------------------------------------


@dataclass
class Columns:
    """The columns read from every file: ``y_true`` and ``y_pred`` are one column each,
    or several (stacked into an ``(n, k)`` array: per-class scores, multilabel targets)."""

    y_true: list[str]
    y_pred: list[str]
    sample_weight: str | None = None
    floats: list[str] = field(default_factory=list)  # read as float64 from CSV

    @property
    def all(self) -> list[str]:
        """Every column to read, once each."""
        names = [*self.y_true, *self.y_pred]
        if self.sample_weight:
            names.append(self.sample_weight)
        return list(dict.fromkeys(names))

    def arrays(self, values: dict[str, np.ndarray]):
        """``(y_true, y_pred, sample_weight)`` of one batch's columns."""
        def stack(names):
            if len(names) == 1:
                return values[names[0]]
            return np.column_stack([values[c] for c in names])

        weight = values[self.sample_weight] if self.sample_weight else None
        return stack(self.y_true), stack(self.y_pred), weight

    def describe(self, message: str) -> str:
        """``message`` with the column names after the first mention of each argument."""
        for arg, names in (("y_true", self.y_true), ("y_pred", self.y_pred),
                           ("sample_weight", [self.sample_weight] if self.sample_weight
                            else [])):
            if names:
                named = f"{arg} (column {','.join(names)})"
                message = re.sub(rf"\b{arg}\b", lambda _, named=named: named, message, count=1)
        if "probabilities" in message:
            message += " (log_loss takes probabilities: leave it out of --metrics for raw scores)"
        return message


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


# --- readers -------------------------------------------------------------------------------


@dataclass
class Batch:
    """Columns of consecutive rows of one file, and where they come from."""

    where: str  # "row group 3 (rows 3000000-3999999)" or "rows 0-999999"
    columns: dict[str, np.ndarray]
    rows: int
    done: float  # share of the file read so far, for the progress bar


def _pyarrow():
    """pyarrow with its CSV and Parquet modules, imported on first use."""
    try:
        import pyarrow
        import pyarrow.csv
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ScoreError("reading Parquet and CSV files needs pyarrow: pip install "
                         "'gpumetrics[io]'") from None
    return pyarrow


_ARROW_NUMPY = {
    "int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
    "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
    "halffloat": np.float16, "float": np.float32, "double": np.float64,
}


def _to_numpy(array, name: str) -> np.ndarray:
    """A numeric Arrow array as NumPy, without a copy (and without importing pandas,
    which pyarrow's own ``to_numpy`` does)."""
    if array.null_count:
        raise ValueError(f"column {name!r} has {array.null_count} missing values")
    kind = str(array.type)
    n, offset = len(array), array.offset
    if kind == "bool":
        bits = np.frombuffer(array.buffers()[1], np.uint8)
        return np.unpackbits(bits, bitorder="little")[offset:offset + n].view(np.bool_)
    dtype = _ARROW_NUMPY.get(kind)
    if dtype is None:
        raise ValueError(f"column {name!r} has type {kind}; numbers are expected")
    return np.frombuffer(array.buffers()[1], dtype, count=n, offset=offset * dtype().itemsize)


def _parquet(path: Path, columns: Columns, batch_size: int) -> Iterator[Batch]:
    """Batches of a Parquet file, row group by row group (only the needed columns)."""
    pa = _pyarrow()
    try:  # a page whose checksum does not match its bytes is an error, never a value
        file = pa.parquet.ParquetFile(path, page_checksum_verification=True)
        names = file.schema_arrow.names
    except (pa.ArrowException, OSError) as exc:
        raise ScoreError(f"{path}: not a readable Parquet file ({exc})") from None
    missing = [c for c in columns.all if c not in names]
    if missing:
        raise ScoreError(f"{path}: no column {missing[0]!r}; the file has {names}")
    total = max(file.metadata.num_rows, 1)
    start = 0
    for group in range(file.num_row_groups):
        rows = file.metadata.row_group(group).num_rows
        where = f"row group {group} (rows {start}-{start + rows - 1})"
        read = start
        try:
            for record in file.iter_batches(batch_size=batch_size, row_groups=[group],
                                            columns=columns.all, use_threads=True):
                values = {c: _to_numpy(record.column(c), c) for c in columns.all}
                read += record.num_rows
                yield Batch(where, values, record.num_rows, read / total)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise ScoreError(f"{path}: {where}: {exc}") from None
        start += rows


def unchecked_parquet(paths: list[Path]) -> list[Path]:
    """The Parquet files among ``paths`` whose pages carry no checksum (CRC): corruption
    inside their pages cannot be detected while reading them."""
    return [p for p in map(Path, paths) if reader_for(p) is _parquet
            and _has_page_checksums(p) is False]


def _has_page_checksums(path: Path) -> bool | None:
    """Whether the first data page of the file carries a CRC (writers set it for every data
    page or for none), read from its Thrift page header; None when that cannot be told."""
    try:
        meta = _pyarrow().parquet.ParquetFile(path).metadata
        if meta.num_row_groups == 0 or meta.num_columns == 0:
            return None
        chunk = meta.row_group(0).column(0)
        with path.open("rb") as f:  # a data page: some writers leave dictionaries unchecked
            f.seek(chunk.data_page_offset)
            header = f.read(64)
    except (OSError, ValueError, _pyarrow().ArrowException):
        return None
    return _thrift_has_field_4(header)


def _thrift_has_field_4(header: bytes) -> bool | None:
    """Whether a Thrift compact-protocol PageHeader sets field 4 (``crc``): fields 1-3 are
    i32 (type, uncompressed and compressed sizes) and fields come in increasing order."""
    pos, field = 0, 0
    while pos < len(header):
        byte = header[pos]
        pos += 1
        kind, delta = byte & 0x0F, byte >> 4
        if byte == 0 or delta == 0:  # end of struct, or a long-form field id: not a writer's
            return None if byte else False
        field += delta
        if field >= 4:
            return field == 4 and kind == 5
        if kind != 5:  # fields 1-3 are i32
            return None
        while pos < len(header) and header[pos] & 0x80:  # skip the varint
            pos += 1
        pos += 1
    return None


def _csv_options(path: Path, columns: Columns):
    """Read, parse and convert options of a CSV file: its batches are blocks of
    ``CSV_BLOCK`` bytes of text, which bounds memory."""
    pa = _pyarrow()
    tab = path.name.lower().endswith((".tsv", ".tsv.gz"))
    parse = pa.csv.ParseOptions(delimiter="\t" if tab else ",")
    read = pa.csv.ReadOptions(block_size=CSV_BLOCK)
    convert = pa.csv.ConvertOptions(
        include_columns=columns.all,
        column_types={c: pa.float64() for c in columns.floats},
    )
    return read, parse, convert


def _open_raw(path: Path):
    """``(raw file, stream to parse)``: the stream decompresses ``.gz`` files, and the
    raw file's position says how much of the file was read."""
    pa = _pyarrow()
    raw = pa.OSFile(str(path))
    if path.name.lower().endswith(".gz"):
        return raw, pa.CompressedInputStream(raw, "gzip")
    return raw, raw


def _csv_header(path: Path, columns: Columns) -> list[str]:
    """Column names of a CSV file (read from its first block)."""
    pa = _pyarrow()
    read, parse, _ = _csv_options(path, columns)
    raw, stream = _open_raw(path)
    try:
        return pa.csv.open_csv(stream, read_options=read, parse_options=parse).schema.names
    except (pa.ArrowException, OSError) as exc:
        if "Empty CSV" in str(exc):
            raise ScoreError(f"{path}: the file is empty") from None
        raise ScoreError(f"{path}: not a readable CSV file ({exc})") from None
    finally:
        raw.close()


def _csv(path: Path, columns: Columns, batch_size: int) -> Iterator[Batch]:
    """Batches of a CSV file (``.csv``, ``.tsv``, optionally gzipped), block by block
    (``batch_size`` does not apply: see ``CSV_BLOCK``)."""
    pa = _pyarrow()
    read, parse, convert = _csv_options(path, columns)
    _check_columns(path, columns)
    size = max(path.stat().st_size, 1)
    raw, stream = _open_raw(path)
    try:
        try:  # the reader converts its first block here
            reader = pa.csv.open_csv(stream, read_options=read, parse_options=parse,
                                     convert_options=convert)
        except (pa.ArrowException, OSError) as exc:
            raise ScoreError(f"{path}: rows from 0: {exc}") from None
        start = 0
        while True:
            try:
                record = reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowException, OSError) as exc:
                raise ScoreError(f"{path}: rows from {start}: {exc}") from None
            if record.num_rows == 0:
                continue
            where = f"rows {start}-{start + record.num_rows - 1}"
            try:
                values = {c: _to_numpy(record.column(c), c) for c in columns.all}
            except ValueError as exc:
                raise ScoreError(f"{path}: {where}: {exc}") from None
            start += record.num_rows
            yield Batch(where, values, record.num_rows, min(raw.tell() / size, 1.0))
    finally:
        raw.close()


def _npy_columns(path: Path, array: np.ndarray, columns: Columns) -> Callable:
    """``take(part, name)``: one column of a slice of a structured or 2-D array."""
    if array.dtype.names:
        missing = [c for c in columns.all if c not in array.dtype.names]
        if missing:
            raise ScoreError(f"{path}: no field {missing[0]!r}; the array has "
                             f"{list(array.dtype.names)}")
        for c in columns.all:
            if array.dtype[c].kind not in "biuf" or array.dtype[c].shape:
                raise ScoreError(f"{path}: field {c!r} has dtype {array.dtype[c]}; numbers "
                                 "are expected")
        return lambda part, c: np.ascontiguousarray(part[c])
    if array.ndim != 2:
        raise ScoreError(f"{path}: expected a 2-D array or a 1-D structured array; got shape "
                         f"{array.shape}")
    if array.dtype.kind not in "biuf":
        raise ScoreError(f"{path}: dtype {array.dtype}; numbers are expected")
    try:
        index = {c: int(c) for c in columns.all}
    except ValueError:
        raise ScoreError(f"{path}: the columns of a 2-D array are numbers 0..{array.shape[1] - 1}"
                         f"; got {columns.all}") from None
    bad = [c for c, i in index.items() if not 0 <= i < array.shape[1]]
    if bad:
        raise ScoreError(f"{path}: no column {bad[0]}; the array has {array.shape[1]} columns "
                         f"(0..{array.shape[1] - 1})")
    return lambda part, c: np.ascontiguousarray(part[:, index[c]])


def _release(array: np.ndarray, start: int, stop: int) -> None:
    """Drop the pages of rows ``start:stop`` of a memory-mapped array from this process
    (they stay in the page cache): without it the resident size grows to the file's."""
    mm = getattr(array, "_mmap", None)  # the mapping of an np.memmap
    if mm is None or not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return
    head = array.offset % mmap.ALLOCATIONGRANULARITY  # np.memmap maps from an aligned offset
    if array.flags.c_contiguous:
        spans = [(start * array.strides[0], stop * array.strides[0])]
    elif array.flags.f_contiguous and array.ndim == 2:
        column = array.shape[0] * array.itemsize
        spans = [(j * column + start * array.itemsize, j * column + stop * array.itemsize)
                 for j in range(array.shape[1])]
    else:
        return
    for lo, hi in spans:
        lo, hi = head + lo, head + hi
        aligned = lo - lo % mmap.PAGESIZE
        with contextlib.suppress(OSError, ValueError):
            mm.madvise(mmap.MADV_DONTNEED, aligned, hi - aligned)


def _npy(path: Path, columns: Columns, batch_size: int) -> Iterator[Batch]:
    """Batches of a memory-mapped ``.npy`` file, ``batch_size`` rows at a time; the pages
    of a batch are released once it is copied out."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ScoreError(f"{path}: not a readable .npy file ({exc})") from None
    take = _npy_columns(path, array, columns)
    n = array.shape[0]
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        where = f"rows {start}-{stop - 1}"
        try:
            values = {c: take(array[start:stop], c) for c in columns.all}
        except OSError as exc:  # a truncated file fails when its pages are read
            raise ScoreError(f"{path}: {where}: {exc}") from None
        _release(array, start, stop)
        yield Batch(where, values, stop - start, stop / n)


def reader_for(path: Path) -> Callable:
    """The reader of a file, chosen by its suffix."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return _parquet
    if name.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz")):
        return _csv
    if name.endswith(".npy"):
        return _npy
    raise ScoreError(f"{path}: unknown format; expected .parquet, .pq, .csv, .csv.gz or .npy")


def total_rows(path: Path) -> int | None:
    """Rows of a file when its metadata says so (Parquet, npy), else None."""
    try:
        if reader_for(path) is _parquet:
            return _pyarrow().parquet.ParquetFile(path).metadata.num_rows
        if reader_for(path) is _npy:
            return int(np.load(path, mmap_mode="r", allow_pickle=False).shape[0])
    except Exception:  # unreadable: the reader reports it
        return None
    return None


def _check_columns(path: Path, columns: Columns) -> None:
    """Every column is in the (Parquet or CSV) file: its footer or header says so."""
    pa = _pyarrow()
    if reader_for(path) is _parquet:
        try:
            names = pa.parquet.ParquetFile(path).schema_arrow.names
        except (pa.ArrowException, OSError) as exc:
            raise ScoreError(f"{path}: not a readable Parquet file ({exc})") from None
    else:
        names = _csv_header(path, columns)
    missing = [c for c in columns.all if c not in names]
    if missing:
        raise ScoreError(f"{path}: no column {missing[0]!r}; the file has {names}")


def check_paths(paths: list[Path]) -> None:
    """Every path exists and has a known format (before anything is read)."""
    for path in paths:
        if not path.exists():
            raise ScoreError(f"{path}: no such file")
        if path.is_dir():
            raise ScoreError(f"{path}: is a directory; pass the files in it")
        reader_for(path)


# --- the scoring loop ----------------------------------------------------------------------


class Progress:
    """A tqdm bar on stderr of the rows counted so far (not read ahead), of the files' total
    rows, with rate and time left. Parquet and .npy metadata give the total; a CSV file's is
    estimated from the bytes per line of its first MiB (shown as ``~total``, raised if the
    count passes it, and set to the true count at the end). Drawn once a run has lasted
    ``delay`` seconds; after a failure, erased."""

    def __init__(self, paths: list[Path], enabled: bool, stream=None, delay: float = 0.5):
        self.bar, self.delay = None, delay
        if not enabled:
            return
        from tqdm import tqdm

        counts = [total_rows(p) if reader_for(p) is not _csv else _estimated_rows(p)
                  for p in paths]
        self.estimated = any(reader_for(p) is _csv for p in paths)
        total = None if None in counts else sum(counts)
        if total is None:  # no estimate: rows and rate only
            layout = "{n_fmt} rows [{elapsed}, {rate_fmt}]"
        else:
            of = "~{total_fmt}" if self.estimated else "{total_fmt}"
            layout = ("{percentage:3.0f}%|{bar}| {n_fmt}/" + of
                      + " rows [{elapsed}<{remaining}, {rate_fmt}]")
        self.bar = tqdm(total=total, unit=" rows", unit_scale=True, file=stream or sys.stderr,
                        delay=delay, mininterval=0.2, dynamic_ncols=True, bar_format=layout)

    def advance(self, rows: int, file_index: int, done: float) -> None:
        """``rows`` more rows counted (``file_index`` and its share ``done`` read are kept in
        the signature for readers that report bytes)."""
        bar = self.bar
        if bar is None:
            return
        if bar.total is not None and bar.n + rows > bar.total:  # past an estimate
            bar.total = bar.n + rows
        bar.update(rows)

    def close(self, finished: bool) -> None:
        """End the bar: its final count when it was drawn; erased after a failure."""
        bar = self.bar
        if bar is None:
            return
        drawn = bar._time() - bar.start_t >= self.delay  # tqdm draws once the delay is over
        if finished and drawn:
            if bar.total is not None:
                bar.total = bar.n  # an estimated total gives way to the count
                bar.bar_format = bar.bar_format.replace("~", "")
            bar.refresh()
        elif not finished:
            bar.leave = False
        bar.close()


def _estimated_rows(path: Path) -> int | None:
    """A CSV file's data rows, estimated from the lines of its first MiB of text (exact when
    the whole file fits in it); for a gzip file, scaled by the compressed bytes read."""
    size = path.stat().st_size
    try:
        with path.open("rb") as raw:
            text = gzip.GzipFile(fileobj=raw) if path.name.lower().endswith(".gz") else raw
            head = text.read(1 << 20)
            whole = not text.read(1)
            consumed = max(raw.tell(), 1)  # the file's bytes behind ``head`` (and a few more)
    except (OSError, EOFError, zlib.error):  # unreadable: the reader says so, not the bar
        return None
    lines = head.count(b"\n") + (0 if head.endswith(b"\n") or not head else 1)
    if whole or lines < 2:
        return max(lines - 1, 0)
    return max(round(size * lines / consumed) - 1, 0)


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
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    thread = threading.Thread(target=work, name="gpumetrics-reader", daemon=True)
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
        while thread.is_alive():  # unblock a reader waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)


def score_files(paths: list, metrics: M.MetricSet, columns: Columns, *,
                batch_size: int = DEFAULT_BATCH, progress: bool = False,
                progress_delay: float = 0.5) -> int:
    """Stream every file into ``metrics`` (one dataset); returns the number of rows. With
    ``progress``, a bar once ``progress_delay`` seconds have passed."""
    paths = [Path(p) for p in paths]
    check_paths(paths)
    bar = Progress(paths, progress, delay=progress_delay)
    rows, finished = 0, False
    try:
        for index, path in enumerate(paths):
            n_file = 0
            for batch in _prefetch(reader_for(path)(path, columns, batch_size)):
                y_true, y_pred, weight = columns.arrays(batch.columns)
                try:
                    metrics.update(y_true, y_pred, sample_weight=weight)
                except ValueError as exc:
                    raise ScoreError(f"{path}: {batch.where}: {columns.describe(str(exc))}"
                                     ) from None
                rows += batch.rows
                n_file += batch.rows
                bar.advance(batch.rows, index, batch.done)
            if n_file == 0:
                raise ScoreError(f"{path}: the file holds no rows")
        finished = True
    finally:
        bar.close(finished)
    return rows


def score_on_cluster(paths: list, metrics: M.MetricSet, columns: Columns,
                     address: str) -> tuple[dict, int]:
    """Score Parquet or CSV files on the Dask cluster at ``address`` with
    ``gpumetrics.dask.score_dataframe``; returns the results (as ``metrics.compute()``)
    and the number of rows."""
    paths = [Path(p) for p in paths]
    check_paths(paths)
    try:
        import dask.dataframe as dd
        from dask.distributed import Client

        from gpumetrics import dask as gdask
    except ImportError as exc:
        raise ScoreError(f"--dask-scheduler needs Dask and gpumetrics.dask ({exc}): pip "
                         "install 'gpumetrics[dask]'") from None
    if len(columns.y_true) != 1:
        raise ScoreError("--dask-scheduler takes one --y-true column")
    kinds = {reader_for(p) for p in paths}
    if kinds not in ({_parquet}, {_csv}):
        raise ScoreError("--dask-scheduler reads Parquet files or CSV files (all of one kind); "
                         "convert .npy files to Parquet")
    for path in paths:
        _check_columns(path, columns)
    names = [str(p) for p in paths]
    try:
        if kinds == {_parquet}:
            frame = dd.read_parquet(names, columns=columns.all)
            rows = sum(total_rows(p) or 0 for p in paths)
        else:
            frame = dd.read_csv(names, usecols=columns.all,
                                dtype={c: "float64" for c in columns.floats})
            rows = None
    except (KeyError, ValueError, OSError) as exc:
        raise ScoreError(f"{', '.join(names)}: {exc}") from None
    y_pred = columns.y_pred[0] if len(columns.y_pred) == 1 else list(columns.y_pred)
    try:
        client = Client(address, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise ScoreError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    with client:
        try:
            results = gdask.score_dataframe(metrics, frame, y_true=columns.y_true[0],
                                            y_pred=y_pred, sample_weight=columns.sample_weight)
            if rows is None:
                rows = int(frame.map_partitions(len).sum().compute())
        except ValueError as exc:
            raise ScoreError(f"{', '.join(names)}: on the cluster: "
                             f"{columns.describe(str(exc))}") from None
    return results, rows


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


def check_out(path: Path) -> None:
    """Fail early when ``--out`` cannot be written (its folder is missing)."""
    folder = path.parent
    if not folder.is_dir():
        raise ScoreError(f"{path}: cannot write the result: no folder {folder}")
    if path.is_dir():
        raise ScoreError(f"{path}: cannot write the result: is a directory")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename:
    readers see the old file or the whole new one, never half of it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def one_line_warnings(prefix: str, stream=None):
    """Show warnings raised inside as one line each: ``<prefix>: warning: <message>``."""
    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        (stream or sys.stderr).write(f"{prefix}: warning: {text}\n")

    with warnings.catch_warnings():  # restores showwarning on the way out
        warnings.showwarning = show
        yield
