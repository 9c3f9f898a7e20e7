"""Numba score kernels, exact ranking: the Mann-Whitney statistic of every column
(``rank_auc``), the same reached from the score bins (``refine_auc``), and the binary curve
of one column (``clf_curve``).

Two parallel passes split a column by class (counts per chunk, then writes from each
chunk's cursor); NumPy sorts each class, in threads; a parallel walk over the sorted
positives counts the negatives below each, and ``clf_curve`` merges the two classes from
the top. Signatures, results and errors are those of ``reference.py``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from gpumetrics.kernels import _common
from gpumetrics.kernels._cpu_chunks import MIN_CHUNK, chunk_count, task_span
from gpumetrics.kernels._cpu_scores import as_3d, bin_of, is_positive, score_histogram
from numba import njit, prange


@njit(parallel=True, nogil=True, cache=True)
def _partition_counts(y_true, indicator, weight, k, j, drop_zero, counts):
    # counts[c] = (negatives, positives) of chunk c of column j of set k
    N = y_true.shape[1]
    n_chunks = counts.shape[0]
    for c in prange(n_chunks):
        _, start, stop = task_span(c, n_chunks, N)
        n_pos = 0
        n_all = 0
        for i in range(start, stop):
            if drop_zero and weight is not None and weight[min(k, weight.shape[0] - 1), i] == 0:
                continue
            n_pos += is_positive(y_true, k, i, j, indicator)
            n_all += 1
        counts[c, 0] = n_all - n_pos
        counts[c, 1] = n_pos


@njit(parallel=True, nogil=True, cache=True)
def _partition_write(y_true, indicator, y_score, weight, k, j, drop_zero, cursor, keys,
                     weights):
    # Chunk c writes its negatives from cursor[c, 0] and its positives from cursor[c, 1].
    N = y_true.shape[1]
    n_chunks = cursor.shape[0]
    for c in prange(n_chunks):
        _, start, stop = task_span(c, n_chunks, N)
        at_neg = cursor[c, 0]
        at_pos = cursor[c, 1]
        for i in range(start, stop):
            wi = 1.0 if weight is None else weight[min(k, weight.shape[0] - 1), i]
            if drop_zero and wi == 0:
                continue
            if is_positive(y_true, k, i, j, indicator):
                at = at_pos
                at_pos += 1
            else:
                at = at_neg
                at_neg += 1
            keys[at] = y_score[k, i, j]
            if weight is not None:
                weights[at] = wi


@njit(parallel=True, nogil=True, cache=True)
def _column_partition_counts(labels, counts):
    # ``_partition_counts`` for one column of indicators without weights: a sum over a
    # slice, which compiles to SIMD code.
    N = labels.shape[0]
    for c in prange(counts.shape[0]):
        _, start, stop = task_span(c, counts.shape[0], N)
        part = labels[start:stop]
        n_pos = 0
        for i in range(part.shape[0]):
            n_pos += part[i] != 0
        counts[c, 0] = part.shape[0] - n_pos
        counts[c, 1] = n_pos


@njit(parallel=True, nogil=True, cache=True)
def _column_partition_write(labels, scores, cursor, keys):
    # ``_partition_write`` for one column of indicators without weights, without a branch
    # on the class (a random class mispredicts): the target is chosen by arithmetic.
    N = labels.shape[0]
    for c in prange(cursor.shape[0]):
        _, start, stop = task_span(c, cursor.shape[0], N)
        at_neg = cursor[c, 0]
        at_pos = cursor[c, 1]
        for i in range(np.uint64(start), np.uint64(stop)):
            positive = np.int64(labels[i] != 0)
            keys[at_neg + (at_pos - at_neg) * positive] = scores[i]
            at_pos += positive
            at_neg += 1 - positive


@njit(parallel=True, nogil=True, cache=True)
def _pairs_below(pos, neg, w_pos, cum_neg, weighted, n_chunks, out):
    # Each positive v adds the negatives below it plus half those tied: with n_lt and n_le
    # the negatives < v and <= v, twice its share is n_lt + n_le (weights: their sums).
    # Chunks of positives start from a binary search, so they run in parallel.
    n = pos.shape[0]
    for c in prange(n_chunks):
        _, start, stop = task_span(c, n_chunks, n)
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
    n_chunks = max(1, min(4 * numba.get_num_threads(), pos.shape[0] // MIN_CHUNK))
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
    y3, indicator = as_3d(y_true)
    column = indicator and w is None  # the common case: its own branch-free loops
    labels = y3[min(k, y3.shape[0] - 1), :, j] if column else None
    counts = np.zeros((chunk_count(N, 2), 2), np.int64)
    if column:
        _column_partition_counts(labels, counts)
    else:
        _partition_counts(y3, indicator, w, k, j, drop_zero, counts)
    n_neg = int(counts[:, 0].sum())
    cursor = np.cumsum(counts, axis=0) - counts
    cursor[:, 1] += n_neg
    keys = np.empty(int(counts.sum()), y_score.dtype)
    weights = np.empty(keys.shape[0] if w is not None else 0, np.float64)
    if column:
        _column_partition_write(labels, y_score[k, :, j], cursor, keys)
    else:
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
    for c in prange(n_chunks):
        _, start, stop = task_span(c, n_chunks, N)
        for i in range(start, stop):
            b = bin_of(y_score[k, i, j], lo, scale, n_bins, edges)
            counts[c, b, np.int64(is_positive(y_true, k, i, j, indicator))] += 1


@njit(parallel=True, nogil=True, cache=True)
def _refine_split(y_true, indicator, y_score, weight, k, j, lo, scale, n_bins, edges, mixed,
                  cursor, keys, weights):
    # The samples of the mixed bins only: chunk c writes its negatives from cursor[c, 0]
    # and its positives from cursor[c, 1].
    N = y_score.shape[1]
    n_chunks = cursor.shape[0]
    for c in prange(n_chunks):
        _, start, stop = task_span(c, n_chunks, N)
        at_neg = cursor[c, 0]
        at_pos = cursor[c, 1]
        for i in range(start, stop):
            v = y_score[k, i, j]
            if not mixed[bin_of(v, lo, scale, n_bins, edges)]:
                continue
            if is_positive(y_true, k, i, j, indicator):
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
    y3, indicator = as_3d(y_true)
    n_chunks = chunk_count(N, 2 * B)
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
def _merge_curve(pos, neg, w_pos, w_neg, weighted, thresholds, fps, tps, m, tp, fp):
    """Walk ascending positive and negative (finite or infinite) scores from the top: one
    curve point per distinct score, with the weight of positives and negatives at or above
    it, written from point ``m`` on, after ``tp`` and ``fp`` above them."""
    i = pos.shape[0] - 1
    j = neg.shape[0] - 1
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
    m, tp, fp = 0, 0.0, 0.0
    if (pos.shape[0] and pos[-1] != pos[-1]) or (neg.shape[0] and neg[-1] != neg[-1]):
        # NaN scores sort last, and each is a point of its own, the later sample first (as
        # in the reference's stable sort, reversed); the merge walks the rest.
        m, tp, fp = _nan_points(y_true, y_score, w, thresholds, fps, tps)
        pos, w_pos = _finite_part(pos, w_pos)
        neg, w_neg = _finite_part(neg, w_neg)
    empty = np.zeros(0)
    m = _merge_curve(pos, neg, empty if w_pos is None else w_pos,
                     empty if w_neg is None else w_neg, w is not None, thresholds, fps, tps,
                     m, tp, fp)
    return thresholds[:m], fps[:m], tps[:m]


def _nan_points(y_true, y_score, w, thresholds, fps, tps):
    """The curve's first points, one per NaN score of non-zero weight: ``(m, tp, fp)``."""
    at = np.flatnonzero(np.isnan(y_score))[::-1]
    if w is not None:
        at = at[w[at] != 0]
    step = np.ones(at.shape[0]) if w is None else w[at]
    positive = y_true[at] != 0
    tps[:at.shape[0]] = np.cumsum(np.where(positive, step, 0.0))
    fps[:at.shape[0]] = np.cumsum(np.where(positive, 0.0, step))
    thresholds[:at.shape[0]] = np.nan
    m = at.shape[0]
    if m == 0:
        return 0, 0.0, 0.0
    return m, float(tps[m - 1]), float(fps[m - 1])


def _finite_part(sorted_scores, weights):
    """Ascending scores without their NaN tail, and their weights."""
    n = np.searchsorted(np.isnan(sorted_scores), True)
    return sorted_scores[:n], None if weights is None else weights[:n]
