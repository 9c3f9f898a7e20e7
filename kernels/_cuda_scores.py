"""CUDA score kernels: per-column score ranges and histograms (binned ranking), and the
block reductions of the regression moments and the loss sums."""

from __future__ import annotations

import functools

import numpy as np
from gpumetrics.kernels import _common
from gpumetrics.kernels._cuda_launch import (
    MAX_GRID_ROWS,
    THREADS,
    Call,
    add_rows,
    block_reduce,
    clear_cells,
    count_cell,
    flush_cells,
    launch_shape,
    row_of,
)
from numba import cuda, float64, int64, uint32

# --- scores: ranges and histograms ---------------------------------------------------------


@cuda.jit
def _score_range_kernel(y_score, out):
    # grid row = k * L + j; finite scores reduce to out[k, j, 0:2] (min, max); any NaN or
    # infinite score sets out[k, j, 2] to 1
    L = y_score.shape[2]
    for row in range(cuda.blockIdx.y, y_score.shape[0] * L, cuda.gridDim.y):
        k = row // L
        j = row % L
        start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        stride = cuda.gridDim.x * cuda.blockDim.x
        low = float64(np.inf)
        high = float64(-np.inf)
        nonfinite = 0.0
        for i in range(start, y_score.shape[1], stride):
            v = float64(y_score[k, i, j])
            if v != v:
                nonfinite = 1.0
                continue
            if v == np.inf or v == -np.inf:
                nonfinite = 1.0
            low = min(low, v)
            high = max(high, v)
        cuda.atomic.min(out, (k, j, 0), low)
        cuda.atomic.max(out, (k, j, 1), high)
        if nonfinite:
            cuda.atomic.max(out, (k, j, 2), nonfinite)


def score_range(y_score):
    call = Call(y_score)
    y_score = _common.as_score_array(y_score, "y_score", call.xp)
    if y_score.ndim != 3:
        raise ValueError(f"y_score must be 3-D (K, N, L); got {y_score.ndim}-D.")
    K, N, L = y_score.shape
    if call.cupy is not None:  # filled on the device: nothing crosses per call
        out = call.cupy.empty((K, L, 3))
    else:
        out = np.empty((K, L, 3))
    out[..., 0], out[..., 1], out[..., 2] = np.inf, -np.inf, 0.0
    out = call.device(out)
    if N and L:
        grid, block = launch_shape(N, K * L)
        call.launch(_score_range_kernel, grid, block, call.device(y_score), out)
    return call.result(out)


@cuda.jit(device=True, inline=True)
def _search_right(edges, n, v):
    """``searchsorted(edges[:n], v, side="right")``: NaN sorts last."""
    if v != v:
        return n
    a = 0
    b = n
    while a < b:
        mid = (a + b) // 2
        if edges[mid] <= v:
            a = mid + 1
        else:
            b = mid
    return a


SHARED_EDGES = 2048  # float64 edges a block stages in shared memory (16 KiB)


def _edge_cells(staged: bool) -> int:
    """float64 cells of a histogram kernel's edge cache (a 1-cell stand-in when unused)."""
    return SHARED_EDGES if staged else 1


def _histogram_cells(weighted: bool, staged: bool) -> int:
    """Histogram cells per block in shared memory: what the edge cache leaves of the
    48 KiB a block may declare."""
    budget = 48 * 1024 - 8 * _edge_cells(staged)
    return budget // 8 if weighted else budget // 4


def _stages_edges(n_edges: int, weighted: bool) -> bool:
    """Whether a block stages the edges in shared memory: when they fit beside a shared
    histogram of their bins (else the histogram keeps shared memory, the edges global)."""
    return n_edges <= SHARED_EDGES and 2 * (n_edges + 1) <= _histogram_cells(weighted, True)


