"""Numba implementations of the kernels: parallel over (batch, chunk of samples).

Each task counts its chunk into a private histogram; the private histograms are summed at
the end, so there are no atomics and the result does not depend on the thread count.
Signatures, results and errors are those of ``reference.py``.

The backend is four modules behind this one: ``_cpu_chunks`` (the split into tasks and
the merge of their private copies), ``_cpu_scores`` (score ranges and histograms),
``_cpu_ranking`` (exact ranking) and ``_cpu_sums`` (regression moments and loss sums).
This one holds the counting kernels and imports the others so that it offers the whole
interface.
"""

from __future__ import annotations

import numpy as np
from gpumetrics.kernels import _common
from gpumetrics.kernels._cpu_chunks import chunk_count, run_chunked, task_span
from gpumetrics.kernels._cpu_ranking import clf_curve, rank_auc, refine_auc
from gpumetrics.kernels._cpu_scores import score_histogram, score_range
from gpumetrics.kernels._cpu_sums import loss_sums, moments
from numba import njit, prange

name = "cpu"

__all__ = [
    "bincount", "clf_curve", "confusion", "contingency", "label_counts", "label_range",
    "loss_sums", "moments", "rank_auc", "refine_auc", "sample_label_counts",
    "score_histogram", "score_range", "topk_outcomes",
]


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
        k, start, stop = task_span(task, n_chunks, N)
        yt = y_true[min(k, y_true.shape[0] - 1)]
        yp = y_pred[k]
        # A task-local histogram keeps threads off each other's cache lines (small histograms
        # of neighbouring tasks would share them in ``private``). Counts are uint32 (a task
        # holds fewer than 2^32 samples): half the cache footprint (41 KB at C = 100).
        # For 64-bit labels, several interleaved copies, or class pairs coded in a SIMD pass
        # and counted in a second (``_confusion_narrow_loop``), were no faster when tried.
        if weight is None:
            counts = np.zeros(cells, dtype=np.uint32)
            if use_ignore:
                for i in range(np.uint64(start), np.uint64(stop)):
                    if np.int64(yt[i]) == ignore:
                        continue
                    ti = _class_index(yt[i], offset, lut, n_lut, n_classes)
                    pi = _class_index(yp[i], offset, lut, n_lut, n_classes)
                    counts[ti * width + pi] += np.uint32(1)
            else:
                for i in range(np.uint64(start), np.uint64(stop)):
                    ti = _class_index(yt[i], offset, lut, n_lut, n_classes)
                    pi = _class_index(yp[i], offset, lut, n_lut, n_classes)
                    counts[ti * width + pi] += np.uint32(1)
            for c in range(cells):
                private[task, c] += counts[c]
        else:
            sums = np.zeros(cells, dtype=private.dtype)
            w = weight[min(k, weight.shape[0] - 1)]
            for i in range(np.uint64(start), np.uint64(stop)):
                if use_ignore and np.int64(yt[i]) == ignore:
                    continue
                ti = _class_index(yt[i], offset, lut, n_lut, n_classes)
                pi = _class_index(yp[i], offset, lut, n_lut, n_classes)
                sums[ti * width + pi] += w[i]
            private[task] += sums


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
        k, start, stop = task_span(task, n_chunks, N)
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


_CODE_BLOCK = 2048  # samples whose cells are computed in one SIMD pass, then counted
_NARROW_KINDS = ("int8", "int16", "int32", "uint8", "uint16")  # exact in int32


@njit(inline="always")
def _narrow_codes(yt, yp, offset, n_classes, codes):
    # Labels of 32 bits or fewer, in 32-bit arithmetic: 8 lanes per AVX2 instruction. With
    # |offset| < 2^30 and C < 2^15, a label outside [offset, offset + C) wraps to at least C
    # as an unsigned 32-bit difference, so one compare finds the overflow cell.
    C = np.uint32(n_classes)
    for i in range(yt.shape[0]):
        ti = np.uint32(np.int32(yt[i]) - offset)
        pi = np.uint32(np.int32(yp[i]) - offset)
        ti = ti if ti < C else C
        pi = pi if pi < C else C
        codes[i] = np.int32(ti * (C + np.uint32(1)) + pi)


@njit(parallel=True, nogil=True, cache=True)
def _confusion_narrow_loop(y_true, y_pred, offset, n_classes, private, n_chunks):
    # Identity table, no weights, nothing ignored, narrow labels: a block's cells are
    # computed in a SIMD pass over slices (a loop with the increments in it stays scalar),
    # then counted into a task-local uint32 histogram.
    K, N = y_pred.shape
    cells = private.shape[1]
    offset32 = np.int32(offset)
    for task in prange(K * n_chunks):
        k, start, stop = task_span(task, n_chunks, N)
        yt = y_true[min(k, y_true.shape[0] - 1)]
        yp = y_pred[k]
        counts = np.zeros(cells, dtype=np.uint32)
        codes = np.empty(_CODE_BLOCK, np.int32)
        for b0 in range(start, stop, _CODE_BLOCK):
            b1 = min(b0 + _CODE_BLOCK, stop)
            block = codes[:b1 - b0]
            _narrow_codes(yt[b0:b1], yp[b0:b1], offset32, n_classes, block)
            for i in range(block.shape[0]):
                counts[np.uint64(block[i])] += np.uint32(1)
        for c in range(cells):
            private[task, c] += counts[c]


