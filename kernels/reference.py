"""NumPy implementations of the kernels: the fallback backend and the oracle for the others.

Every function here has the same signature, result and errors as its twin in ``cpu.py``
and ``cuda.py``; ``tests/kernels`` checks them against each other.
"""

from __future__ import annotations

import numpy as np
from gpumetrics.kernels import _common

name = "reference"


def _encode(y, lut, offset, num_classes):
    """Map raw labels to class indices through ``lut``; anything else goes to ``num_classes``."""
    shifted = y.astype(np.int64) - offset
    inside = (shifted >= 0) & (shifted < lut.shape[0])
    idx = np.full(shifted.shape, num_classes, dtype=np.int64)
    idx[inside] = lut[shifted[inside]]
    return idx


def confusion(
    y_true, y_pred, num_classes, sample_weight=None, ignore_index=None, lut=None, offset=0,
    out=None,
):
    """Add the ``(K, C + 1, C + 1)`` confusion counts ``out[k, true, pred]``.

    ``y_true`` is ``(1 or K, N)``, ``y_pred`` is ``(K, N)``, integer labels. A label ``v``
    maps to class ``lut[v - offset]`` (identity when ``lut`` is None); labels outside the
    table land in row/column ``C``, the overflow bin callers use both to detect out-of-range
    labels and to count classes left out of ``labels=``. Samples whose raw ``y_true`` equals
    ``ignore_index`` are skipped.
    """
    y_true, y_pred, C, w, lut, offset, out = _common.prepare_confusion(
        y_true, y_pred, num_classes, sample_weight, lut, offset, out
    )
    K, N = y_pred.shape
    t = _encode(np.broadcast_to(y_true, (K, N)), lut, offset, C)
    p = _encode(y_pred, lut, offset, C)
    bins = (C + 1) * (C + 1)
    flat = t * (C + 1) + p + (np.arange(K, dtype=np.int64) * bins)[:, None]
    weights = None if w is None else np.broadcast_to(w, (K, N))
    if ignore_index is not None:
        keep = np.broadcast_to(y_true != ignore_index, (K, N))
        flat = flat[keep]
        weights = None if weights is None else weights[keep]
    else:
        flat = flat.reshape(-1)
        weights = None if weights is None else weights.reshape(-1)
    counts = np.bincount(flat, weights=weights, minlength=K * bins)
    out += counts.reshape(out.shape).astype(out.dtype, copy=False)
    return out


def contingency(
    y_true, y_pred, n_rows, n_cols, lut_true=None, offset_true=0, lut_pred=None, offset_pred=0,
    out=None,
):
    """Add the ``(K, R + 1, C + 1)`` counts ``out[k, row, col]`` of a contingency table:
    rectangular confusion counts whose two sides have tables of their own.

    ``y_true`` is ``(1 or K, N)``, ``y_pred`` is ``(K, N)``, integer labels. A true label
    ``v`` counts in row ``lut_true[v - offset_true]``, a predicted one in column
    ``lut_pred[v - offset_pred]`` (identity tables when None); labels outside a table land
    in row ``R`` or column ``C``.
    """
    y_true, y_pred, R, C, lut_t, off_t, lut_p, off_p, out = _common.prepare_contingency(
        y_true, y_pred, n_rows, n_cols, lut_true, offset_true, lut_pred, offset_pred, out
    )
    K, N = y_pred.shape
    t = _encode(np.broadcast_to(y_true, (K, N)), lut_t, off_t, R)
    p = _encode(y_pred, lut_p, off_p, C)
    bins = (R + 1) * (C + 1)
    flat = t * (C + 1) + p + (np.arange(K, dtype=np.int64) * bins)[:, None]
    counts = np.bincount(flat.reshape(-1), minlength=K * bins)
    out += counts.reshape(out.shape)
    return out


def label_counts(y_true, y_pred, sample_weight=None, out=None):
    """Add multilabel counts ``out[k, label, true, pred]`` of shape ``(K, L, 2, 2)``.

    ``y_true`` is ``(1 or K, N, L)``, ``y_pred`` is ``(K, N, L)``; a non-zero entry is a
    positive.
    """
    y_true, y_pred, w, out = _common.prepare_label_counts(y_true, y_pred, sample_weight, out)
    K, N, L = y_pred.shape
    t = np.broadcast_to(y_true != 0, (K, N, L)).astype(np.int64)
    p = (y_pred != 0).astype(np.int64)
    code = 2 * t + p
    weights = np.ones((K, N), np.int64) if w is None else np.broadcast_to(w, (K, N))
    for c in range(4):
        hits = (code == c).astype(weights.dtype)
        out[:, :, c // 2, c % 2] += np.einsum("kn,knl->kl", weights, hits).astype(
            out.dtype, copy=False
        )
    return out


