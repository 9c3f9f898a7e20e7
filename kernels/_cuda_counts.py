"""CUDA counting kernels: confusion counts, multilabel counts, label ranges and bincounts,
per-sample multilabel counts and top-k outcomes, each a privatised histogram."""

from __future__ import annotations

import functools

import numpy as np
from gpumetrics.kernels import _common
from gpumetrics.kernels._cuda_launch import (
    FLUSH_ROUNDS,
    SHARED_CELLS_F64,
    SHARED_CELLS_U32,
    SIMULATED,
    WARP_CLASSES,
    Call,
    clear_cells,
    count_cell,
    flush_cells,
    launch_shape,
)
from numba import cuda, float64, int32, int64, uint32

# --- confusion ---------------------------------------------------------------------------


@cuda.jit(device=True, inline=True)
def _class_index(v, offset, lut, n_classes):
    shifted = int64(v) - offset
    if shifted >= 0 and shifted < lut.shape[0]:
        return lut[shifted]
    return n_classes


CONFUSION_MODES = ("global", "shared", "warp")


@functools.cache  # built once per options; Numba compiles each once per argument types
def _confusion_kernel(weighted: bool, mode: str):
    """A confusion kernel: float64 weight sums or int64 counts. ``mode``: ``"global"`` adds
    each sample to the global result; ``"shared"`` counts into a block-private copy in
    dynamic shared memory (uint32 counts or float64 sums), added to the result at each
    flush; ``"warp"`` (counts only) as ``"shared"``, the lanes of a warp that share a cell
    adding to it once (``match_any_sync``), so that few classes do not serialise the warp."""
    shared = mode != "global"
    cell_type = float64 if weighted else uint32

    @cuda.jit
    def kernel(y_true, y_pred, lut, offset, n_classes, ignore, use_ignore, weight, out):
        width = n_classes + 1
        cells = width * width
        N = y_pred.shape[1]
        tid = cuda.threadIdx.x
        hist = cuda.shared.array(0, cell_type)
        stride = cuda.gridDim.x * cuda.blockDim.x
        window = stride * FLUSH_ROUNDS
        for k in range(cuda.blockIdx.y, y_pred.shape[0], cuda.gridDim.y):
            kt = min(k, y_true.shape[0] - 1)
            kw = min(k, weight.shape[0] - 1)
            # Each window's loop bounds are the block's, not the thread's: every thread (so
            # every lane of a warp, as match_any_sync needs) runs every round, and a window
            # gives a block at most FLUSH_ROUNDS samples a thread, too few to wrap a cell.
            # While loops: a range with a runtime step costs a 64-bit division and is
            # unrolled, which took 44-56 registers where these take 23-27 (ptxas, sm_90).
            first = cuda.blockIdx.x * cuda.blockDim.x
            while first < N:
                if shared:
                    clear_cells(hist, cells)
                end = min(N, first + window)
                i = first + tid
                while i - tid < end:
                    cell = -1  # no cell: past the end, or an ignored label
                    if i < N:
                        t = y_true[kt, i]
                        if not (use_ignore and int64(t) == ignore):
                            cell = (_class_index(t, offset, lut, n_classes) * width
                                    + _class_index(y_pred[k, i], offset, lut, n_classes))
                    if mode == "warp":
                        peers = cuda.match_any_sync(int32(-1), int32(cell))
                        # the lowest lane of each group of equal cells adds the group's size
                        if cell >= 0 and (peers & ((1 << cuda.laneid) - 1)) == 0:
                            cuda.atomic.add(hist, cell, uint32(cuda.popc(peers)))
                    elif cell >= 0 and weighted:
                        count_cell(hist, out, k, cell, weight[kw, i], shared)
                    elif cell >= 0:
                        count_cell(hist, out, k, cell, uint32(1), shared)
                    i += stride
                if shared:
                    flush_cells(hist, out, k, cells)
                first += window

    return kernel


@functools.cache
def _has_match_any(device: int) -> bool:
    """Whether ``device`` (current when called) runs ``match_any_sync`` (compute capability
    7.0 and later); never under the simulator, which does not implement it."""
    return not SIMULATED and cuda.get_current_device().compute_capability >= (7, 0)


