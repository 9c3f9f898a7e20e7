"""Offline scoring of prediction files larger than memory: Parquet (row group by row
group), CSV (block by block) and ``.npy`` (memory-mapped, slice by slice), streamed into one
``MetricSet``, or scored on a Dask cluster. Several files are scored together as the shards
of one dataset. The files are read by ``gpumetrics.readers``; the command line that builds
the metrics and prints the result is ``gpumetrics.cli_score``.

Memory stays bounded by the batch size (plus the exact-mode score buffers, which the
default binned ranking metrics avoid): the next batch is read while the current one is
counted, and nothing else of a file is held.

    >>> import numpy as np, os, tempfile
    >>> from gpumetrics.metrics import AUROC, Accuracy, MetricSet
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, "p.npy")  # columns 0 (y_true) and 1 (scores)
    >>> np.save(path, np.array([[0, 0.1], [1, 0.8], [1, 0.4], [0, 0.3]]))
    >>> metrics = MetricSet({"accuracy": Accuracy("binary"),
    ...                      "auroc": AUROC("binary", thresholds=4096)})
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
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gpumetrics import metrics as M
from gpumetrics.progress import Progress
from gpumetrics.readers import (
    CsvReader,
    ParquetReader,
    ScoreError,
    check_paths,
    open_reader,
    prefetch,
    reader_class,
)

__all__ = ["DEFAULT_BATCH", "Columns", "ScoreError", "score_files", "score_on_cluster"]

DEFAULT_BATCH = 2_000_000


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


# --- scoring -------------------------------------------------------------------------------


def score_files(paths: list, metrics: M.MetricSet, columns: Columns, *,
                batch_size: int = DEFAULT_BATCH, progress: bool = False,
                progress_delay: float = 0.5) -> int:
    """Stream every file into ``metrics`` (one dataset); returns the number of rows. Every
    file's columns are checked before any file is read. With ``progress``, a bar once
    ``progress_delay`` seconds have passed."""
    paths = [Path(p) for p in paths]
    check_paths(paths)
    readers = [open_reader(p, columns.all, columns.floats) for p in paths]  # all checked first
    bar = Progress(readers, progress, delay=progress_delay)
    rows, finished = 0, False
    try:
        for index, reader in enumerate(readers):
            n_file = 0
            batches = reader.batches(batch_size)
            if not reader.reads_ahead:  # read the next batch while this one is counted
                batches = prefetch(batches)
            with contextlib.closing(batches):
                for batch in batches:
                    y_true, y_pred, weight = columns.arrays(batch.columns)
                    try:
                        metrics.update(y_true, y_pred, sample_weight=weight)
                    except ValueError as exc:
                        raise ScoreError(f"{reader.path}: {batch.where}: "
                                         f"{columns.describe(str(exc))}") from None
                    rows += batch.rows
                    n_file += batch.rows
                    bar.advance(batch.rows, index, batch.done)
            if n_file == 0:
                raise ScoreError(f"{reader.path}: the file holds no rows")
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
    kinds = {reader_class(p) for p in paths}
    if kinds not in ({ParquetReader}, {CsvReader}):
        raise ScoreError("--dask-scheduler reads Parquet files or CSV files (all of one kind); "
                         "convert .npy files to Parquet")
    readers = [open_reader(p, columns.all, columns.floats) for p in paths]  # columns checked
    names = [str(p) for p in paths]
    try:
        if kinds == {ParquetReader}:
            frame = dd.read_parquet(names, columns=columns.all)
            rows = sum(r.total_rows for r in readers)
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