def sample_label_counts(y_true, y_pred):
    """Per-sample multilabel counts ``(K, N, 4)``: true positives, predicted, true, and
    entries where the raw values differ (for subset accuracy and the Hamming loss)."""
    y_true, y_pred, out = _common.prepare_sample_label_counts(y_true, y_pred)
    t = np.broadcast_to(y_true != 0, y_pred.shape)
    p = y_pred != 0
    out[..., 0] = np.count_nonzero(t & p, axis=-1)
    out[..., 1] = np.count_nonzero(p, axis=-1)
    out[..., 2] = np.count_nonzero(t, axis=-1)
    out[..., 3] = np.count_nonzero(np.broadcast_to(y_true, y_pred.shape) != y_pred, axis=-1)
    return out


def topk_outcomes(y_true, y_score, k, sample_weight=None, out=None):
    """Add top-k outcome counts ``(K, 4)``: miss, hit, label out of range, non-finite row.

    The true class ``t`` is a hit when fewer than ``k`` classes rank above it, where class
    ``c`` ranks above ``t`` if its score is higher, or equal with ``c > t`` (the order of a
    stable descending sort with ties broken towards the larger index, as scikit-learn's).
    """
    y_true, y_score, k, w, out = _common.prepare_topk(y_true, y_score, k, sample_weight, out)
    K, N, C = y_score.shape
    t = np.broadcast_to(y_true, (K, N)).astype(np.int64)
    valid = (t >= 0) & (t < C)
    tc = np.where(valid, t, 0)
    finite = np.isfinite(y_score).all(axis=-1)
    s_true = np.take_along_axis(y_score, tc[..., None], axis=-1)
    classes = np.arange(C)
    above = (y_score > s_true) | ((y_score == s_true) & (classes > tc[..., None]))
    hit = above.sum(axis=-1) < k
    code = np.where(~finite, 3, np.where(~valid, 2, hit.astype(np.int64)))
    weights = None if w is None else np.broadcast_to(w, (K, N)).reshape(-1)
    flat = (code + 4 * np.arange(K)[:, None]).reshape(-1)
    out += np.bincount(flat, weights=weights, minlength=4 * K).reshape(K, 4).astype(
        out.dtype, copy=False
    )
    return out


def label_range(y):
    """Smallest and largest label of a non-empty integer array, as Python ints."""
    y = _common.prepare_range(y)
    return int(y.min()), int(y.max())


def bincount(y, offset, size, out=None):
    """Add the counts of each value in ``[offset, offset + size)`` into ``out`` (int64)."""
    y, offset, size, out = _common.prepare_bincount(y, offset, size, out)
    shifted = y.astype(np.int64) - offset
    shifted = shifted[(shifted >= 0) & (shifted < size)]
    out += np.bincount(shifted, minlength=size)
    return out


# --- scores: ranges, histograms, exact ranking -----------------------------------------


def score_range(y_score):
    """``(K, L, 3)`` float64: the smallest and largest score of each column, and 1 where
    the column holds a NaN or an infinite score (then the min and max are not meaningful).
    An empty column has min +inf and max -inf."""
    y_score = _common.as_score_array(y_score, "y_score")
    if y_score.ndim != 3:
        raise ValueError(f"y_score must be 3-D (K, N, L); got {y_score.ndim}-D.")
    out = np.empty(y_score.shape[:1] + y_score.shape[2:] + (3,), np.float64)
    out[..., 0] = y_score.min(axis=1, initial=np.inf)
    out[..., 1] = y_score.max(axis=1, initial=-np.inf)
    out[..., 2] = ~np.isfinite(y_score).all(axis=1)
    return out


def _positives(y_true, K, N, L):
    """``(K, N, L)`` booleans: which (sample, column) pairs are positives."""
    if y_true.ndim == 3:
        return np.broadcast_to(y_true != 0, (K, N, L))
    return np.broadcast_to(y_true[:, :, None] == np.arange(L), (K, N, L))