@functools.cache  # built once per options; Numba compiles each once per argument types
def _histogram_kernel(weighted: bool, indicator: bool, use_edges: bool, shared: bool,
                      staged: bool = False):
    """A score-histogram kernel. Grid row ``k * L + j`` counts column j of set k into a
    block-private histogram of 2 B cells (uint32 counts or float64 weight sums); with
    ``staged``, each block first copies the edges into shared memory."""
    cells_max = _histogram_cells(weighted, staged)
    cell_type = float64 if weighted else uint32
    edge_cells = _edge_cells(staged)

    @cuda.jit
    def kernel(y_true, y_score, lo, hi, n_bins, edges, weight, out):
        L = y_score.shape[2]
        # every sample binary-searches the edges: from shared memory, not global, when staged
        n_edges = edges.shape[0]
        edge_cache = cuda.shared.array(edge_cells, float64)
        if staged:
            for c in range(cuda.threadIdx.x, n_edges, cuda.blockDim.x):
                edge_cache[c] = edges[c]
            cuda.syncthreads()
        for row in range(cuda.blockIdx.y, y_score.shape[0] * L, cuda.gridDim.y):
            k, j, kt, kw = row_of(row, L, y_true.shape[0], weight.shape[0])
            tid = cuda.threadIdx.x
            cells = 2 * n_bins
            hist = cuda.shared.array(cells_max, cell_type)
            if shared:
                clear_cells(hist, cells)
            low = 0.0
            step = 0.0
            if not use_edges:  # with edges, lo and hi are 1 x 1 stand-ins
                # the reference's scale, computed here rather than by a few array
                # operations per call: n_bins / (hi - lo), or 0 for an empty range
                low = lo[k, j]
                width = hi[k, j] - low
                if width > 0:
                    step = n_bins / width
            start = cuda.blockIdx.x * cuda.blockDim.x + tid
            stride = cuda.gridDim.x * cuda.blockDim.x
            for i in range(start, y_score.shape[1], stride):
                v = float64(y_score[k, i, j])
                if use_edges and staged:
                    b = _search_right(edge_cache, n_edges, v)
                elif use_edges:
                    b = _search_right(edges, n_edges, v)
                else:
                    f = (v - low) * step
                    if f >= n_bins:
                        b = n_bins - 1
                    elif f >= 0:
                        b = int64(f)
                    else:
                        b = 0  # also NaN, as the reference
                if indicator:
                    positive = int64(y_true[kt, i, j] != 0)
                else:
                    positive = int64(int64(y_true[kt, i]) == j)
                cell = 2 * b + positive
                if weighted:
                    count_cell(hist, out, row, cell, weight[kw, i], shared)
                else:
                    count_cell(hist, out, row, cell, uint32(1), shared)
            if shared:
                flush_cells(hist, out, row, cells)  # (its last barrier: the next row's too)

    return kernel


def score_histogram(y_true, y_score, lo, hi, n_bins, edges=None, sample_weight=None, out=None):
    call = Call(y_score)
    y_true, y_score, lo, hi, B, edges, w, out = _common.prepare_histogram(
        y_true, y_score, lo, hi, n_bins, edges, sample_weight, out, xp=call.xp
    )
    K, N, L = y_score.shape
    weighted = w is not None
    counts = call.accumulator(out, (K * L, 2 * B))
    if N and L:
        staged = edges is not None and _stages_edges(edges.shape[0], weighted)
        kernel = _histogram_kernel(weighted, y_true.ndim == 3, edges is not None,
                         2 * B <= _histogram_cells(weighted, staged), staged)
        if edges is None:  # the kernel reads the ranges, or the edges: a stand-in for the other
            ranges, edges = (call.device(lo), call.device(hi)), call.constant("zeros", 1)
        else:
            ranges, edges = (call.constant("zeros", 2),) * 2, call.device(edges)
        grid, block = launch_shape(N, K * L)
        call.launch(
            kernel, grid, block,
            call.device(y_true), call.device(y_score), *ranges, B, edges, call.weights(w),
            counts,
        )
    return call.add_into(out, counts)


# --- regression moments --------------------------------------------------------------------

FIELDS = len(_common.MOMENTS)
_EPS64 = float(np.finfo(np.float64).eps)


