"""Loss formulas on the ``(K, 4)`` loss sums: the weighted mean or the sum."""

from __future__ import annotations

import numpy as np

from gpumetrics._arrays import batch_result

REDUCTIONS = ("mean", "sum")


def reduce_sums(sums: np.ndarray, reduction: str, ctx, batched: bool):
    """The loss from ``(K, 4)`` ``loss_sums``: its weighted mean or its sum."""
    if reduction == "sum":
        return batch_result(sums[:, 0], ctx, batched)
    if (sums[:, 1] == 0).any():
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    return batch_result(sums[:, 0] / sums[:, 1], ctx, batched)


def check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}; got {reduction!r}.")


def null_log_loss(class_weights: np.ndarray, total: float) -> float:
    """Summed log loss of the null model that predicts every sample's class (every label of
    an indicator matrix) with its weighted frequency (clipped to [eps, 1 - eps], eps of
    float64): ``-sum_c W_c log(W_c / W)``, ``W`` the total weight of the samples."""
    eps = float(np.finfo(np.float64).eps)
    present = class_weights[class_weights != 0]
    share = np.clip(present / total, eps, 1 - eps)
    return float(-(present * np.log(share)).sum())
