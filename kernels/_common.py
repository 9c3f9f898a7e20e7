"""Argument checks and buffer set-up shared by every kernel implementation.

Each backend (``reference``, ``cpu``, ``cuda``) calls the same ``prepare_*`` function first,
so every implementation accepts the same inputs and raises the same errors; only the
counting loop differs between them.

Conventions for all counting kernels:

* a leading batch axis ``K``: ``y_pred`` (and ``y_score``) are ``(K, N, ...)``; ``y_true``
  and ``sample_weight`` are either shared, ``(1, N, ...)``, or per set, ``(K, N, ...)``;
* results are *added* into ``out``, so a streaming update is the same call as one-shot;
* counts are ``int64``; with ``sample_weight`` they are ``float64`` sums of weights.
"""

from __future__ import annotations

import math

import numpy as np

INT_KINDS = "iub"


def as_label_array(y, name: str, xp=np):
    """Return ``y`` with an integer dtype the kernels can read (bool is viewed as uint8)."""
    if y.dtype == xp.bool_:
        return y.view(xp.uint8)
    if y.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class labels; got dtype {y.dtype}.")
    if y.dtype == xp.uint64:
        # uint64 mixed with the int64 offset would promote to float64 in compiled code.
        return y.astype(xp.int64)
    return y


def _check_weight(sample_weight, K: int, N: int, xp):
    if sample_weight is None:
        return None
    if sample_weight.ndim != 2 or sample_weight.shape[0] not in (1, K) or (
        sample_weight.shape[1] != N
    ):
        raise ValueError(
            f"sample_weight must have shape (1, {N}) or ({K}, {N}); got {sample_weight.shape}."
        )
    if sample_weight.dtype != xp.float64:
        sample_weight = sample_weight.astype(xp.float64)
    return sample_weight


def _check_out(out, shape: tuple, weighted: bool, xp):
    dtype = xp.float64 if weighted else xp.int64
    if out is None:
        return xp.zeros(shape, dtype=dtype)
    if tuple(out.shape) != shape:
        raise ValueError(f"out must have shape {shape}; got {tuple(out.shape)}.")
    if out.dtype != dtype:
        raise ValueError(f"out must have dtype {np.dtype(dtype).name}; got {out.dtype}.")
    return out


def _check_batched(y_true, y_pred, ndim: int):
    if y_pred.ndim != ndim:
        raise ValueError(f"y_pred must be {ndim}-D with a leading batch axis; got {y_pred.ndim}-D.")
    if y_true.ndim != ndim:
        raise ValueError(f"y_true must be {ndim}-D with a leading batch axis; got {y_true.ndim}-D.")
    K = y_pred.shape[0]
    if y_true.shape[0] not in (1, K) or y_true.shape[1:] != y_pred.shape[1:]:
        raise ValueError(
            f"y_true has shape {tuple(y_true.shape)}, which does not match y_pred's "
            f"{tuple(y_pred.shape)} (leading axis 1 or {K})."
        )
    return K


def prepare_confusion(y_true, y_pred, num_classes, sample_weight, lut, offset, out, xp=np):
    """Check the arguments of ``confusion`` and return them normalised."""
    K = _check_batched(y_true, y_pred, 2)
    y_true = as_label_array(y_true, "y_true", xp)
    y_pred = as_label_array(y_pred, "y_pred", xp)
    num_classes = int(num_classes)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1; got {num_classes}.")
    if lut is None:
        lut = xp.arange(num_classes, dtype=xp.int64)
        offset = 0
    elif lut.ndim != 1 or lut.dtype != xp.int64:
        raise ValueError("lut must be a 1-D int64 array mapping (label - offset) to a class.")
    sample_weight = _check_weight(sample_weight, K, y_pred.shape[1], xp)
    out = _check_out(out, (K, num_classes + 1, num_classes + 1), sample_weight is not None, xp)
    return y_true, y_pred, num_classes, sample_weight, lut, int(offset), out