_merge_state = cuda.jit(device=True, inline=True)(_common.merge_state)
_merge_states = block_reduce(_merge_state)


def _moments_kernel(weighted: bool):
    """Per-thread weighted Welford updates of the 13 fields (means relative to the column's
    first values), merged across the block in shared memory; one state per block."""

    @cuda.jit
    def kernel(y_true, y_pred, weight, blocks):
        L = y_pred.shape[2]
        for row in range(cuda.blockIdx.y, y_pred.shape[0] * L, cuda.gridDim.y):
            k, j, kt, kw = row_of(row, L, y_true.shape[0], weight.shape[0])
            tid = cuda.threadIdx.x
            st = cuda.local.array(FIELDS, float64)
            for f in range(FIELDS):
                st[f] = 0.0
            st[11] = float64(y_true[kt, 0, j])
            st[12] = float64(y_pred[k, 0, j])
            stride = cuda.gridDim.x * cuda.blockDim.x
            i = cuda.blockIdx.x * cuda.blockDim.x + tid
            while i < y_pred.shape[1]:  # not range: fewer registers (see confusion)
                if weighted:
                    w = weight[kw, i]
                else:
                    w = 1.0
                t = float64(y_true[kt, i, j])
                p = float64(y_pred[k, i, j])
                x = t - st[11]
                y = p - st[12]
                e = p - t
                err = abs(e)
                if not err <= st[10]:  # NaN propagates
                    st[10] = err
                W = st[0] + w
                frac = w / W if W != 0 else 0.0
                dx = x - st[1]
                st[1] += dx * frac
                dy = y - st[3]
                st[3] += dy * frac
                st[2] += w * dx * (x - st[1])
                st[4] += w * dy * (y - st[3])
                st[5] += w * dx * (y - st[3])
                de = e - st[6]
                st[6] += de * frac
                st[7] += w * de * (e - st[6])
                st[0] = W
                st[8] += w * err
                st[9] += w * err / max(abs(t), _EPS64)
                i += stride
            shared = cuda.shared.array((THREADS, FIELDS), float64)
            for f in range(FIELDS):
                shared[tid, f] = st[f]
            _merge_states(shared, tid)
            if tid == 0:
                for f in range(FIELDS):
                    blocks[row, cuda.blockIdx.x, f] = shared[0, f]
            cuda.syncthreads()  # the block's shared memory is reused by its next row

    return kernel


@cuda.jit
def _merge_blocks_kernel(blocks, states):
    # Merges the block states of row r into states[r], one block per row: each thread merges
    # every blockDim-th state, then the threads' states merge pairwise in shared memory
    # (log2 THREADS levels). A tree, not one thread walking up to MAX_BLOCKS states: short
    # on the device, and each merge joins states of like weight, which keeps precision.
    tid = cuda.threadIdx.x
    shared = cuda.shared.array((THREADS, FIELDS), float64)
    for row in range(cuda.blockIdx.x, states.shape[0], cuda.gridDim.x):
        for f in range(FIELDS):
            shared[tid, f] = 0.0  # an empty state: the first merge copies the other
        for b in range(tid, blocks.shape[1], cuda.blockDim.x):
            _merge_state(shared[tid], blocks[row, b])
        _merge_states(shared, tid)
        if tid == 0:
            _merge_state(states[row], shared[0])
        cuda.syncthreads()  # the block's shared memory is reused by its next row


_MOMENT_KERNELS = {False: _moments_kernel(False), True: _moments_kernel(True)}


