"""Numba score kernels on bins: the range of each score column (``score_range``) and its
per-bin counts of negatives and positives (``score_histogram``).

``score_range`` hands slices of samples to NumPy's min and max in a thread pool; the
histogram counts (batch row, chunk of samples) tasks into private copies, as the counting
kernels of ``cpu.py`` do. The class and the bin of a score (``is_positive``, ``bin_of``)
are shared with ``_cpu_ranking.py``. Signatures, results and errors are those of
``reference.py``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from gpumetrics.kernels import _common
from gpumetrics.kernels._cpu_chunks import MIN_CHUNK, run_chunked, task_span
from numba import njit, prange

_RANGE_THREADS_FROM = 1 << 22  # score_range: fewer scores are reduced in one thread


def score_range(y_score):
    y_score = _common.as_score_array(y_score, "y_score")
    if y_score.ndim != 3:
        raise ValueError(f"y_score must be 3-D (K, N, L); got {y_score.ndim}-D.")
    K, N, L = y_score.shape
    out = np.zeros((K, L, 3), np.float64)
    if N == 0:
        out[..., 0], out[..., 1] = np.inf, -np.inf
        return out
    # NumPy's vectorised min and max, one slice of samples per thread: NaN propagates to
    # both, so the two reductions also say whether any score is NaN or infinite.
    # Below a few million scores one thread is faster than handing slices to the pool
    # (and does not wait on the GIL when other threads are busy, e.g. a file reader).
    n_parts = 1 if N * L < _RANGE_THREADS_FROM else min(numba.get_num_threads(),
                                                         -(-N // MIN_CHUNK))
    cuts = np.linspace(0, N, n_parts + 1).astype(np.int64)

    def part(span):
        piece = y_score[:, span[0]:span[1]]
        return piece.min(axis=1), piece.max(axis=1)

    spans = list(zip(cuts[:-1], cuts[1:], strict=True))
    parts = list(_threads().map(part, spans)) if len(spans) > 1 else [part(spans[0])]
    out[..., 0] = np.min([p[0] for p in parts], axis=0)
    out[..., 1] = np.max([p[1] for p in parts], axis=0)
    out[..., 2] = ~(np.isfinite(out[..., 0]) & np.isfinite(out[..., 1]))
    return out


_POOL: ThreadPoolExecutor | None = None


def _threads() -> ThreadPoolExecutor:
    """A shared pool for NumPy work that releases the GIL (reductions, sorts)."""
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max(2, numba.get_num_threads()))
    return _POOL


@njit(inline="always")
def is_positive(y_true, k, i, j, indicator):
    """Column j of sample i is a positive: an indicator, or a class index equal to j
    (then ``y_true`` is ``(1 or K, N, 1)``)."""
    if indicator:
        return y_true[min(k, y_true.shape[0] - 1), i, j] != 0
    return np.int64(y_true[min(k, y_true.shape[0] - 1), i, 0]) == j


def as_3d(y_true):
    """``y_true`` as a 3-D array and whether it holds indicators (else class indices)."""
    return (y_true, True) if y_true.ndim == 3 else (y_true[:, :, None], False)


@njit(inline="always")
def _guess_bin(v, E, first, inverse_step):
    # clamped as in ``_histogram_column_loop``: few, predictable branches
    f = (v - first) * inverse_step + 1.0
    if not f >= 0.0:
        f = 0.0 if v == v else np.float64(E)  # NaN sorts last
    if f > E:
        f = np.float64(E)
    return np.int64(f)


@njit(inline="always")
def _edge_bin(v, edges, first, inverse_step):
    """``searchsorted(edges, v, side="right")`` for edges about equally spaced: a guess
    from the spacing, then a step or two to the exact bin (edges[b-1] <= v < edges[b])."""
    E = edges.shape[0]
    v = np.float64(v)
    b = _guess_bin(v, E, first, inverse_step)
    if v != v:
        return b
    while b > 0 and v < edges[b - 1]:
        b -= 1
    while b < E and v >= edges[b]:
        b += 1
    return b


@njit(inline="always")
def bin_of(v, lo, scale, n_bins, edges, first=0.0, inverse_step=0.0):
    """The reference's ``bin_index`` for one score (same float operations, same bins)."""
    if edges is not None:
        if inverse_step > 0.0:
            return _edge_bin(v, edges, first, inverse_step)
        return np.searchsorted(edges, v, side="right")
    f = (np.float64(v) - lo) * scale
    if f >= n_bins:
        return n_bins - 1
    if f >= 0:
        return np.int64(f)
    return 0


