"""Numba implementations of the kernels: parallel over (batch, chunk of samples).

Each task counts its chunk into a private histogram; the private histograms are summed at
the end, so there are no atomics and the result does not depend on the thread count.
Signatures, results and errors are those of ``reference.py``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from gpumetrics.kernels import _common
from numba import njit, prange

name = "cpu"

_MIN_CHUNK = 1 << 16  # samples per task: below this, thread start-up dominates
_RANGE_THREADS_FROM = 1 << 22  # score_range: fewer scores are reduced in one thread
_MAX_PRIVATE_BYTES = 64 << 20  # cap on the private histograms of one call


def _n_chunks(n: int, bins: int) -> int:
    """Chunks per batch row: enough to keep every thread busy, few enough to fit in memory."""
    by_threads = 4 * numba.get_num_threads()
    by_size = max(1, -(-n // _MIN_CHUNK))
    by_memory = max(1, _MAX_PRIVATE_BYTES // (8 * max(bins, 1)))
    return max(1, min(by_threads, by_size, by_memory))


@njit(inline="always")
def _task_span(task, n_chunks, n):
    """Batch row and sample range of a task: tasks enumerate (row, chunk) pairs."""
    chunk = (n + n_chunks - 1) // n_chunks
    start = (task % n_chunks) * chunk
    return task // n_chunks, start, min(start + chunk, n)


@njit(inline="always")
def _class_index(value, offset, lut, n_lut, n_classes):
    """Class of a raw label: ``lut[value - offset]``, identity without a table, else C."""
    shifted = np.uint64(np.int64(value) - offset)  # negative -> huge: one unsigned compare
    if lut is None:
        return min(shifted, np.uint64(n_classes))
    return np.uint64(lut[shifted]) if shifted < n_lut else np.uint64(n_classes)


@njit(parallel=True, nogil=True, cache=True)
def _confusion_loop(y_true, y_pred, weight, lut, offset, n_classes, ignore, use_ignore, private,
                    n_chunks):
    K, N = y_pred.shape
    width = np.uint64(n_classes + 1)
    cells = private.shape[1]
    n_lut = np.uint64(0 if lut is None else lut.shape[0])
    for task in prange(K * n_chunks):
        k, start, stop = _task_span(task, n_chunks, N)
        yt = y_true[min(k, y_true.shape[0] - 1)]
        yp = y_pred[k]
        # A task-local histogram keeps threads off each other's cache lines (small histograms
        # of neighbouring tasks would share them in ``private``). One copy per task measured
        # faster than several interleaved copies.
        hist = np.zeros(cells, dtype=private.dtype)
        if weight is None:
            if use_ignore:
                for i in range(np.uint64(start), np.uint64(stop)):
                    if np.int64(yt[i]) == ignore:
                        continue
                    ti = _class_index(yt[i], offset, lut, n_lut, n_classes)
                    pi = _class_index(yp[i], offset, lut, n_lut, n_classes)
                    hist[ti * width + pi] += 1
            else:
                for i in range(np.uint64(start), np.uint64(stop)):
                    ti = _class_index(yt[i], offset, lut, n_lut, n_classes)
                    pi = _class_index(yp[i], offset, lut, n_lut, n_classes)
                    hist[ti * width + pi] += 1
        else:
            w = weight[min(k, weight.shape[0] - 1)]
            for i in range(np.uint64(start), np.uint64(stop)):
                if use_ignore and np.int64(yt[i]) == ignore:
                    continue
                ti = _class_index(yt[i], offset, lut, n_lut, n_classes)
                pi = _class_index(yp[i], offset, lut, n_lut, n_classes)
                hist[ti * width + pi] += w[i]
        private[task] += hist


_BINARY_BLOCK = 4096  # samples summed before a block is checked for labels outside {0, 1}


@njit(parallel=True, nogil=True, cache=True)
def _confusion_binary_loop(y_true, y_pred, offset, private, n_chunks):
    # Two classes, identity table, no weights, nothing ignored: the four counts follow from
    # sum(t), sum(p) and sum(t & p), which vectorise (a histogram update does not). A block
    # holding any label outside {0, 1} is counted again, sample by sample.
    K, N = y_pred.shape
    one = np.uint64(1)
    two = np.uint64(2)
    for task in prange(K * n_chunks):
        k, start, stop = _task_span(task, n_chunks, N)
        yt = y_true[min(k, y_true.shape[0] - 1)]
        yp = y_pred[k]
        hist = private[task]
        for b0 in range(start, stop, _BINARY_BLOCK):
            b1 = min(b0 + _BINARY_BLOCK, stop)
            st = np.uint64(0)
            sp = np.uint64(0)
            stp = np.uint64(0)
            seen = np.uint64(0)
            for i in range(np.uint64(b0), np.uint64(b1)):
                t = np.uint64(np.int64(yt[i]) - offset)
                p = np.uint64(np.int64(yp[i]) - offset)
                st += t
                sp += p
                stp += t & p
                seen |= t | p
            if seen <= one:
                n = np.uint64(b1 - b0)
                hist[0] += np.int64(n - st - sp + stp)
                hist[1] += np.int64(sp - stp)
                hist[3] += np.int64(st - stp)
                hist[4] += np.int64(stp)
            else:
                for i in range(np.uint64(b0), np.uint64(b1)):
                    t = min(np.uint64(np.int64(yt[i]) - offset), two)
                    p = min(np.uint64(np.int64(yp[i]) - offset), two)
                    hist[t * np.uint64(3) + p] += 1


@njit(nogil=True, cache=True)
def _sum_private(private, n_chunks, out):
    K = out.shape[0]
    for k in range(K):
        for c in range(n_chunks):
            row = private[k * n_chunks + c]
            for j in range(row.shape[0]):
                out[k, j] += row[j]


def _is_identity(lut) -> bool:
    return bool((lut == np.arange(lut.shape[0])).all())


def confusion(
    y_true, y_pred, num_classes, sample_weight=None, ignore_index=None, lut=None, offset=0,
    out=None,
):
    y_true, y_pred, C, w, lut, offset, out = _common.prepare_confusion(
        y_true, y_pred, num_classes, sample_weight, lut, offset, out
    )
    K, N = y_pred.shape
    bins = (C + 1) * (C + 1)
    n_chunks = _n_chunks(N, bins)
    private = np.zeros((K * n_chunks, bins), dtype=out.dtype)
    use_ignore = ignore_index is not None
    identity = lut.shape[0] == C and _is_identity(lut)
    if identity and C == 2 and w is None and not use_ignore:
        _confusion_binary_loop(y_true, y_pred, offset, private, n_chunks)
    else:
        _confusion_loop(
            y_true, y_pred, w, None if identity else lut, offset, C,
            int(ignore_index) if use_ignore else 0, use_ignore, private, n_chunks,
        )
    _sum_private(private, n_chunks, out.reshape(K, bins))
    return out


@njit(parallel=True, nogil=True, cache=True)
def _label_counts_loop(y_true, y_pred, weight, private, n_chunks):
    K, N, L = y_pred.shape
    for task in prange(K * n_chunks):
        k, start, stop = _task_span(task, n_chunks, N)
        yt = y_true[min(k, y_true.shape[0] - 1)]
        yp = y_pred[k]
        hist = private[task]
        for i in range(start, stop):
            if weight is None:
                for j in range(L):
                    hist[j * 4 + 2 * (yt[i, j] != 0) + (yp[i, j] != 0)] += 1
            else:
                wi = weight[min(k, weight.shape[0] - 1), i]
                for j in range(L):
                    hist[j * 4 + 2 * (yt[i, j] != 0) + (yp[i, j] != 0)] += wi


def label_counts(y_true, y_pred, sample_weight=None, out=None):
    y_true, y_pred, w, out = _common.prepare_label_counts(y_true, y_pred, sample_weight, out)
    K, N, L = y_pred.shape
    n_chunks = _n_chunks(N * max(L, 1) // 4 + 1, 4 * L)
    private = np.zeros((K * n_chunks, 4 * L), dtype=out.dtype)
    _label_counts_loop(y_true, y_pred, w, private, n_chunks)
    _sum_private(private, n_chunks, out.reshape(K, 4 * L))
    return out


@njit(parallel=True, nogil=True, cache=True)
def _sample_label_counts_loop(y_true, y_pred, out):
    K, N, L = y_pred.shape
    for task in prange(K * N):
        k = task // N
        i = task % N
        yt = y_true[min(k, y_true.shape[0] - 1), i]
        yp = y_pred[k, i]
        tp = 0
        npred = 0
        ntrue = 0
        ndiff = 0
        for j in range(L):
            t = yt[j] != 0
            p = yp[j] != 0
            tp += t & p
            npred += p
            ntrue += t
            ndiff += np.int64(yt[j]) != np.int64(yp[j])
        out[k, i, 0] = tp
        out[k, i, 1] = npred
        out[k, i, 2] = ntrue
        out[k, i, 3] = ndiff


def sample_label_counts(y_true, y_pred):
    y_true, y_pred, out = _common.prepare_sample_label_counts(y_true, y_pred)
    _sample_label_counts_loop(y_true, y_pred, out)
    return out


_topk_code = njit(inline="always")(_common.topk_code)


@njit(parallel=True, nogil=True, cache=True)
def _topk_loop(y_true, y_score, k_top, weight, private, n_chunks):
    K, N, C = y_score.shape
    for task in prange(K * n_chunks):
        k, start, stop = _task_span(task, n_chunks, N)
        yt = y_true[min(k, y_true.shape[0] - 1)]
        hist = private[task]
        for i in range(start, stop):
            code = _topk_code(y_score[k, i], np.int64(yt[i]), k_top)
            if weight is None:
                hist[code] += 1
            else:
                hist[code] += weight[min(k, weight.shape[0] - 1), i]


def topk_outcomes(y_true, y_score, k, sample_weight=None, out=None):
    y_true, y_score, k, w, out = _common.prepare_topk(y_true, y_score, k, sample_weight, out)
    K, N, C = y_score.shape
    n_chunks = _n_chunks(N * max(C, 1) // 8 + 1, 4)
    private = np.zeros((K * n_chunks, 4), dtype=out.dtype)
    _topk_loop(y_true, y_score, k, w, private, n_chunks)
    _sum_private(private, n_chunks, out)
    return out


@njit(parallel=True, nogil=True, cache=True)
def _range_loop(y, n_chunks, lows, highs):
    N = y.shape[0]
    chunk = (N + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        start = c * chunk
        stop = min(start + chunk, N)
        lo = np.int64(y[start])
        hi = lo
        for i in range(start + 1, stop):
            v = np.int64(y[i])
            lo = min(lo, v)
            hi = max(hi, v)
        lows[c] = lo
        highs[c] = hi


def label_range(y):
    y = _common.prepare_range(y)
    n_chunks = min(_n_chunks(y.shape[0], 1), y.shape[0])
    lows = np.empty(n_chunks, np.int64)
    highs = np.empty(n_chunks, np.int64)
    _range_loop(np.ascontiguousarray(y), n_chunks, lows, highs)
    return int(lows.min()), int(highs.max())


@njit(parallel=True, nogil=True, cache=True)
def _bincount_loop(y, offset, private, n_chunks):
    N = y.shape[0]
    size = private.shape[1]
    chunk = (N + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        hist = private[c]
        for i in range(c * chunk, min((c + 1) * chunk, N)):
            v = np.int64(y[i]) - offset
            if 0 <= v < size:
                hist[v] += 1


def bincount(y, offset, size, out=None):
    y, offset, size, out = _common.prepare_bincount(y, offset, size, out)
    n_chunks = _n_chunks(y.shape[0], size)
    private = np.zeros((n_chunks, size), dtype=np.int64)
    _bincount_loop(np.ascontiguousarray(y), offset, private, n_chunks)
    out += private.sum(axis=0)
    return out


# --- scores: ranges, histograms, exact ranking -----------------------------------------


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
                                                         -(-N // _MIN_CHUNK))
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
def _is_positive(y_true, k, i, j, indicator):
    """Column j of sample i is a positive: an indicator, or a class index equal to j
    (then ``y_true`` is ``(1 or K, N, 1)``)."""
    if indicator:
        return y_true[min(k, y_true.shape[0] - 1), i, j] != 0
    return np.int64(y_true[min(k, y_true.shape[0] - 1), i, 0]) == j


def _as_3d(y_true):
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
def _bin_of(v, lo, scale, n_bins, edges, first=0.0, inverse_step=0.0):
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
        k, start, stop = _task_span(task, n_chunks, N)
        hist = np.zeros(cells, dtype=local.dtype)
        for i in range(start, stop):
            for j in range(L):
                b = _bin_of(y_score[k, i, j], lo[k, j], scale[k, j], n_bins, edges, first,
                            inverse_step)
                cell = (j * n_bins + b) * 2 + _is_positive(y_true, k, i, j, indicator)
                if weight is None:
                    hist[cell] += 1
                else:
                    hist[cell] += weight[min(k, weight.shape[0] - 1), i]
        for c in range(cells):
            private[task, c] += hist[c]


@njit(parallel=True, nogil=True, cache=True)
def _histogram_column_loop(y_true, y_score, lo, scale, n_bins, private, n_chunks):
    # The common case: one column of indicators, equal-width bins, no weights. Rows are
    # hoisted and the bin is clamped without a data-dependent branch on the class.
    K, N = y_score.shape
    top = np.float64(n_bins - 1)
    for task in prange(K * n_chunks):
        k, start, stop = _task_span(task, n_chunks, N)
        scores = y_score[k]
        labels = y_true[min(k, y_true.shape[0] - 1)]
        low = lo[k, 0]
        step = scale[k, 0]
        hist = np.zeros(2 * n_bins, dtype=np.uint32)
        for i in range(start, stop):
            f = (np.float64(scores[i]) - low) * step
            if not f >= 0:  # also NaN: bin 0, as the reference
                f = 0.0
            if f > top:
                f = top
            hist[2 * np.int64(f) + (labels[i] != 0)] += 1
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
        k, start, stop = _task_span(task, n_chunks, N)
        scores = y_score[k]
        labels = y_true[min(k, y_true.shape[0] - 1)]
        hist = np.zeros(2 * n_bins, dtype=np.uint32)
        if exact:  # two loops, so that the common one carries no correction code
            for i in range(start, stop):
                b = _guess_bin(np.float64(scores[i]), n_bins - 1, first, inverse_step)
                hist[2 * b + (labels[i] != 0)] += 1
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
    cells = L * B * 2
    n_chunks = _n_chunks(N * L, cells)
    private = np.zeros((K * n_chunks, cells), dtype=out.dtype)
    lo, scale = np.ascontiguousarray(lo), np.ascontiguousarray(scale)
    spacing = _edge_spacing(edges)
    if w is None and edges is None and L == 1 and y_true.ndim == 3:
        _histogram_column_loop(y_true[:, :, 0], y_score[:, :, 0], lo, scale, B, private,
                               n_chunks)
    elif w is None and spacing[1] > 0 and L == 1 and y_true.ndim == 3:  # equally spaced
        _histogram_column_edges_loop(y_true[:, :, 0], y_score[:, :, 0], edges, *spacing,
                                     private, n_chunks)
    else:
        local = np.zeros(0, np.uint32 if w is None else np.float64)
        _histogram_loop(*_as_3d(y_true), y_score, lo, scale, B, edges, *spacing[:2], w,
                        local, private, n_chunks)
    _sum_private(private, n_chunks, out.reshape(K, cells))
    return out


@njit(parallel=True, nogil=True, cache=True)
def _partition_counts(y_true, indicator, weight, k, j, drop_zero, counts):
    # counts[c] = (negatives, positives) of chunk c of column j of set k
    N = y_true.shape[1]
    n_chunks = counts.shape[0]
    chunk = (N + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        n_pos = 0
        n_all = 0
        for i in range(c * chunk, min((c + 1) * chunk, N)):
            if drop_zero and weight is not None and weight[min(k, weight.shape[0] - 1), i] == 0:
                continue
            n_pos += _is_positive(y_true, k, i, j, indicator)
            n_all += 1
        counts[c, 0] = n_all - n_pos
        counts[c, 1] = n_pos


@njit(parallel=True, nogil=True, cache=True)
def _partition_write(y_true, indicator, y_score, weight, k, j, drop_zero, cursor, keys,
                     weights):
    # Chunk c writes its negatives from cursor[c, 0] and its positives from cursor[c, 1].
    N = y_true.shape[1]
    n_chunks = cursor.shape[0]
    chunk = (N + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        at_neg = cursor[c, 0]
        at_pos = cursor[c, 1]
        for i in range(c * chunk, min((c + 1) * chunk, N)):
            wi = 1.0 if weight is None else weight[min(k, weight.shape[0] - 1), i]
            if drop_zero and wi == 0:
                continue
            if _is_positive(y_true, k, i, j, indicator):
                at = at_pos
                at_pos += 1
            else:
                at = at_neg
                at_neg += 1
            keys[at] = y_score[k, i, j]
            if weight is not None:
                weights[at] = wi


@njit(parallel=True, nogil=True, cache=True)
def _pairs_below(pos, neg, w_pos, cum_neg, weighted, n_chunks, out):
    # Each positive v adds the negatives below it plus half those tied: with n_lt and n_le
    # the negatives < v and <= v, twice its share is n_lt + n_le (weights: their sums).
    # Chunks of positives start from a binary search, so they run in parallel.
    n = pos.shape[0]
    chunk = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        start = c * chunk
        stop = min(start + chunk, n)
        if start >= stop:
            continue
        lt = np.searchsorted(neg, pos[start], side="left")
        le = np.searchsorted(neg, pos[start], side="right")
        twice = np.int64(0)
        total = 0.0
        for i in range(start, stop):
            v = pos[i]
            while lt < neg.shape[0] and neg[lt] < v:
                lt += 1
            if le < lt:
                le = lt
            while le < neg.shape[0] and neg[le] <= v:
                le += 1
            if weighted:
                total += w_pos[i] * (cum_neg[lt] + cum_neg[le])
            else:
                twice += lt + le
        out[c] = total / 2 if weighted else twice / 2


def _count_pairs(pos, neg, w_pos, w_neg):
    """``(negative total, positive total, U)`` of ascending positive and negative scores."""
    weighted = w_pos is not None
    n_chunks = max(1, min(4 * numba.get_num_threads(), pos.shape[0] // _MIN_CHUNK))
    parts = np.zeros(n_chunks, np.float64)
    cum_neg = np.r_[0.0, np.cumsum(w_neg)] if weighted else np.zeros(0)
    _pairs_below(pos, neg, w_pos if weighted else np.zeros(0), cum_neg, weighted, n_chunks,
                 parts)
    if weighted:
        return cum_neg[-1], float(w_pos.sum()), float(parts.sum())
    return float(neg.shape[0]), float(pos.shape[0]), float(parts.sum())


def _sorted_parts(y_true, y_score, w, k, j, drop_zero, pool):
    """Negative and positive scores of one column, each sorted ascending, with their
    weights (None when unweighted). Two parallel passes split the column; the label acts
    as the key's top bit, so each part is then sorted as plain scores."""
    N = y_score.shape[1]
    y3, indicator = _as_3d(y_true)
    counts = np.zeros((_n_chunks(N, 2), 2), np.int64)
    _partition_counts(y3, indicator, w, k, j, drop_zero, counts)
    n_neg = int(counts[:, 0].sum())
    cursor = np.cumsum(counts, axis=0) - counts
    cursor[:, 1] += n_neg
    keys = np.empty(int(counts.sum()), y_score.dtype)
    weights = np.empty(keys.shape[0] if w is not None else 0, np.float64)
    _partition_write(y3, indicator, y_score, w, k, j, drop_zero, cursor, keys, weights)
    parts = [(keys[:n_neg], weights[:n_neg]), (keys[n_neg:], weights[n_neg:])]
    return _sort_parts(parts, w is not None, pool)