def prepare_contingency(y_true, y_pred, n_rows, n_cols, lut_true, offset_true, lut_pred,
                        offset_pred, out, xp=np):
    """Check the arguments of ``contingency`` and return them normalised (identity tables
    at offset 0 where none is given)."""
    K = _check_batched(y_true, y_pred, 2)
    y_true = as_label_array(y_true, "y_true", xp)
    y_pred = as_label_array(y_pred, "y_pred", xp)
    sizes = []
    for name, size in (("n_rows", n_rows), ("n_cols", n_cols)):
        size = int(size)
        if size < 1:
            raise ValueError(f"{name} must be >= 1; got {size}.")
        sizes.append(size)
    tables = []
    for name, lut, offset, size in (("lut_true", lut_true, offset_true, sizes[0]),
                                    ("lut_pred", lut_pred, offset_pred, sizes[1])):
        if lut is None:
            lut, offset = xp.arange(size, dtype=xp.int64), 0
        elif lut.ndim != 1 or lut.dtype != xp.int64:
            raise ValueError(f"{name} must be a 1-D int64 array mapping (label - offset) to "
                             "an index.")
        tables += [lut, int(offset)]
    out = _check_out(out, (K, sizes[0] + 1, sizes[1] + 1), False, xp)
    return (y_true, y_pred, *sizes, *tables, out)


def prepare_label_counts(y_true, y_pred, sample_weight, out, xp=np):
    """Check the arguments of ``label_counts`` (multilabel indicators, ``(K, N, L)``)."""
    K = _check_batched(y_true, y_pred, 3)
    y_true = as_label_array(y_true, "y_true", xp)
    y_pred = as_label_array(y_pred, "y_pred", xp)
    sample_weight = _check_weight(sample_weight, K, y_pred.shape[1], xp)
    out = _check_out(out, (K, y_pred.shape[2], 2, 2), sample_weight is not None, xp)
    return y_true, y_pred, sample_weight, out


def prepare_sample_label_counts(y_true, y_pred, xp=np):
    """Check the arguments of ``sample_label_counts``; returns the ``(K, N, 4)`` output."""
    K = _check_batched(y_true, y_pred, 3)
    y_true = as_label_array(y_true, "y_true", xp)
    y_pred = as_label_array(y_pred, "y_pred", xp)
    out = xp.zeros((K, y_pred.shape[1], 4), dtype=xp.int64)
    return y_true, y_pred, out


def prepare_topk(y_true, y_score, k, sample_weight, out, xp=np):
    """Check the arguments of ``topk_outcomes``; ``y_score`` is ``(K, N, C)``."""
    if y_score.ndim != 3:
        raise ValueError(f"y_score must be 3-D (K, N, C); got {y_score.ndim}-D.")
    if y_score.dtype.kind != "f":
        raise ValueError(f"y_score must hold floating-point scores; got dtype {y_score.dtype}.")
    if y_score.dtype not in (xp.float32, xp.float64):
        y_score = y_score.astype(xp.float64)
    K, N, _ = y_score.shape
    if y_true.ndim != 2 or y_true.shape[0] not in (1, K) or y_true.shape[1] != N:
        raise ValueError(
            f"y_true must have shape (1, {N}) or ({K}, {N}); got {tuple(y_true.shape)}."
        )
    y_true = as_label_array(y_true, "y_true", xp)
    k = int(k)
    if k < 1:
        raise ValueError(f"k must be a positive integer; got {k}.")
    sample_weight = _check_weight(sample_weight, K, N, xp)
    out = _check_out(out, (K, 4), sample_weight is not None, xp)
    return y_true, y_score, k, sample_weight, out


def prepare_range(y, xp=np):
    """Check the argument of ``label_range``: a non-empty integer array, flattened."""
    y = as_label_array(y, "y", xp).reshape(-1)
    if y.shape[0] == 0:
        raise ValueError("y must not be empty.")
    return y


def prepare_bincount(y, offset, size, out, xp=np):
    """Check the arguments of ``bincount`` (values counted in ``[offset, offset + size)``)."""
    y = as_label_array(y, "y", xp)
    size = int(size)
    if size < 1:
        raise ValueError(f"size must be >= 1; got {size}.")
    out = _check_out(out, (size,), False, xp)
    return y.reshape(-1), int(offset), size, out


# --- score and regression kernels ------------------------------------------------------

FLOAT_KINDS = "f"
MOMENTS = ("weight", "mean_true", "m2_true", "mean_pred", "m2_pred", "comoment",
           "mean_error", "m2_error", "abs_error", "abs_pct_error", "max_abs_error",
           "shift_true", "shift_pred")