def _confusion_mode(C: int, weighted: bool, device: int) -> str:
    """The ``_confusion_kernel`` mode for C classes: shared memory when the (C + 1)^2 cells
    fit, warp-aggregated where few classes make equal cells in a warp likely."""
    if (C + 1) ** 2 > (SHARED_CELLS_F64 if weighted else SHARED_CELLS_U32):
        return "global"
    if not weighted and C <= WARP_CLASSES and _has_match_any(device):
        return "warp"
    return "shared"




def confusion(
    y_true, y_pred, num_classes, sample_weight=None, ignore_index=None, lut=None, offset=0,
    out=None,
):
    call = Call(y_pred)
    if lut is None:  # the identity table (at offset 0), made once per device and stream
        lut, offset = call.constant("arange", max(1, int(num_classes))), 0
    y_true, y_pred, C, w, lut, offset, out = _common.prepare_confusion(
        y_true, y_pred, num_classes, sample_weight, lut, offset, out, xp=call.xp
    )
    K, N = y_pred.shape
    cells = (C + 1) * (C + 1)
    weighted = w is not None
    counts = call.accumulator(out, (K, cells))
    if N:
        mode = _confusion_mode(C, weighted, call.where[0])
        grid, block = launch_shape(N, K)
        call.launch(
            _confusion_kernel(weighted, mode), grid, block,
            call.device(y_true), call.device(y_pred), call.device(lut), int(offset), C,
            int(ignore_index) if ignore_index is not None else 0, ignore_index is not None,
            call.weights(w), counts,
            shared_bytes=0 if mode == "global" else cells * (8 if weighted else 4),
        )
    return call.add_into(out, counts)


# --- contingency --------------------------------------------------------------------------


@functools.cache
def _contingency_kernel(shared: bool):
    """Rectangular counts through a table per side, as ``_confusion_kernel`` counts (a
    block-private uint32 copy in shared memory when the cells fit, else global atomics)."""

    @cuda.jit
    def kernel(y_true, y_pred, lut_t, off_t, lut_p, off_p, n_rows, n_cols, out):
        width = n_cols + 1
        cells = (n_rows + 1) * width
        N = y_pred.shape[1]
        tid = cuda.threadIdx.x
        hist = cuda.shared.array(0, uint32)
        stride = cuda.gridDim.x * cuda.blockDim.x
        window = stride * FLUSH_ROUNDS
        for k in range(cuda.blockIdx.y, y_pred.shape[0], cuda.gridDim.y):
            kt = min(k, y_true.shape[0] - 1)
            first = cuda.blockIdx.x * cuda.blockDim.x
            while first < N:
                if shared:
                    clear_cells(hist, cells)
                end = min(N, first + window)
                i = first + tid
                while i - tid < end:
                    if i < N:
                        cell = (_class_index(y_true[kt, i], off_t, lut_t, n_rows) * width
                                + _class_index(y_pred[k, i], off_p, lut_p, n_cols))
                        count_cell(hist, out, k, cell, uint32(1), shared)
                    i += stride
                if shared:
                    flush_cells(hist, out, k, cells)
                first += window

    return kernel


def contingency(
    y_true, y_pred, n_rows, n_cols, lut_true=None, offset_true=0, lut_pred=None, offset_pred=0,
    out=None,
):
    call = Call(y_pred)
    tables = []
    for lut, offset, size in ((lut_true, offset_true, n_rows), (lut_pred, offset_pred, n_cols)):
        if lut is None:  # the identity table, made once per device and stream
            lut, offset = call.constant("arange", max(1, int(size))), 0
        tables += [lut, offset]
    y_true, y_pred, R, C, lut_t, off_t, lut_p, off_p, out = _common.prepare_contingency(
        y_true, y_pred, n_rows, n_cols, *tables, out, xp=call.xp
    )
    K, N = y_pred.shape
    cells = (R + 1) * (C + 1)
    counts = call.accumulator(out, (K, cells))
    if N:
        shared = cells <= SHARED_CELLS_U32
        grid, block = launch_shape(N, K)
        call.launch(
            _contingency_kernel(shared), grid, block, call.device(y_true), call.device(y_pred),
            call.device(lut_t), int(off_t), call.device(lut_p), int(off_p), R, C, counts,
            shared_bytes=cells * 4 if shared else 0,
        )
    return call.add_into(out, counts)