def _narrow(y_true, y_pred, offset: int, C: int) -> bool:
    """Whether the 32-bit code pass counts these labels exactly."""
    return (y_true.dtype.name in _NARROW_KINDS and y_pred.dtype.name in _NARROW_KINDS
            and abs(offset) < (1 << 30) and C < (1 << 15))


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
    cells = out.reshape(K, (C + 1) * (C + 1))
    use_ignore = ignore_index is not None
    identity = lut.shape[0] == C and _is_identity(lut)
    if identity and C == 2 and w is None and not use_ignore:
        run_chunked(cells, N, _confusion_binary_loop, y_true, y_pred, offset)
    elif identity and w is None and not use_ignore and _narrow(y_true, y_pred, offset, C):
        run_chunked(cells, N, _confusion_narrow_loop, y_true, y_pred, offset, C)
    else:
        run_chunked(
            cells, N, _confusion_loop, y_true, y_pred, w, None if identity else lut, offset, C,
            int(ignore_index) if use_ignore else 0, use_ignore,
        )
    return out


@njit(parallel=True, nogil=True, cache=True)
def _contingency_loop(y_true, y_pred, lut_t, off_t, lut_p, off_p, n_rows, n_cols, private,
                      n_chunks):
    # A side without a table (None) maps labels by their offset alone, as the confusion
    # loop does: no dependent load per sample.
    K, N = y_pred.shape
    width = np.uint64(n_cols + 1)
    cells = private.shape[1]
    n_t = np.uint64(0 if lut_t is None else lut_t.shape[0])
    n_p = np.uint64(0 if lut_p is None else lut_p.shape[0])
    for task in prange(K * n_chunks):
        k, start, stop = task_span(task, n_chunks, N)
        yt = y_true[min(k, y_true.shape[0] - 1)]
        yp = y_pred[k]
        counts = np.zeros(cells, dtype=np.uint32)  # task-local: fewer than 2^32 samples
        for i in range(np.uint64(start), np.uint64(stop)):
            row = _class_index(yt[i], off_t, lut_t, n_t, n_rows)
            col = _class_index(yp[i], off_p, lut_p, n_p, n_cols)
            counts[row * width + col] += np.uint32(1)
        for c in range(cells):
            private[task, c] += counts[c]


def contingency(
    y_true, y_pred, n_rows, n_cols, lut_true=None, offset_true=0, lut_pred=None, offset_pred=0,
    out=None,
):
    y_true, y_pred, R, C, lut_t, off_t, lut_p, off_p, out = _common.prepare_contingency(
        y_true, y_pred, n_rows, n_cols, lut_true, offset_true, lut_pred, offset_pred, out
    )
    K, N = y_pred.shape
    lut_t = None if lut_t.shape[0] == R and _is_identity(lut_t) else lut_t
    lut_p = None if lut_p.shape[0] == C and _is_identity(lut_p) else lut_p
    run_chunked(out.reshape(K, (R + 1) * (C + 1)), N, _contingency_loop, y_true, y_pred,
                lut_t, off_t, lut_p, off_p, R, C)
    return out


@njit(parallel=True, nogil=True, cache=True)
def _label_counts_loop(y_true, y_pred, weight, private, n_chunks):
    K, N, L = y_pred.shape
    for task in prange(K * n_chunks):
        k, start, stop = task_span(task, n_chunks, N)
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
    run_chunked(out.reshape(K, 4 * L), N * max(L, 1) // 4 + 1, _label_counts_loop, y_true,
                y_pred, w)
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
        k, start, stop = task_span(task, n_chunks, N)
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
    _, N, C = y_score.shape
    run_chunked(out, N * max(C, 1) // 8 + 1, _topk_loop, y_true, y_score, k, w)
    return out


@njit(parallel=True, nogil=True, cache=True)
def _range_loop(y, n_chunks, lows, highs):
    N = y.shape[0]
    for c in prange(n_chunks):
        _, start, stop = task_span(c, n_chunks, N)
        part = y[start:stop]  # a slice and its own range: the reduction compiles to SIMD
        lo = part[0]
        hi = part[0]
        for i in range(part.shape[0]):
            lo = min(lo, part[i])
            hi = max(hi, part[i])
        lows[c] = np.int64(lo)
        highs[c] = np.int64(hi)


def label_range(y):
    y = _common.prepare_range(y)
    n_chunks = min(chunk_count(y.shape[0], 1), y.shape[0])
    lows = np.empty(n_chunks, np.int64)
    highs = np.empty(n_chunks, np.int64)
    _range_loop(np.ascontiguousarray(y), n_chunks, lows, highs)
    return int(lows.min()), int(highs.max())


@njit(parallel=True, nogil=True, cache=True)
def _bincount_loop(y, offset, private, n_chunks):
    N = y.shape[0]
    size = private.shape[1]
    for c in prange(n_chunks):
        _, start, stop = task_span(c, n_chunks, N)
        hist = private[c]
        for i in range(start, stop):
            v = np.int64(y[i]) - offset
            if 0 <= v < size:
                hist[v] += 1


def bincount(y, offset, size, out=None):
    y, offset, size, out = _common.prepare_bincount(y, offset, size, out)
    run_chunked(out[None], y.shape[0], _bincount_loop, np.ascontiguousarray(y), offset)
    return out
