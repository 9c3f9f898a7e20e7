"""CUDA exact ranking: each score column sorted and scanned on the device, for the rank
statistic of the AUC (``rank_auc``, ``refine_auc``) and the binary curve (``clf_curve``)."""

from __future__ import annotations

import numpy as np
from gpumetrics.kernels import _common
from gpumetrics.kernels._cuda_launch import MAX_GRID_ROWS, THREADS, Call, launch_shape
from numba import cuda, float64, int64

# --- exact ranking: sort and scan on the device --------------------------------------------
#
# Each score column (k, j) is one row r = k * L + j. Rows are sorted ascending (NaN last)
# with CuPy's sort (CUB radix sort) where CuPy can run, else with a bitonic sort written
# here; cumulative sums likewise use CuPy's scan, else a block scan written here. The
# kernels around them (gather, tie runs, rank sums, curve points) are the same for both.


@cuda.jit(device=True, inline=True)
def _before(a, ia, b, ib):
    """(score, index) ``a`` sorts before ``b``: by score, NaN last, ties by index."""
    if a < b:
        return True
    if a > b:
        return False
    a_nan = a != a
    b_nan = b != b
    if a_nan != b_nan:
        return b_nan
    return ia < ib


@cuda.jit
def _sort_init_kernel(y_score, values, order):
    # values[r, i] = y_score[k, i, j] (NaN beyond N, so the padding sorts last); order = i
    L = y_score.shape[2]
    for r in range(cuda.blockIdx.y, values.shape[0], cuda.gridDim.y):
        k = r // L
        j = r % L
        start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        for i in range(start, values.shape[1], cuda.gridDim.x * cuda.blockDim.x):
            if i < y_score.shape[1]:
                values[r, i] = y_score[k, i, j]
            else:
                values[r, i] = np.nan
            order[r, i] = i


@cuda.jit
def _bitonic_step_kernel(values, order, j, size):
    # one compare-exchange stage of a bitonic sort of every row; each pair has one owner
    for r in range(cuda.blockIdx.y, values.shape[0], cuda.gridDim.y):
        start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        for i in range(start, values.shape[1], cuda.gridDim.x * cuda.blockDim.x):
            partner = i ^ j
            if partner > i:
                a, ia = values[r, i], order[r, i]
                b, ib = values[r, partner], order[r, partner]
                if (i & size) == 0:
                    swap = _before(b, ib, a, ia)
                else:
                    swap = _before(a, ia, b, ib)
                if swap:
                    values[r, i], order[r, i] = b, ib
                    values[r, partner], order[r, partner] = a, ia


def _sorted_columns(call, y_score):
    """Every column of the device array ``y_score`` ``(K, N, L)`` sorted ascending, NaN
    last: ``(values, order)``, both ``(K * L, N)``, with ``values[r] = column[order[r]]``."""
    K, N, L = y_score.shape
    R = K * L
    if call.cupy is not None:
        cp = call.cupy
        rows = cp.ascontiguousarray(cp.moveaxis(y_score, 2, 1).reshape(R, N))
        # one NaN bit pattern: the radix sort puts positive NaN last, but not negative NaN
        rows = cp.where(rows == rows, rows, np.nan).astype(rows.dtype, copy=False)
        order = cp.empty((R, N), cp.int64)
        for r in range(R):  # a radix sort per row
            order[r] = cp.argsort(rows[r])
        return cp.take_along_axis(rows, order, axis=1), order
    M = 1 << max(0, (N - 1).bit_length())
    values = call.empty((R, M), y_score.dtype)
    order = call.empty((R, M), np.int64)
    grid, block = launch_shape(M, R)
    call.launch(_sort_init_kernel, grid, block, y_score, values, order)
    size = 2
    while size <= M:
        j = size // 2
        while j > 0:
            call.launch(_bitonic_step_kernel, grid, block, values, order, j, size)
            j //= 2
        size *= 2
    return values[:, :N], order[:, :N]