"""Fields of the ``moments`` state, in order (last axis of its output). ``mean_true`` and
``mean_pred`` are taken relative to ``shift_true`` and ``shift_pred`` (a value of the data),
so that the differences of means Chan's merge needs keep full precision when the data sit
far from zero."""


def as_score_array(y, name: str, xp=np):
    """``y`` as float32 or float64 (other numeric dtypes are converted to float64)."""
    if y.dtype in (xp.float32, xp.float64):
        return y
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold numeric scores; got dtype {y.dtype}.")
    return y.astype(xp.float64)


def prepare_scores(y_true, y_score, sample_weight, xp=np):
    """Check ``(y_true, y_score)`` of the score kernels.

    ``y_score`` is ``(K, N, L)``: L score columns of K prediction sets. ``y_true`` is either
    ``(1 or K, N, L)`` indicators (non-zero = positive for that column) or ``(1 or K, N)``
    class indices (positive for column l where ``y_true == l``).
    """
    if y_score.ndim != 3:
        raise ValueError(f"y_score must be 3-D (K, N, L); got {y_score.ndim}-D.")
    y_score = as_score_array(y_score, "y_score", xp)
    K, N, L = y_score.shape
    if y_true.ndim == 3:
        if y_true.shape[0] not in (1, K) or y_true.shape[1:] != y_score.shape[1:]:
            raise ValueError(
                f"y_true has shape {tuple(y_true.shape)}, which does not match y_score's "
                f"{tuple(y_score.shape)} (leading axis 1 or {K})."
            )
    elif y_true.ndim != 2 or y_true.shape[0] not in (1, K) or y_true.shape[1] != N:
        raise ValueError(
            f"y_true must be (1 or {K}, {N}) class indices or (1 or {K}, {N}, {L}) "
            f"indicators; got shape {tuple(y_true.shape)}."
        )
    y_true = as_label_array(y_true, "y_true", xp)
    sample_weight = _check_weight(sample_weight, K, N, xp)
    return y_true, y_score, sample_weight


def prepare_histogram(y_true, y_score, lo, hi, n_bins, edges, sample_weight, out, xp=np):
    """Check the arguments of ``score_histogram``; ``lo``/``hi`` are ``(K, L)`` ranges."""
    y_true, y_score, w = prepare_scores(y_true, y_score, sample_weight, xp)
    K, _, L = y_score.shape
    if edges is not None:
        if edges.ndim != 1 or edges.shape[0] < 1:
            raise ValueError("edges must be a non-empty 1-D array of increasing thresholds.")
        edges = edges.astype(xp.float64, copy=False)  # read only: no copy per call
        n_bins = edges.shape[0] + 1
        lo = hi = xp.zeros((K, L), xp.float64)
    else:
        n_bins = int(n_bins)
        if n_bins < 1:
            raise ValueError(f"n_bins must be >= 1; got {n_bins}.")
        lo = xp.broadcast_to(xp.asarray(lo, dtype=xp.float64), (K, L))
        hi = xp.broadcast_to(xp.asarray(hi, dtype=xp.float64), (K, L))
    out = _check_out(out, (K, L, n_bins, 2), w is not None, xp)
    return y_true, y_score, lo, hi, n_bins, edges, w, out


def prepare_curve(y_true, y_score, sample_weight, xp=np):
    """Check the arguments of ``clf_curve``: one column, ``(N,)`` each."""
    if y_score.ndim != 1 or y_true.ndim != 1 or y_true.shape[0] != y_score.shape[0]:
        raise ValueError(
            f"y_true and y_score must be 1-D and of one length; got shapes "
            f"{tuple(y_true.shape)} and {tuple(y_score.shape)}."
        )
    y_score = as_score_array(y_score, "y_score", xp)
    y_true = as_label_array(y_true, "y_true", xp)
    if sample_weight is not None:
        if sample_weight.shape != y_score.shape:
            raise ValueError(
                f"sample_weight must have shape {tuple(y_score.shape)}; "
                f"got {tuple(sample_weight.shape)}."
            )
        sample_weight = sample_weight.astype(xp.float64)
    return y_true, y_score, sample_weight


