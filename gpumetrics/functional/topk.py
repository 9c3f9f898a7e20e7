"""Top-k accuracy from class scores, without sorting: a class is in the top k when fewer
than k classes rank above it (one O(C) scan per sample)."""

from __future__ import annotations

import warnings

import numpy as np

from gpumetrics import _arrays, dispatch, inputs
from gpumetrics._arrays import batch_result
from gpumetrics._warnings import undefined_metric
from gpumetrics.functional import _targets
from gpumetrics.functional._batching import batchable


def _classes_of(y_true, kernels) -> np.ndarray:
    if y_true.dtype.kind in "biu":
        lo, hi = kernels.label_range(y_true)
        if hi - lo < _targets._TABLE_RANGE:
            seen = _arrays.to_host(kernels.bincount(y_true, lo, hi - lo + 1))
            return lo + np.flatnonzero(seen)
    return np.unique(_arrays.to_host(y_true))


@batchable
def top_k_accuracy_score(
    y_true, y_score, *, k=2, normalize=True, sample_weight=None, labels=None, backend=None,
    _batched,
):
    """Fraction of samples whose true class is among the k highest scores.

    Ties rank the larger class index first, as scikit-learn's stable sort does. Binary
    ``y_score`` is the score of the greater label.

    >>> top_k_accuracy_score([0, 1, 2, 2], [[.5, .2, .2], [.3, .4, .2], [.2, .4, .3],
    ...                                     [.7, .2, .1]], k=2)
    0.75
    """
    ctx = _arrays.context_of(y_true=y_true, y_score=y_score, sample_weight=sample_weight)
    kernels = dispatch.kernels(backend, ctx.on_gpu)
    t = inputs.read(y_true, "y_true", ctx)
    s = inputs.numbers_of(inputs.read(y_score, "y_score", ctx), "y_score")
    inputs.label_values(t, "y_true")
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 1:
        raise ValueError(f"y_true must be 1-D (n_samples,); got shape {tuple(t.shape)}.")
    if t.shape[0] == 0:
        raise ValueError("y_true is empty: at least one sample is required.")
    if s.dtype.kind not in "biuf":
        raise ValueError(f"y_score must hold numeric scores; got dtype {s.dtype}.")
    if not _batched:
        s = s[None]
    if s.ndim not in (2, 3):
        raise ValueError(
            "y_score must be (n_samples,) or (n_samples, n_classes)"
            + (" with a leading batch axis" if _batched else "")
            + f"; got shape {tuple(s.shape[1:] if not _batched else s.shape)}."
        )
    if s.dtype.kind == "f" and not np.isfinite(_arrays.to_host(s)).all():
        raise ValueError("y_score contains NaN or infinity.")
    if t.dtype.kind == "f":
        t = _targets._integral(t, "y_true")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer; got {k!r}.")

    classes_true = _classes_of(t, kernels)
    n_true = classes_true.shape[0]
    binary = n_true <= 2 and not (labels is not None and len(labels) > 2)
    if binary and s.ndim == 3 and s.shape[2] != 1:
        raise ValueError(
            f"`y_true` is binary while y_score is 2d with {s.shape[2]} classes. If `y_true` "
            "does not contain all the labels, `labels` must be provided."
        )
    if not binary and s.ndim != 3:
        raise ValueError(
            "`y_score` needs to be of shape `(n_samples, n_classes)`, since `y_true` contains "
            f"multiple classes. Got `y_score.shape={tuple(s.shape[1:])}`."
        )
    if s.ndim == 3 and binary:
        s = s[:, :, 0]
    inputs.check_length(t.shape[0], s.shape[1], "y_score")
    n_score = s.shape[2] if s.ndim == 3 else 2
    if labels is None:
        classes = classes_true
        if n_true != n_score:
            raise ValueError(
                f"Number of classes in 'y_true' ({n_true}) not equal to the number of classes "
                f"in 'y_score' ({n_score}).You can provide a list of all known classes by "
                "assigning it to the `labels` parameter."
            )
    else:
        classes = np.asarray(_arrays.to_host(_arrays.to_kernel(labels, "labels")))
        if classes.ndim != 1:
            raise ValueError(f"labels must be 1-D; got shape {classes.shape}.")
        if np.unique(classes).shape[0] != classes.shape[0]:
            raise ValueError("Parameter 'labels' must be unique.")
        if not np.array_equal(np.sort(classes), classes):
            raise ValueError("Parameter 'labels' must be ordered.")
        if classes.shape[0] != n_score:
            raise ValueError(
                f"Number of given labels ({classes.shape[0]}) not equal to the number of "
                f"classes in 'y_score' ({n_score})."
            )
        if np.setdiff1d(classes_true, classes).shape[0]:
            raise ValueError("'y_true' contains labels not in parameter 'labels'.")
    if k >= classes.shape[0]:
        warnings.warn(
            f"'k' ({k}) greater than or equal to 'n_classes' ({classes.shape[0]}) will result "
            "in a perfect score and is therefore meaningless.",
            undefined_metric(),
            stacklevel=3,
        )
    encoded = inputs.encode(t, classes)  # on the inputs' device
    w = inputs.weights(sample_weight, t.shape[0], ctx, n_sets=s.shape[0], batched=_batched,
                       nonzero=False)
    if binary:
        hits = _binary_hits(_arrays.to_host(encoded), _arrays.to_host(s), k)
        weights = np.ones_like(hits) if w is None else np.broadcast_to(w, hits.shape)
        correct = (hits * weights).sum(axis=1)
        total = weights.sum(axis=1)
    else:
        if s.dtype not in (np.float32, np.float64):
            s = s.astype(np.float64)
        outcomes = _arrays.to_host(
            kernels.topk_outcomes(encoded[None], s, k, sample_weight=w)
        )
        correct = outcomes[:, 1].astype(np.float64)
        total = outcomes[:, :2].sum(axis=1).astype(np.float64)
    if normalize:
        if (total == 0).any():
            raise ZeroDivisionError("Weights sum to zero, can't be normalized")
        correct = correct / total
    return batch_result(correct, ctx, _batched)


def _binary_hits(encoded: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Binary top-1 thresholds the score at 0.5 (probabilities) or 0 (decision values)."""
    if k > 1:
        return np.ones(scores.shape, np.float64)
    hits = np.empty(scores.shape, np.float64)
    for i, row in enumerate(scores):
        threshold = 0.5 if row.min() >= 0 and row.max() <= 1 else 0
        hits[i] = (row > threshold).astype(np.int64) == encoded
    return hits
