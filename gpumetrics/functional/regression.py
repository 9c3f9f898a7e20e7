"""Regression metrics with scikit-learn's names, arguments and edge cases (multioutput,
sample_weight, force_finite), plus ``pearson_corrcoef``.

All of them read one float64 state per output, built in one pass by the ``moments``
kernel: the total weight, the means and sums of squared deviations of y_true, y_pred and
the error, their co-moment, the absolute and absolute-percentage error sums, and the
largest error. States merge by Chan's formulas, never through raw moments, so data far from
zero (mean 1e8, std 1) lose no precision.
"""

from __future__ import annotations

from gpumetrics import _arrays, inputs
from gpumetrics.formulas import moments
from gpumetrics.functional._batching import batchable
from gpumetrics.functional._scores import check_scores


def _integer_errors(t, p, metric: str):
    """``(y_true, y_pred)``, ``(1, N, L)`` and ``(K, N, L)``, for the moments kernel.

    scikit-learn's ``max_error`` subtracts signed integers as integers (its other metrics
    read them as float64 first): integers beyond 2**53, which float64 would round, give
    their errors exactly when taken in int64 first, against zeros. (uint64 beyond 2**63
    does not fit int64: it is read as float64, as before.)"""
    if metric != "max_error" or t.dtype.kind != "i" or p.dtype.kind != "i":
        return t, p
    if max(t.dtype.itemsize, p.dtype.itemsize) < 8 or not t.size:
        return t, p
    if max(abs(int(t.min())), abs(int(t.max())), abs(int(p.min())), abs(int(p.max()))) <= (
            1 << 53):
        return t, p
    xp = _arrays.namespace(p)  # y_true may be a host list beside device predictions
    errors = xp.asarray(t).astype(xp.int64) - p.astype(xp.int64)  # (K, N, L), in integers
    return errors, xp.zeros_like(errors)


def _state(y_true, y_pred, sample_weight, backend, batched, multioutput, allowed, metric):
    """Checked inputs, the ``(K, L, 13)`` moments state and the output weights."""
    sc = check_scores(y_true, y_pred, sample_weight, batched=batched, backend=backend,
                      score_name="y_pred", strings=True)
    t = inputs.numbers_of(sc.y_true, "y_true", strings=True)
    if t.dtype.kind not in "biuf":
        raise ValueError(f"y_true must hold numbers; got dtype {t.dtype}.")
    p = sc.y_score
    t2 = t[:, None] if t.ndim == 1 else t
    p3 = p[:, :, None] if p.ndim == 2 else p
    if t2.shape[1] != p3.shape[2]:
        raise ValueError(
            f"y_true and y_pred have different number of output ({t2.shape[1]}!={p3.shape[2]})"
        )
    multioutput = moments.check_multioutput(multioutput, t2.shape[1], allowed)
    t3, p3 = _integer_errors(t2[None], p3, metric)
    state = _arrays.to_host(sc.kernels.moments(t3, p3, sc.weights))
    moments.check_finite_state(state, metric)
    return sc, state, multioutput


def _metric(metric, y_true, y_pred, sample_weight, multioutput, backend, batched,
            allowed=moments.MULTIOUTPUT[:2], **options):
    sc, state, mo = _state(y_true, y_pred, sample_weight, backend, batched, multioutput,
                           allowed, metric)
    return moments.from_state(metric, state, mo, sc.ctx, batched, n_samples=sc.n_samples, **options)


@batchable
def mean_squared_error(
    y_true, y_pred, *, sample_weight=None, multioutput="uniform_average", backend=None,
    _batched,
):
    """Mean squared error.

    >>> mean_squared_error([3, -0.5, 2, 7], [2.5, 0.0, 2, 8])
    0.375
    """
    return _metric("mse", y_true, y_pred, sample_weight, multioutput, backend, _batched)


@batchable
def root_mean_squared_error(
    y_true, y_pred, *, sample_weight=None, multioutput="uniform_average", backend=None,
    _batched,
):
    """Root mean squared error (the root is taken per output, then averaged).

    >>> root_mean_squared_error([3, -0.5, 2, 7], [2.5, 0.0, 2, 8])
    0.6123724356957945
    """
    return _metric("rmse", y_true, y_pred, sample_weight, multioutput, backend, _batched)


@batchable
def mean_absolute_error(
    y_true, y_pred, *, sample_weight=None, multioutput="uniform_average", backend=None,
    _batched,
):
    """Mean absolute error.

    >>> mean_absolute_error([3, -0.5, 2, 7], [2.5, 0.0, 2, 8])
    0.5
    """
    return _metric("mae", y_true, y_pred, sample_weight, multioutput, backend, _batched)


