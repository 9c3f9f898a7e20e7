"""Ranking metrics with scikit-learn's names, arguments and edge cases: ROC AUC, the ROC,
precision-recall and DET curves, and average precision.

Two modes:

* **exact** (the default): sort-based, O(N log N), ties grouped (a tie counts one half).
  On the CPU the positives and negatives of a column are split in one pass and each part
  is sorted as plain scores (the label is the key's top bit), so no argsort is needed;
  ``U`` is counted in int64 and weighted sums in float64.
* **binned** (``thresholds=B`` bins over each column's score range, or an array of
  thresholds): one O(N + B) pass builds per-bin positive and negative counts (the
  ``score_histogram`` kernel). The result is the exact metric of the scores rounded down
  to their bin, returned as ``Binned(value, bound)`` with a certified bound
  ``|value - exact| <= bound``; for ROC AUC ``bound = sum_b pos_b * neg_b / (2 * P * N)``.
  Works the same for probabilities and raw logits, since bins follow the observed range.
  ``refine=True`` then sorts only the bins that hold both classes and returns the exact
  AUC (no bound).
"""

from __future__ import annotations

import itertools

import numpy as np

from gpumetrics import _arrays
from gpumetrics._arrays import batch_result
from gpumetrics.formulas import curves
from gpumetrics.formulas.curves import Binned
from gpumetrics.functional import _problems as P
from gpumetrics.functional._batching import batchable
from gpumetrics.functional._scores import Scores, check_scores, target_type

# --- roc_auc_score ---------------------------------------------------------------------


@batchable
def roc_auc_score(
    y_true, y_score, *, average="macro", sample_weight=None, max_fpr=None, multi_class="raise",
    labels=None, thresholds=None, score_range=None, refine=False, backend=None, _batched,
):
    """Area under the ROC curve (binary, multiclass one-vs-rest or one-vs-one, multilabel).

    Ties between a positive and a negative count one half. ``max_fpr`` gives the
    McClish-corrected partial AUC. ``thresholds=`` switches to the binned mode and returns
    ``Binned(value, bound)``: B bins over each column's observed score range, or over
    ``score_range=(lo, hi)`` when given (as a streaming ``AUROC`` bins), or an increasing
    array of thresholds. With ``refine=True`` the bins holding both classes are sorted and
    the exact AUC is returned.

    >>> roc_auc_score([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])
    0.875
    >>> auc, bound = roc_auc_score([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9], thresholds=4)
    >>> auc, bound
    (0.875, 0.125)
    """
    if max_fpr is not None and not (
        isinstance(max_fpr, int | float | np.number) and 0 < max_fpr <= 1
    ):
        raise ValueError(f"max_fpr must be a float in the range (0, 1] or None; got {max_fpr!r}.")
    if multi_class not in ("raise", "ovr", "ovo"):
        raise ValueError(f"multi_class must be one of 'raise', 'ovr', 'ovo'; got {multi_class!r}.")
    if refine and thresholds is None:
        raise ValueError("refine=True refines score bins: pass thresholds= as well.")
    thresholds = curves.range_thresholds(thresholds, score_range)
    sc = check_scores(y_true, y_score, sample_weight, batched=_batched, backend=backend,
                      column=True, nonzero=False, ranks=thresholds is None)
    sc.check_finite()
    ytype, classes = target_type(sc.y_true, sc.kernels)
    binned = thresholds is not None and not refine
    partial = max_fpr is not None and max_fpr != 1
    if thresholds is not None and partial:
        raise ValueError("max_fpr is computed from the exact ROC curve; leave thresholds=None.")

    def score(problem):
        if thresholds is not None:
            return P.binned_auc(problem, thresholds, refine)
        return P.exact_auc(problem, max_fpr)

    s = sc.y_score
    if ytype == "multiclass" or (ytype == "binary" and s.ndim == 3 and s.shape[2] > 2):
        if partial:
            raise ValueError(
                "Partial AUC computation not available in multiclass setting, 'max_fpr' must "
                f"be set to `None`, received `max_fpr={max_fpr}` instead"
            )
        if multi_class == "raise":
            raise ValueError("multi_class must be in ('ovo', 'ovr')")
        value, bound = _multiclass_auc(sc, classes, labels, multi_class, average, score)
    elif ytype == "binary":
        y01 = P.labels_binary(sc.y_true, classes, classes[-1] if classes.shape[0] == 2 else None)
        if classes.shape[0] < 2:
            y01 = y01 & 0
        else:
            sc.check_weights()
        value, bound = score(P.binary_problem(sc, y01))
        value, bound = value[:, 0], None if bound is None else bound[:, 0]
    elif ytype == "multilabel-indicator":
        curves.check_average(average)
        sc.check_weights()
        problem, sample_avg = P.multilabel_problems(sc, average)
        value, bound = score(problem)
        if average == "micro":
            value, bound = value[:, 0], None if bound is None else bound[:, 0]
        else:
            value, bound = curves.average_columns(value, bound, average, problem.y_pos, sc.weights,
                                            sample_avg)
    else:
        raise ValueError(f"{ytype} format is not supported")
    return P.finish(value, bound, sc, binned, _batched)