def prepare_moments(y_true, y_pred, sample_weight, out, xp=np):
    """Check the arguments of ``moments``: ``y_pred`` ``(K, N, L)``, ``y_true`` ``(1|K, N, L)``."""
    if y_pred.ndim != 3:
        raise ValueError(f"y_pred must be 3-D (K, N, L); got {y_pred.ndim}-D.")
    K = _check_batched(y_true, y_pred, 3)
    y_true = as_score_array(y_true, "y_true", xp)
    y_pred = as_score_array(y_pred, "y_pred", xp)
    sample_weight = _check_weight(sample_weight, K, y_pred.shape[1], xp)
    out = _check_out(out, (K, y_pred.shape[2], len(MOMENTS)), True, xp)
    return y_true, y_pred, sample_weight, out


def merge_moments(a, b):
    """Merge two ``moments`` states (..., 13) with Chan's formulas; returns a new array
    (in ``a``'s shifts). Associative and commutative up to rounding."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):  # a NaN state stays NaN, quietly
        return _merge_moments(a, b)


def _merge_moments(a, b):
    wa, wb = a[..., 0], b[..., 0]
    W = wa + wb
    with np.errstate(invalid="ignore", divide="ignore"):
        f = np.where(W != 0, wb / np.where(W != 0, W, 1.0), 0.0)
    out = a + b  # weight and the absolute sums add; the rest is set below
    cross = wa * f
    # b's means in a's frame: the shifts are data values, so their difference is exact
    # for data of one magnitude
    d_true = (b[..., 1] + (b[..., 11] - a[..., 11])) - a[..., 1]
    d_pred = (b[..., 3] + (b[..., 12] - a[..., 12])) - a[..., 3]
    d_err = b[..., 6] - a[..., 6]
    out[..., 1] = a[..., 1] + d_true * f
    out[..., 3] = a[..., 3] + d_pred * f
    out[..., 6] = a[..., 6] + d_err * f
    out[..., 2] = a[..., 2] + b[..., 2] + d_true * d_true * cross
    out[..., 4] = a[..., 4] + b[..., 4] + d_pred * d_pred * cross
    out[..., 5] = a[..., 5] + b[..., 5] + d_true * d_pred * cross
    out[..., 7] = a[..., 7] + b[..., 7] + d_err * d_err * cross
    out[..., 11:] = a[..., 11:]
    empty_b = wb == 0
    out[empty_b] = a[empty_b]
    empty_a = (wa == 0) & ~empty_b
    out[empty_a] = b[empty_a]
    out[..., 10] = np.maximum(a[..., 10], b[..., 10])  # the largest error ignores weights
    return out


def merge_state(a, b):
    """Merge one column's moments state ``b`` into ``a`` in place (Chan et al.), as
    ``merge_moments`` does for whole arrays. Plain arithmetic on 13-element arrays, so that
    the CPU and CUDA backends compile this one definition (``njit`` / device function)."""
    if b[10] > a[10] or b[10] != b[10]:  # the largest error; NaN propagates
        a[10] = b[10]
    wb = b[0]
    if wb == 0:
        return
    wa = a[0]
    if wa == 0:
        for f in range(13):
            if f != 10:
                a[f] = b[f]
        return
    W = wa + wb
    frac = wb / W
    cross = wa * frac
    d_true = (b[1] + (b[11] - a[11])) - a[1]
    d_pred = (b[3] + (b[12] - a[12])) - a[3]
    d_err = b[6] - a[6]
    a[0] = W
    a[1] += d_true * frac
    a[3] += d_pred * frac
    a[6] += d_err * frac
    a[2] += b[2] + d_true * d_true * cross
    a[4] += b[4] + d_pred * d_pred * cross
    a[5] += b[5] + d_true * d_pred * cross
    a[7] += b[7] + d_err * d_err * cross
    a[8] += b[8]
    a[9] += b[9]


def topk_code(row, t, k_top):
    """Outcome of one row of C scores for true class ``t``: 3 non-finite row, 2 label out of
    range, 1 hit (fewer than ``k_top`` classes rank above ``t``: a higher score, or an
    equal one at a larger index), 0 miss. Plain arithmetic, compiled by both backends."""
    C = row.shape[0]
    for c in range(C):
        if not math.isfinite(row[c]):
            return 3
    if t < 0 or t >= C:
        return 2
    s = row[t]
    above = 0
    for c in range(C):
        v = row[c]
        if v > s or (v == s and c > t):
            above += 1
    return 1 if above < k_top else 0


def class_loss(x, label, softmax, eps):
    """The loss of one row ``x`` of C class scores against class ``label`` (valid), and
    whether the row fails to sum to one (probabilities only): cross-entropy of logits by
    log-sum-exp, or the log loss of the probability clipped to ``[eps, 1 - eps]`` (one
    column: the probability of class 1). Plain arithmetic, compiled by both backends."""
    C = x.shape[0]
    if softmax:
        m = float(x[0])
        for c in range(1, C):
            m = max(m, float(x[c]))
        s = 0.0
        for c in range(C):
            s += math.exp(float(x[c]) - m)
        return m + math.log(s) - float(x[label]), False
    unnormalised = False
    if C == 1:
        p = float(x[0]) if label == 1 else 1.0 - float(x[0])
    else:
        p = float(x[label])
        total = 0.0
        for c in range(C):
            total += float(x[c])
        unnormalised = abs(total - 1.0) > 1e-8 + math.sqrt(eps)
    return -math.log(min(max(p, eps), 1.0 - eps)), unnormalised


def class_loss_accumulator(compiled_class_loss):
    """``add(sums, x, label, ignore, n_cols, softmax, eps, w)``: one sample's part of the
    ``loss_sums`` state, ``sums`` = [weighted loss, weight, labels outside [0, n_cols),
    unnormalised rows]; ``ignore`` labels count nothing. Built around a backend's compiled
    ``class_loss`` so that each backend compiles this one definition."""

    def add(sums, x, label, ignore, n_cols, softmax, eps, w):
        if label == ignore:
            return
        if label < 0 or label >= n_cols:
            sums[2] += 1.0
            return
        loss, unnormalised = compiled_class_loss(x, label, softmax, eps)
        if unnormalised:
            sums[3] += 1.0
        sums[0] += w * loss
        sums[1] += w

    return add


def binary_loss(v, t, from_logits):
    """Binary cross-entropy of one score ``v`` against a target ``t`` in [0, 1]: softplus
    form for logits, logs clamped at -100 for probabilities."""
    if from_logits:
        return max(v, 0.0) - v * t + math.log1p(math.exp(-abs(v)))
    log_p = max(math.log(v), -100.0) if v > 0 else -100.0
    log_q = max(math.log(1.0 - v), -100.0) if v < 1 else -100.0
    return -(t * log_p + (1.0 - t) * log_q)


LOSSES = ("softmax", "sigmoid", "binary_proba", "proba")
"""``loss_sums`` kinds: cross-entropy of logits with class targets (``softmax``), binary
cross-entropy of logits (``sigmoid``) or probabilities (``binary_proba``) with targets in
[0, 1], and scikit-learn's log loss of probabilities with class targets (``proba``)."""


