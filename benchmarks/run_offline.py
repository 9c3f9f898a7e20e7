"""Offline scoring benchmark: ``gpumetrics score`` on a Parquet file far larger than its
memory budget, against the time pyarrow alone takes to read the same columns, in one run.

The file (``--rows`` rows: ``y_true`` int8 0/1 and ``y_score`` float32, row groups of 1M
rows) is generated in a temporary directory, chunk by chunk, and deleted at the end. Then:

* floor: pyarrow reads both columns batch by batch into NumPy arrays (and drops them);
* ``gpumetrics score`` runs as a child process (binary task: accuracy, F1, AUROC and
  average precision over 4096 bins), its peak resident memory (``VmHWM``) polled every
  5 ms.

    python -m benchmarks.run_offline --rows 2e8 --out benchmarks/results/offline-cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks import _harness  # noqa: E402

ROW_GROUP = 1_000_000
METRICS = "accuracy,f1,auroc,average_precision"


def write_file(path: Path, rows: int, seed: int = 0) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    schema = pa.schema([("y_true", pa.int8()), ("y_score", pa.float32())])
    with pq.ParquetWriter(path, schema, write_page_checksum=True) as writer:
        for start in range(0, rows, ROW_GROUP):
            n = min(ROW_GROUP, rows - start)
            y = (rng.random(n) < 0.3).astype(np.int8)
            s = (1 / (1 + np.exp(-(rng.standard_normal(n, np.float32) + 1.5 * y))))
            writer.write_table(pa.table({"y_true": y, "y_score": s.astype(np.float32)},
                                        schema=schema), row_group_size=ROW_GROUP)


def pyarrow_read(path: Path, batch_size: int) -> float:
    import pyarrow.parquet as pq

    start = time.perf_counter()
    total = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size,
                                                   columns=["y_true", "y_score"]):
        y = batch.column(0).to_numpy(zero_copy_only=False)
        s = batch.column(1).to_numpy(zero_copy_only=False)
        total += y.shape[0] + s.shape[0]
    return time.perf_counter() - start


def _rss_high_water(proc) -> int:
    """Peak resident bytes of a running process so far: ``VmHWM`` (Linux), else its
    current resident size. (``ru_maxrss`` from ``wait4`` would not do: Linux counts the
    parent's resident size at the fork as the child's.)"""
    try:
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return proc.memory_info().rss


def run_score(path: Path, batch_size: int) -> dict:
    import psutil

    cmd = [sys.executable, "-m", "gpumetrics.cli", "score", str(path), "--y-true", "y_true",
           "--y-score", "y_score", "--metrics", METRICS, "--json", "--no-progress",
           "--batch-size", str(batch_size)]
    start = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = psutil.Process(child.pid)
    peak = 0
    while True:  # the JSON on stdout is small: the pipe cannot fill and block the child
        pid, status, _ = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        try:
            peak = max(peak, _rss_high_water(proc))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.005)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    out, err = child.stdout.read(), child.stderr.read()
    child.stdout.close()
    child.stderr.close()
    if child.returncode != 0:
        raise RuntimeError(f"gpumetrics score failed: {err}")
    return {"seconds": seconds, "peak_rss_mib": peak / 2**20, "result": json.loads(out)}


def startup_seconds() -> float:
    """Time of ``gpumetrics score --help``: interpreter, imports, no data."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gpumetrics.cli", "score", "--help"],
                   capture_output=True, check=True)
    return time.perf_counter() - start


def main(argv=None) -> int:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=float, default=2e8)
    ap.add_argument("--batch-size", type=int, default=2_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    rows = int(args.rows)
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as tmp:
        path = Path(tmp) / "predictions.parquet"
        t0 = time.perf_counter()
        write_file(path, rows)
        print(f"wrote {rows:,} rows ({path.stat().st_size / 2**30:.2f} GiB) in "
              f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
        run_score(path, args.batch_size)  # warm-up: compiled kernels land in the cache
        reads, runs = [], []
        for _ in range(args.repeats):  # interleaved, so that both see the same machine
            _harness.wait_for_quiet()
            reads.append(pyarrow_read(path, args.batch_size))
            _harness.wait_for_quiet()
            runs.append(run_score(path, args.batch_size))
        read = min(reads)
        scored = min(runs, key=lambda r: r["seconds"])
        startup = startup_seconds()
        small = Path(tmp) / "small.parquet"
        write_file(small, 1000)
        fixed = min(run_score(small, args.batch_size)["seconds"] for _ in range(3))
        size = path.stat().st_size
    report = {
        "machine": _harness.machine_info(), "rows": rows, "file_bytes": size,
        "batch_size": args.batch_size, "pyarrow_read_s": read,
        "score_s": scored["seconds"], "startup_s": startup, "fixed_s": fixed,
        "streaming_ratio": (scored["seconds"] - fixed) / read,
        "pyarrow_read_all_s": reads, "score_all_s": [r["seconds"] for r in runs],
        "ratio": scored["seconds"] / read, "peak_rss_mib": scored["peak_rss_mib"],
        "metrics": scored["result"]["metrics"], "binned": scored["result"]["binned"],
    }
    text = render(report)
    return _harness.publish(report, text, args.out)


def render(r: dict) -> str:
    return "\n".join([
        f"# Offline scoring of {r['rows']:,} Parquet rows ({r['machine'].get('cpu_model')})",
        "",
        f"File: {r['file_bytes'] / 2**30:.2f} GiB (int8 y_true, float32 y_score, row groups "
        f"of {ROW_GROUP:,}); `--batch-size {r['batch_size']}` (a batch never spans row groups: "
        f"batches of {min(ROW_GROUP, r['batch_size']):,} rows).",
        "",
        f"Best of {len(r['score_all_s'])} interleaved runs each.",
        "",
        "| case | seconds | x pyarrow read |",
        "|---|---|---|",
        f"| pyarrow reads the two columns (floor) | {r['pyarrow_read_s']:.2f} | 1.00 |",
        f"| `gpumetrics score` (accuracy, F1, AUROC, AP over 4096 bins), whole process "
        f"| {r['score_s']:.2f} | {r['ratio']:.2f} |",
        f"| the same command on a 1,000-row file (start-up, imports, loading the compiled "
        f"kernels) | {r['fixed_s']:.2f} | |",
        f"| `gpumetrics score` less that fixed cost | {r['score_s'] - r['fixed_s']:.2f} | "
        f"{r['streaming_ratio']:.2f} |",
        f"| `python -m gpumetrics.cli score --help` | {r['startup_s']:.2f} | |",
        "",
        f"Peak resident memory of the scoring process: {r['peak_rss_mib']:.0f} MiB.",
        "",
        "Metrics: " + ", ".join(f"{k} = {v:.6f}" + (f" (bound {r['binned'][k]:.1e})"
                                                    if k in r["binned"] else "")
                                for k, v in r["metrics"].items()),
        "",
    ])


if __name__ == "__main__":
    sys.exit(main())