def _scan_kernel(dtype):
    @cuda.jit
    def kernel(x, out, totals):
        # inclusive scan of one block's slice of row r (Hillis-Steele in shared memory)
        for r in range(cuda.blockIdx.y, x.shape[0], cuda.gridDim.y):
            tid = cuda.threadIdx.x
            i = cuda.blockIdx.x * cuda.blockDim.x + tid
            buf = cuda.shared.array(THREADS, dtype)
            if i < x.shape[1]:
                buf[tid] = x[r, i]
            else:
                buf[tid] = 0
            cuda.syncthreads()
            offset = 1
            while offset < cuda.blockDim.x:
                add = buf[tid] * 0
                if tid >= offset:
                    add = buf[tid - offset]
                cuda.syncthreads()
                buf[tid] += add
                cuda.syncthreads()
                offset *= 2
            if i < x.shape[1]:
                out[r, i] = buf[tid]
            if tid == cuda.blockDim.x - 1:
                totals[r, cuda.blockIdx.x] = buf[tid]
            cuda.syncthreads()  # the block's shared memory is reused by its next row

    return kernel


_SCAN_KERNELS = {np.dtype(np.int64): _scan_kernel(int64),
                 np.dtype(np.float64): _scan_kernel(float64)}


@cuda.jit
def _add_offsets_kernel(out, scanned_totals):
    for r in range(cuda.blockIdx.y, out.shape[0], cuda.gridDim.y):
        b = cuda.blockIdx.x
        i = b * cuda.blockDim.x + cuda.threadIdx.x
        if b > 0 and i < out.shape[1]:
            out[r, i] += scanned_totals[r, b - 1]


