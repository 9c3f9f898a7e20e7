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
