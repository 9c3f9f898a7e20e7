"""Scores of a confusion state: the (normalised) matrix, balanced accuracy, the Matthews
correlation coefficient and Cohen's kappa, per prediction set."""

from __future__ import annotations

import math
import warnings

import numpy as np

from gpumetrics.formulas import division as F
from gpumetrics.formulas.counts import ClassCounts


def check_normalize(normalize):
    if normalize not in (None, "true", "pred", "all"):
        raise ValueError(
            f"normalize must be one of 'true', 'pred', 'all' or None; got {normalize!r}."
        )


def confusion_matrix_from(counts: ClassCounts, normalize) -> np.ndarray:
    """``(K, C, C)`` confusion matrices, normalised as ``normalize`` says."""
    cm = np.ascontiguousarray(counts.inner)
    if counts.weighted and counts.integer_weights:
        cm = cm.astype(np.int64)
    if normalize is not None:
        axis = {"true": 2, "pred": 1, "all": (1, 2)}[normalize]
        with np.errstate(all="ignore"):
            cm = cm / cm.sum(axis=axis, keepdims=True)
        cm = np.nan_to_num(cm)
    warn_if_single_label(counts)
    return cm


def balanced_accuracy_from(counts: ClassCounts, adjusted: bool) -> np.ndarray:
    """``(K,)`` balanced accuracy of confusion counts."""
    warn_if_single_label(counts)
    scores = np.empty(counts.cm.shape[0])
    warned = False
    for k in range(scores.shape[0]):
        present = counts.present[k]
        true_sum = counts.true_sum[k][present]
        if (true_sum == 0).any() and not warned:
            warnings.warn("y_pred contains classes not in y_true", UserWarning, stacklevel=3)
            warned = True
        per_class = counts.tp[k][present][true_sum != 0] / true_sum[true_sum != 0]
        with np.errstate(all="ignore"):
            score = np.float64(per_class.mean()) if per_class.size else np.float64(math.nan)
            if adjusted:
                chance = np.float64(1.0) / per_class.shape[0]
                score = (score - chance) / (1 - chance)
        scores[k] = score
    return scores


def mcc_from(counts: ClassCounts) -> list[float]:
    warn_if_single_label(counts)
    return [F.mcc_from_confusion(cm) for cm in counts.inner]


def kappa_from(counts: ClassCounts, labels, weights, replace_undefined_by) -> list:
    warn_if_single_label(counts)
    scores = []
    for k, cm in enumerate(counts.inner):
        if labels is None:
            # Linear and quadratic weights use the position of each label among the labels
            # of this set: drop the labels that only other sets of a batch hold.
            present = counts.present[k]
            cm = cm[present][:, present]
        scores.append(F.kappa_from_confusion(cm, weights, replace_undefined_by))
    return scores


def warn_if_single_label(counts: ClassCounts):
    """scikit-learn's warning for a 1 x 1 confusion matrix, which the metrics built on its
    ``confusion_matrix`` (balanced accuracy, MCC, kappa) also emit."""
    if counts.n_classes == 1:
        warnings.warn(
            "A single label was found in 'y_true' and 'y_pred'. For the confusion matrix to "
            "have the correct shape, use the 'labels' parameter to pass all known labels.",
            UserWarning,
            stacklevel=4,
        )
