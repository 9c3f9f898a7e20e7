"""Numba implementations of the kernels: parallel over (batch, chunk of samples).

Each task counts its chunk into a private histogram; the private histograms are summed at
the end, so there are no atomics and the result does not depend on the thread count.
Signatures, results and errors are those of ``reference.py``.
"""

from __future__ import annotations

import numba
import numpy as np
from gpumetrics.kernels import _common
from numba import njit, prange

name = "cpu"

_MIN_CHUNK = 1 << 16  # samples per task: below this, thread start-up dominates
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


@njit(parallel=True, nogil=True, cache=True)
def _topk_loop(y_true, y_score, k_top, weight, private, n_chunks):
    K, N, C = y_score.shape
    for task in prange(K * n_chunks):
        k, start, stop = _task_span(task, n_chunks, N)
        yt = y_true[min(k, y_true.shape[0] - 1)]
        hist = private[task]
        for i in range(start, stop):
            row = y_score[k, i]
            finite = True
            for c in range(C):
                if not np.isfinite(row[c]):
                    finite = False
            t = np.int64(yt[i])
            if not finite:
                code = 3
            elif t < 0 or t >= C:
                code = 2
            else:
                s = row[t]
                above = 0
                for c in range(C):
                    v = row[c]
                    if v > s or (v == s and c > t):
                        above += 1
                code = 1 if above < k_top else 0
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
