"""Streaming metrics: ``update()`` batch after batch, ``compute()`` at the end.

Every metric keeps sufficient statistics (``gpumetrics.states``), never the samples
(except the exact-mode ranking metrics, which buffer scores), and gives the same result as
its function in ``gpumetrics`` called on all the data at once::

    >>> import numpy as np
    >>> from gpumetrics.metrics import Accuracy, F1Score, MetricSet
    >>> metrics = MetricSet({"acc": Accuracy(task="multiclass", num_classes=3),
    ...                      "f1": F1Score(task="multiclass", num_classes=3)})
    >>> metrics.update(np.array([0, 1, 2]), np.array([0, 2, 2]))
    >>> metrics.update(np.array([1, 1]), np.array([1, 0]))
    >>> {name: round(value, 4) for name, value in metrics.compute().items()}
    {'acc': 0.6, 'f1': 0.6111}

Arguments follow scikit-learn's order: ``update(y_true, y_pred, sample_weight=None)``;
swapping them silently swaps precision and recall. Label metrics take labels, or scores
that they turn into labels (``>= threshold`` for one score per label, argmax over classes).

A ``MetricSet`` shares states by construction: Accuracy, F1 and MCC in one set read one
confusion state, which ``update()`` counts once. ``merge`` folds in the state of another
instance (another shard, another process); ``sync`` does it over ``torch.distributed`` with
one all-reduce. With ``validate=False``, ``update()`` reads no value back from the device:
bad labels are then caught at ``compute()`` from the state (out-of-range labels land in an
overflow bin, NaN leaves the moments non-finite).
"""

from __future__ import annotations

from gpumetrics.metrics.base import TASKS, Metric, MetricSet
from gpumetrics.metrics.classification import (
    Accuracy,
    BalancedAccuracy,
    CohenKappa,
    ConfusionMatrix,
    F1Score,
    FBetaScore,
    HammingLoss,
    JaccardIndex,
    MatthewsCorrCoef,
    Precision,
    Recall,
    Specificity,
    TopKAccuracy,
)
from gpumetrics.metrics.clustering import (
    AdjustedMutualInfoScore,
    AdjustedRandScore,
    CompletenessScore,
    FowlkesMallowsScore,
    HomogeneityScore,
    MutualInfoScore,
    NormalizedMutualInfoScore,
    RandScore,
    VMeasureScore,
)
from gpumetrics.metrics.losses import BinaryCrossEntropy, CrossEntropy, LogLoss
from gpumetrics.metrics.ranking import AUROC, AveragePrecision, PRCurve, ROCCurve
from gpumetrics.metrics.regression import (
    ExplainedVariance,
    MaxError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    PearsonCorrCoef,
    R2Score,
    RootMeanSquaredError,
)

METRICS = {
    cls.__name__: cls for cls in (
        Accuracy, HammingLoss, Precision, Recall, F1Score, FBetaScore, Specificity,
        JaccardIndex, BalancedAccuracy, MatthewsCorrCoef, CohenKappa, ConfusionMatrix,
        TopKAccuracy, AUROC, AveragePrecision, ROCCurve, PRCurve, MeanSquaredError,
        RootMeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError, MaxError,
        R2Score, ExplainedVariance, PearsonCorrCoef, LogLoss, CrossEntropy,
        BinaryCrossEntropy, RandScore, AdjustedRandScore, MutualInfoScore,
        NormalizedMutualInfoScore, AdjustedMutualInfoScore, HomogeneityScore,
        CompletenessScore, VMeasureScore, FowlkesMallowsScore,
    )
}
"""Every streaming metric class, by name."""

__all__ = ["TASKS", "Metric", "MetricSet", *METRICS]