# --- multilabel counts ---------------------------------------------------------------------


def _label_kernel(weighted: bool, shared: bool):
    """A multilabel counting kernel: ``out[k, 4 * l + 2 * true + pred]``, int64 counts or
    float64 weight sums, through a block-private copy of the L x 4 cells in dynamic shared
    memory (uint32 counts, flushed before they can wrap) when ``shared``."""
    cell_type = float64 if weighted else uint32

    @cuda.jit
    def kernel(y_true, y_pred, weight, out):
        L = y_pred.shape[2]
        N = y_pred.shape[1]
        tid = cuda.threadIdx.x
        hist = cuda.shared.array(0, cell_type)
        stride = cuda.gridDim.x * cuda.blockDim.x
        window = stride * FLUSH_ROUNDS  # a sample adds 1 to one cell of each label
        for k in range(cuda.blockIdx.y, y_pred.shape[0], cuda.gridDim.y):
            kt = min(k, y_true.shape[0] - 1)
            kw = min(k, weight.shape[0] - 1)
            first = cuda.blockIdx.x * cuda.blockDim.x
            while first < N:  # while loops: fewer registers than range (see confusion)
                if shared:
                    clear_cells(hist, 4 * L)
                end = min(N, first + window)
                i = first + tid
                while i < end:
                    if weighted:
                        value = weight[kw, i]
                    else:
                        value = cell_type(1)
                    for j in range(L):
                        cell = (4 * j + 2 * int64(y_true[kt, i, j] != 0)
                                + int64(y_pred[k, i, j] != 0))
                        count_cell(hist, out, k, cell, value, shared)
                    i += stride
                if shared:
                    flush_cells(hist, out, k, 4 * L)
                first += window

    return kernel


_LABEL_KERNELS = {(w, s): _label_kernel(w, s) for w in (False, True) for s in (False, True)}


def label_counts(y_true, y_pred, sample_weight=None, out=None):
    call = Call(y_pred)
    y_true, y_pred, w, out = _common.prepare_label_counts(y_true, y_pred, sample_weight, out,
                                                          xp=call.xp)
    K, N, L = y_pred.shape
    weighted = w is not None
    counts = call.accumulator(out, (K, 4 * L))
    if N and L:
        shared = 4 * L <= (SHARED_CELLS_F64 if weighted else SHARED_CELLS_U32)
        grid, block = launch_shape(N, K)
        call.launch(_LABEL_KERNELS[weighted, shared], grid, block, call.device(y_true),
                    call.device(y_pred), call.weights(w), counts,
                    shared_bytes=4 * L * (8 if weighted else 4) if shared else 0)
    return call.add_into(out, counts)


# --- label ranges and counts ---------------------------------------------------------------


@cuda.jit
def _bincount_kernel(y, offset, size, out):
    # Few labels over many samples would serialise every thread on a handful of global
    # addresses: when the counts fit, each block counts into shared memory and adds each
    # non-zero count once. uint32 holds a block's counts: a block reads at most its
    # grid-stride share of y, far below 2^32 samples. ``out`` is (1, size).
    hist = cuda.shared.array(SHARED_CELLS_U32, uint32)
    shared = size <= SHARED_CELLS_U32
    if shared:
        clear_cells(hist, size)
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, y.shape[0], stride):
        v = int64(y[i]) - offset
        if v >= 0 and v < size:
            count_cell(hist, out, 0, v, uint32(1), shared)
    if shared:
        flush_cells(hist, out, 0, size)


def bincount(y, offset, size, out=None):
    call = Call(y)
    y, offset, size, out = _common.prepare_bincount(y, offset, size, out, xp=call.xp)
    counts = call.accumulator(out, (size,))
    if y.shape[0]:
        grid, block = launch_shape(y.shape[0])
        call.launch(_bincount_kernel, grid[0], block, call.device(y), offset, size,
                    counts.reshape(1, size))
    return call.add_into(out, counts)


