"""Classification metrics with scikit-learn's names, arguments and edge cases.

Arguments follow scikit-learn's order, ``(y_true, y_pred)``: swapping them silently swaps
precision and recall. Extensions: ``num_classes=C`` declares the labels to be 0..C-1 and
skips label discovery (out-of-range labels raise from the same pass), and ``backend=``
picks the kernels (None: by the inputs' device).
"""

from __future__ import annotations

import numpy as np

from gpumetrics import _arrays
from gpumetrics._arrays import batch_result as _result
from gpumetrics.formulas import confusion, setwise
from gpumetrics.formulas import division as F
from gpumetrics.functional import _setwise, _targets
from gpumetrics.functional._batching import batchable
from gpumetrics.functional._setwise import setwise_counts

# --- accuracy family -------------------------------------------------------------------


@batchable
def accuracy_score(
    y_true, y_pred, *, normalize=True, sample_weight=None, num_classes=None, backend=None,
    _batched,
):
    """Fraction (or count, ``normalize=False``) of correctly classified samples.

    Multilabel input: subset accuracy, a sample counts as correct when all its labels are.

    >>> accuracy_score([1, 1, 1, 0, 0, 1, 0, 1, 0], [1, 1, 0, 0, 1, 1, 0, 1, 0])
    0.7777777777777778
    """
    targets = _targets.check_targets(y_true, y_pred, sample_weight, batched=_batched,
                                     backend=backend)
    if targets.kind == "multilabel":
        correct = (_targets.count_labels(targets).per_sample[..., 3] == 0).astype(np.float64)
        w = targets.weights
        hits = correct.sum(axis=1) if w is None else (correct * w).sum(axis=1)
    else:
        counts = _targets.count_classes(targets, num_classes=num_classes)
        hits = np.trace(counts.inner, axis1=1, axis2=2).astype(np.float64)
        w = targets.weights
    if normalize:
        if w is None:
            hits = hits / targets.y_pred.shape[1]
        else:
            scale = np.broadcast_to(w.sum(axis=1), hits.shape)
            if (scale == 0).any():
                raise ZeroDivisionError("Weights sum to zero, can't be normalized")
            hits = hits / scale
    return _result(hits, targets.ctx, _batched)


@batchable
def zero_one_loss(
    y_true, y_pred, *, normalize=True, sample_weight=None, num_classes=None, backend=None,
    _batched,
):
    """Fraction of misclassified samples, one minus ``accuracy_score`` (with
    ``normalize=False``: their count, or their weight). Multilabel input: a sample is
    misclassified unless all its labels are right.

    >>> zero_one_loss([2, 2, 3, 4], [1, 2, 3, 4])
    0.25
    >>> zero_one_loss([2, 2, 3, 4], [1, 2, 3, 4], normalize=False)
    1.0
    """
    score = accuracy_score.__wrapped__(y_true, y_pred, normalize=normalize,
                                       sample_weight=sample_weight, num_classes=num_classes,
                                       backend=backend, _batched=_batched)
    if normalize:
        return 1 - score
    if sample_weight is None:
        total = float(np.shape(y_true)[0])
    else:  # the weights were checked by accuracy_score
        total = float(_arrays.to_host(_arrays.to_kernel(sample_weight, "sample_weight")).sum())
    return total - score


@batchable
def hamming_loss(y_true, y_pred, *, sample_weight=None, num_classes=None, backend=None,
                 _batched):
    """Fraction of labels that are wrongly predicted (1 - accuracy for single-label data).

    >>> hamming_loss([1, 2, 3, 4], [2, 2, 3, 4])
    0.25
    """
    targets = _targets.check_targets(y_true, y_pred, sample_weight, batched=_batched,
                                     backend=backend)
    w = targets.weights
    if targets.kind == "multilabel":
        diff = _targets.count_labels(targets).per_sample[..., 3].astype(np.float64)
        n, L = targets.y_pred.shape[1:]
        if w is None:
            loss = diff.sum(axis=1) / (n * L)
        else:
            loss = (diff * w).sum(axis=1) / (n * L * w.mean(axis=1))
        return _result(loss, targets.ctx, _batched)
    counts = _targets.count_classes(targets, num_classes=num_classes)
    wrong = counts.total - np.trace(counts.inner, axis1=1, axis2=2)
    total = counts.total.astype(np.float64)
    if (total == 0).any():
        raise ZeroDivisionError("Weights sum to zero, can't be normalized")
    return _result(wrong / total, targets.ctx, _batched)


# --- confusion matrices ----------------------------------------------------------------


