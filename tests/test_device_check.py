"""The device check without a GPU: it says so, records why, and exits non-zero; and the
dispatch reports the CUDA backend unavailable (never raises) when its kernels cannot be
found or loaded."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from gpumetrics import dispatch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "device_check.sh"


def test_device_check_refuses_clearly_without_a_gpu(tmp_path):
    if dispatch.cuda_unavailable_reason() is None:
        pytest.skip("a GPU is present: the device check would run its stages")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    run = subprocess.run(["bash", str(SCRIPT), str(tmp_path / "out")], capture_output=True,
                         text=True, timeout=120, env=env)
    assert run.returncode == 2, run.stderr
    assert "no usable GPU here" in run.stderr
    env_json = json.loads((tmp_path / "out" / "env.json").read_text())
    assert env_json["cuda_unavailable_reason"] == dispatch.cuda_unavailable_reason()
    assert "cpu" in env_json["backends"] or "reference" in env_json["backends"]
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "no usable GPU" in summary
    assert not list((tmp_path / "out").glob("*.tmp"))


def test_unfindable_kernels_are_a_reason_not_a_crash(monkeypatch):
    def missing(name, *args):
        raise ModuleNotFoundError("No module named 'gpumetrics.kernels'")

    monkeypatch.setattr(dispatch.importlib.util, "find_spec", missing)
    dispatch.cuda_unavailable_reason.cache_clear()
    try:
        reason = dispatch.cuda_unavailable_reason()
        assert "kernels package could not be found" in reason
        with pytest.raises(dispatch.BackendUnavailableError, match="kernels package"):
            dispatch.resolve("cuda")
    finally:
        dispatch.cuda_unavailable_reason.cache_clear()


def test_device_check_reports_a_crash_as_a_crash(tmp_path):
    """A Python that fails before it can look is a failure (exit 1), never "no GPU", even
    with an earlier run's results in the folder."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "env.json").write_text('{"cuda_unavailable_reason": null}')
    env = dict(os.environ, PYTHON="false")
    run = subprocess.run(["bash", str(SCRIPT), str(out)], capture_output=True, text=True,
                         timeout=60, env=env)
    assert run.returncode == 1
    assert "environment stage failed" in run.stderr and "no usable GPU" not in run.stderr
    assert not (out / "env.json").exists()  # the stale file went first
    bad = subprocess.run(["bash", str(SCRIPT), str(out)], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, STAGES="streams bogus"))
    assert bad.returncode == 1 and "no stage 'bogus'" in bad.stderr
