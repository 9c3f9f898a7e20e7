"""Checked inputs of the score-based metrics (ranking, regression, losses).

``check_scores`` brings ``y_true``, the scores and the weights to kernel arrays (zero-copy
where the library allows), gives the scores a leading batch axis K, and rejects NaN and
infinite scores with one pass (the ``score_range`` kernel) whose min/max the binned metrics
reuse as their bin range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpumetrics import _arrays, dispatch
from gpumetrics.functional import _targets


@dataclass
class Scores:
    """Inputs of one call: kernel arrays, a leading batch axis K on ``y_score``."""

    y_true: object  # (N,) or (N, L) kernel array, as given
    y_score: object  # (K, N) or (K, N, L)
    weights: np.ndarray | None  # (1 or K, N) float, or None
    ctx: _arrays.ArrayContext
    kernels: object
    batched: bool
    _range: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        return self.y_score.shape[1]

    def score_range(self) -> np.ndarray:
        """``(K, L, 3)``: min, max and non-finite count of each score column (cached)."""
        if self._range is None:
            self._range = _arrays.to_host(self.kernels.score_range(columns(self.y_score)))
        return self._range

    def check_weights(self):
        if self.weights is not None and not self.weights.any(axis=1).all():
            raise ValueError("sample_weight must contain at least one non-zero number.")

    def check_finite(self, name: str = "y_score"):
        if self.score_range()[..., 2].any():
            raise ValueError(f"{name} contains NaN or infinity; scores must be finite.")


def columns(y_score):
    """Scores as ``(K, N, L)``: a 1-D score per sample becomes one column."""
    return y_score[:, :, None] if y_score.ndim == 2 else y_score


def check_scores(
    y_true, y_score, sample_weight=None, *, batched=False, backend=None, score_name="y_score",
    max_score_ndim=2,
) -> Scores:
    """Check shapes and dtypes; ``y_score`` is ``(N[, L])``, or ``(K, N[, L])`` if batched."""
    ctx = _arrays.context_of(y_true=y_true, **{score_name: y_score},
                             sample_weight=sample_weight)
    kernels = dispatch.kernels(backend, ctx.on_gpu)
    t = _arrays.to_kernel(y_true, "y_true", ctx)
    s = _arrays.to_kernel(y_score, score_name, ctx)
    if s.dtype.kind not in "biuf":
        raise ValueError(f"{score_name} must hold numbers; got dtype {s.dtype}.")
    if not batched:
        s = s[None]
    lead = "(n_sets, " if batched else "("
    if s.ndim not in range(2, max_score_ndim + 2):
        shape = "n_samples" + (", n_outputs" if max_score_ndim > 1 else "")
        raise ValueError(
            f"{score_name} must have shape {lead}{shape}); got "
            f"{tuple(s.shape if batched else s.shape[1:])}."
        )
    if t.ndim not in (1, 2):
        raise ValueError(f"y_true must be 1-D or 2-D; got shape {tuple(t.shape)}.")
    if t.shape[0] != s.shape[1]:
        raise ValueError(
            f"y_true has {t.shape[0]} samples but {score_name} has {s.shape[1]}; "
            "they must have the same length."
        )
    if t.shape[0] == 0:
        raise ValueError("y_true is empty: at least one sample is required.")
    w = _targets._check_weights(sample_weight, t.shape[0], s.shape[0], batched)
    if w is not None and w.dtype.kind != "f":
        w = w.astype(np.float64)
    return Scores(t, s, w, ctx, kernels, batched)


def unique_labels(y, kernels) -> np.ndarray:
    """Sorted distinct values of a label array: counted for integers, sorted otherwise."""
    if y.dtype.kind in "biu" and y.shape[0]:
        lo, hi = kernels.label_range(y)
        if hi - lo <= 1:  # the min and the max occur: nothing else to look for
            return np.unique(np.array([lo, hi])).astype(y.dtype)
        if hi - lo < _targets._TABLE_RANGE:
            seen = _arrays.to_host(kernels.bincount(y, lo, hi - lo + 1))
            return (lo + np.flatnonzero(seen)).astype(y.dtype)
    return np.unique(np.asarray(_arrays.to_host(y)))


def target_type(y, kernels) -> tuple[str, np.ndarray | None]:
    """scikit-learn's ``type_of_target`` for the types the ranking metrics accept, with
    the classes of 1-D targets."""
    if y.ndim == 2 and y.shape[1] > 1:
        host = np.asarray(_arrays.to_host(y))
        if host.dtype.kind in "biuf" and np.isin(host, (0, 1)).all():
            return "multilabel-indicator", None
        return ("continuous-multioutput" if host.dtype.kind == "f" else "multiclass-multioutput",
                None)
    if y.ndim == 2:
        y = y[:, 0]
    if y.dtype.kind == "f":
        host = np.asarray(_arrays.to_host(y))
        if not np.isfinite(host).all():
            raise ValueError("y_true contains NaN or infinity.")
        if (host != host.astype(np.int64)).any():
            return "continuous", None
        classes = np.unique(host)
    else:
        classes = unique_labels(y, kernels)
    return ("binary" if classes.shape[0] <= 2 else "multiclass"), classes