def _multiclass_auc(sc: Scores, classes, labels, multi_class, average, score):
    s = sc.y_score
    if s.ndim != 3:
        raise ValueError(
            "`y_score` needs to be of shape `(n_samples, n_classes)`, since `y_true` contains "
            f"multiple classes. Got `y_score.shape={tuple(s.shape[1:])}`."
        )
    sums = np.asarray(_arrays.to_host(s.sum(axis=2)))
    if not np.allclose(1, sums):
        raise ValueError(
            "Target scores need to be probabilities for multiclass roc_auc, i.e. they should "
            "sum up to 1.0 over classes"
        )
    options = ("macro", "weighted", None)
    if multi_class == "ovr":
        options = ("micro", *options)
    if average not in options:
        raise ValueError(f"average must be one of {options} for multiclass problems")
    if average is None and multi_class == "ovo":
        raise NotImplementedError("average=None is not implemented for multi_class='ovo'.")
    if labels is not None:
        given = np.asarray(_arrays.to_host(_arrays.to_kernel(labels, "labels"))).ravel()
        uniq = np.unique(given)
        if uniq.shape[0] != given.shape[0]:
            raise ValueError("Parameter 'labels' must be unique")
        if not np.array_equal(uniq, given):
            raise ValueError("Parameter 'labels' must be ordered")
        if given.shape[0] != s.shape[2]:
            raise ValueError(
                f"Number of given labels, {given.shape[0]}, not equal to the number of "
                f"columns in 'y_score', {s.shape[2]}"
            )
        if np.setdiff1d(classes, given).shape[0]:
            raise ValueError("'y_true' contains labels not in parameter 'labels'")
        classes = given
    elif classes.shape[0] != s.shape[2]:
        raise ValueError(
            "Number of classes in y_true not equal to the number of columns in 'y_score'"
        )
    codes = P.class_codes(sc.y_true, classes)
    sc.check_weights()
    if multi_class == "ovo":
        if sc.weights is not None:
            raise ValueError(
                "sample_weight is not supported for multiclass one-vs-one ROC AUC, "
                "'sample_weight' must be None in this case."
            )
        return _ovo_auc(sc, codes, average, score)
    C = classes.shape[0]
    if average == "micro":
        K = s.shape[0]
        w = None if sc.weights is None else np.repeat(sc.weights, C, axis=1)
        value, bound = score(P.Problem(P.one_hot(codes, C).reshape(1, -1, 1),
                                       s.reshape(K, -1, 1), w, sc.kernels))
        return value[:, 0], None if bound is None else bound[:, 0]
    problem = P.Problem(codes[None], s, sc.weights, sc.kernels, sc.score_range())
    value, bound = score(problem)
    support = np.broadcast_to(P.class_support(codes, sc.weights, C), value.shape)
    return curves.average_columns(value, bound, average, None, None, support=support)


def _ovo_auc(sc: Scores, codes, average, score):
    """Hand & Till: the mean over class pairs of the two one-vs-one AUCs."""
    xp = _arrays.namespace(codes)
    present = np.flatnonzero(P.class_support(codes, None, sc.y_score.shape[2])[0])
    pairs = list(itertools.combinations(present.tolist(), 2))
    K = sc.y_score.shape[0]
    value = np.empty((K, len(pairs)))
    bound = None
    prevalence = np.empty(len(pairs))
    for i, (a, b) in enumerate(pairs):
        mask = (codes == a) | (codes == b)
        sub = xp.flatnonzero(mask)
        a_true = (codes[sub] == a).view(xp.uint8)
        s = sc.y_score[:, sub][:, :, [a, b]]
        y_pos = xp.stack([a_true, 1 - a_true], axis=1)[None]
        v, bnd = score(P.Problem(y_pos, s, None, sc.kernels))
        value[:, i] = v.mean(axis=1)
        if bnd is not None:
            bound = np.empty((K, len(pairs))) if bound is None else bound
            bound[:, i] = bnd.mean(axis=1)
        prevalence[i] = float(mask.mean())
    weights = prevalence if average == "weighted" else None
    value = np.average(value, axis=1, weights=weights)
    if bound is not None:
        bound = np.average(bound, axis=1, weights=weights)
    return value, bound


# --- average_precision_score -----------------------------------------------------------