@batchable
def confusion_matrix(
    y_true, y_pred, *, labels=None, sample_weight=None, normalize=None, num_classes=None,
    backend=None, _batched,
):
    """Confusion matrix ``C[i, j]``: samples of true class i predicted as class j.

    >>> confusion_matrix([1, 1, 1, 0, 0, 1, 0, 1, 0], [1, 1, 0, 0, 1, 1, 0, 1, 0])
    array([[3, 1],
           [1, 4]])
    """
    confusion.check_normalize(normalize)
    targets = _targets.check_targets(y_true, y_pred, sample_weight, batched=_batched,
                                     backend=backend)
    if targets.kind == "multilabel":
        raise ValueError("multilabel-indicator is not supported")
    counts = _counts_over_labels(targets, labels, num_classes)
    cm = confusion.confusion_matrix_from(counts, normalize)
    return _arrays.wrap(cm if _batched else cm[0], targets.ctx)


def _counts_over_labels(targets, labels, num_classes=None):
    """Confusion counts over ``labels`` (else the classes found), one of which must occur
    in ``y_true``."""
    counts = _targets.count_classes(targets, labels=labels, num_classes=num_classes)
    if labels is not None and not counts.in_true.any(axis=1).all():
        raise ValueError("At least one label specified must be in y_true")
    return counts


@batchable
def multilabel_confusion_matrix(
    y_true, y_pred, *, sample_weight=None, labels=None, samplewise=False, num_classes=None,
    backend=None, _batched,
):
    """One-vs-rest ``[[tn, fp], [fn, tp]]`` matrix per label (per sample with
    ``samplewise=True``, multilabel only).

    >>> multilabel_confusion_matrix([0, 1, 1], [0, 1, 0]).tolist()
    [[[1, 1], [0, 1]], [[1, 0], [1, 1]]]
    """
    targets = _targets.check_targets(y_true, y_pred, sample_weight, batched=_batched,
                                     backend=backend)
    integer_counts = False
    if targets.kind == "multilabel":
        s = _setwise._multilabel(targets, labels, "samples" if samplewise else None)
        # Per-sample counts times integer weights stay integers, as in scikit-learn.
        integer_counts = samplewise and targets.weights is not None and (
            targets.weights.dtype.kind in "biu"
        )
    elif samplewise:
        raise ValueError(
            "Samplewise metrics are not available outside of multilabel classification."
        )
    else:
        s = _setwise.multiclass_counts(targets, labels, num_classes)
        if labels is None:
            s = setwise.compact_present(s)
    fp = s.pred - s.tp
    fn = s.true - s.tp
    tn = s.tn
    mcm = np.stack([tn, fp, fn, s.tp], axis=-1).reshape(*s.tp.shape, 2, 2)
    if integer_counts:
        mcm = mcm.astype(np.int64)
    return _arrays.wrap(mcm if _batched else mcm[0], targets.ctx)


# --- precision, recall, F-beta, Jaccard, specificity -----------------------------------


@batchable
def precision_recall_fscore_support(
    y_true, y_pred, *, beta=1.0, labels=None, pos_label=1, average=None,
    warn_for=("precision", "recall", "f-score"), sample_weight=None, zero_division="warn",
    num_classes=None, backend=None, _batched,
):
    """Precision, recall, F-beta and support per label, or averaged.

    >>> p, r, f, s = precision_recall_fscore_support([1, 1, 1, 0, 0, 1, 0, 1, 0],
    ...                                              [1, 1, 0, 0, 1, 1, 0, 1, 0],
    ...                                              average="binary")
    >>> round(p, 6), round(r, 6), round(f, 6), s
    (0.8, 0.8, 0.8, None)
    """
    F.check_zero_division(zero_division)
    setwise.check_beta(beta)
    s, ctx = setwise_counts(
        y_true, y_pred, labels=labels, pos_label=pos_label, average=average,
        sample_weight=sample_weight, num_classes=num_classes, batched=_batched, backend=backend,
    )
    s2, precision, recall, f = setwise.prf(s, beta, average, warn_for, zero_division)
    if average is None:
        support = s.true
        if s.tp.dtype.kind == "f":
            support = support.astype(np.float64)
        return tuple(setwise.per_label(v, s, ctx, _batched)
                     for v in (precision, recall, f, support))
    return (
        *(_result(setwise.reduce_labels(v, s2, average), ctx, _batched)
          for v in (precision, recall, f)),
        None,
    )


