"""Shared pieces of the classification benchmarks: data, the read floor, timing, machine info.

The read floor is the cost of the cheapest pass that could possibly compute a confusion
matrix: a Numba ``prange`` loop that reads ``y_true`` and ``y_pred`` once and sums them. A
counting kernel cannot beat it (same bytes, same threads), so ``time / floor`` says how much
of the gap to the memory system is left.
"""

from __future__ import annotations

import datetime
import gc
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

REPO = Path(__file__).resolve().parents[1]
_GEN_CHUNK = 1 << 22  # labels generated per step, to bound temporaries at N = 1e8


def make_labels(n: int, n_classes: int, agreement: float = 0.8, seed: int = 0, dtype=np.int64):
    """``(y_true, y_pred)``: uniform labels 0..C-1; ``y_pred`` equals ``y_true`` with
    probability ``agreement`` and is an independent uniform draw otherwise."""
    rng = np.random.default_rng(seed)
    y_true = np.empty(n, dtype=dtype)
    y_pred = np.empty(n, dtype=dtype)
    for start in range(0, n, _GEN_CHUNK):
        stop = min(start + _GEN_CHUNK, n)
        t = rng.integers(0, n_classes, stop - start, dtype=np.int64)
        p = rng.integers(0, n_classes, stop - start, dtype=np.int64)
        keep = rng.random(stop - start) < agreement
        y_true[start:stop] = t
        y_pred[start:stop] = np.where(keep, t, p)
    return y_true, y_pred


def make_prediction_sets(
    y_true, n_sets: int, n_classes: int, agreement: float = 0.8, seed: int = 1
):
    """``(K, N)`` prediction sets, each agreeing with ``y_true`` with its own rate."""
    rng = np.random.default_rng(seed)
    out = np.empty((n_sets, y_true.shape[0]), dtype=y_true.dtype)
    for k in range(n_sets):
        rate = agreement * (0.9 + 0.2 * k / max(n_sets - 1, 1))
        for start in range(0, y_true.shape[0], _GEN_CHUNK):
            t = y_true[start : start + _GEN_CHUNK]
            p = rng.integers(0, n_classes, t.shape[0], dtype=np.int64)
            out[k, start : start + t.shape[0]] = np.where(rng.random(t.shape[0]) < rate, t, p)
    return out


@njit(parallel=True, nogil=True, cache=True)
def _read_sum(y_true, y_pred):
    total = 0  # int64 for labels, float64 for scores: no conversion in the loop
    for i in prange(y_pred.shape[0]):
        total += y_true[i] + y_pred[i]
    return total


@njit(parallel=True, nogil=True, cache=True)
def _read_sum_flat(y):
    total = 0
    for i in prange(y.shape[0]):
        total += np.int64(y[i])
    return total


def read_floor(y_true, y_pred) -> float:
    """One parallel pass that reads every label or score once (the memory floor of any
    count or sum)."""
    if y_pred.ndim == 2:  # K prediction sets: y_true once, then every set, in memory order
        return float(_read_sum_flat(y_true)) + float(_read_sum_flat(y_pred.reshape(-1)))
    return float(_read_sum(y_true, y_pred))


def _jiffies() -> tuple[int, int, int]:
    """CPU time of the whole machine (busy, total) and of this process, in clock ticks."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields[:8]) - idle, sum(fields[:8]), int(own[11]) + int(own[12])
    except (OSError, IndexError, ValueError):
        return 0, 0, 0


def foreign_load(since: tuple[int, int, int]) -> float | None:
    """Share of the machine's CPU time used by other processes since ``_jiffies()``."""
    busy, total, own = _jiffies()
    if total - since[1] <= 0:
        return None
    return max(0.0, (busy - since[0]) - (own - since[2])) / (total - since[1])