@batchable
def auc(x, y, *, backend=None, _batched):
    """Area under a curve of points ``(x, y)`` by the trapezoidal rule, ``x`` increasing or
    decreasing (as scikit-learn's ``auc``; for the area under the ROC curve of scores, see
    ``roc_auc_score``). Batched: ``y`` (and ``x``, or one ``x`` for all) has a leading axis
    of K curves.

    >>> auc([0.0, 0.5, 1.0], [0.0, 0.75, 1.0])
    0.625
    """
    ctx = _arrays.context_of(x=x, y=y)
    xs = np.asarray(_arrays.to_host(_arrays.to_kernel(x, "x", ctx)), np.float64)
    ys = np.asarray(_arrays.to_host(_arrays.to_kernel(y, "y", ctx)), np.float64)
    rows = 2 if _batched else 1
    if ys.ndim != rows or xs.ndim not in (1, rows):
        shape = "(K, n_points)" if _batched else "(n_points,)"
        raise ValueError(f"x and y must be {shape} points; got shapes {xs.shape} and "
                         f"{ys.shape}.")
    ys = ys.reshape(-1, ys.shape[-1])
    xs = np.broadcast_to(xs.reshape(-1, xs.shape[-1]), ys.shape) if (
        xs.shape[-1] == ys.shape[-1]) else None
    if xs is None:
        raise ValueError(f"x and y must have the same number of points; got "
                         f"{np.shape(x)[-1]} and {np.shape(y)[-1]}.")
    return batch_result(curves.trapezoids(xs, ys), ctx, _batched)


@batchable
def average_precision_score(
    y_true, y_score, *, average="macro", pos_label=1, sample_weight=None, thresholds=None,
    score_range=None, backend=None, _batched,
):
    """Average precision: the step-wise (not trapezoidal) area under the precision-recall
    curve, ``sum_n (R_n - R_{n-1}) P_n``. ``thresholds=`` and ``score_range=`` bin the
    scores as in ``roc_auc_score``.

    >>> average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.8333333333333333
    """
    thresholds = curves.range_thresholds(thresholds, score_range)
    sc = check_scores(y_true, y_score, sample_weight, batched=_batched, backend=backend,
                      column=True, nonzero=False, ranks=thresholds is None)
    sc.check_finite()
    sc.check_weights()
    ytype, classes = target_type(sc.y_true, sc.kernels)

    def score(problem):
        if thresholds is not None:
            return P.binned_ap(problem, thresholds)
        return P.exact_ap(problem)

    if ytype == "binary":
        if classes.shape[0] == 2 and pos_label not in classes.tolist():
            raise ValueError(
                f"pos_label={pos_label} is not a valid label. It should be one of {classes}"
            )
        curves.check_average(average)
        value, bound = score(P.binary_problem(sc, P.labels_binary(sc.y_true, classes, pos_label)))
        value, bound = value[:, 0], None if bound is None else bound[:, 0]
    elif ytype == "multilabel-indicator" or ytype == "multiclass":
        if pos_label != 1:
            raise ValueError(
                f"Parameter pos_label is fixed to 1 for {ytype} y_true. Do not set pos_label "
                "or set pos_label to 1."
            )
        curves.check_average(average)
        if ytype == "multiclass":
            s = sc.y_score
            if s.ndim != 3 or s.shape[2] != classes.shape[0]:
                raise ValueError(
                    "`y_score` needs to be of shape `(n_samples, n_classes)`, since `y_true` "
                    f"contains multiple classes. Got `y_score.shape={tuple(s.shape[1:])}`."
                )
            codes = P.class_codes(sc.y_true, classes)
            sc = Scores(P.one_hot(codes, classes.shape[0]),
                        s, sc.weights, sc.ctx, sc.kernels, sc.batched, sc._range)
        problem, sample_avg = P.multilabel_problems(sc, average)
        value, bound = score(problem)
        if average == "micro":
            value, bound = value[:, 0], None if bound is None else bound[:, 0]
        else:
            value, bound = curves.average_columns(value, bound, average, problem.y_pos, sc.weights,
                                            sample_avg)
    else:
        raise ValueError(f"{ytype} format is not supported")
    return P.finish(value, bound, sc, thresholds is not None, _batched)


# --- curves ----------------------------------------------------------------------------


def _pos_label(classes: np.ndarray, pos_label):
    """scikit-learn's ``_check_pos_label_consistency``."""
    if pos_label is not None:
        return pos_label
    values = classes.tolist()
    if classes.dtype.kind in "OUS" or classes.shape[0] > 2 or not any(
        values == allowed for allowed in ([0, 1], [-1, 1], [0], [-1], [1])
    ):
        shown = ", ".join(repr(c) for c in values)
        raise ValueError(
            f"y_true takes value in {{{shown}}} and pos_label is not specified: either make "
            "y_true take value in {0, 1} or {-1, 1} or pass pos_label explicitly."
        )
    return 1


