"""The exact-ranking, bincount and edges-histogram kernels compile to PTX for the GPUs they
target, with the argument types the runtime passes (C-contiguous arrays; sorted rows of the
bitonic path are slices, so any layout), and ptxas assembles that PTX: it rejects what
NVRTC lets through, such as more than 48 KiB of static shared memory per block."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

import pytest
from numba import config

if config.ENABLE_CUDASIM:
    pytest.skip("the simulator does not compile kernels", allow_module_level=True)

import numpy as np  # noqa: E402
from numba import boolean, cuda, float32, float64, int8, int16, int32, int64, uint8  # noqa: E402

from gpumetrics import dispatch  # noqa: E402

kc = dispatch._load("cuda")
from gpumetrics.kernels import _cuda_counts as kcc  # noqa: E402
from gpumetrics.kernels import _cuda_ranking as kr  # noqa: E402
from gpumetrics.kernels import _cuda_scores as ks  # noqa: E402

CCS = [(8, 0), (9, 0)]
SCORES = [float32, float64]


def _ptxas():
    """ptxas on PATH or in a CUDA toolkit, else None."""
    found = shutil.which("ptxas")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/local/cuda*/bin/ptxas"))
    return candidates[-1] if candidates else None


def _compile(dispatcher, signature, cc, tmp_path):
    try:
        ptx, _ = cuda.compile_ptx(dispatcher.py_func, signature, cc=cc)
    except Exception as exc:  # NVRTC missing: nothing to check against here
        if "nvrtc" in str(exc).lower():
            pytest.skip(f"NVRTC is not installed: {exc}")
        raise
    assert ".entry" in ptx
    ptxas = _ptxas()
    if ptxas is None:
        pytest.skip("ptxas is neither on PATH nor under /usr/local/cuda*/bin")
    source = tmp_path / "kernel.ptx"
    source.write_text(ptx)
    done = subprocess.run([ptxas, f"-arch=sm_{cc[0]}{cc[1]}", str(source), "-o",
                           os.devnull], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _c(t, ndim):
    """A C-contiguous array type of ``ndim`` dimensions."""
    return {1: t[::1], 2: t[:, ::1], 3: t[:, :, ::1]}[ndim]


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("score", SCORES)
def test_bitonic_sort_compiles(cc, score, tmp_path):
    _compile(kr._sort_init_kernel, (_c(score, 3), _c(score, 2), _c(int64, 2)), cc, tmp_path)
    _compile(kr._bitonic_step_kernel, (_c(score, 2), _c(int64, 2), int64, int64), cc,
             tmp_path)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("value", [int64, float64])
def test_block_scan_compiles(cc, value, tmp_path):
    _compile(kr._SCAN_KERNELS[np.dtype(value.name)],
             (_c(value, 2), _c(value, 2), _c(value, 2)), cc, tmp_path)
    _compile(kr._add_offsets_kernel, (_c(value, 2), _c(value, 2)), cc, tmp_path)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("indicator", [False, True])
@pytest.mark.parametrize("layout", ["C", "A"])  # CuPy's sorted rows, or the bitonic slices
def test_gather_compiles(cc, weighted, indicator, layout, tmp_path):
    value = float64 if weighted else int64
    order = _c(int64, 2) if layout == "C" else int64[:, :]
    for label in (uint8, int32, int64):
        y_true = _c(label, 3) if indicator else _c(label, 2)
        _compile(kr._GATHER_KERNELS[weighted, indicator],
                 (order, y_true, _c(float64, 2), int64, boolean, _c(value, 2), _c(value, 2),
                  _c(int64, 2)), cc, tmp_path)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("layout", ["C", "A"])
def test_tie_runs_compile(cc, score, layout, tmp_path):
    values = _c(score, 2) if layout == "C" else score[:, :]
    _compile(kr._run_ends_kernel, (values, boolean, _c(int64, 2)), cc, tmp_path)
    for value in (int64, float64):
        _compile(kr._run_totals_kernel,
                 (_c(int64, 2), _c(int64, 2), _c(value, 2), _c(value, 2)), cc, tmp_path)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("weighted", [False, True])
def test_rank_compiles(cc, weighted, tmp_path):
    value = float64 if weighted else int64
    _compile(kr._RANK_KERNELS[weighted],
             (_c(value, 2), _c(value, 2), _c(int64, 2), _c(value, 2), _c(value, 2)), cc,
             tmp_path)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("score, threshold", [(float32, float32), (float64, float64),
                                              (float32, float64)])  # float16 sorted as f32
@pytest.mark.parametrize("layout", ["C", "A"])
def test_curve_compiles(cc, weighted, score, threshold, layout, tmp_path):
    value = float64 if weighted else int64
    values = _c(score, 2) if layout == "C" else score[:, :]
    _compile(kr._curve_points_kernel,
             (values, _c(value, 2), _c(value, 2), _c(int64, 2), _c(int64, 2),
              _c(threshold, 1), _c(float64, 1), _c(float64, 1), _c(int64, 1)), cc, tmp_path)
    if weighted:
        flags = (_c(int64, 2), _c(int64, 2), _c(int64, 2))
        _compile(kr._runs_held_kernel, flags, cc, tmp_path)
        _compile(kr._drop_empty_runs_kernel, flags, cc, tmp_path)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("label", [int8, uint8, int16, int32, int64])
def test_bincount_compiles(cc, label, tmp_path):
    _compile(kcc._bincount_kernel, (_c(label, 1), int64, int64, _c(int64, 2)), cc, tmp_path)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("indicator", [False, True])
@pytest.mark.parametrize("shared, staged", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("score", SCORES)
def test_edges_histogram_compiles(cc, weighted, indicator, shared, staged, score, tmp_path):
    y_true = _c(uint8, 3) if indicator else _c(int64, 2)
    out = float64 if weighted else int64
    signature = (y_true, _c(score, 3), _c(float64, 2), _c(float64, 2), int64,
                 _c(float64, 1), _c(float64, 2), _c(out, 2))
    kernel = ks._histogram_kernel(weighted, indicator, True, shared, staged)
    _compile(kernel, signature, cc, tmp_path)