def _cumsum_rows(call, x):
    """Inclusive cumulative sums along each row of a ``(R, N)`` device array."""
    if call.cupy is not None:
        return call.cupy.cumsum(x, axis=1)
    R, N = x.shape
    blocks = -(-N // THREADS)
    out = call.empty((R, N), x.dtype)
    totals = call.empty((R, blocks), x.dtype)
    grid = (blocks, min(R, MAX_GRID_ROWS))
    call.launch(_SCAN_KERNELS[np.dtype(x.dtype)], grid, THREADS, x, out, totals)
    if blocks > 1:
        call.launch(_add_offsets_kernel, grid, THREADS, out,
                    _cumsum_rows(call, totals))
    return out


def _gather_kernel(weighted: bool, indicator: bool):
    @cuda.jit
    def kernel(order, y_true, weight, L, reverse, pos, neg, nonzero):
        # the positive and negative weight at each sorted position (reversed: descending),
        # and with weights, whether the weight there is non-zero
        for r in range(cuda.blockIdx.y, order.shape[0], cuda.gridDim.y):
            k = r // L
            j = r % L
            kt = min(k, y_true.shape[0] - 1)
            kw = min(k, weight.shape[0] - 1)
            N = order.shape[1]
            start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
            for i in range(start, N, cuda.gridDim.x * cuda.blockDim.x):
                s = order[r, i]
                if indicator:
                    positive = y_true[kt, s, j] != 0
                else:
                    positive = int64(y_true[kt, s]) == j
                if weighted:
                    value = weight[kw, s]
                else:
                    value = 1
                d = N - 1 - i if reverse else i
                if positive:
                    pos[r, d] = value
                    neg[r, d] = 0
                else:
                    pos[r, d] = 0
                    neg[r, d] = value
                if weighted:
                    nonzero[r, d] = int64(value != 0)

    return kernel


@cuda.jit
def _run_ends_kernel(values, reverse, ends):
    # ends[r, d] = 1 where sorted position d (descending order when reversed) is the last
    # of a run of equal scores: one comparison with the neighbour, no search. NaN != NaN,
    # so each NaN is a run of its own, as in the reference.
    N = values.shape[1]
    for r in range(cuda.blockIdx.y, values.shape[0], cuda.gridDim.y):
        start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        for d in range(start, N, cuda.gridDim.x * cuda.blockDim.x):
            if d == N - 1:
                ends[r, d] = 1
            elif reverse:
                ends[r, d] = int64(values[r, N - 1 - d] != values[r, N - 2 - d])
            else:
                ends[r, d] = int64(values[r, d] != values[r, d + 1])


@cuda.jit(device=True, inline=True)
def _run_of(cends, r, i):
    """The run holding position i of row r: the number of runs that end before i."""
    return cends[r, i - 1] if i > 0 else 0


@cuda.jit
def _run_totals_kernel(ends, cends, csum, totals):
    # totals[r, g] = csum[r, i] at the last position i of run g: each run's bounds in a
    # running sum, gathered once, so that every position reads them in O(1)
    for r in range(cuda.blockIdx.y, ends.shape[0], cuda.gridDim.y):
        start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        for i in range(start, ends.shape[1], cuda.gridDim.x * cuda.blockDim.x):
            if ends[r, i]:
                totals[r, cends[r, i] - 1] = csum[r, i]


def _rank_kernel(weighted: bool):
    dtype = float64 if weighted else int64

    @cuda.jit
    def kernel(pos, cneg, cends, neg_through, out):
        # out[r] += [negatives, positives, U] (unweighted: 2U, exact in int64): each
        # positive counts the negatives below its run and half those in it
        for r in range(cuda.blockIdx.y, pos.shape[0], cuda.gridDim.y):
            tid = cuda.threadIdx.x
            N = pos.shape[1]
            p_sum = dtype(0)
            u_sum = dtype(0)
            start = cuda.blockIdx.x * cuda.blockDim.x + tid
            for i in range(start, N, cuda.gridDim.x * cuda.blockDim.x):
                if i == N - 1:
                    out[r, 0] = cneg[r, i]
                p = pos[r, i]
                if p != 0:
                    g = _run_of(cends, r, i)
                    below = neg_through[r, g - 1] if g > 0 else dtype(0)
                    tied = neg_through[r, g] - below
                    if weighted:
                        u_sum += p * (below + 0.5 * tied)
                    else:
                        u_sum += p * (2 * below + tied)
                    p_sum += p
            shared = cuda.shared.array((THREADS, 2), dtype)
            shared[tid, 0] = p_sum
            shared[tid, 1] = u_sum
            cuda.syncthreads()
            half = cuda.blockDim.x // 2
            while half > 0:
                if tid < half:
                    shared[tid, 0] += shared[tid + half, 0]
                    shared[tid, 1] += shared[tid + half, 1]
                cuda.syncthreads()
                half //= 2
            if tid < 2:
                cuda.atomic.add(out, (r, tid + 1), shared[0, tid])
            cuda.syncthreads()  # the block's shared memory is reused by its next row

    return kernel


_GATHER_KERNELS = {(w, i): _gather_kernel(w, i) for w in (False, True) for i in (False, True)}
_RANK_KERNELS = {False: _rank_kernel(False), True: _rank_kernel(True)}


def _class_weights(call, order, y_true, w, L, reverse):
    """The positive and negative weight (or count) at each sorted position, ``(R, N)``
    each, and with weights, the non-zero flags."""
    R, N = order.shape
    weighted = w is not None
    dtype = np.float64 if weighted else np.int64
    pos, neg = call.empty((R, N), dtype), call.empty((R, N), dtype)
    nonzero = call.empty((R, N) if weighted else (1, 1), np.int64)
    grid, block = launch_shape(N, R)
    call.launch(_GATHER_KERNELS[weighted, y_true.ndim == 3], grid, block, order,
                call.device(y_true), call.weights(w), L, reverse, pos, neg, nonzero)
    return pos, neg, nonzero


def _tie_runs(call, values, reverse):
    """Flags on the last position of each run of equal scores (in descending order when
    reversed) and their running count, ``(R, N)`` int64 each: run ids and run bounds come
    from these scans, not from a search per element."""
    R, N = values.shape
    ends = call.empty((R, N), np.int64)
    grid, block = launch_shape(N, R)
    call.launch(_run_ends_kernel, grid, block, values, reverse, ends)
    return ends, _cumsum_rows(call, ends)


def _exact_float32(y_score, xp):
    """Scores that float32 holds exactly (float16, integers of at most 16 bits, bool) as
    float32, so that the exact ranking sorts 4-byte keys where ``as_score_array`` would
    widen them to float64; the order and the ties, all that ranking reads, are the same."""
    dtype = getattr(y_score, "dtype", None)
    if dtype is not None and dtype.kind in "biuf" and dtype.itemsize <= 2:
        return y_score.astype(xp.float32)
    return y_score


def rank_auc(y_true, y_score, sample_weight=None):
    call = Call(y_score)
    y_score = _exact_float32(y_score, call.xp)
    y_true, y_score, w = _common.prepare_scores(y_true, y_score, sample_weight, xp=call.xp)
    K, N, L = y_score.shape
    weighted = w is not None
    stats = call.zeros((K * L, 3), np.float64 if weighted else np.int64)
    if N and L:
        values, order = _sorted_columns(call, call.device(y_score))
        pos, neg, _ = _class_weights(call, order, y_true, w, L, reverse=False)
        ends, cends = _tie_runs(call, values, reverse=False)
        del values, order  # not read past here: a lower peak of device memory
        cneg = _cumsum_rows(call, neg)
        neg_through = call.empty(cneg.shape, cneg.dtype)
        grid, block = launch_shape(N, K * L)
        call.launch(_run_totals_kernel, grid, block, ends, cends, cneg, neg_through)
        call.launch(_RANK_KERNELS[weighted], grid, block, pos, cneg, cends, neg_through,
                    stats)
    stats = call.result(stats)
    out = stats.astype(np.float64)
    if not weighted:
        out[:, 2] = stats[:, 2] / 2
    return out.reshape(K, L, 3)


def refine_auc(y_true, y_score, lo, hi, n_bins, edges=None, sample_weight=None):
    """``rank_auc``: on the device, sorting every score costs less than a pass to find
    the bins that need it."""
    call = Call(y_score)
    y_score = _exact_float32(y_score, call.xp)
    y_true, y_score, *_, w, _ = _common.prepare_histogram(
        y_true, y_score, lo, hi, n_bins, edges, sample_weight, None, xp=call.xp
    )
    return rank_auc(y_true, y_score, w)


@cuda.jit
def _runs_held_kernel(nonzero, cends, held):
    # held[0, g] = 1 where run g holds a non-zero weight (every such position of the run
    # stores the same 1, so the race is harmless)
    start = cuda.grid(1)
    for i in range(start, nonzero.shape[1], cuda.gridsize(1)):
        if nonzero[0, i]:
            held[0, _run_of(cends, 0, i)] = 1


@cuda.jit
def _drop_empty_runs_kernel(ends, cends, held):
    # a run of zero weights only gives no point: the reference drops those samples
    start = cuda.grid(1)
    for i in range(start, ends.shape[1], cuda.gridsize(1)):
        if ends[0, i] and held[0, cends[0, i] - 1] == 0:
            ends[0, i] = 0


@cuda.jit
def _curve_points_kernel(values, fps, tps, ends, cends, thresholds, fps_out, tps_out, count):
    N = values.shape[1]
    start = cuda.grid(1)
    for i in range(start, N, cuda.gridsize(1)):
        if i == N - 1:
            count[0] = cends[0, i]
        if ends[0, i]:
            at = cends[0, i] - 1
            thresholds[at] = values[0, N - 1 - i]
            fps_out[at] = float64(fps[0, i])
            tps_out[at] = float64(tps[0, i])


def clf_curve(y_true, y_score, sample_weight=None):
    call = Call(y_score)
    given = y_score.dtype
    y_true, y_score, w = _common.prepare_curve(y_true, _exact_float32(y_score, call.xp),
                                               sample_weight, xp=call.xp)
    # thresholds in the reference's dtype, which widens what was sorted as float32 to float64
    threshold_dtype = y_score.dtype if y_score.dtype == given else np.float64
    N = y_score.shape[0]
    weighted = w is not None
    if N == 0:
        empty = call.xp.zeros(0, np.float64)
        return empty.astype(threshold_dtype), empty, empty.copy()
    values, order = _sorted_columns(call, call.device(y_score).reshape(1, N, 1))
    pos, neg, nonzero = _class_weights(call, order, y_true.reshape(1, N, 1),
                                       None if w is None else w.reshape(1, N), 1,
                                       reverse=True)
    tps, fps = _cumsum_rows(call, pos), _cumsum_rows(call, neg)
    ends, cends = _tie_runs(call, values, reverse=True)
    grid, block = launch_shape(N)
    if weighted:  # keep the ends of runs holding a non-zero weight, then count again
        held = call.zeros((1, N), np.int64)
        call.launch(_runs_held_kernel, grid[0], block, nonzero, cends, held)
        call.launch(_drop_empty_runs_kernel, grid[0], block, ends, cends, held)
        cends = _cumsum_rows(call, ends)
    count = call.zeros((1,), np.int64)
    size = N  # at most one point per sample; trimmed to the count read back below
    thresholds = call.empty((size,), threshold_dtype)
    fps_out, tps_out = call.empty((size,), np.float64), call.empty((size,), np.float64)
    call.launch(_curve_points_kernel, grid[0], block, values, fps, tps, ends, cends,
                thresholds, fps_out, tps_out, count)
    n = int(call.host(count)[0])
    return tuple(call.result(a[:n]) for a in (thresholds, fps_out, tps_out))


