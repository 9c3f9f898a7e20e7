"""The GPU benchmark script without a GPU: a clear refusal, and its figures from a report."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import run_gpu  # noqa: E402
from gpumetrics import dispatch  # noqa: E402


def test_refuses_clearly_without_a_gpu(capsys):
    if dispatch.cuda_unavailable_reason() is None:
        pytest.skip("a GPU is present")
    with pytest.raises(SystemExit) as exc:
        run_gpu.main(["--quick"])
    assert exc.value.code == 2
    assert "needs a CUDA device" in capsys.readouterr().err


def _ok(seconds):
    return {"status": "ok", "best_s": seconds, "median_s": seconds, "n": 1}


def test_summary_and_table_from_a_report():
    report = {
        "gpu": {"name": "Test GPU"}, "classes": 10,
        "labels": [{"n": 10**9, "bytes": 16e9, "cases": {
            "read_floor": _ok(0.005), "copy_floor": _ok(0.010),
            "gpumetrics_kernel": _ok(0.008), "torchmetrics": _ok(0.080),
            "gpumetrics_streaming_update": {"status": "oom", "reason": "out of memory"}}}],
        "scores": [{"n": 10**9, "bytes": 12e9, "cases": {
            "read_floor": _ok(0.004), "gpumetrics_exact": _ok(0.1),
            "torchmetrics_exact": _ok(0.4), "gpumetrics_binned": _ok(0.01),
            "torchmetrics_binned": _ok(0.05)}}],
        "batched": [{"n": 10**6, "k": 64, "cases": {
            "gpumetrics_batched": _ok(0.002), "torchmetrics_loop": _ok(0.05)}}],
    }
    summary = run_gpu.summarise(report)
    # the kernel reads 16 GB in 8 ms (2000 GB/s); the copy moves 2 x 16 GB in 10 ms
    assert summary["confusion_vs_copy_bandwidth_at_1e9"] == pytest.approx(2000 / 3200)
    assert summary["confusion_vs_torchmetrics_at_1e9"] == pytest.approx(10.0)
    assert summary["exact_auroc_vs_torchmetrics_at_1e9"] == pytest.approx(4.0)
    assert summary["batched_k64_vs_torchmetrics_loop_at_1e6"] == pytest.approx(25.0)
    report["summary"] = summary
    table = run_gpu.render(report)
    assert "| confusion_vs_copy_bandwidth_at_1e9 | 0.62 | 0.75 |" in table
    assert "oom" in table