@batchable
def mean_absolute_percentage_error(
    y_true, y_pred, *, sample_weight=None, multioutput="uniform_average", backend=None,
    _batched,
):
    """Mean of ``|y_pred - y_true| / max(|y_true|, eps)`` (a fraction, not a percentage).

    >>> mean_absolute_percentage_error([3, -0.5, 2, 7], [2.5, 0.0, 2, 8])
    0.3273809523809524
    """
    return _metric("mape", y_true, y_pred, sample_weight, multioutput, backend, _batched)


@batchable
def max_error(y_true, y_pred, *, backend=None, _batched):
    """Largest absolute error (single output only).

    >>> max_error([3, 2, 7, 1], [4, 2, 7, 1])
    1.0
    """
    return _metric("max_error", y_true, y_pred, None, "uniform_average", backend, _batched,
                   moments.MULTIOUTPUT)


@batchable
def r2_score(
    y_true, y_pred, *, sample_weight=None, multioutput="uniform_average", force_finite=True,
    backend=None, _batched,
):
    """Coefficient of determination, ``1 - SS_res / SS_tot``.

    >>> r2_score([3, -0.5, 2, 7], [2.5, 0.0, 2, 8])
    0.9486081370449679
    """
    return _metric("r2", y_true, y_pred, sample_weight, multioutput, backend, _batched,
                   moments.MULTIOUTPUT, force_finite=force_finite)


@batchable
def explained_variance_score(
    y_true, y_pred, *, sample_weight=None, multioutput="uniform_average", force_finite=True,
    backend=None, _batched,
):
    """Explained variance, ``1 - Var(y_true - y_pred) / Var(y_true)``.

    >>> explained_variance_score([3, -0.5, 2, 7], [2.5, 0.0, 2, 8])
    0.9571734475374732
    """
    return _metric("explained_variance", y_true, y_pred, sample_weight, multioutput, backend,
                   _batched, moments.MULTIOUTPUT, force_finite=force_finite)


@batchable
def pearson_corrcoef(
    y_true, y_pred, *, sample_weight=None, multioutput="uniform_average", backend=None,
    _batched,
):
    """Pearson correlation of y_true and y_pred, per output; NaN (with a warning) where
    either is constant.

    >>> round(pearson_corrcoef([1.0, 2.0, 3.0, 4.0], [1.1, 1.9, 3.2, 3.9]), 6)
    0.993371
    """
    return _metric("pearson", y_true, y_pred, sample_weight, multioutput, backend, _batched)


def _log_metric(metric, title, y_true, y_pred, sample_weight, multioutput, backend, batched):
    """``metric`` of ``log1p(y_true)`` and ``log1p(y_pred)``, taken in the inputs' float
    dtype (float32 when every float array among them and the weights is float32, else
    float64), as scikit-learn does; values at or below -1 are refused."""
    sc = check_scores(y_true, y_pred, sample_weight, batched=batched, backend=backend,
                      score_name="y_pred", strings=True)
    t = inputs.numbers_of(sc.y_true, "y_true", strings=True)
    p = sc.y_score if batched else sc.y_score[0]
    xp = _arrays.namespace(p)
    given = (t, p) + ((sample_weight,) if hasattr(sample_weight, "dtype") else ())
    floats = [a.dtype for a in given if a.dtype.kind == "f"]
    dtype = xp.float32 if floats and all(d == xp.float32 for d in floats) else xp.float64
    t, p = t.astype(dtype, copy=False), p.astype(dtype, copy=False)
    if bool((t <= -1).any()) or bool((p <= -1).any()):
        raise ValueError(f"{title} cannot be used when targets contain values less than or "
                         "equal to -1.")
    return _metric(metric, xp.log1p(t), xp.log1p(p), sample_weight, multioutput, backend,
                   batched)


@batchable
def mean_squared_log_error(
    y_true, y_pred, *, sample_weight=None, multioutput="uniform_average", backend=None,
    _batched,
):
    """Mean squared error of ``log1p`` of the targets and predictions (values above -1).

    >>> round(mean_squared_log_error([3, 5, 2.5, 7], [2.5, 5, 4, 8]), 6)
    0.03973
    """
    return _log_metric("mse", "Mean Squared Logarithmic Error", y_true, y_pred,
                       sample_weight, multioutput, backend, _batched)


@batchable
def root_mean_squared_log_error(
    y_true, y_pred, *, sample_weight=None, multioutput="uniform_average", backend=None,
    _batched,
):
    """Root of ``mean_squared_log_error`` (taken per output, then averaged).

    >>> round(root_mean_squared_log_error([3, 5, 2.5, 7], [2.5, 5, 4, 8]), 6)
    0.199324
    """
    return _log_metric("rmse", "Root Mean Squared Logarithmic Error", y_true, y_pred,
                       sample_weight, multioutput, backend, _batched)
