"""Checked inputs of the score-based metrics (ranking, regression, losses).

``check_scores`` brings ``y_true``, the scores and the weights to kernel arrays (zero-copy
where the library allows), gives the scores a leading batch axis K, and rejects NaN and
infinite scores with one pass (the ``score_range`` kernel) whose min/max the binned metrics
reuse as their bin range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpumetrics import _arrays, dispatch, inputs
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
    # The scores' dtype as given, and where integer scores beyond 2**53 (which float64
    # would merge into ties) were replaced by their ranks: the distinct scores, by rank.
    score_dtype: np.dtype | None = None
    ranked_values: np.ndarray | None = None
    _range: np.ndarray | None = None

    def as_given(self, thresholds: np.ndarray) -> np.ndarray:
        """Exact curve thresholds (score values) in the scores' own dtype and values."""
        if self.ranked_values is not None:
            return self.ranked_values[thresholds.astype(np.int64)]
        return thresholds.astype(self.score_dtype, copy=False)

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
    max_score_ndim=2, column=False, nonzero=True, strings=False, ranks=False,
) -> Scores:
    """Check shapes and dtypes; ``y_score`` is ``(N[, L])``, or ``(K, N[, L])`` if batched.

    ``column``: an ``(N, 1)`` ``y_score`` or ``sample_weight`` is read as ``(N,)``, as
    scikit-learn's curves read them. ``nonzero``: refuse all-zero weights here (the
    ranking functions check them after their target checks, in scikit-learn's order).
    ``strings``: numbers given as strings are converted (scikit-learn's regression).
    ``ranks``: integer scores beyond 2**53 are replaced by their ranks, which order and tie
    them as the integers do (float64 would tie 2**62 with 2**62 + 1)."""
    ctx = _arrays.context_of(y_true=y_true, **{score_name: y_score},
                             sample_weight=sample_weight)
    kernels = dispatch.kernels(backend, ctx.on_gpu)
    t = inputs.read(y_true, "y_true", ctx)
    s = inputs.numbers_of(inputs.read(y_score, score_name, ctx), score_name, strings=strings)
    if s.dtype.kind not in "biuf":
        raise ValueError(f"{score_name} must hold numbers; got dtype {s.dtype}.")
    if column and not batched and s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
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
    inputs.check_length(t.shape[0], s.shape[1], score_name)
    if t.shape[0] == 0:
        raise ValueError("y_true is empty: at least one sample is required.")
    w = inputs.weights(sample_weight, t.shape[0], ctx, n_sets=s.shape[0], batched=batched,
                       column=column, nonzero=nonzero)
    if w is not None and w.dtype.kind != "f":
        w = w.astype(np.float64)
    score_dtype, values = s.dtype, None
    if ranks and s.dtype.kind in "iu" and s.dtype.itemsize == 8:
        s, values = _ranked(s)
    return Scores(t, s, w, ctx, kernels, batched, score_dtype, values)


def _ranked(s):
    """``(ranks, distinct values)`` of integer scores too large for float64, or ``(s,
    None)`` when float64 holds them exactly."""
    if max(abs(int(s.min())), abs(int(s.max()))) <= 1 << 53:
        return s, None
    host = np.asarray(_arrays.to_host(s))
    values, ranks = np.unique(host, return_inverse=True)
    ranks = ranks.reshape(host.shape).astype(np.float64)
    return _arrays.namespace(s).asarray(ranks), values


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
    inputs.label_values(y, "y_true")
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