@cuda.jit
def _range_kernel(y, out):
    # out[0] = min, out[1] = max (as int64), by atomics on per-thread extremes
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    lo = int64(y[start]) if start < y.shape[0] else int64(y[0])
    hi = lo
    for i in range(start, y.shape[0], stride):
        v = int64(y[i])
        lo = min(lo, v)
        hi = max(hi, v)
    cuda.atomic.min(out, 0, lo)
    cuda.atomic.max(out, 1, hi)


def label_range(y):
    """Smallest and largest label (Python ints: this reads the device)."""
    call = Call(y)
    y = _common.prepare_range(y, xp=call.xp)
    first = np.asarray([np.iinfo(np.int64).max, np.iinfo(np.int64).min], np.int64)
    out = call.device(first)
    grid, block = launch_shape(y.shape[0])
    call.launch(_range_kernel, grid[0], block, call.device(y), out)
    host = call.host(out)
    return int(host[0]), int(host[1])


# --- per-sample multilabel counts ----------------------------------------------------------


@cuda.jit
def _sample_label_kernel(y_true, y_pred, out):
    for k in range(cuda.blockIdx.y, y_pred.shape[0], cuda.gridDim.y):
        kt = min(k, y_true.shape[0] - 1)
        start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        for i in range(start, y_pred.shape[1], cuda.gridDim.x * cuda.blockDim.x):
            tp = 0
            predicted = 0
            true = 0
            differing = 0
            for j in range(y_pred.shape[2]):
                t = y_true[kt, i, j]
                p = y_pred[k, i, j]
                tp += int64(t != 0 and p != 0)
                predicted += int64(p != 0)
                true += int64(t != 0)
                differing += int64(int64(t) != int64(p))
            out[k, i, 0] = tp
            out[k, i, 1] = predicted
            out[k, i, 2] = true
            out[k, i, 3] = differing


def sample_label_counts(y_true, y_pred):
    call = Call(y_pred)
    y_true, y_pred, _ = _common.prepare_sample_label_counts(y_true, y_pred, xp=call.xp)
    K, N, _ = y_pred.shape
    out = call.zeros((K, N, 4), np.int64)
    if N:
        grid, block = launch_shape(N, K)
        call.launch(_sample_label_kernel, grid, block, call.device(y_true),
                    call.device(y_pred), out)
    return call.result(out)


# --- top-k ---------------------------------------------------------------------------------

_topk_code = cuda.jit(device=True, inline=True)(_common.topk_code)


def _topk_kernel(weighted: bool):
    dtype = np.float64 if weighted else np.int64

    @cuda.jit
    def kernel(y_true, y_score, k_top, weight, out):
        for k in range(cuda.blockIdx.y, y_score.shape[0], cuda.gridDim.y):
            kt = min(k, y_true.shape[0] - 1)
            kw = min(k, weight.shape[0] - 1)
            hist = cuda.shared.array(4, dtype)
            clear_cells(hist, 4)
            start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
            stride = cuda.gridDim.x * cuda.blockDim.x
            for i in range(start, y_score.shape[1], stride):
                code = _topk_code(y_score[k, i], int64(y_true[kt, i]), k_top)
                if weighted:
                    cuda.atomic.add(hist, code, weight[kw, i])
                else:
                    cuda.atomic.add(hist, code, 1)
            flush_cells(hist, out, k, 4)  # (its last barrier: the next row's too)

    return kernel


_TOPK_KERNELS = {False: _topk_kernel(False), True: _topk_kernel(True)}


def topk_outcomes(y_true, y_score, k, sample_weight=None, out=None):
    call = Call(y_score)
    y_true, y_score, k, w, out = _common.prepare_topk(y_true, y_score, k, sample_weight, out,
                                                      xp=call.xp)
    K, N, C = y_score.shape
    weighted = w is not None
    counts = call.accumulator(out, (K, 4))
    if N:
        grid, block = launch_shape(N, K)
        call.launch(_TOPK_KERNELS[weighted], grid, block, call.device(y_true),
                    call.device(y_score), k, call.weights(w), counts)
    return call.add_into(out, counts)