def _one_score(which, y_true, y_pred, beta, labels, pos_label, average, sample_weight,
               zero_division, num_classes, backend, batched):
    F.check_zero_division(zero_division)
    s, ctx = setwise_counts(
        y_true, y_pred, labels=labels, pos_label=pos_label, average=average,
        sample_weight=sample_weight, num_classes=num_classes, batched=batched, backend=backend,
    )
    return setwise.setwise_score(which, s, beta, average, zero_division, ctx, batched)


@batchable
def precision_score(
    y_true, y_pred, *, labels=None, pos_label=1, average="binary", sample_weight=None,
    zero_division="warn", num_classes=None, backend=None, _batched,
):
    """Precision ``tp / (tp + fp)``: the share of predicted positives that are right.

    >>> precision_score([1, 1, 1, 0, 0, 1, 0, 1, 0], [1, 1, 0, 0, 1, 1, 0, 1, 0])
    0.8
    """
    return _one_score("precision", y_true, y_pred, 1.0, labels, pos_label, average,
                      sample_weight, zero_division, num_classes, backend, _batched)


@batchable
def recall_score(
    y_true, y_pred, *, labels=None, pos_label=1, average="binary", sample_weight=None,
    zero_division="warn", num_classes=None, backend=None, _batched,
):
    """Recall ``tp / (tp + fn)``: the share of true positives that are found.

    >>> recall_score([1, 1, 1, 0, 0, 1, 0, 1, 0], [1, 1, 0, 0, 1, 1, 0, 1, 0])
    0.8
    """
    return _one_score("recall", y_true, y_pred, 1.0, labels, pos_label, average,
                      sample_weight, zero_division, num_classes, backend, _batched)


@batchable
def fbeta_score(
    y_true, y_pred, *, beta, labels=None, pos_label=1, average="binary", sample_weight=None,
    zero_division="warn", num_classes=None, backend=None, _batched,
):
    """F-beta, the weighted harmonic mean of precision and recall (recall weighs beta times).

    >>> round(fbeta_score([1, 1, 1, 0, 0, 1, 0, 1, 0], [1, 1, 0, 0, 1, 1, 0, 1, 0], beta=2), 6)
    0.8
    """
    setwise.check_beta(beta)
    return _one_score("f-score", y_true, y_pred, beta, labels, pos_label, average,
                      sample_weight, zero_division, num_classes, backend, _batched)


@batchable
def f1_score(
    y_true, y_pred, *, labels=None, pos_label=1, average="binary", sample_weight=None,
    zero_division="warn", num_classes=None, backend=None, _batched,
):
    """F1, the harmonic mean of precision and recall.

    >>> round(f1_score([1, 1, 1, 0, 0, 1, 0, 1, 0], [1, 1, 0, 0, 1, 1, 0, 1, 0]), 6)
    0.8
    """
    return _one_score("f-score", y_true, y_pred, 1.0, labels, pos_label, average,
                      sample_weight, zero_division, num_classes, backend, _batched)


@batchable
def specificity_score(
    y_true, y_pred, *, labels=None, pos_label=1, average="binary", sample_weight=None,
    zero_division="warn", num_classes=None, backend=None, _batched,
):
    """Specificity ``tn / (tn + fp)``, the true-negative rate (recall of the negative class).

    Not in scikit-learn; its arguments and averaging follow ``recall_score`` (``weighted``
    weighs labels by their support).

    >>> specificity_score([1, 1, 1, 0, 0, 1, 0, 1, 0], [1, 1, 0, 0, 1, 1, 0, 1, 0])
    0.75
    """
    return _one_score("specificity", y_true, y_pred, 1.0, labels, pos_label, average,
                      sample_weight, zero_division, num_classes, backend, _batched)


@batchable
def jaccard_score(
    y_true, y_pred, *, labels=None, pos_label=1, average="binary", sample_weight=None,
    zero_division="warn", num_classes=None, backend=None, _batched,
):
    """Jaccard index ``tp / (tp + fp + fn)``, intersection over union of the label sets.

    >>> jaccard_score([1, 1, 1, 0, 0, 1, 0, 1, 0], [1, 1, 0, 0, 1, 1, 0, 1, 0])
    0.6666666666666666
    """
    return _one_score("jaccard", y_true, y_pred, 1.0, labels, pos_label, average,
                      sample_weight, zero_division, num_classes, backend, _batched)


# --- single-number summaries of the confusion matrix -----------------------------------


