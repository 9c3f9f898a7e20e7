"""Per-label counts (tp, predicted, true, total) for the set-wise metrics: precision, recall,
F-beta, Jaccard and specificity, with scikit-learn's ``labels``/``pos_label``/``average``
rules. One kernel pass serves every metric and every average computed from it.
"""

from __future__ import annotations

import warnings

import numpy as np

from gpumetrics import inputs
from gpumetrics.formulas import setwise
from gpumetrics.formulas.division import check_average
from gpumetrics.functional import _targets


def setwise_counts(
    y_true, y_pred, *, labels, pos_label, average, sample_weight, num_classes, batched, backend,
) -> tuple[setwise.SetwiseCounts, object]:
    """Count once and select the labels that ``average`` reports."""
    check_average(average)
    targets = _targets.check_targets(
        y_true, y_pred, sample_weight, batched=batched, backend=backend
    )
    if average != "binary" and pos_label not in (None, 1):
        warnings.warn(
            f"Note that pos_label (set to {pos_label!r}) is ignored when average != 'binary' "
            f"(got {average!r}). You may use labels=[pos_label] to specify a single "
            "positive class.",
            UserWarning,
            stacklevel=3,
        )
    if targets.kind == "multilabel":
        return _multilabel(targets, labels, average), targets.ctx
    if average == "samples":
        raise ValueError(
            "Samplewise metrics are not available outside of multilabel classification."
        )
    if average == "binary":
        counts = _targets.count_classes(targets, num_classes=num_classes)
        return setwise.binary_counts(counts, pos_label), targets.ctx
    return multiclass_counts(targets, labels, num_classes), targets.ctx


def multiclass_counts(targets, labels, num_classes) -> setwise.SetwiseCounts:
    """Per-label counts over ``labels``, or over the labels present in each set."""
    counts = _targets.count_classes(targets, labels=labels, num_classes=num_classes)
    return setwise.from_class_counts(counts, labels)


def _multilabel(targets, labels, average) -> setwise.SetwiseCounts:
    if average == "binary":
        raise setwise.targets_kind_error("multilabel")
    L = targets.y_pred.shape[2]
    columns = inputs.label_columns(labels, L)
    if labels is not None:
        if average == "samples" and not np.array_equal(columns, np.arange(L)):
            targets.y_true = np.ascontiguousarray(targets.y_true[:, :, columns])
            targets.y_pred = np.ascontiguousarray(targets.y_pred[:, :, columns])
    counts = _targets.count_labels(targets)
    if average == "samples":
        per = counts.per_sample  # (K, N, 4)
        K, N = per.shape[:2]
        tp, pred, true = per[..., 0], per[..., 1], per[..., 2]
        total = np.full((K, 1), L if labels is None else columns.shape[0])
        w = counts.weights
        if w is not None:
            # As scikit-learn: a sample's counts are weighted too, so that a sample of
            # weight 0 is a 0/0 (it warns, and zero_division fills it in).
            tp, pred, true, total = (a * w for a in (tp, pred, true, total))
        return setwise.SetwiseCounts(
            tp, pred, true, total, np.ones((K, N), bool), np.arange(N), w, "multilabel",
        )
    return setwise.from_label_counts(counts.counts, columns)


