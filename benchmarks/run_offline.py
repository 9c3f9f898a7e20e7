"""Offline scoring benchmark: ``gpumetrics score`` on a Parquet file far larger than its
memory budget, against the time pyarrow alone takes to read the same columns, in one run.

The file (``--rows`` rows: ``y_true`` int8 0/1 and ``y_score`` float32, row groups of 1M
rows) is generated in a temporary directory, chunk by chunk, and deleted at the end. Then:

* floor: pyarrow reads both columns batch by batch into NumPy arrays (and drops them);
* ``gpumetrics score`` runs as a child process (binary task: accuracy, F1, AUROC and
  average precision over 4096 bins; then accuracy and F1 alone, and AUROC alone), its peak
  resident memory (``VmHWM``) polled every 5 ms;
* the peer, DuckDB (the ``bench`` extra), in a child process too, as an analyst would use
  it on the same file: ``GROUP BY y_true, y_score >= 0.5`` counts for accuracy and F1, and
  a 4096-bin ``GROUP BY`` histogram of the scores with NumPy's trapezoid for AUROC. Its
  values are checked against gpumetrics'.

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


# The peer's two jobs, run as ``python -c DUCKDB_JOB path job``: the count of each
# (label, prediction at 0.5) pair, or a histogram of each label's scores in 4096 equal bins
# over [0, 1]; the metrics follow from those counts in NumPy.
DUCKDB_JOB = """
import json, sys
import duckdb, numpy as np
path, job = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
if job == "counts":
    rows = con.execute("SELECT y_true, y_score >= 0.5, count(*) FROM read_parquet(?) "
                       "GROUP BY ALL", [path]).fetchall()
    c = {(int(t), bool(p)): n for t, p, n in rows}
    tp, fp, fn = c.get((1, True), 0), c.get((0, True), 0), c.get((1, False), 0)
    total = sum(c.values())
    out = {"accuracy": (total - fp - fn) / total, "f1": 2 * tp / (2 * tp + fp + fn)}
else:
    rows = con.execute("SELECT y_true, least(greatest(floor(y_score * 4096), 0), 4095)"
                       "::INTEGER, count(*) FROM read_parquet(?) GROUP BY ALL",
                       [path]).fetchall()
    hist = np.zeros((4096, 2))
    for t, b, n in rows:
        hist[b, int(t)] += n
    tps = np.r_[0, np.cumsum(hist[::-1, 1])]
    fps = np.r_[0, np.cumsum(hist[::-1, 0])]
    out = {"auroc": float(np.trapezoid(tps / tps[-1], fps / fps[-1]))}
print(json.dumps(out))
"""


def run_child(cmd: list[str], what: str) -> dict:
    """Run ``cmd``: its wall time, peak resident memory and the JSON it prints."""
    import psutil

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
        raise RuntimeError(f"{what} failed: {err}")
    return {"seconds": seconds, "peak_rss_mib": peak / 2**20, "result": json.loads(out)}


def run_score(path: Path, batch_size: int, metrics: str = METRICS) -> dict:
    return run_child([sys.executable, "-m", "gpumetrics.cli", "score", str(path), "--y-true",
                      "y_true", "--y-score", "y_score", "--metrics", metrics, "--json",
                      "--no-progress", "--batch-size", str(batch_size)], "gpumetrics score")


def run_duckdb(path: Path, job: str) -> dict:
    return run_child([sys.executable, "-c", DUCKDB_JOB, str(path), job], f"DuckDB {job}")


def check_agreement(best: dict) -> None:
    """DuckDB's values equal gpumetrics' (the same counts; the same 4096 bins for AUROC,
    summed in another order)."""
    for ours, theirs in (("score_counts", "duckdb_counts"), ("score_auroc", "duckdb_auroc")):
        for name, value in best[theirs]["result"].items():
            got = best[ours]["result"]["metrics"][name]
            if abs(got - value) > 1e-9 * max(1.0, abs(value)):
                raise RuntimeError(f"{name}: gpumetrics {got!r} but DuckDB {value!r}")


def best_of(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["seconds"])


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
        jobs = {
            "score": lambda: run_score(path, args.batch_size),
            "score_counts": lambda: run_score(path, args.batch_size, "accuracy,f1"),
            "score_auroc": lambda: run_score(path, args.batch_size, "auroc"),
            "duckdb_counts": lambda: run_duckdb(path, "counts"),
            "duckdb_auroc": lambda: run_duckdb(path, "histogram"),
        }
        reads, runs = [], {name: [] for name in jobs}
        for _ in range(args.repeats):  # interleaved, so that all see the same machine
            _harness.wait_for_quiet()
            reads.append(pyarrow_read(path, args.batch_size))
            for name, job in jobs.items():
                _harness.wait_for_quiet()
                runs[name].append(job())
        read = min(reads)
        best = {name: best_of(r) for name, r in runs.items()}
        check_agreement(best)
        scored = best["score"]
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
        "pyarrow_read_all_s": reads, "score_all_s": [r["seconds"] for r in runs["score"]],
        "ratio": scored["seconds"] / read, "peak_rss_mib": scored["peak_rss_mib"],
        "metrics": scored["result"]["metrics"], "binned": scored["result"]["binned"],
        "jobs": {name: {"seconds": r["seconds"], "peak_rss_mib": r["peak_rss_mib"],
                        "all_s": [x["seconds"] for x in runs[name]],
                        "metrics": r["result"].get("metrics", r["result"])}
                 for name, r in best.items()},
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
        *_peer_table(r),
        "Metrics: " + ", ".join(f"{k} = {v:.6f}" + (f" (bound {r['binned'][k]:.1e})"
                                                    if k in r["binned"] else "")
                                for k, v in r["metrics"].items()),
        "",
    ])


def _peer_table(r: dict) -> list[str]:
    """gpumetrics against DuckDB, job by job: whole processes, same file, same run."""
    jobs = r.get("jobs")
    if not jobs:
        return []
    lines = ["## Against DuckDB (whole processes, best of the interleaved runs)", "",
             "| job | gpumetrics s (MiB) | DuckDB s (MiB) | DuckDB / gpumetrics | values |",
             "|---|---|---|---|---|"]
    for label, ours, theirs in (("accuracy + F1 (counts at 0.5)", "score_counts",
                                 "duckdb_counts"),
                                ("AUROC, 4096 bins", "score_auroc", "duckdb_auroc")):
        a, b = jobs[ours], jobs[theirs]
        values = ", ".join(f"{k} {a['metrics'][k]:.6f} / {b['metrics'][k]:.6f}"
                           for k in b["metrics"])
        lines.append(f"| {label} | {a['seconds']:.2f} ({a['peak_rss_mib']:.0f}) | "
                     f"{b['seconds']:.2f} ({b['peak_rss_mib']:.0f}) | "
                     f"{b['seconds'] / a['seconds']:.2f} | {values} |")
    return [*lines, ""]


if __name__ == "__main__":
    sys.exit(main())