@njit(parallel=True, nogil=True, cache=True)
def _histogram_loop(y_true, indicator, y_score, lo, scale, n_bins, edges, first,
                    inverse_step, weight, local, private, n_chunks):
    # Task-local counts take ``local``'s dtype: uint32 without weights (a task holds fewer
    # than 2^32 samples), which halves the histogram's cache footprint so that 4096 bins x
    # 2 classes fit in L1; float64 weight sums otherwise.
    K, N, L = y_score.shape
    cells = private.shape[1]
    for task in prange(K * n_chunks):
        k, start, stop = task_span(task, n_chunks, N)
        hist = np.zeros(cells, dtype=local.dtype)
        for i in range(start, stop):
            for j in range(L):
                b = bin_of(y_score[k, i, j], lo[k, j], scale[k, j], n_bins, edges, first,
                            inverse_step)
                cell = (j * n_bins + b) * 2 + is_positive(y_true, k, i, j, indicator)
                if weight is None:
                    hist[cell] += 1
                else:
                    hist[cell] += weight[min(k, weight.shape[0] - 1), i]
        for c in range(cells):
            private[task, c] += hist[c]


_CELL_BLOCK = 2048  # samples whose cells are computed in one vectorised pass, then counted


@njit(inline="always")
def _column_cells(labels, scores, low, step, top, cells):
    # Contiguous slices and selects without data-dependent branches: this loop compiles to
    # SIMD code (a loop with the increments in it does not). NaN compares false: bin 0.
    for i in range(scores.shape[0]):
        f = (np.float64(scores[i]) - low) * step
        f = f if f >= 0.0 else 0.0
        f = f if f <= top else top
        cells[i] = 2 * np.int32(f) + np.int32(labels[i] != 0)


@njit(inline="always")
def _guessed_cells(labels, scores, E, first, inverse_step, cells):
    # ``_guess_bin`` as selects, for the same reason as ``_column_cells``.
    top = np.float64(E)
    for i in range(scores.shape[0]):
        v = np.float64(scores[i])
        f = (v - first) * inverse_step + 1.0
        f = f if f >= 0.0 else (0.0 if v == v else top)
        f = f if f <= top else top
        cells[i] = 2 * np.int32(f) + np.int32(labels[i] != 0)


@njit(inline="always")
def _count_cells(cells, hist):
    for i in range(cells.shape[0]):
        hist[np.uint64(cells[i])] += np.uint32(1)


@njit(parallel=True, nogil=True, cache=True)
def _histogram_column_loop(y_true, y_score, lo, scale, n_bins, private, n_chunks):
    # The common case: one column of indicators, equal-width bins, no weights. A block's
    # cells (2 * bin + class) are computed in a SIMD pass, then counted.
    K, N = y_score.shape
    top = np.float64(n_bins - 1)
    for task in prange(K * n_chunks):
        k, start, stop = task_span(task, n_chunks, N)
        scores = y_score[k]
        labels = y_true[min(k, y_true.shape[0] - 1)]
        low = lo[k, 0]
        step = scale[k, 0]
        hist = np.zeros(2 * n_bins, dtype=np.uint32)
        cells = np.empty(_CELL_BLOCK, np.int32)
        for b0 in range(start, stop, _CELL_BLOCK):
            b1 = min(b0 + _CELL_BLOCK, stop)
            block = cells[:b1 - b0]
            _column_cells(labels[b0:b1], scores[b0:b1], low, step, top, block)
            _count_cells(block, hist)
        for c in range(2 * n_bins):
            private[task, c] += hist[c]