def moments(y_true, y_pred, sample_weight=None, out=None):
    call = Call(y_pred)
    y_true, y_pred, w, out = _common.prepare_moments(y_true, y_pred, sample_weight, out,
                                                     xp=call.xp)
    K, N, L = y_pred.shape
    if N == 0 or L == 0:
        return out
    grid, block = launch_shape(N, K * L)
    blocks = call.empty((K * L, grid[0], FIELDS), np.float64)  # every block writes its own
    weighted = w is not None
    call.launch(_MOMENT_KERNELS[weighted], grid, block, call.device(y_true),
                call.device(y_pred), call.weights(w), blocks)
    merge_rows = min(K * L, MAX_GRID_ROWS)  # one block per row (striding beyond that)
    if isinstance(out, np.ndarray):  # host inputs: the (K, L, 13) state comes back
        states = call.zeros((K * L, FIELDS), np.float64)
        call.launch(_merge_blocks_kernel, merge_rows, THREADS, blocks, states)
        out[...] = _common.merge_moments(out, call.host(states).reshape(K, L, FIELDS))
    elif out.flags.c_contiguous:  # merged into the state on the device: nothing read back
        call.launch(_merge_blocks_kernel, merge_rows, THREADS, blocks,
                    out.reshape(K * L, FIELDS))
    else:
        merged = call.cupy.ascontiguousarray(out).reshape(K * L, FIELDS)
        call.launch(_merge_blocks_kernel, merge_rows, THREADS, blocks, merged)
        out[...] = merged.reshape(out.shape)
    return out


# --- losses --------------------------------------------------------------------------------

_class_loss = cuda.jit(device=True, inline=True)(_common.class_loss)
_add_class_loss = cuda.jit(device=True, inline=True)(
    _common.class_loss_accumulator(_class_loss))
_binary_loss = cuda.jit(device=True, inline=True)(_common.binary_loss)


def _loss_kernel(classes: bool, weighted: bool):
    """Loss sums per block (per-thread sums reduced in shared memory), added to the
    ``(K, 4)`` result with one atomic per field and block."""

    @cuda.jit
    def kernel(y_true, y_score, flag, weight, ignore, eps, out):
        # flag: softmax (class targets) or from_logits (binary targets)
        for k in range(cuda.blockIdx.y, y_score.shape[0], cuda.gridDim.y):
            kt = min(k, y_true.shape[0] - 1)
            kw = min(k, weight.shape[0] - 1)
            tid = cuda.threadIdx.x
            C = y_score.shape[2]
            sums = cuda.local.array(4, float64)
            for f in range(4):
                sums[f] = 0.0
            start = cuda.blockIdx.x * cuda.blockDim.x + tid
            stride = cuda.gridDim.x * cuda.blockDim.x
            for i in range(start, y_score.shape[1], stride):
                if weighted:
                    w = weight[kw, i]
                else:
                    w = 1.0
                if classes:
                    n_cols = 2 if (not flag and C == 1) else C
                    _add_class_loss(sums, y_score[k, i], int64(y_true[kt, i]), ignore, n_cols,
                                    flag, eps, w)
                else:
                    loss = 0.0
                    for c in range(C):
                        loss += _binary_loss(float64(y_score[k, i, c]),
                                             float64(y_true[kt, i, c]), flag)
                    sums[0] += w * loss
                    sums[1] += w * C
            shared = cuda.shared.array((THREADS, 4), float64)
            for f in range(4):
                shared[tid, f] = sums[f]
            add_rows(shared, tid)
            if tid < 4:
                cuda.atomic.add(out, (k, tid), shared[0, tid])
            cuda.syncthreads()  # the block's shared memory is reused by its next row

    return kernel


_LOSS_KERNELS = {(c, w): _loss_kernel(c, w) for c in (False, True) for w in (False, True)}


def loss_sums(y_true, y_score, kind, sample_weight=None, ignore_index=None, eps=0.0, out=None):
    call = Call(y_score)
    y_true, y_score, w, ignore, out = _common.prepare_loss(
        y_true, y_score, kind, sample_weight, ignore_index, out, xp=call.xp
    )
    K, N, C = y_score.shape
    sums = call.accumulator(out, (K, 4))
    if N:
        classes = kind in ("softmax", "proba")
        flag = kind == "softmax" if classes else kind == "sigmoid"
        weighted = w is not None
        grid, block = launch_shape(N, K)
        call.launch(_LOSS_KERNELS[classes, weighted], grid, block, call.device(y_true),
                    call.device(y_score), flag, call.weights(w), ignore, float(eps), sums)
    return call.add_into(out, sums)