def _binary_curve(y_true, y_score, pos_label, sample_weight, thresholds, backend, batched,
                  finish, two_classes=False, score_range=None):
    thresholds = curves.range_thresholds(thresholds, score_range)
    sc = check_scores(y_true, y_score, sample_weight, batched=batched, backend=backend,
                      max_score_ndim=1, column=True, nonzero=False, ranks=thresholds is None)
    sc.check_finite()
    sc.check_weights()
    ytype, classes = target_type(sc.y_true, sc.kernels)
    if not (ytype == "binary" or (ytype == "multiclass" and pos_label is not None)):
        raise ValueError(f"{ytype} format is not supported")
    pos = _pos_label(classes, pos_label)
    if two_classes and classes.shape[0] != 2:
        raise ValueError(
            "Only one class is present in y_true. Detection error tradeoff curve is not "
            "defined in that case."
        )
    problem = P.binary_problem(sc, P.labels_binary(sc.y_true, classes, pos))
    h = None if thresholds is None else P.histogram(problem, thresholds)
    points = []
    for k in range(sc.y_score.shape[0]):
        if h is None:
            fps, tps, thr = P.curve_counts(problem, k, 0)
            thr = sc.as_given(thr)
        else:
            fps, tps, thr = curves.binned_curve_counts(h, k, 0)
        points.append(tuple(_arrays.wrap(np.asarray(a), sc.ctx) for a in finish(fps, tps, thr)))
    return points if batched else points[0]


@batchable
def roc_curve(
    y_true, y_score, *, pos_label=None, sample_weight=None, drop_intermediate=True,
    thresholds=None, score_range=None, backend=None, _batched,
):
    """Receiver operating characteristic: ``(fpr, tpr, thresholds)``, thresholds decreasing
    from ``inf``. Batched: a list of K curves (their lengths differ).

    >>> fpr, tpr, thr = roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> tpr
    array([0. , 0.5, 0.5, 1. , 1. ])
    """
    return _binary_curve(
        y_true, y_score, pos_label, sample_weight, thresholds, backend, _batched,
        lambda f, t, thr: curves.roc_from_counts(f, t, thr, drop_intermediate),
        score_range=score_range,
    )


@batchable
def precision_recall_curve(
    y_true, y_score, *, pos_label=None, sample_weight=None, drop_intermediate=False,
    thresholds=None, score_range=None, backend=None, _batched,
):
    """Precision-recall pairs for decreasing thresholds: ``(precision, recall,
    thresholds)``, recall decreasing to 0 and precision ending at 1.

    >>> p, r, thr = precision_recall_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> r
    array([1. , 1. , 0.5, 0.5, 0. ])
    """
    return _binary_curve(
        y_true, y_score, pos_label, sample_weight, thresholds, backend, _batched,
        lambda f, t, thr: curves.pr_from_counts(f, t, thr, drop_intermediate),
        score_range=score_range,
    )


@batchable
def det_curve(
    y_true, y_score, *, pos_label=None, sample_weight=None, drop_intermediate=False,
    backend=None, _batched,
):
    """Detection error tradeoff: ``(fpr, fnr, thresholds)``.

    >>> fpr, fnr, thr = det_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> fnr
    array([0. , 0.5, 0.5])
    """
    return _binary_curve(
        y_true, y_score, pos_label, sample_weight, None, backend, _batched,
        lambda f, t, thr: curves.det_from_counts(f, t, thr, drop_intermediate), two_classes=True,
    )


@batchable
def confusion_matrix_at_thresholds(y_true, y_score, *, pos_label=None, sample_weight=None,
                                   backend=None, _batched):
    """Binary confusion counts at every distinct score taken as the threshold (decreasing):
    ``(tns, fps, fns, tps, thresholds)``, counts in float64 (weight sums with
    ``sample_weight``), thresholds in the scores' dtype. Batched: a list of K tuples.

    >>> tns, fps, fns, tps, thr = confusion_matrix_at_thresholds([0, 0, 1, 1],
    ...                                                          [0.1, 0.4, 0.35, 0.8])
    >>> tps
    array([1., 1., 2., 2.])
    """
    def counts(fps, tps, thresholds):
        fps, tps = np.asarray(fps, np.float64), np.asarray(tps, np.float64)
        return fps[-1] - fps, fps, tps[-1] - tps, tps, thresholds

    return _binary_curve(y_true, y_score, pos_label, sample_weight, None, backend, _batched,
                         counts)


__all__ = [
    "Binned",
    "average_precision_score",
    "confusion_matrix_at_thresholds",
    "det_curve",
    "precision_recall_curve",
    "roc_auc_score",
    "roc_curve",
]