def prepare_loss(y_true, y_score, kind, sample_weight, ignore_index, out, xp=np):
    """Check the arguments of ``loss_sums``; returns the ``(K, 4)`` output."""
    if kind not in LOSSES:
        raise ValueError(f"kind must be one of {', '.join(LOSSES)}; got {kind!r}.")
    if y_score.ndim != 3:
        raise ValueError(f"y_score must be 3-D (K, N, C); got {y_score.ndim}-D.")
    y_score = as_score_array(y_score, "y_score", xp)
    K, N, C = y_score.shape
    if kind in ("softmax", "proba"):
        if y_true.ndim != 2 or y_true.shape[0] not in (1, K) or y_true.shape[1] != N:
            raise ValueError(
                f"y_true must have shape (1 or {K}, {N}) for kind={kind!r}; "
                f"got {tuple(y_true.shape)}."
            )
        y_true = as_label_array(y_true, "y_true", xp)
    else:
        if y_true.ndim != 3 or y_true.shape[0] not in (1, K) or y_true.shape[1:] != (N, C):
            raise ValueError(
                f"y_true must have shape (1 or {K}, {N}, {C}) for kind={kind!r}; "
                f"got {tuple(y_true.shape)}."
            )
        y_true = as_score_array(y_true, "y_true", xp)
    sample_weight = _check_weight(sample_weight, K, N, xp)
    out = _check_out(out, (K, 4), True, xp)
    ignore = -(1 << 62) if ignore_index is None else int(ignore_index)
    return y_true, y_score, sample_weight, ignore, out
