"""Export a stored run's epochs to TensorBoard: one event file of scalars per run (losses,
vgap, cumulative gCO2e and FLOPs, every logged metric), step = epoch.

The event file is written here, without TensorFlow or TensorBoard installed: TFRecord
framing (length, masked CRC-32C, data, masked CRC-32C) around ``Event`` protocol buffers
encoded by hand (wall time, step, and a summary of simple float values).
"""

from __future__ import annotations

import datetime
import math
import os
import re
import socket
import struct
import time
from pathlib import Path


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), as TFRecord frames use."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int | None = None, *, file_version: str | None = None,
           scalars: dict[str, float] | None = None) -> bytes:
    out = _varint(1 << 3 | 1) + struct.pack("<d", wall_time)
    if step is not None:
        out += _varint(2 << 3) + _varint(step)
    if file_version is not None:
        out += _field_bytes(3, file_version.encode())
    if scalars:
        summary = b"".join(
            _field_bytes(1, _field_bytes(1, tag.encode()) + _varint(2 << 3 | 5)
                         + struct.pack("<f", value))
            for tag, value in scalars.items())
        out += _field_bytes(5, summary)
    return out


def _record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", _masked(crc32c(length))) + data
            + struct.pack("<I", _masked(crc32c(data))))


_FLOAT32_MAX = 3.4028234663852886e38


def _folder_name(name: str) -> str:
    """A run name as one folder name (no separators, no ``..``)."""
    safe = re.sub(r"[^A-Za-z0-9._=+-]", "_", name).strip(".")
    return safe or "run"


def _epoch_scalars(epoch) -> dict[str, float]:
    """An epoch's finite numbers: losses, vgap, cumulative gCO2e and FLOPs, metrics."""
    values = {"train_loss": epoch.train_loss, "val_loss": epoch.val_loss, "vgap": epoch.vgap,
              "gco2e": epoch.gco2e, "flops": epoch.flops, **epoch.metrics}
    return {k: float(v) for k, v in values.items()
            if isinstance(v, int | float) and math.isfinite(v)}


def to_tensorboard(run, logdir: str | os.PathLike) -> Path:
    """Write the run's epochs as TensorBoard scalars under ``logdir/<run name>/``; returns
    the event file (written through a temporary name and a rename). Exporting a run again
    replaces its earlier export. Each point's wall time is the run's start plus the
    epoch's ``wall_s`` where logged. Values beyond float32's range are left out (a
    summary scalar is a float32)."""
    folder = Path(logdir) / _folder_name(run.name)
    folder.mkdir(parents=True, exist_ok=True)
    start = datetime.datetime.fromisoformat(run.started_at).timestamp()
    path = folder / f"events.out.tfevents.{int(start)}.{socket.gethostname()}.gpumetrics"
    records = [_record(_event(start, file_version="brain.Event:2"))]
    for epoch in run.epochs:
        scalars = {k: v for k, v in _epoch_scalars(epoch).items() if abs(v) <= _FLOAT32_MAX}
        wall = start + (epoch.wall_s or 0.0)
        records.append(_record(_event(wall, epoch.epoch, scalars=scalars)))
    tmp = folder / f".{path.name}.tmp"
    tmp.write_bytes(b"".join(records))
    for old in folder.glob("events.out.tfevents.*.gpumetrics"):
        if old != path:
            old.unlink()
    tmp.replace(path)
    return path


def to_mlflow(run, tracking_uri: str, experiment: str | None = None) -> str:
    """Log the run to MLflow at ``tracking_uri`` (e.g. ``file:///path/mlruns``): its params,
    every epoch's values as metrics with step = epoch, its totals (gCO2e, kWh, FLOPs) and
    its status. Returns the MLflow run id. Needs ``pip install mlflow-skinny``.

    Exporting the same run again updates the MLflow run it created (found by the tag
    ``gpumetrics.run_uid``): epochs logged since are added, totals and status brought up
    to date; nothing is logged twice.

    MLflow 3 keeps file stores in maintenance mode behind ``MLFLOW_ALLOW_FILE_STORE``; for a
    ``file:`` URI it is allowed for the duration of this call."""
    try:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ImportError("to_mlflow needs MLflow: pip install mlflow-skinny") from None
    allow = "MLFLOW_ALLOW_FILE_STORE"
    previous = os.environ.get(allow)
    if tracking_uri.startswith("file:") and previous is None:
        os.environ[allow] = "true"
    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        name = experiment or f"{run.experiment}/{run.dataset}"
        found = client.get_experiment_by_name(name)
        experiment_id = found.experiment_id if found else client.create_experiment(name)
        earlier = client.search_runs(
            [experiment_id], filter_string=f"tags.`gpumetrics.run_uid` = '{run.uid}'",
            max_results=1)
        if earlier:
            target = earlier[0]
            run_id = target.info.run_id
            done = int(target.data.tags.get("gpumetrics.next_epoch", "0"))
            known = target.data.params
            totals = target.data.metrics
        else:
            run_id = client.create_run(experiment_id, run_name=run.name).info.run_id
            done, known, totals = 0, {}, {}
        stamp = int(time.time() * 1000)
        epochs = run.epochs
        metrics = [Metric(k, v, stamp, epoch.epoch) for epoch in epochs
                   if epoch.epoch >= done for k, v in _epoch_scalars(epoch).items()]
        for key in ("gco2e", "energy_kwh", "flops"):
            value = run.summary.get(key)
            if value is not None and totals.get(f"total_{key}") != float(value):
                metrics.append(Metric(f"total_{key}", float(value), stamp, len(epochs)))
        params = [Param(str(k), str(v)) for k, v in run.params.items() if str(k) not in known]
        next_epoch = epochs[-1].epoch + 1 if epochs else 0
        tags = [RunTag("gpumetrics.dataset", run.dataset),
                RunTag("gpumetrics.experiment", run.experiment),
                RunTag("gpumetrics.run_uid", run.uid),
                RunTag("gpumetrics.next_epoch", str(max(next_epoch, done)))]
        for i in range(0, max(len(metrics), 1), 1000):  # MLflow's batch limit
            client.log_batch(run_id, metrics=metrics[i:i + 1000],
                             params=params if i == 0 else [], tags=tags if i == 0 else [])
        status = {"finished": "FINISHED", "failed": "FAILED"}.get(run.status, "RUNNING")
        client.update_run(run_id, status=status)
        return run_id
    finally:
        if previous is None:
            os.environ.pop(allow, None)
