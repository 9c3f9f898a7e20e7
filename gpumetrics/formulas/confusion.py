"""Scores of a confusion state: the (normalised) matrix, balanced accuracy, the Matthews
correlation coefficient, Cohen's kappa and the class likelihood ratios, per prediction
set."""

from __future__ import annotations

import math
import warnings

import numpy as np

from gpumetrics._warnings import undefined_metric
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


def check_likelihood_replacement(replace_undefined_by) -> dict | None:
    """``replace_undefined_by`` of ``class_likelihood_ratios``: None (NaN), or the values
    that replace an undefined LR+ and LR-."""
    if isinstance(replace_undefined_by, dict):
        message = ("The dictionary passed as `replace_undefined_by` needs to be in the form "
                   "`{'LR+': `value_1`, 'LR-': `value_2`}` where the value for `LR+` ranges "
                   "from `1.0` to `np.inf` or is `np.nan` and the value for `LR-` ranges from "
                   f"`0.0` to `1.0` or is `np.nan`; got `{replace_undefined_by}`.")
        pos, neg = replace_undefined_by.get("LR+"), replace_undefined_by.get("LR-")
        real = (int, float, np.integer, np.floating)
        if not (isinstance(pos, real) and not isinstance(pos, bool) and not pos < 1.0
                and isinstance(neg, real) and not isinstance(neg, bool)
                and not neg < 0.0 and not neg > 1.0):
            raise ValueError(message)
        return {"LR+": float(pos), "LR-": float(neg)}
    if isinstance(replace_undefined_by, int | float | np.number) and not isinstance(
            replace_undefined_by, bool):
        if replace_undefined_by == 1.0:
            return {"LR+": 1.0, "LR-": 1.0}
        if math.isnan(replace_undefined_by):
            return None
    raise ValueError("replace_undefined_by must be 1.0, NaN or a dict {'LR+': value, 'LR-': "
                     f"value}}; got {replace_undefined_by!r}.")


def likelihood_ratios(cm: np.ndarray, replace: dict | None) -> tuple[float, float]:
    """``(LR+, LR-)`` of a 2 x 2 confusion matrix ``[[tn, fp], [fn, tp]]``, with
    scikit-learn's warnings (and their wording) where a ratio is undefined."""
    warn = undefined_metric()
    tn, fp, fn, tp = (np.float64(x) for x in np.asarray(cm).ravel())
    support_pos, support_neg = tp + fn, tn + fp
    if support_pos == 0:
        warnings.warn("No samples of the positive class are present in `y_true`. "
                      "`positive_likelihood_ratio` and `negative_likelihood_ratio` are both "
                      "set to `np.nan`. Use the `replace_undefined_by` param to control this "
                      "behavior. To suppress this warning or turn it into an error, see "
                      "Python's `warnings` module and `warnings.catch_warnings()`.", warn,
                      stacklevel=4)
    with np.errstate(divide="ignore", invalid="ignore"):
        if fp == 0:
            start = ("No samples were predicted for the positive class and "
                     "`positive_likelihood_ratio` is " if tp == 0 else
                     "`positive_likelihood_ratio` is ill-defined and ")
            # (scikit-learn's message stops here: its last sentence is not joined to it)
            warnings.warn(start + "set to `np.nan`. Use the `replace_undefined_by` param to ",
                          warn, stacklevel=4)
            positive = np.nan if replace is None else replace["LR+"]
        else:
            positive = (tp * support_neg) / (fp * support_pos)
        if tn == 0:
            warnings.warn("`negative_likelihood_ratio` is ill-defined and set to `np.nan`. "
                          "Use the `replace_undefined_by` param to control this behavior. To "
                          "suppress this warning or turn it into an error, see Python's "
                          "`warnings` module and `warnings.catch_warnings()`.", warn,
                          stacklevel=4)
            negative = np.nan if replace is None else replace["LR-"]
        else:
            negative = (fn * support_neg) / (tn * support_pos)
    return float(positive), float(negative)