def wait_for_quiet(threshold: float = 0.1, window_s: float = 0.25, max_wait_s: float = 30.0):
    """Wait until other processes use less than ``threshold`` of the CPUs (or give up).

    Returns the share last seen. A benchmark on a shared machine is only as good as the
    cores it gets; the share is recorded with every result.
    """
    deadline = time.perf_counter() + max_wait_s
    while True:
        start = _jiffies()
        time.sleep(window_s)
        load = foreign_load(start)
        if load is None or load < threshold or time.perf_counter() > deadline:
            return load


def measure(
    fn,
    *,
    repeats: int = 7,
    min_repeats: int = 3,
    budget_s: float = 2.0,
    slow_s: float = 5.0,
    limit_s: float = 60.0,
) -> dict:
    """Time ``fn()`` after one warm-up call; best and median over the timed calls.

    The number of timed calls adapts to the cost of one call: up to ``repeats`` while the
    total stays under ``budget_s``, at least ``min_repeats`` for calls faster than
    ``slow_s``, and at least one otherwise. A warm-up slower than ``limit_s`` is not
    repeated and the case is reported as skipped (with the time of that one call). The
    garbage collector is off during the timed calls, as in ``timeit``.
    """
    gc.collect()
    t0 = time.perf_counter()
    result = fn()
    warm = time.perf_counter() - t0
    if warm > limit_s:
        return {
            "status": "skipped",
            "reason": f"one call took {warm:.1f} s > {limit_s:.0f} s",
            "warmup_s": warm,
            "result": result,
        }
    n = min(repeats, int(budget_s / max(warm, 1e-9)))
    n = max(n, min_repeats if warm < slow_s else 1)
    times = []
    since = _jiffies()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t0)
    finally:
        if gc_was_enabled:
            gc.enable()
    return {
        "status": "ok",
        "best_s": min(times),
        "median_s": statistics.median(times),
        "n": n,
        "warmup_s": warm,
        "foreign_load": foreign_load(since),
        "result": result,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:
        return None


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except Exception:
        return None


def _threading_layer() -> str | None:
    _read_sum(np.zeros(2, np.int64), np.zeros(2, np.int64))  # the layer loads on first use
    try:
        return numba.threading_layer()
    except ValueError:
        return None


def _sha256(*paths: Path) -> str | None:
    """One digest of the files' contents, in the order given."""
    digest = hashlib.sha256()
    try:
        for path in paths:
            digest.update(path.read_bytes())
    except OSError:
        return None
    return digest.hexdigest()


def machine_info() -> dict:
    """CPU, memory, thread counts and library versions, for the results file."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "mem_total_gib": _mem_total_gib(),
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": _threading_layer(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            m: _version(m)
            for m in ("numpy", "numba", "sklearn", "torch", "torchmetrics", "gpumetrics")
        },
        "git_commit": _git("rev-parse", "HEAD"),
        # the kernels may differ from the commit (work in progress): name the exact file
        # the CPU backend is cpu.py and its _cpu_*.py modules
        "kernels_cpu_sha256": _sha256(*sorted((REPO / "kernels").glob("*cpu*.py"))),
        "git_dirty": bool(_git("status", "--porcelain", "--", "gpumetrics", "kernels")),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def save(report: dict, table: str, out: Path, md: Path | None = None) -> tuple[Path, Path]:
    """Write the JSON report to ``out`` and the Markdown table next to it (``.md``), each
    through a temporary file and a rename: a result file is never half written."""
    md = md or out.with_suffix(".md")
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, text in ((out, json.dumps(report, indent=1, default=str)), (md, table)):
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text.rstrip("\n") + "\n")
        tmp.replace(path)
    return out, md


def publish(report: dict, table: str, out: Path | None) -> int:
    """Print the Markdown table and, given ``out``, save both (``save``); the exit code."""
    print(table)
    if out:
        save(report, table, out)
    return 0


def log(msg: str) -> None:
    """A progress line on stderr, with the time of day."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def numbers(text: str) -> list[int]:
    """A command-line list of sizes: ``1e6,1e7`` -> ``[1000000, 10000000]``."""
    return [int(float(x)) for x in text.split(",") if x.strip()]
