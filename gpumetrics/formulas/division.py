"""Metric formulas on counts: division with scikit-learn's zero_division rules, warnings and
averaging. Inputs carry a leading batch axis K; a single call is K = 1.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from gpumetrics._warnings import undefined_metric

AVERAGES = (None, "micro", "macro", "weighted", "samples")


def check_average(average):
    if average not in AVERAGES and average != "binary":
        raise ValueError("average has to be one of " + str(AVERAGES))


def check_zero_division(zero_division) -> float:
    """The value that replaces 0/0, or a ValueError naming the argument."""
    if isinstance(zero_division, str):
        if zero_division == "warn":
            return 0.0
    elif isinstance(zero_division, int | float | np.number) and not isinstance(
        zero_division, bool
    ):
        if math.isnan(zero_division):
            return math.nan
        if zero_division in (0, 1):
            return float(zero_division)
    raise ValueError(
        f"zero_division must be 'warn', 0, 1 or np.nan; got {zero_division!r}."
    )


def warn_undefined(average, modifier: str, msg_start: str, result_size: int):
    axis0, axis1 = ("sample", "label")
    if average == "samples":
        axis0, axis1 = axis1, axis0
    where = "due to" if result_size == 1 else f"in {axis1}s with"
    warnings.warn(
        f"{msg_start} ill-defined and being set to 0.0 {where} no {modifier} {axis0}s. "
        "Use `zero_division` parameter to control this behavior.",
        undefined_metric(),
        stacklevel=4,
    )


def divide(numerator, denominator, metric, modifier, average, warn_for, zero_division, mask):
    """``numerator / denominator`` with ``zero_division`` where the denominator is 0.

    ``mask`` (same shape) marks the entries that are reported; only those can warn.
    """
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    zero = denominator == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        result = numerator / np.where(zero, 1.0, denominator)
    if not zero.any():
        return result
    result[zero] = check_zero_division(zero_division)
    if zero_division == "warn" and metric in warn_for and (zero & mask).any():
        sizes = mask.sum(axis=-1)
        warn_undefined(average, modifier, f"{metric.capitalize()} is", int(sizes.max()))
    return result


def nanaverage(values: np.ndarray, weights=None) -> float:
    """scikit-learn's ``_nanaverage``: ignore NaN entries; all-zero weights mean unweighted."""
    if values.shape[0] == 0:
        return math.nan
    keep = ~np.isnan(values)
    if not keep.any():
        return math.nan
    if weights is None:
        return float(values[keep].mean())
    weights = np.asarray(weights, dtype=np.float64)[keep]
    if weights.sum() == 0:
        return float(values[keep].mean())
    return float(np.average(values[keep], weights=weights))


def average(values: np.ndarray, weights=None) -> float:
    """scikit-learn's ``_average``: a plain (weighted) mean that keeps NaN."""
    if weights is None:
        return float(values.mean()) if values.shape[0] else math.nan
    weights = np.asarray(weights, dtype=np.float64)
    if weights.sum() == 0:
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    return float(np.sum(values * weights) / weights.sum())


def fbeta_from_counts(tp, true_sum, pred_sum, beta, precision, recall, *, divide_args):
    """F-beta from counts, ``(1 + b^2) tp / (b^2 (tp + fn) + tp + fp)``, as scikit-learn."""
    if np.isposinf(beta):
        return recall
    if beta == 0:
        return precision
    beta2 = beta * beta
    denominator = beta2 * np.asarray(true_sum, np.float64) + np.asarray(pred_sum, np.float64)
    return divide((1 + beta2) * np.asarray(tp, np.float64), denominator, "f-score",
                  "true nor predicted", *divide_args)


def mcc_from_confusion(cm: np.ndarray) -> float:
    """Matthews correlation coefficient of one ``(C, C)`` confusion matrix."""
    cm = cm.astype(np.float64)
    t_sum = cm.sum(axis=1)
    p_sum = cm.sum(axis=0)
    n_correct = np.trace(cm)
    n = p_sum.sum()
    cov_tp = n_correct * n - t_sum @ p_sum
    cov_pp = n * n - p_sum @ p_sum
    cov_tt = n * n - t_sum @ t_sum
    denominator = cov_pp * cov_tt
    if denominator == 0:
        return 0.0
    return float(cov_tp / np.sqrt(denominator))


def kappa_from_confusion(cm: np.ndarray, weights, replace_undefined_by) -> float:
    """Cohen's kappa of one ``(C, C)`` confusion matrix."""
    cm = cm.astype(np.float64)
    n_classes = cm.shape[0]
    sum0 = cm.sum(axis=0)
    sum1 = cm.sum(axis=1)
    total = sum0.sum()
    if total == 0:
        warnings.warn(
            "`y2` contains no labels that are present in both `y1` and `labels`."
            "`cohen_kappa_score` is undefined and set to the value defined by the "
            f"`replace_undefined_by` param, which is set to {replace_undefined_by}.",
            undefined_metric(),
            stacklevel=3,
        )
        return replace_undefined_by
    expected = np.outer(sum0, sum1) / total
    grid = np.broadcast_to(np.arange(n_classes, dtype=np.float64), (n_classes, n_classes))
    if weights is None:
        w = 1.0 - np.eye(n_classes)
    elif weights == "linear":
        w = np.abs(grid - grid.T)
    else:
        w = (grid - grid.T) ** 2
    denominator = np.sum(w * expected)
    if denominator == 0:
        warnings.warn(
            "`y1`, `y2` and `labels` have only one label in common. `cohen_kappa_score` is "
            "undefined and set to the value defined by the the `replace_undefined_by` param, "
            f"which is set to {replace_undefined_by}.",
            undefined_metric(),
            stacklevel=3,
        )
        return replace_undefined_by
    return float(1 - np.sum(w * cm) / denominator)