def _sort_parts(parts, weighted, pool):
    """Sort each ``(keys, weights)`` part by key, in threads when a pool is given."""

    def sort(part):
        keys, weights = part
        if not weighted:
            keys.sort()  # NumPy's vectorised sort, in place; releases the GIL
            return keys, None
        order = np.argsort(keys, kind="stable")
        return keys[order], weights[order]

    if pool is None:
        return [sort(p) for p in parts]
    return list(pool.map(sort, parts))


def _pool(n_tasks: int):
    """A thread pool for independent NumPy sorts, or None when one thread will do."""
    threads = min(numba.get_num_threads(), n_tasks)
    return ThreadPoolExecutor(threads) if threads > 1 else None


def rank_auc(y_true, y_score, sample_weight=None):
    y_true, y_score, w = _common.prepare_scores(y_true, y_score, sample_weight)
    K, N, L = y_score.shape
    out = np.zeros((K, L, 3), np.float64)
    pool = _pool(2)
    try:
        for k in range(K):
            for j in range(L):
                (neg, w_neg), (pos, w_pos) = _sorted_parts(y_true, y_score, w, k, j, False,
                                                           pool)
                out[k, j] = _count_pairs(pos, neg, w_pos, w_neg)
    finally:
        if pool is not None:
            pool.shutdown()
    return out