@batchable
def balanced_accuracy_score(
    y_true, y_pred, *, sample_weight=None, adjusted=False, num_classes=None, backend=None,
    _batched,
):
    """Mean recall over the classes present in ``y_true``; ``adjusted`` rescales so that
    chance scores 0.

    >>> balanced_accuracy_score([0, 1, 0, 0, 1, 0], [0, 1, 0, 0, 0, 1])
    0.625
    """
    targets = _targets.check_targets(y_true, y_pred, sample_weight, batched=_batched,
                                     backend=backend)
    if targets.kind == "multilabel":
        raise ValueError("multilabel-indicator is not supported")
    counts = _targets.count_classes(targets, num_classes=num_classes)
    return _result(confusion.balanced_accuracy_from(counts, adjusted), targets.ctx, _batched)


@batchable
def matthews_corrcoef(y_true, y_pred, *, sample_weight=None, num_classes=None, backend=None,
                      _batched):
    """Matthews correlation coefficient (multiclass: Gorodkin's R_K), in [-1, 1].

    >>> round(matthews_corrcoef([1, 1, 1, 0, 0, 1, 0, 1, 0], [1, 1, 0, 0, 1, 1, 0, 1, 0]), 6)
    0.55
    """
    targets = _targets.check_targets(y_true, y_pred, sample_weight, batched=_batched,
                                     backend=backend)
    if targets.kind == "multilabel":
        raise ValueError("multilabel-indicator is not supported")
    counts = _targets.count_classes(targets, num_classes=num_classes)
    return _result(confusion.mcc_from(counts), targets.ctx, _batched)


@batchable
def cohen_kappa_score(
    y1, y2, *, labels=None, weights=None, sample_weight=None, replace_undefined_by=np.nan,
    num_classes=None, backend=None, _batched,
):
    """Cohen's kappa: agreement between two annotators beyond chance; ``weights`` may be
    ``"linear"`` or ``"quadratic"`` for ordinal labels.

    >>> cohen_kappa_score([0, 1, 1, 0], [0, 1, 0, 0])
    0.5
    """
    if weights not in (None, "linear", "quadratic"):
        raise ValueError(f"weights must be None, 'linear' or 'quadratic'; got {weights!r}.")
    targets = _targets.check_targets(y1, y2, sample_weight, batched=_batched, backend=backend)
    if targets.kind == "multilabel":
        raise ValueError("multilabel-indicator is not supported")
    counts = _targets.count_classes(targets, labels=labels, num_classes=num_classes)
    if labels is not None and not counts.in_true.any(axis=1).all():
        raise ValueError(
            "At least one label in `labels` must be present in `y1` (even though "
            "`cohen_kappa_score` is otherwise agnostic to the order of `y1` and `y2`)."
        )
    return _result(confusion.kappa_from(counts, labels, weights, replace_undefined_by), targets.ctx,
                   _batched)




@batchable
def class_likelihood_ratios(y_true, y_pred, *, labels=None, sample_weight=None,
                            replace_undefined_by=np.nan, backend=None, _batched):
    """Binary likelihood ratios ``(LR+, LR-)``: ``LR+ = recall / (1 - specificity)``,
    ``LR- = (1 - recall) / specificity``; ``labels=[negative, positive]`` orders the
    classes. ``replace_undefined_by`` (1.0, NaN, or ``{"LR+": a, "LR-": b}``) replaces an
    undefined ratio, with scikit-learn's warnings. Batched: two arrays of K ratios.

    >>> class_likelihood_ratios([0, 1, 0, 1, 0], [1, 1, 0, 0, 0])
    (1.5, 0.75)
    """
    targets = _targets.check_targets(y_true, y_pred, sample_weight, batched=_batched,
                                     backend=backend)
    found = None if targets.kind == "multilabel" else _targets.count_classes(targets)
    if found is None or found.n_classes > 2:
        kind = "multilabel-indicator" if found is None else "multiclass"
        raise ValueError("class_likelihood_ratios only supports binary classification "
                         f"problems, got targets of type: {kind}")
    replace = confusion.check_likelihood_replacement(replace_undefined_by)
    counts = found if labels is None else _counts_over_labels(targets, labels)
    cms = np.asarray(_arrays.to_host(confusion.confusion_matrix_from(counts, None)))
    if cms.shape[1:] != (2, 2):
        raise ValueError("class_likelihood_ratios needs a 2 x 2 confusion matrix: labels "
                         f"must name the negative and the positive class; got {labels!r}.")
    ratios = np.empty((cms.shape[0], 2))
    for k in range(cms.shape[0]):  # (a loop: warnings keep their stack depth on 3.10)
        ratios[k] = confusion.likelihood_ratios(cm=cms[k], replace=replace)
    if _batched:
        return _arrays.wrap(ratios[:, 0], targets.ctx), _arrays.wrap(ratios[:, 1], targets.ctx)
    return float(ratios[0, 0]), float(ratios[0, 1])
