"""A metric of predicted labels at every threshold of binary scores
(``metric_at_thresholds``), as scikit-learn defines it: the samples are sorted by
decreasing score (zero weights dropped), and at each distinct score the labels are
``score >= threshold``.

When the metric is a gpumetrics function with a batched twin, the predictions of many
thresholds (each a prefix of ones in the sorted order) go to that twin in one call per
block of thresholds instead of one call per threshold; any other callable is called once
per threshold, as scikit-learn does.
"""

from __future__ import annotations

import warnings

import numpy as np

from gpumetrics import _arrays, inputs
from gpumetrics.functional import _batching
from gpumetrics.functional._batching import batchable

_BLOCK_CELLS = 1 << 24  # thresholds x samples of int32 predictions built at once


def _column(y, name: str) -> np.ndarray:
    y = np.asarray(_arrays.to_host(inputs.read(y, name)))
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (n_samples,); got shape {y.shape}.")
    if y.dtype.kind in "fc" and not np.isfinite(y).all():
        raise ValueError(f"{name} contains NaN or infinity.")
    return y


def _descending(y_score: np.ndarray) -> np.ndarray:
    """A stable order of decreasing scores (ties keep their input order), without negating
    them (which wraps the least signed integer and rounds large unsigned ones)."""
    n = y_score.shape[0]
    return n - 1 - np.argsort(y_score[::-1], kind="stable")[::-1]


def _batched_twin(metric_func):
    """The batched twin of a gpumetrics function, or None for any other callable."""
    name = getattr(metric_func, "__name__", None)
    twin = _batching.BATCHED.get(name)
    if twin is None or getattr(metric_func, "__module__", "").split(".")[0] != "gpumetrics":
        return None
    return twin


@batchable
def metric_at_thresholds(y_true, y_score, metric_func, *, sample_weight=None,
                         metric_params=None, backend=None, _batched):
    """``metric_func(y_true, score >= t, **metric_params)`` at every distinct score ``t``,
    in decreasing order: ``(values, thresholds)``. ``sample_weight`` reaches the metric
    (zero weights are dropped first). Batched: a list of K pairs.

    >>> import gpumetrics as gm
    >>> values, thr = metric_at_thresholds([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8],
    ...                                    gm.accuracy_score)
    >>> values
    array([0.75, 0.5 , 0.75, 0.5 ])
    """
    if not callable(metric_func):
        raise ValueError(f"metric_func must be callable; got {metric_func!r}.")
    if metric_params is not None and not isinstance(metric_params, dict):
        raise ValueError(f"metric_params must be a dict or None; got {metric_params!r}.")
    t = _column(y_true, "y_true")
    scores = np.asarray(_arrays.to_host(inputs.read(y_score, "y_score")))
    sets = scores if _batched else scores[None]
    if _batched and scores.ndim != 2:
        raise ValueError(f"y_score must be 2-D (n_sets, n_samples); got shape {scores.shape}.")
    w = None if sample_weight is None else _column(sample_weight, "sample_weight")
    if w is not None:
        inputs.check_length(t.shape[0], w.shape[0], "sample_weight")
    results = []
    for s in sets:
        s = _column(s, "y_score")
        inputs.check_length(t.shape[0], s.shape[0], "y_score")
        results.append(_one_set(t, s, w, metric_func, dict(metric_params or {}), backend))
    return results if _batched else results[0]


def _one_set(t, s, w, metric_func, params, backend):
    if w is not None:
        keep = w != 0
        t, s, w = t[keep], s[keep], w[keep]
    order = _descending(s)
    t, s = t[order], s[order]
    if w is not None:
        params["sample_weight"] = w[order]
    if s.shape[0] == 0:
        raise ValueError("y_score is empty (or every sample_weight is 0): no threshold.")
    ends = np.r_[np.flatnonzero(np.diff(s)), s.shape[0] - 1]  # last index of each score
    thresholds = s[ends]
    twin = _batched_twin(metric_func)
    if twin is not None:
        values = _blocks(twin, t, ends, params if backend is None else
                         dict(params, backend=backend))
        if values is not None:
            return values, thresholds
    values = [metric_func(t, (s >= thr).astype(np.int32), **params) for thr in thresholds]
    return np.asarray(values), thresholds


def _blocks(twin, t, ends, params):
    """The batched twin's values over blocks of thresholds, or None when it returns a
    tuple (their stacking is the per-threshold loop's)."""
    n = t.shape[0]
    step = max(1, _BLOCK_CELLS // n)
    positions = np.arange(n)
    blocks = []
    for a in range(0, ends.shape[0], step):  # predictions: a prefix of ones per threshold
        y_pred = (positions <= ends[a:a + step, None]).astype(np.int32)
        if a == 0:  # a tuple result is left to the loop, whose warnings alone are shown
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = twin(t, y_pred, **params)
            if isinstance(result, tuple | list):
                return None
            for w in caught:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        else:
            result = twin(t, y_pred, **params)
        blocks.append(np.asarray(_arrays.to_host(result)))
    return np.concatenate(blocks)