def bin_index(y_score, lo, hi, n_bins, edges):
    """Bin of each score: ``floor((s - lo) * n_bins / (hi - lo))`` clipped to the bins, or
    the number of ``edges`` at or below ``s``. Monotone in ``s``; NaN goes to bin 0."""
    if edges is not None:
        return np.searchsorted(edges, y_score, side="right")
    width = hi - lo
    scale = np.where(width > 0, n_bins / np.where(width > 0, width, 1.0), 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        f = (y_score.astype(np.float64) - lo[:, None, :]) * scale[:, None, :]
        idx = np.where(f >= n_bins, n_bins - 1, np.where(f >= 0, f, 0))
    return idx.astype(np.int64)


def score_histogram(y_true, y_score, lo, hi, n_bins, edges=None, sample_weight=None, out=None):
    """Add per-bin negative and positive counts ``out[k, l, bin, is_positive]``, shape
    ``(K, L, B, 2)``, in one pass. Bins are ``B`` equal slices of ``[lo, hi]`` per column
    (scores outside go to the end bins), or with ``edges`` (``E`` increasing thresholds),
    ``E + 1`` bins where bin ``b`` holds scores in ``[edges[b - 1], edges[b])``."""
    y_true, y_score, lo, hi, B, edges, w, out = _common.prepare_histogram(
        y_true, y_score, lo, hi, n_bins, edges, sample_weight, out
    )
    K, N, L = y_score.shape
    idx = bin_index(y_score, lo, hi, B, edges)
    pos = _positives(y_true, K, N, L)
    col = (np.arange(K)[:, None, None] * L + np.arange(L)) * B
    flat = ((col + idx) * 2 + pos).reshape(-1)
    weights = None if w is None else np.broadcast_to(w[:, :, None], (K, N, L)).reshape(-1)
    counts = np.bincount(flat, weights=weights, minlength=out.size)
    out += counts.reshape(out.shape).astype(out.dtype, copy=False)
    return out


def _tie_groups(s, pos, w):
    """Sort one column; per distinct score, the positive and negative weight (or count)."""
    order = np.argsort(s, kind="stable")
    ss = s[order]
    starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]]) if s.shape[0] else np.arange(0)
    p = pos[order]
    if w is None:
        ones = np.ones(s.shape[0], np.int64)
        pw, nw = ones * p, ones * ~p
    else:
        ww = w[order]
        pw, nw = ww * p, ww * ~p
    return np.add.reduceat(pw, starts), np.add.reduceat(nw, starts)


def rank_auc(y_true, y_score, sample_weight=None):
    """Exact Mann-Whitney statistic of every column: ``(K, L, 3)`` float64 holding the
    negative total, the positive total and ``U`` = sum over positives of the negatives
    scored below plus half those tied, so that ``AUC = U / (P * N)``. Sort-based."""
    y_true, y_score, w = _common.prepare_scores(y_true, y_score, sample_weight)
    K, N, L = y_score.shape
    pos = _positives(y_true, K, N, L)
    out = np.zeros((K, L, 3), np.float64)
    for k in range(K):
        wk = None if w is None else w[min(k, w.shape[0] - 1)]
        for j in range(L):
            pg, ng = _tie_groups(y_score[k, :, j], pos[k, :, j], wk)
            below = np.cumsum(ng) - ng
            if w is None:  # exact integers: 2U fits int64 for any N below 2^31
                out[k, j, 2] = float(np.sum(pg * (2 * below + ng))) / 2
            else:
                out[k, j, 2] = np.sum(pg * (below + 0.5 * ng))
            out[k, j, 0] = ng.sum()
            out[k, j, 1] = pg.sum()
    return out


def refine_auc(y_true, y_score, lo, hi, n_bins, edges=None, sample_weight=None):
    """The exact ``rank_auc`` of every column, reached from the score bins: only bins
    holding both classes need sorting (the others are ordered by the bins). This oracle
    checks the arguments as the refining backends do and sorts everything."""
    y_true, y_score, lo, hi, n_bins, edges, w, _ = _common.prepare_histogram(
        y_true, y_score, lo, hi, n_bins, edges, sample_weight, None
    )
    return rank_auc(y_true, y_score, w)


def clf_curve(y_true, y_score, sample_weight=None):
    """scikit-learn's binary curve of one column: distinct thresholds in decreasing order
    and, at each, the false and true positives scored at or above it (float64). Samples of
    zero weight are left out."""
    y_true, y_score, w = _common.prepare_curve(y_true, y_score, sample_weight)
    pos = y_true != 0
    if w is not None:
        keep = w != 0
        y_score, pos, w = y_score[keep], pos[keep], w[keep]
    order = np.argsort(y_score, kind="stable")[::-1]
    s = y_score[order]
    p = pos[order].astype(np.float64)
    idx = np.r_[np.flatnonzero(np.diff(s)), s.shape[0] - 1] if s.shape[0] else np.arange(0)
    if w is None:
        tps = np.cumsum(p)[idx]
        fps = 1 + idx - tps
    else:
        ww = w[order]
        tps = np.cumsum(p * ww)[idx]
        fps = np.cumsum((1 - p) * ww)[idx]
    return s[idx], fps, tps


# --- regression moments ----------------------------------------------------------------


_EPS64 = np.finfo(np.float64).eps