@njit(parallel=True, nogil=True, cache=True)
def _histogram_column_edges_loop(y_true, y_score, edges, first, inverse_step, exact,
                                 private, n_chunks):
    # As ``_histogram_column_loop``, for equally spaced thresholds: the bin is guessed from
    # the spacing and corrected against the thresholds themselves, so it is exact.
    K, N = y_score.shape
    n_bins = edges.shape[0] + 1
    for task in prange(K * n_chunks):
        k, start, stop = task_span(task, n_chunks, N)
        scores = y_score[k]
        labels = y_true[min(k, y_true.shape[0] - 1)]
        hist = np.zeros(2 * n_bins, dtype=np.uint32)
        if exact:  # the guess is the bin: SIMD cells, as in ``_histogram_column_loop``
            cells = np.empty(_CELL_BLOCK, np.int32)
            for b0 in range(start, stop, _CELL_BLOCK):
                b1 = min(b0 + _CELL_BLOCK, stop)
                block = cells[:b1 - b0]
                _guessed_cells(labels[b0:b1], scores[b0:b1], n_bins - 1, first,
                               inverse_step, block)
                _count_cells(block, hist)
        else:
            for i in range(start, stop):
                b = _edge_bin(scores[i], edges, first, inverse_step)
                hist[2 * b + (labels[i] != 0)] += 1
        for c in range(2 * n_bins):
            private[task, c] += hist[c]


def _edge_spacing(edges) -> tuple[float, float, bool]:
    """``(first edge, 1 / spacing, exact)`` when the edges are about equally spaced (then
    a bin is found in O(1)), else ``(0, 0, False)``: binary search. ``exact``: the guessed
    bin is the bin for every score. Both are monotone step functions of the score, so they
    agree everywhere when they agree on each edge and on the float just below it."""
    if edges is None or edges.shape[0] < 2:
        return 0.0, 0.0, False
    gaps = np.diff(edges)
    step = (edges[-1] - edges[0]) / (edges.shape[0] - 1)
    if not (step > 0 and np.abs(gaps - step).max() <= 0.01 * step):
        return 0.0, 0.0, False
    first, inverse = float(edges[0]), float(1.0 / step)
    E = edges.shape[0]
    k = np.arange(E)
    exact = bool((_guess_bins(edges, E, first, inverse) == k + 1).all()
                 and (_guess_bins(np.nextafter(edges, -np.inf), E, first, inverse) == k).all())
    return first, inverse, exact


@njit(cache=True)
def _guess_bins(values, E, first, inverse_step):
    out = np.empty(values.shape[0], np.int64)
    for i in range(values.shape[0]):
        out[i] = _guess_bin(values[i], E, first, inverse_step)
    return out


def score_histogram(y_true, y_score, lo, hi, n_bins, edges=None, sample_weight=None, out=None):
    y_true, y_score, lo, hi, B, edges, w, out = _common.prepare_histogram(
        y_true, y_score, lo, hi, n_bins, edges, sample_weight, out
    )
    K, N, L = y_score.shape
    width = hi - lo
    scale = np.where(width > 0, B / np.where(width > 0, width, 1.0), 0.0)
    cells = out.reshape(K, L * B * 2)
    lo, scale = np.ascontiguousarray(lo), np.ascontiguousarray(scale)
    spacing = _edge_spacing(edges)
    cells_fit = 2 * B < (1 << 31)  # a cell index fits the SIMD pass's int32
    if w is None and edges is None and L == 1 and y_true.ndim == 3 and cells_fit:
        run_chunked(cells, N * L, _histogram_column_loop, y_true[:, :, 0], y_score[:, :, 0],
                    lo, scale, B)
    elif w is None and spacing[1] > 0 and L == 1 and y_true.ndim == 3 and cells_fit:
        run_chunked(cells, N * L, _histogram_column_edges_loop, y_true[:, :, 0],
                    y_score[:, :, 0], edges, *spacing)
    else:
        local = np.zeros(0, np.uint32 if w is None else np.float64)
        run_chunked(cells, N * L, _histogram_loop, *as_3d(y_true), y_score, lo, scale, B,
                    edges, *spacing[:2], w, local)
    return out

