"""Streaming regression metrics: one moments state per output, read by every metric."""

from __future__ import annotations

from gpumetrics import states as S
from gpumetrics.formulas import moments
from gpumetrics.metrics.base import Metric, _check_task


class _Regression(Metric):
    """Metrics of the moments state; ``num_outputs`` columns of targets and predictions."""

    metric = "mse"
    allowed = moments.MULTIOUTPUT[:2]

    def __init__(self, *, num_outputs: int = 1, multioutput="uniform_average", **engine):
        self.num_outputs = _check_task("multilabel", None, num_outputs)
        self.multioutput = moments.check_multioutput(multioutput, self.num_outputs,
                                                         self.allowed)
        self.options = {}
        super().__init__(**engine)

    def _make_states(self):
        return {"moments": S.Moments(self.num_outputs)}

    def _compute(self, states, ctx):
        state = states["moments"].host("moments")
        moments.check_finite_state(state, self.metric)
        n = int(states["moments"].host("samples")[0])
        return moments.from_state(self.metric, state, self.multioutput, ctx, False,
                                      n_samples=n, **self.options)


class MeanSquaredError(_Regression):
    """Equals ``mean_squared_error`` on all the data."""

    metric = "mse"


class RootMeanSquaredError(_Regression):
    """Equals ``root_mean_squared_error`` on all the data."""

    metric = "rmse"


class MeanAbsoluteError(_Regression):
    """Equals ``mean_absolute_error`` on all the data."""

    metric = "mae"


class MeanAbsolutePercentageError(_Regression):
    """Equals ``mean_absolute_percentage_error`` on all the data."""

    metric = "mape"


class MaxError(_Regression):
    """Equals ``max_error`` on all the data (single output)."""

    metric = "max_error"


class PearsonCorrCoef(_Regression):
    """Equals ``pearson_corrcoef`` on all the data."""

    metric = "pearson"


class R2Score(_Regression):
    """Equals ``r2_score`` on all the data."""

    metric = "r2"
    allowed = moments.MULTIOUTPUT

    def __init__(self, *, force_finite=True, **kwargs):
        super().__init__(**kwargs)
        self.options = {"force_finite": force_finite}


class ExplainedVariance(R2Score):
    """Equals ``explained_variance_score`` on all the data."""

    metric = "explained_variance"


