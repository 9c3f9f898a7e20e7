"""``RunStore``: training runs and their epochs in an embedded SQLite database.

The database runs in WAL mode with a busy timeout, so several processes may write to one
store (each run has one writer). Every epoch is its own transaction: a process killed
mid-run leaves a consistent store that has every epoch logged before the kill.
"""

from __future__ import annotations

import datetime
import json
import numbers
import os
import sqlite3
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from gpumetrics.runs.scores import DEFAULT_ACCURACY, DEFAULT_WEIGHT, Ranking, rank_runs

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    experiment TEXT NOT NULL,
    dataset TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    writer TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    summary TEXT NOT NULL DEFAULT '{}',
    uid TEXT,
    UNIQUE (experiment, name)
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    epoch INTEGER NOT NULL,
    record TEXT NOT NULL,
    logged_at TEXT NOT NULL,
    PRIMARY KEY (run_id, epoch)
);
CREATE INDEX IF NOT EXISTS runs_by_dataset ON runs (dataset);
"""


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


def _number(value, name: str) -> float | None:
    if value is None:
        return None
    if hasattr(value, "item"):  # 0-d arrays and tensors
        value = value.item()
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number; got {value!r}.") from None


@dataclass(frozen=True)
class Epoch:
    """One epoch ("cycle") of a run: losses, metric values, cumulative FLOPs and gCO2e up
    to the end of this epoch, and the wall time since the run started."""

    epoch: int
    train_loss: float | None = None
    val_loss: float | None = None
    metrics: dict = field(default_factory=dict)
    flops: float | None = None
    gco2e: float | None = None
    wall_s: float | None = None

    @property
    def vgap(self) -> float | None:
        """``|train_loss - val_loss|`` (None without both losses)."""
        if self.train_loss is None or self.val_loss is None:
            return None
        return abs(self.train_loss - self.val_loss)

    def get(self, key: str):
        """A loss, ``vgap``, ``flops``, ``gco2e``, ``wall_s`` or a scalar metric, by name
        (None for per-class lists: scores and charts read numbers)."""
        if key in ("train_loss", "val_loss", "vgap", "flops", "gco2e", "wall_s"):
            return getattr(self, key)
        value = self.metrics.get(key)
        return None if isinstance(value, list) else value

    def to_dict(self) -> dict:
        return {"epoch": self.epoch, "train_loss": self.train_loss, "val_loss": self.val_loss,
                "vgap": self.vgap, "metrics": self.metrics, "flops": self.flops,
                "gco2e": self.gco2e, "wall_s": self.wall_s}


class Run:
    """A run in a store: ``log_epoch`` each epoch, ``finish`` at the end."""

    def __init__(self, store: RunStore, row: sqlite3.Row, writer: str | None):
        self.store = store
        self.id = row["id"]
        self.name = row["name"]
        self.experiment = row["experiment"]
        self.dataset = row["dataset"]
        self.params = json.loads(row["params"])
        self.status = row["status"]
        self.started_at = row["started_at"]
        self.finished_at = row["finished_at"]
        self.summary = json.loads(row["summary"])
        self.uid = row["uid"]  # stable across stores and renames: exports find the run by it
        self._writer = writer
        # where a resumed run stood: this session's cumulative figures add to these
        self._base = {"flops": 0.0, "gco2e": 0.0, "wall_s": 0.0}

    def __repr__(self) -> str:
        return (f"Run({self.name!r}, experiment={self.experiment!r}, dataset={self.dataset!r},"
                f" status={self.status!r}, epochs={len(self.epochs)})")

    @property
    def epochs(self) -> list[Epoch]:
        """The logged epochs, in order."""
        rows = self.store._db.execute(
            "SELECT record FROM epochs WHERE run_id = ? ORDER BY epoch", (self.id,))
        return [_epoch_from(json.loads(r["record"])) for r in rows]

    @property
    def next_epoch(self) -> int:
        """The epoch number to log next (0 for a new run; after the last one on resume)."""
        row = self.store._db.execute("SELECT MAX(epoch) AS last FROM epochs WHERE run_id = ?",
                                     (self.id,)).fetchone()
        return 0 if row["last"] is None else row["last"] + 1

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """Close a run still open: finished, or failed (with the error) on an exception."""
        if self._writer is None or self.status != "running":
            return
        if exc_type is None:
            self.finish()
        else:
            self.finish(status="failed", error=f"{exc_type.__name__}: {exc}")

    def _check_writer(self) -> None:
        if self._writer is None:
            raise ValueError(f"run {self.name!r} was opened for reading; start_run() gives "
                             "the handle that writes it.")
        row = self.store._db.execute("SELECT writer, status FROM runs WHERE id = ?",
                                     (self.id,)).fetchone()
        if row["writer"] != self._writer:
            raise ValueError(f"run {self.name!r} is now written by another process; this "
                             "handle may no longer write it.")
        if row["status"] != "running":
            raise ValueError(f"run {self.name!r} is {row['status']}; it takes no more epochs.")

    def log_epoch(self, epoch: int, *, train_loss=None, val_loss=None, flops=None,
                  gco2e=None, wall_s=None, energy=None, **metrics) -> Epoch:
        """Record one epoch. ``flops`` and ``gco2e`` are cumulative up to this epoch (or
        pass ``energy=``, an ``EnergyReport`` lap, for its gCO2e), and ``wall_s`` is the
        time since the run started; after ``start_run(resume=True)`` they count from the
        resume, and the store adds what the run had reached before. Further keywords are
        metric values: numbers, per-class lists, matrices (``confusion_matrix``), binned
        values, so a ``MetricSet.compute()`` dict passes as ``**``; curves are kept by
        ``finish``. Losses may be NaN or infinite: that is recorded (and diagnosed as
        divergence)."""
        if (isinstance(epoch, bool) or not isinstance(epoch, numbers.Real)
                or epoch != epoch or int(epoch) != epoch or epoch < 0):
            raise ValueError(f"epoch must be a non-negative integer; got {epoch!r}.")
        if energy is not None:
            gco2e = energy.gco2e if gco2e is None else gco2e
        if flops is not None and hasattr(flops, "flops"):
            flops = flops.flops
        values = {key: _metric_value(key, value) for key, value in metrics.items()}
        flops, gco2e, wall_s = (
            None if v is None else v + self._base[key]
            for key, v in (("flops", _number(flops, "flops")),
                           ("gco2e", _number(gco2e, "gco2e")),
                           ("wall_s", _number(wall_s, "wall_s"))))
        record = Epoch(int(epoch), _number(train_loss, "train_loss"),
                       _number(val_loss, "val_loss"), values, flops, gco2e, wall_s)
        with self.store._write():
            self._check_writer()
            try:
                self.store._db.execute(
                    "INSERT INTO epochs (run_id, epoch, record, logged_at) VALUES (?, ?, ?, ?)",
                    (self.id, record.epoch, json.dumps(record.to_dict()), _now()))
            except sqlite3.IntegrityError:
                raise ValueError(f"epoch {record.epoch} of run {self.name!r} is already "
                                 "logged.") from None
        return record

    def finish(self, *, energy=None, flops=None, status: str = "finished", **summary) -> Run:
        """Close the run, keeping its energy report (``EnergyReport``), total FLOPs and
        whatever else is given: ``confusion_matrix`` with ``labels``, ``roc`` / ``pr``
        curves (as ``roc_curve`` / ``precision_recall_curve`` return them, or dicts),
        ``roc_auc``, ``average_precision``, ``findings`` (``diagnose_predictions``)."""
        if status not in ("finished", "failed"):
            raise ValueError(f"status must be 'finished' or 'failed'; got {status!r}.")
        info = {key: _jsonable(value) for key, value in summary.items()}
        for key, names in (("roc", ("fpr", "tpr")), ("pr", ("precision", "recall"))):
            if isinstance(info.get(key), list):  # roc_curve(...) / precision_recall_curve(...)
                info[key] = dict(zip(names, info[key][:2], strict=True))
        if "confusion_matrix" in info and "labels" in info and (
                len(info["labels"]) != len(info["confusion_matrix"])):
            raise ValueError("labels must name every row of confusion_matrix.")
        try:
            json.dumps(info)
        except TypeError as exc:
            raise ValueError(f"finish() keeps JSON values (numbers, strings, lists, arrays); "
                             f"{exc}.") from None
        earlier = self.summary.get("before_resume") or {}
        if earlier:
            info["before_resume"] = earlier
        if energy is not None:
            info["energy"] = energy.to_dict() if hasattr(energy, "to_dict") else dict(energy)
            info["gco2e"] = _plus(info["energy"].get("gco2e"), earlier.get("gco2e"))
            info["energy_kwh"] = _plus(info["energy"].get("energy_kwh"),
                                       earlier.get("energy_kwh"))
        if flops is not None:
            info["flops"] = float(flops.flops if hasattr(flops, "flops") else flops) + (
                earlier.get("flops") or 0.0)
            info["flops_convention"] = getattr(flops, "convention",
                                               "FLOPs = 2 x multiply-accumulates")
        with self.store._write():
            self._check_writer()
            finished = _now()
            self.store._db.execute(
                "UPDATE runs SET status = ?, finished_at = ?, summary = ? WHERE id = ?",
                (status, finished, json.dumps(info), self.id))
        self.status, self.finished_at, self.summary = status, finished, info
        return self

    # --- totals used by the comparisons ------------------------------------------------

    def total(self, key: str) -> float | None:
        """A run total: ``gco2e`` and ``flops`` from ``finish`` (else the last epoch's
        cumulative figure); anything else from the last epoch."""
        if key in ("gco2e", "flops", "energy_kwh") and self.summary.get(key) is not None:
            return float(self.summary[key])
        for epoch in reversed(self.epochs):  # the last epoch that logged it
            if epoch.get(key) is not None:
                return epoch.get(key)
        return None


def _plus(a, b):
    return None if a is None else a + (b or 0.0)


def _metric_value(key: str, value):
    """A logged metric: a number, per class a list of numbers (``average=None``), or a
    matrix (a confusion matrix) as a list of rows; a binned value keeps its value (its
    bound is the histogram's, not the epoch's)."""
    if hasattr(value, "value") and hasattr(value, "bound"):
        value = value.value
    if isinstance(value, tuple) or (isinstance(value, list) and value
                                    and isinstance(value[0], tuple)):
        raise ValueError(
            f"{key} is a curve (a tuple of arrays): an epoch keeps numbers, lists and "
            f"matrices. Keep the final curve with finish(roc=..., pr=...), and leave {key} "
            f"out of log_epoch, e.g. log_epoch(epoch, **{{k: v for k, v in "
            f"values.items() if k != {key!r}}}).")
    if getattr(value, "ndim", 0) or isinstance(value, list):
        values = _jsonable(value)
        if all(isinstance(v, int | float) for v in values):
            return [float(v) for v in values]
        if (all(isinstance(row, list) for row in values)
                and len({len(row) for row in values}) == 1
                and all(isinstance(v, int | float) for row in values for v in row)):
            return [[float(v) for v in row] for row in values]
        raise ValueError(f"{key} must be a number, a list of numbers or a matrix (a list of "
                         "rows of one length).")
    return _number(value, key)


def _jsonable(value):
    """Arrays (NumPy, torch, CuPy), findings and their containers as plain lists, dicts
    and floats."""
    if hasattr(value, "to_dict"):  # a Finding
        return _jsonable(value.to_dict())
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        if type(value).__module__.startswith("cupy"):
            value = value.get()
        elif hasattr(value, "cpu"):  # torch
            value = value.detach().cpu()
        return value.tolist()
    return value


def _resume_point(db: sqlite3.Connection, row: sqlite3.Row) -> dict:
    """The summary a resumed run starts from: where its cumulative figures stood (the last
    epoch's FLOPs, gCO2e and wall time; the energy its earlier sessions reported)."""
    summary = json.loads(row["summary"])
    point = dict(summary.get("before_resume") or {})
    last = db.execute("SELECT record FROM epochs WHERE run_id = ? ORDER BY epoch DESC "
                      "LIMIT 1", (row["id"],)).fetchone()
    if last is not None:
        record = json.loads(last["record"])
        point.update({k: record.get(k) for k in ("flops", "gco2e", "wall_s")
                      if record.get(k) is not None})
    if summary.get("energy_kwh") is not None:  # finished (or failed) with an energy report
        point["energy_kwh"] = summary["energy_kwh"]
    point["epochs"] = db.execute("SELECT COUNT(*) AS n FROM epochs WHERE run_id = ?",
                                 (row["id"],)).fetchone()["n"]
    return {"before_resume": point}


def _epoch_from(d: dict) -> Epoch:
    return Epoch(d["epoch"], d.get("train_loss"), d.get("val_loss"), d.get("metrics", {}),
                 d.get("flops"), d.get("gco2e"), d.get("wall_s"))


class RunStore:
    """Runs grouped by experiment series and dataset, in one SQLite file."""

    def __init__(self, path: str | os.PathLike = "runs.db"):
        self.path = Path(path)
        if self.path.exists() and self.path.stat().st_size and not _is_sqlite(self.path):
            raise ValueError(f"{self.path} is not a gpumetrics run store (not an SQLite "
                             "database); give a new path or an existing store.")
        self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise ValueError(f"{self.path} is not a usable run store: {exc}.") from None

    def _migrate(self) -> None:
        """Bring a store written by an earlier version up to this schema."""
        columns = {r["name"] for r in self._db.execute("PRAGMA table_info(runs)")}
        if "uid" not in columns:
            with self._write():
                self._db.execute("ALTER TABLE runs ADD COLUMN uid TEXT")
        if self._db.execute("SELECT 1 FROM runs WHERE uid IS NULL LIMIT 1").fetchone():
            with self._write():
                self._db.execute("UPDATE runs SET uid = lower(hex(randomblob(16))) "
                                 "WHERE uid IS NULL")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _write(self):
        return _Transaction(self._db)

    def start_run(self, name: str, *, experiment: str = "default", dataset: str,
                  params: dict | None = None, resume: bool = False) -> Run:
        """A new run to write (its epochs with ``log_epoch``). A run's name is unique in
        its experiment: starting one that exists is an error, not an overwrite, unless
        ``resume=True``, which continues it (a run left running by a process that died, a
        failed run, or a finished one given more epochs): this handle becomes its only
        writer, ``run.next_epoch`` says where to go on, and the FLOPs, gCO2e and wall time
        logged from here on add to what it had reached. Use it as a context manager to
        have it finished on exit, or marked failed on an exception."""
        for value, what in ((name, "name"), (experiment, "experiment"), (dataset, "dataset")):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{what} must be a non-empty string; got {value!r}.")
        try:
            params_text = json.dumps(params or {}, sort_keys=True, allow_nan=True)
        except TypeError as exc:
            raise ValueError(f"params must be JSON-serialisable: {exc}.") from None
        writer = uuid.uuid4().hex
        with self._write():
            existing = self._db.execute(
                "SELECT * FROM runs WHERE experiment = ? AND name = ?",
                (experiment, name)).fetchone()
            if existing is not None and not resume:
                state = ("is marked running (another process writes it, or one died "
                         "writing it: mark_failed() closes it, resume=True continues it)"
                         if existing["status"] == "running" else
                         f"exists ({existing['status']}; resume=True continues it)")
                raise ValueError(f"run {name!r} of experiment {experiment!r} {state}; give the "
                                 "run another name.")
            if existing is not None:
                self._check_resumable(existing, dataset, params)
                self._db.execute(
                    "UPDATE runs SET status = 'running', writer = ?, finished_at = NULL, "
                    "summary = ? WHERE id = ?",
                    (writer, json.dumps(_resume_point(self._db, existing)), existing["id"]))
                run_id = existing["id"]
            else:
                run_id = self._db.execute(
                    "INSERT INTO runs (name, experiment, dataset, params, status, writer, "
                    "started_at, uid) VALUES (?, ?, ?, ?, 'running', ?, ?, ?)",
                    (name, experiment, dataset, params_text, writer, _now(),
                     uuid.uuid4().hex)).lastrowid
            row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        run = Run(self, row, writer)
        for key in run._base:
            run._base[key] = float(run.summary.get("before_resume", {}).get(key) or 0.0)
        return run

    @staticmethod
    def _check_resumable(row: sqlite3.Row, dataset: str, params: dict | None) -> None:
        if row["dataset"] != dataset:
            raise ValueError(f"run {row['name']!r} is on dataset {row['dataset']!r}, not "
                             f"{dataset!r}; resume it with dataset={row['dataset']!r}.")
        stored = json.loads(row["params"])
        if params is not None and json.loads(json.dumps(params, sort_keys=True)) != stored:
            raise ValueError(f"run {row['name']!r} was started with params {stored}; resume it "
                             "with the same params, or none, or start a run of another name.")

    def mark_failed(self, name: str, experiment: str = "default") -> Run:
        """Close a run left running by a process that died (its epochs are kept)."""
        with self._write():
            done = self._db.execute(
                "UPDATE runs SET status = 'failed', finished_at = ? WHERE experiment = ? AND "
                "name = ? AND status = 'running'", (_now(), experiment, name))
        if done.rowcount != 1:
            raise ValueError(f"no running run {name!r} in experiment {experiment!r}.")
        return self.run(name, experiment)

    def runs(self, *, dataset: str | None = None, experiment: str | None = None,
             status: str | None = None) -> list[Run]:
        """The stored runs (read-only handles), oldest first, optionally filtered."""
        query, args = "SELECT * FROM runs WHERE 1 = 1", []
        for column, value in (("dataset", dataset), ("experiment", experiment),
                              ("status", status)):
            if value is not None:
                query += f" AND {column} = ?"
                args.append(value)
        rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        if not rows and (dataset or experiment or status):
            known = sorted({(r["dataset"], r["experiment"]) for r in self._db.execute(
                "SELECT dataset, experiment FROM runs")})
            listed = ", ".join(f"{d} ({e})" for d, e in known) or "none"
            raise ValueError(f"no run matches dataset={dataset!r}, experiment={experiment!r}, "
                             f"status={status!r}; datasets (experiments) in {self.path}: "
                             f"{listed}.")
        return [Run(self, r, None) for r in rows]

    def run(self, name: str, experiment: str = "default") -> Run:
        """One stored run, by name (read-only)."""
        row = self._db.execute("SELECT * FROM runs WHERE experiment = ? AND name = ?",
                               (experiment, name)).fetchone()
        if row is None:
            raise ValueError(f"no run {name!r} in experiment {experiment!r} of {self.path}.")
        return Run(self, row, None)

    def datasets(self) -> list[str]:
        return [r["dataset"] for r in self._db.execute(
            "SELECT DISTINCT dataset FROM runs ORDER BY dataset")]

    def compare(self, *, dataset: str | None = None, score: str = "acc-gco2e",
                accuracy: str = DEFAULT_ACCURACY, weight: float = DEFAULT_WEIGHT) -> Ranking:
        """The runs of one dataset ranked by a mixed score (see ``gpumetrics.runs.scores``;
        validation accuracy by default)."""
        if dataset is None:
            names = self.datasets()
            if not names:
                raise ValueError(f"{self.path} holds no runs.")
            if len(names) > 1:
                raise ValueError(f"{self.path} holds runs of several datasets "
                                 f"({', '.join(names)}); give dataset=.")
            dataset = names[0]
        return rank_runs(self.runs(dataset=dataset), score=score, accuracy=accuracy,
                         weight=weight)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error): one writer at a time."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, *exc):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(16) == b"SQLite format 3\x00"
