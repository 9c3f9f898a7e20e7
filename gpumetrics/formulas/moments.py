"""Regression formulas on the moments state: one float64 state of 13 fields per output
(total weight; means and sums of squared deviations of y_true, y_pred and the error; their
co-moment; absolute and absolute-percentage error sums; the largest error; the shifts of the
means), built in one pass by the ``moments`` kernel and merged by Chan's formulas."""

from __future__ import annotations

import warnings

import numpy as np

from gpumetrics import _arrays
from gpumetrics._arrays import batch_result
from gpumetrics._warnings import undefined_metric

W, MEAN_TRUE, M2_TRUE, MEAN_PRED, M2_PRED, COMOMENT, MEAN_ERR, M2_ERR, ABS, APE, MAX = range(11)


# (fields 11 and 12 are the shifts of the means, which no metric here needs)
MULTIOUTPUT = ("raw_values", "uniform_average", "variance_weighted")


def check_multioutput(multioutput, n_outputs: int, allowed):
    """``multioutput`` as a string from ``allowed`` or a float64 array of output weights."""
    if isinstance(multioutput, str):
        if multioutput not in allowed:
            raise ValueError(
                f"Allowed 'multioutput' string values are {allowed}. You provided "
                f"multioutput={multioutput!r}"
            )
        return multioutput
    if multioutput is None:
        return None
    multioutput = np.asarray(_arrays.to_host(_arrays.to_kernel(multioutput, "multioutput")),
                             dtype=np.float64)
    if n_outputs == 1:
        raise ValueError("Custom weights are useful only in multi-output cases.")
    if multioutput.shape != (n_outputs,):
        raise ValueError(
            f"There must be equally many custom weights ({multioutput.shape[0]}) as "
            f"outputs ({n_outputs})."
        )
    return multioutput


# The fields each metric reads beyond the total weight and the means: only an overflow in
# those is an error (the absolute error of 1e300 is 1e300, whatever its square does).
FIELDS = {
    "mse": (MEAN_ERR, M2_ERR), "rmse": (MEAN_ERR, M2_ERR), "mae": (ABS,), "mape": (APE,),
    "max_error": (MAX,), "r2": (MEAN_ERR, M2_ERR, M2_TRUE),
    "explained_variance": (M2_ERR, M2_TRUE), "pearson": (M2_TRUE, M2_PRED, COMOMENT),
}


def check_finite_state(state: np.ndarray, metric: str):
    """A NaN or infinity in the inputs leaves the total weight or a mean non-finite: no
    extra pass. A finite input whose square (or sum) overflows is an error only for the
    metrics that read the overflowing field."""
    if not np.isfinite(state[..., [W, MEAN_TRUE, MEAN_PRED]]).all():
        raise ValueError("Input contains NaN or infinity; y_true and y_pred must be finite.")
    if not np.isfinite(state[..., list(FIELDS[metric])]).all():
        raise ValueError(
            f"y_true and y_pred are finite but too large for {metric} in float64: its sums "
            "(of squares, for the squared errors and variances) overflow."
        )


def weights_sum(state):
    total = state[..., W]
    if (total == 0).any():
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    return total


def combine(per_output, multioutput, ctx, batched, denominator=None):
    """Average the ``(K, L)`` per-output values as ``multioutput`` says."""
    if isinstance(multioutput, str) and multioutput == "raw_values":
        return _arrays.wrap(per_output if batched else per_output[0], ctx)
    if isinstance(multioutput, str) and multioutput == "variance_weighted":
        weights = denominator
    elif isinstance(multioutput, np.ndarray):
        weights = np.broadcast_to(multioutput, per_output.shape)
    else:
        weights = None
    if weights is None:
        values = per_output.mean(axis=1)
    else:
        values = np.array([
            np.average(v, weights=w) if np.any(w) else np.mean(v)
            for v, w in zip(per_output, weights, strict=True)
        ])
    return batch_result(values, ctx, batched)


def _squared_error(state):
    return state[..., M2_ERR] + state[..., W] * state[..., MEAN_ERR] ** 2


def _assemble(numerator, denominator, multioutput, force_finite, ctx, batched):
    """scikit-learn's ``_assemble_r2_explained_variance`` on (K, L) arrays."""
    nonzero_den = denominator != 0
    if not force_finite:
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = 1 - numerator / denominator
    else:
        nonzero_num = numerator != 0
        scores = np.ones_like(numerator)
        valid = nonzero_den & nonzero_num
        scores[valid] = 1 - numerator[valid] / denominator[valid]
        scores[nonzero_num & ~nonzero_den] = 0.0
    if isinstance(multioutput, str) and multioutput == "variance_weighted":
        weights = np.where(nonzero_den.any(axis=1, keepdims=True), denominator, 1.0)
        return combine(scores, "variance_weighted", ctx, batched, weights)
    return combine(scores, multioutput, ctx, batched)


METRICS = ("mse", "rmse", "mae", "mape", "max_error", "r2", "explained_variance", "pearson")


def from_state(metric: str, state: np.ndarray, multioutput, ctx, batched: bool, *,
               force_finite=True, n_samples=None):
    """A regression metric (one of ``METRICS``) from a finite ``(K, L, 13)`` moments state;
    ``n_samples`` is the number of samples the state holds (R^2 needs two)."""
    if metric == "max_error":
        if state.shape[1] != 1:
            raise ValueError("Multioutput not supported in max_error")
        return batch_result(state[:, 0, MAX], ctx, batched)
    if metric == "r2":
        if n_samples is not None and n_samples < 2:
            warnings.warn("R^2 score is not well-defined with less than two samples.",
                          undefined_metric(), stacklevel=3)
            return batch_result(np.full(state.shape[0], np.nan), ctx, batched)
        return _assemble(_squared_error(state), state[..., M2_TRUE], multioutput,
                         force_finite, ctx, batched)
    if metric == "explained_variance":
        total = weights_sum(state)
        return _assemble(state[..., M2_ERR] / total, state[..., M2_TRUE] / total, multioutput,
                         force_finite, ctx, batched)
    if metric == "pearson":
        denominator = np.sqrt(state[..., M2_TRUE] * state[..., M2_PRED])
        if (denominator == 0).any():
            warnings.warn("y_true or y_pred is constant; the correlation is undefined (NaN).",
                          undefined_metric(), stacklevel=3)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(denominator > 0, state[..., COMOMENT] / denominator, np.nan)
        return combine(np.clip(r, -1.0, 1.0), multioutput, ctx, batched)
    per_output = {
        "mse": lambda: _squared_error(state) / weights_sum(state),
        "rmse": lambda: np.sqrt(_squared_error(state) / weights_sum(state)),
        "mae": lambda: state[..., ABS] / weights_sum(state),
        "mape": lambda: state[..., APE] / weights_sum(state),
    }[metric]()
    return combine(per_output, multioutput, ctx, batched)
