"""Streaming losses: the ``(K, 4)`` loss sums of log loss and cross-entropy."""

from __future__ import annotations

import warnings

import numpy as np

from gpumetrics import states as S
from gpumetrics.formulas import losses
from gpumetrics.metrics.base import Metric, _check_task


class _Loss(Metric):
    kind = "softmax"

    def __init__(self, *, num_classes: int = 2, reduction="mean", ignore_index=None, **engine):
        losses.check_reduction(reduction)
        self.size = _check_task("multiclass", num_classes, None)
        self.reduction, self.ignore_index = reduction, ignore_index
        super().__init__(**engine)

    def _make_states(self):
        return {"sums": S.LossSums(self.kind, self.size, self.ignore_index)}

    def _sums(self, states) -> np.ndarray:
        sums = states["sums"].host("sums")
        if sums[:, 2].any():
            raise ValueError(f"y_true had class indices outside [0, {self.size}) in some update.")
        return sums

    def _compute(self, states, ctx):
        return losses.reduce_sums(self._sums(states), self.reduction, ctx, False)


class CrossEntropy(_Loss):
    """Cross-entropy of logits ``(N, C)`` against class indices (``ignore_index`` left
    out). Equals ``cross_entropy`` on all the data."""

    kind = "softmax"


class LogLoss(_Loss):
    """scikit-learn's log loss of probabilities ``(N, C)`` (or ``(N,)`` for two classes)
    against class indices 0..C-1. Equals ``log_loss(..., labels=range(C))``."""

    kind = "proba"

    def __init__(self, *, num_classes: int = 2, normalize=True, **engine):
        super().__init__(num_classes=num_classes, reduction="mean" if normalize else "sum",
                         **engine)

    def _compute(self, states, ctx):
        sums = self._sums(states)
        if sums[:, 3].any():
            warnings.warn("The y_prob values do not sum to one. Make sure to pass "
                          "probabilities.", UserWarning, stacklevel=3)
        return losses.reduce_sums(sums, self.reduction, ctx, False)


class BinaryCrossEntropy(_Loss):
    """Binary cross-entropy of probabilities (or logits, ``from_logits=True``) against
    targets in [0, 1]. Equals ``binary_cross_entropy`` on all the data."""

    def __init__(self, *, from_logits=False, reduction="mean", **engine):
        self.kind = "sigmoid" if from_logits else "binary_proba"
        super().__init__(num_classes=2, reduction=reduction, **engine)


