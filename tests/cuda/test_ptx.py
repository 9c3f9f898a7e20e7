"""Every CUDA kernel compiles to PTX for the GPUs it targets. The simulator runs kernels as
Python and never types them; compiling (NVRTC, no GPU needed) catches what it cannot."""

from __future__ import annotations

import pytest
from numba import config

if config.ENABLE_CUDASIM:
    pytest.skip("the simulator does not compile kernels", allow_module_level=True)

import numpy as np  # noqa: E402
from numba import boolean, cuda, float32, float64, int8, int32, int64, uint8  # noqa: E402

from gpumetrics import dispatch  # noqa: E402

kc = dispatch._load("cuda")


def _compile(dispatcher, signature, cc):
    try:
        ptx, _ = cuda.compile_ptx(dispatcher.py_func, signature, cc=cc)
    except Exception as exc:  # NVRTC missing: nothing to check against here
        if "nvrtc" in str(exc).lower():
            pytest.skip(f"NVRTC is not installed: {exc}")
        raise
    assert ".entry" in ptx


CCS = [(8, 0), (9, 0)]


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("label", [int8, uint8, int32, int64])
def test_confusion_compiles(cc, weighted, shared, label):
    out = float64 if weighted else int64
    signature = (label[:, :], label[:, :], int64[:], int64, int64, int64, boolean,
                 float64[:, :], out[:, :])
    _compile(kc._confusion_kernel(weighted, shared), signature, cc)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("weighted", [False, True])
def test_label_counts_compile(cc, weighted):
    out = float64 if weighted else int64
    signature = (uint8[:, :, :], int64[:, :, :], float64[:, :], out[:, :])
    _compile(kc._LABEL_KERNELS[weighted], signature, cc)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("label", [int8, int32, int64])
def test_counting_helpers_compile(cc, label):
    _compile(kc._bincount_kernel, (label[:], int64, int64, int64[:]), cc)
    _compile(kc._range_kernel, (label[:], int64[:]), cc)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("indicator", [False, True])
@pytest.mark.parametrize("use_edges", [False, True])
@pytest.mark.parametrize("shared", [False, True])
def test_score_histogram_compiles(cc, weighted, indicator, use_edges, shared):
    y_true = uint8[:, :, :] if indicator else int64[:, :]
    out = float64 if weighted else int64
    signature = (y_true, float32[:, :, :], float64[:, :], float64[:, :], int64, float64[:],
                 float64[:, :], out[:, :])
    _compile(kc._histogram_kernel(weighted, indicator, use_edges, shared), signature, cc)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("score", [float32, float64])
def test_score_range_compiles(cc, score):
    _compile(kc._score_range_kernel, (score[:, :, :], float64[:, :, :]), cc)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("value", [float32, float64])
def test_moments_compile(cc, weighted, value):
    signature = (value[:, :, :], value[:, :, :], float64[:, :], float64[:, :, :])
    _compile(kc._MOMENT_KERNELS[weighted], signature, cc)
    _compile(kc._merge_blocks_kernel, (float64[:, :, :], float64[:, :]), cc)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("classes", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_sums_compile(cc, classes, weighted):
    y_true = int64[:, :] if classes else float64[:, :, :]
    signature = (y_true, float32[:, :, :], boolean, float64[:, :], int64, float64,
                 float64[:, :])
    _compile(kc._LOSS_KERNELS[classes, weighted], signature, cc)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("score", [float32, float64])
def test_topk_compiles(cc, weighted, score):
    signature = (int64[:, :], score[:, :, :], int64, float64[:, :],
                 (float64 if weighted else int64)[:, :])
    _compile(kc._TOPK_KERNELS[weighted], signature, cc)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("score", [float32, float64])
def test_sort_compiles(cc, score):
    _compile(kc._sort_init_kernel, (score[:, :, :], score[:, :], int64[:, :]), cc)
    _compile(kc._bitonic_step_kernel, (score[:, :], int64[:, :], int64, int64), cc)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("value", [int64, float64])
def test_scan_compiles(cc, value):
    _compile(kc._SCAN_KERNELS[np.dtype(value.name)], (value[:, :], value[:, :], value[:, :]),
             cc)
    _compile(kc._add_offsets_kernel, (value[:, :], value[:, :]), cc)


@pytest.mark.parametrize("cc", CCS)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("indicator", [False, True])
@pytest.mark.parametrize("score", [float32, float64])
def test_exact_ranking_compiles(cc, weighted, indicator, score):
    value = float64 if weighted else int64
    y_true = uint8[:, :, :] if indicator else int64[:, :]
    _compile(kc._GATHER_KERNELS[weighted, indicator],
             (int64[:, :], y_true, float64[:, :], int64, boolean, value[:, :], value[:, :],
              int64[:, :]), cc)
    _compile(kc._RANK_KERNELS[weighted], (score[:, :], value[:, :], value[:, :], value[:, :]),
             cc)
    _compile(kc._curve_ends_kernel, (score[:, :], int64[:, :], boolean, int64[:, :]), cc)
    _compile(kc._curve_points_kernel,
             (score[:, :], value[:, :], value[:, :], int64[:, :], int64[:, :], score[:],
              float64[:], float64[:], int64[:]), cc)


@pytest.mark.parametrize("cc", CCS)
def test_sample_label_counts_compile(cc):
    _compile(kc._sample_label_kernel, (int8[:, :, :], uint8[:, :, :], int64[:, :, :]), cc)