def moments(y_true, y_pred, sample_weight=None, out=None):
    """Merge the regression state of every column into ``out`` ``(K, L, 13)`` (float64,
    fields ``_common.MOMENTS``): total weight; mean and sum of squared deviations of
    y_true, of y_pred and of the error ``y_pred - y_true``; the co-moment of y_true and
    y_pred; the weighted sums of ``|error|`` and ``|error| / max(|y_true|, eps)``; the
    largest ``|error|``; and the shifts (each column's first values) the means of y_true
    and y_pred are taken from. Two-pass per call, merged with Chan's formulas: no raw
    moments, no cancellation."""
    y_true, y_pred, w, out = _common.prepare_moments(y_true, y_pred, sample_weight, out)
    with np.errstate(invalid="ignore", over="ignore"):  # NaN input: a NaN state, no warning
        return _moments(y_true, y_pred, w, out)


def _moments(y_true, y_pred, w, out):
    K, N, L = y_pred.shape
    t = np.broadcast_to(y_true, (K, N, L)).astype(np.float64)
    p = y_pred.astype(np.float64)
    e = p - t
    shift_t = t[:, :1, :]
    shift_p = p[:, :1, :]
    ww = np.ones((K, N, 1)) if w is None else np.broadcast_to(w[:, :, None], (K, N, 1))
    W = ww.sum(axis=1)  # (K, 1)
    safe = np.where(W != 0, W, 1.0)
    state = np.zeros((K, L, len(_common.MOMENTS)))
    state[..., 0] = W
    dev = {}
    for field, x in ((1, t - shift_t), (3, p - shift_p), (6, e)):
        mean = (ww * x).sum(axis=1) / safe
        state[..., field] = mean
        dev[field] = x - mean[:, None, :]
        state[..., field + 1] = (ww * dev[field] ** 2).sum(axis=1)
    state[..., 5] = (ww * dev[1] * dev[3]).sum(axis=1)
    state[..., 8] = (ww * np.abs(e)).sum(axis=1)
    state[..., 9] = (ww * np.abs(e) / np.maximum(np.abs(t), _EPS64)).sum(axis=1)
    state[..., 10] = np.abs(e).max(axis=1, initial=0.0)
    state[..., 11] = shift_t[:, 0, :]
    state[..., 12] = shift_p[:, 0, :]
    out[...] = _common.merge_moments(out, state)
    return out


# --- losses ----------------------------------------------------------------------------


def loss_sums(y_true, y_score, kind, sample_weight=None, ignore_index=None, eps=0.0, out=None):
    """Add ``(K, 4)`` float64 loss sums: the weighted loss, the weight counted, samples whose
    class label is outside ``[0, C)`` (left out), and rows of probabilities that do not sum
    to one (``proba`` only). ``kind`` is one of ``_common.LOSSES``; ``eps`` clips
    probabilities to ``[eps, 1 - eps]`` for ``proba``. Logits are reduced with log-sum-exp;
    no softmax copy is made."""
    y_true, y_score, w, ignore, out = _common.prepare_loss(
        y_true, y_score, kind, sample_weight, ignore_index, out
    )
    K, N, C = y_score.shape
    x = y_score.astype(np.float64)
    ww = np.ones((K, N)) if w is None else np.broadcast_to(w, (K, N)).astype(np.float64)
    if kind in ("softmax", "proba"):
        t = np.broadcast_to(y_true, (K, N)).astype(np.int64)
        keep = t != ignore
        n_cols = 2 if (kind == "proba" and C == 1) else C
        valid = keep & (t >= 0) & (t < n_cols)
        tc = np.where(valid, t, 0)
        if kind == "softmax":
            m = x.max(axis=2)
            lse = m + np.log(np.exp(x - m[..., None]).sum(axis=2))
            loss = lse - np.take_along_axis(x, tc[..., None], axis=2)[..., 0]
            unnormalised = np.zeros((K, N), bool)
        else:
            if C == 1:
                p = np.where(tc == 1, x[..., 0], 1.0 - x[..., 0])
                unnormalised = np.zeros((K, N), bool)
            else:
                p = np.take_along_axis(x, tc[..., None], axis=2)[..., 0]
                unnormalised = np.abs(x.sum(axis=2) - 1.0) > 1e-8 + np.sqrt(eps)
            loss = -np.log(np.clip(p, eps, 1.0 - eps))
        out[:, 0] += np.where(valid, ww * loss, 0.0).sum(axis=1)
        out[:, 1] += np.where(valid, ww, 0.0).sum(axis=1)
        out[:, 2] += (keep & ~valid).sum(axis=1)
        out[:, 3] += unnormalised.sum(axis=1)
        return out
    t = np.broadcast_to(y_true, (K, N, C)).astype(np.float64)
    if kind == "sigmoid":
        loss = np.maximum(x, 0) - x * t + np.log1p(np.exp(-np.abs(x)))
    else:
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(x), -100.0)
            log_q = np.maximum(np.log(1.0 - x), -100.0)
        loss = -(t * log_p + (1.0 - t) * log_q)
    out[:, 0] += (ww * loss.sum(axis=2)).sum(axis=1)
    out[:, 1] += ww.sum(axis=1) * C
    return out