@njit(parallel=True, nogil=True, cache=True)
def _refine_count(y_true, indicator, y_score, k, j, lo, scale, n_bins, edges, counts):
    # counts[c, b, positive]: samples of chunk c in bin b, by class
    N = y_score.shape[1]
    n_chunks = counts.shape[0]
    chunk = (N + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        for i in range(c * chunk, min((c + 1) * chunk, N)):
            b = _bin_of(y_score[k, i, j], lo, scale, n_bins, edges)
            counts[c, b, np.int64(_is_positive(y_true, k, i, j, indicator))] += 1


@njit(parallel=True, nogil=True, cache=True)
def _refine_split(y_true, indicator, y_score, weight, k, j, lo, scale, n_bins, edges, mixed,
                  cursor, keys, weights):
    # The samples of the mixed bins only: chunk c writes its negatives from cursor[c, 0]
    # and its positives from cursor[c, 1].
    N = y_score.shape[1]
    n_chunks = cursor.shape[0]
    chunk = (N + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        at_neg = cursor[c, 0]
        at_pos = cursor[c, 1]
        for i in range(c * chunk, min((c + 1) * chunk, N)):
            v = y_score[k, i, j]
            if not mixed[_bin_of(v, lo, scale, n_bins, edges)]:
                continue
            if _is_positive(y_true, k, i, j, indicator):
                at = at_pos
                at_pos += 1
            else:
                at = at_neg
                at_neg += 1
            keys[at] = v
            if weight is not None:
                weights[at] = weight[min(k, weight.shape[0] - 1), i]


def _across_bins(neg, pos):
    """Pairs of a positive and a negative in a lower bin (exact in int64 for counts)."""
    return (pos * (np.cumsum(neg) - neg)).sum()


def refine_auc(y_true, y_score, lo, hi, n_bins, edges=None, sample_weight=None):
    y_true, y_score, lo, hi, B, edges, w, _ = _common.prepare_histogram(
        y_true, y_score, lo, hi, n_bins, edges, sample_weight, None
    )
    K, N, L = y_score.shape
    width = hi - lo
    scale = np.where(width > 0, B / np.where(width > 0, width, 1.0), 0.0)
    y3, indicator = _as_3d(y_true)
    n_chunks = _n_chunks(N, 2 * B)
    weighted = w is not None
    hist = score_histogram(y_true, y_score, lo, hi, B, edges, w) if weighted else None
    out = np.zeros((K, L, 3), np.float64)
    pool = _pool(2)
    try:
        for k in range(K):
            for j in range(L):
                counts = np.zeros((n_chunks, B, 2), np.int64)
                _refine_count(y3, indicator, y_score, k, j, lo[k, j], scale[k, j], B, edges,
                              counts)
                per_bin = counts.sum(axis=0)
                # Bins are ordered by score: pairs across bins are counted from the
                # histogram, and only the bins holding both classes are sorted.
                mixed = (per_bin > 0).all(axis=1)
                in_mixed = (counts * mixed[None, :, None]).sum(axis=1)  # (chunks, 2)
                n_neg = int(in_mixed[:, 0].sum())
                cursor = np.cumsum(in_mixed, axis=0) - in_mixed
                cursor[:, 1] += n_neg
                keys = np.empty(int(in_mixed.sum()), y_score.dtype)
                weights = np.empty(keys.shape[0] if weighted else 0, np.float64)
                _refine_split(y3, indicator, y_score, w, k, j, lo[k, j], scale[k, j], B, edges,
                              mixed, cursor, keys, weights)
                parts = [(keys[:n_neg], weights[:n_neg]), (keys[n_neg:], weights[n_neg:])]
                (neg, w_neg), (pos, w_pos) = _sort_parts(parts, weighted, pool)
                # Pairs among the mixed samples, less those across mixed bins, leave the
                # pairs inside each mixed bin.
                inside = _count_pairs(pos, neg, w_pos, w_neg)[2]
                table = hist[k, j] if weighted else per_bin
                neg_b, pos_b = table[:, 0], table[:, 1]
                u = (_across_bins(neg_b, pos_b) + inside
                     - _across_bins(neg_b * mixed, pos_b * mixed))
                out[k, j] = float(neg_b.sum()), float(pos_b.sum()), float(u)
    finally:
        if pool is not None:
            pool.shutdown()
    return out


@njit(nogil=True, cache=True)
def _merge_curve(pos, neg, w_pos, w_neg, weighted, thresholds, fps, tps):
    """Walk ascending positive and negative scores from the top: one curve point per
    distinct score, with the weight of positives and negatives at or above it."""
    i = pos.shape[0] - 1
    j = neg.shape[0] - 1
    tp = 0.0
    fp = 0.0
    m = 0
    while i >= 0 or j >= 0:
        if j < 0 or (i >= 0 and pos[i] >= neg[j]):
            v = pos[i]
        else:
            v = neg[j]
        while i >= 0 and pos[i] == v:
            tp += w_pos[i] if weighted else 1.0
            i -= 1
        while j >= 0 and neg[j] == v:
            fp += w_neg[j] if weighted else 1.0
            j -= 1
        thresholds[m] = v
        fps[m] = fp
        tps[m] = tp
        m += 1
    return m


def clf_curve(y_true, y_score, sample_weight=None):
    y_true, y_score, w = _common.prepare_curve(y_true, y_score, sample_weight)
    pool = _pool(2)
    try:
        (neg, w_neg), (pos, w_pos) = _sorted_parts(
            y_true[None, :, None], y_score[None, :, None], None if w is None else w[None],
            0, 0, True, pool)
    finally:
        if pool is not None:
            pool.shutdown()
    n = pos.shape[0] + neg.shape[0]
    thresholds = np.empty(n, y_score.dtype)
    fps = np.empty(n, np.float64)
    tps = np.empty(n, np.float64)
    empty = np.zeros(0)
    m = _merge_curve(pos, neg, empty if w_pos is None else w_pos,
                     empty if w_neg is None else w_neg, w is not None, thresholds, fps, tps)
    return thresholds[:m], fps[:m], tps[:m]


# --- regression moments ----------------------------------------------------------------

_MOMENT_BLOCK = 1024  # samples per two-pass block: the block stays in L1 between passes


_merge_state = njit(inline="always")(_common.merge_state)


@njit(parallel=True, nogil=True, cache=True)
def _moments_loop(y_true, y_pred, weight, shift_true, shift_pred, private, n_chunks):
    # Means are taken of the data minus a shift (the column's first value), so that the
    # block means Chan's merge subtracts keep their precision when the data sit far from 0.
    K, N, L = y_pred.shape
    eps = np.finfo(np.float64).eps
    for task in prange(K * n_chunks):
        k, start, stop = _task_span(task, n_chunks, N)
        kt = min(k, y_true.shape[0] - 1)
        yt = y_true[kt]
        yp = y_pred[k]
        block = np.zeros(13)
        for b0 in range(start, stop, _MOMENT_BLOCK):
            b1 = min(b0 + _MOMENT_BLOCK, stop)
            for j in range(L):
                W = 0.0
                st = 0.0
                sp = 0.0
                se = 0.0
                for i in range(b0, b1):
                    wi = 1.0 if weight is None else weight[min(k, weight.shape[0] - 1), i]
                    t = np.float64(yt[i, j])
                    p = np.float64(yp[i, j])
                    W += wi
                    st += wi * (t - shift_true[kt, j])
                    sp += wi * (p - shift_pred[k, j])
                    se += wi * (p - t)
                safe = W if W != 0 else 1.0
                mt = st / safe
                mp = sp / safe
                me = se / safe
                m2t = 0.0
                m2p = 0.0
                c = 0.0
                m2e = 0.0
                sabs = 0.0
                sape = 0.0
                mx = 0.0
                for i in range(b0, b1):
                    wi = 1.0 if weight is None else weight[min(k, weight.shape[0] - 1), i]
                    t = np.float64(yt[i, j])
                    p = np.float64(yp[i, j])
                    e = p - t
                    dt = (t - shift_true[kt, j]) - mt
                    dp = (p - shift_pred[k, j]) - mp
                    de = e - me
                    m2t += wi * dt * dt
                    m2p += wi * dp * dp
                    c += wi * dt * dp
                    m2e += wi * de * de
                    ae = abs(e)
                    sabs += wi * ae
                    sape += wi * ae / max(abs(t), eps)
                    mx = max(mx, ae)
                block[0] = W
                block[1] = mt
                block[2] = m2t
                block[3] = mp
                block[4] = m2p
                block[5] = c
                block[6] = me
                block[7] = m2e
                block[8] = sabs
                block[9] = sape
                block[10] = mx
                block[11] = shift_true[kt, j]
                block[12] = shift_pred[k, j]
                _merge_state(private[task, j], block)


@njit(nogil=True, cache=True)
def _merge_private(private, n_chunks, out):
    K, L = out.shape[:2]
    for k in range(K):
        for c in range(n_chunks):
            for j in range(L):
                _merge_state(out[k, j], private[k * n_chunks + c, j])


def moments(y_true, y_pred, sample_weight=None, out=None):
    y_true, y_pred, w, out = _common.prepare_moments(y_true, y_pred, sample_weight, out)
    K, N, L = y_pred.shape
    fields = len(_common.MOMENTS)
    n_chunks = _n_chunks(N * L, fields * L)
    private = np.zeros((K * n_chunks, L, fields), np.float64)
    shift_true = np.ascontiguousarray(y_true[:, 0, :], dtype=np.float64)
    shift_pred = np.ascontiguousarray(y_pred[:, 0, :], dtype=np.float64)
    _moments_loop(y_true, y_pred, w, shift_true, shift_pred, private, n_chunks)
    state = np.zeros_like(out)
    _merge_private(private, n_chunks, state)
    out[...] = _common.merge_moments(out, state)
    return out


# --- losses ----------------------------------------------------------------------------

_class_loss = njit(inline="always")(_common.class_loss)
_add_class_loss = njit(inline="always")(_common.class_loss_accumulator(_class_loss))
_binary_loss = njit(inline="always")(_common.binary_loss)


@njit(parallel=True, nogil=True, cache=True)
def _class_loss_loop(y_true, y_score, softmax, weight, ignore, eps, private, n_chunks):
    # Cross-entropy of logits (log-sum-exp over the row, no softmax copy) or the log loss
    # of clipped probabilities, for a class index per sample.
    K, N, C = y_score.shape
    n_cols = 2 if (not softmax and C == 1) else C
    for task in prange(K * n_chunks):
        k, start, stop = _task_span(task, n_chunks, N)
        row = private[task]
        yt = y_true[min(k, y_true.shape[0] - 1)]
        for i in range(start, stop):
            wi = 1.0 if weight is None else weight[min(k, weight.shape[0] - 1), i]
            _add_class_loss(row, y_score[k, i], np.int64(yt[i]), ignore, n_cols, softmax,
                            eps, wi)


@njit(parallel=True, nogil=True, cache=True)
def _binary_loss_loop(y_true, y_score, from_logits, weight, private, n_chunks):
    # Binary cross-entropy per column: softplus form for logits, logs clamped at -100 for
    # probabilities.
    K, N, C = y_score.shape
    for task in prange(K * n_chunks):
        k, start, stop = _task_span(task, n_chunks, N)
        row = private[task]
        yt = y_true[min(k, y_true.shape[0] - 1)]
        for i in range(start, stop):
            loss = 0.0
            for c in range(C):
                loss += _binary_loss(np.float64(y_score[k, i, c]), np.float64(yt[i, c]),
                                     from_logits)
            wi = 1.0 if weight is None else weight[min(k, weight.shape[0] - 1), i]
            row[0] += wi * loss
            row[1] += wi * C


def loss_sums(y_true, y_score, kind, sample_weight=None, ignore_index=None, eps=0.0, out=None):
    y_true, y_score, w, ignore, out = _common.prepare_loss(
        y_true, y_score, kind, sample_weight, ignore_index, out
    )
    K, N, C = y_score.shape
    n_chunks = _n_chunks(N * C // 4 + 1, 4)
    private = np.zeros((K * n_chunks, 4), np.float64)
    if kind in ("softmax", "proba"):
        _class_loss_loop(y_true, y_score, kind == "softmax", w, ignore, float(eps), private,
                         n_chunks)
    else:
        _binary_loss_loop(y_true, y_score, kind == "sigmoid", w, private, n_chunks)
    _sum_private(private, n_chunks, out)
    return out
