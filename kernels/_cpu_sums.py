"""Numba sums: the regression moments (two passes per block of samples, blocks merged by
Chan's formulas) and the loss sums. Signatures, results and errors are those of
``reference.py``.
"""

from __future__ import annotations

import numpy as np
from gpumetrics.kernels import _common
from gpumetrics.kernels._cpu_chunks import run_chunked, task_span
from numba import njit, prange

# --- regression moments ----------------------------------------------------------------

_MOMENT_BLOCK = 1024  # samples per two-pass block: the block stays in L1 between passes


_merge_state = njit(inline="always")(_common.merge_state)


@njit(inline="always")
def _merge_block(state, block, W, mt, m2t, mp, m2p, c, me, m2e, sabs, sape, mx, shift_t,
                 shift_p):
    """Merge one block's moments into ``state``: the 13 fields in ``_common.MOMENTS``'s
    order, written into the scratch ``block``."""
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
    block[11] = shift_t
    block[12] = shift_p
    _merge_state(state, block)


@njit(parallel=True, nogil=True, cache=True)
def _moments_loop(y_true, y_pred, weight, shift_true, shift_pred, private, n_chunks):
    # Means are taken of the data minus a shift (the column's first value), so that the
    # block means Chan's merge subtracts keep their precision when the data sit far from 0.
    K, N, L = y_pred.shape
    eps = np.finfo(np.float64).eps
    for task in prange(K * n_chunks):
        k, start, stop = task_span(task, n_chunks, N)
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
                    if ae > mx or ae != ae:  # NaN propagates, as in the reference
                        mx = ae
                _merge_block(private[task, j], block, W, mt, m2t, mp, m2p, c, me, m2e, sabs,
                             sape, mx, shift_true[kt, j], shift_pred[k, j])


# Sums over a block's buffers, free to reorder their additions (and so to run in SIMD
# lanes): every term is formed first, in the order written, by the strict loops of
# ``_moments_column_loop``; only these sums are reassociated. Deterministic for a build.
@njit(fastmath={"reassoc"}, nogil=True, cache=True)
def _sum(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i]
    return s


@njit(fastmath={"reassoc"}, nogil=True, cache=True)
def _dot(x, y):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i] * y[i]
    return s


@njit(fastmath={"reassoc", "nnan"}, nogil=True, cache=True)
def _largest(x):  # of non-negative values; a NaN among them is found by the caller
    s = 0.0
    for i in range(x.shape[0]):
        s = max(s, x[i])
    return s


@njit(parallel=True, nogil=True, cache=True)
def _moments_column_loop(y_true, y_pred, shift_true, shift_pred, private, n_chunks):
    # The common case: one column, no weights. As ``_moments_loop``, with each block's
    # deviations, errors and relative errors written to buffers in L1 by strict loops over
    # slices (SIMD), and summed by ``_sum`` and ``_dot``.
    K, N = y_pred.shape
    eps = np.finfo(np.float64).eps
    for task in prange(K * n_chunks):
        k, start, stop = task_span(task, n_chunks, N)
        kt = min(k, y_true.shape[0] - 1)
        st0 = shift_true[kt, 0]
        sp0 = shift_pred[k, 0]
        block = np.zeros(13)
        buffers = np.empty((5, _MOMENT_BLOCK))
        for b0 in range(start, stop, _MOMENT_BLOCK):
            b1 = min(b0 + _MOMENT_BLOCK, stop)
            n = b1 - b0
            t = y_true[kt, b0:b1]
            p = y_pred[k, b0:b1]
            dt, dp, de = buffers[0, :n], buffers[1, :n], buffers[2, :n]
            ae, ape = buffers[3, :n], buffers[4, :n]
            for i in range(n):
                dt[i] = np.float64(t[i]) - st0
                dp[i] = np.float64(p[i]) - sp0
                de[i] = np.float64(p[i]) - np.float64(t[i])
            W = np.float64(n)
            mt = _sum(dt) / W
            mp = _sum(dp) / W
            me = _sum(de) / W
            for i in range(n):
                e = de[i]
                dt[i] -= mt
                dp[i] -= mp
                de[i] = e - me
                ae[i] = abs(e)
                ape[i] = abs(e) / max(abs(np.float64(t[i])), eps)
            sabs = _sum(ae)
            largest = sabs if sabs != sabs else _largest(ae)  # NaN: NaN, as the reference
            _merge_block(private[task, 0], block, W, mt, _dot(dt, dt), mp, _dot(dp, dp),
                         _dot(dt, dp), me, _dot(de, de), sabs, _sum(ape), largest, st0, sp0)


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
    shift_true = np.ascontiguousarray(y_true[:, 0, :], dtype=np.float64)
    shift_pred = np.ascontiguousarray(y_pred[:, 0, :], dtype=np.float64)
    state = np.zeros_like(out)
    if w is None and L == 1:
        run_chunked(state, N, _moments_column_loop, y_true[:, :, 0], y_pred[:, :, 0],
                    shift_true, shift_pred, merge=_merge_private)
    else:
        run_chunked(state, N * L, _moments_loop, y_true, y_pred, w, shift_true, shift_pred,
                    merge=_merge_private)
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
        k, start, stop = task_span(task, n_chunks, N)
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
        k, start, stop = task_span(task, n_chunks, N)
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
    _, N, C = y_score.shape
    if kind in ("softmax", "proba"):
        run_chunked(out, N * C // 4 + 1, _class_loss_loop, y_true, y_score, kind == "softmax",
                    w, ignore, float(eps))
    else:
        run_chunked(out, N * C // 4 + 1, _binary_loss_loop, y_true, y_score, kind == "sigmoid",
                    w)
    return out
