"""Streaming classification metrics: one confusion (or multilabel) state read by the
accuracy, set-wise, balanced accuracy, MCC, kappa and confusion-matrix metrics; top-k."""

from __future__ import annotations

import warnings

import numpy as np

from gpumetrics import _arrays, inputs
from gpumetrics import states as S
from gpumetrics._arrays import batch_result
from gpumetrics._warnings import undefined_metric
from gpumetrics.formulas import confusion, division, setwise
from gpumetrics.formulas.counts import ClassCounts
from gpumetrics.metrics.base import Metric, _check_task


class _Classification(Metric):
    """Metrics of predicted labels; ``task`` is binary, multiclass (``num_classes``) or
    multilabel (``num_labels``)."""

    multilabel_ok = True

    def __init__(self, task: str = "binary", *, num_classes: int | None = None,
                 num_labels: int | None = None, **engine):
        self.task = task
        self.size = _check_task(task, num_classes, num_labels)
        if task == "multilabel" and not self.multilabel_ok:
            raise ValueError(f"{type(self).__name__} does not support multilabel targets.")
        super().__init__(**engine)

    def _make_states(self):
        if self.task == "multilabel":
            return {"counts": S.LabelCounts(self.size)}
        return {"counts": S.Confusion(self.size)}

    def _class_counts(self, state: S.Confusion, labels=None) -> ClassCounts:
        cm, weighted, integer, occurrences = state.totals()
        C = self.size
        seen = cm if occurrences is None else occurrences
        if seen[:, C, :].any() or seen[:, :, C].any():
            which = "y_true" if seen[:, C, :].any() else "y_pred"
            raise ValueError(
                f"{which} had labels outside [0, {C}) in some update (not checked then: "
                "validate=False)."
            )
        counts = ClassCounts(cm, np.arange(C), weighted, integer, occurrences)
        return counts if labels is None else _select_labels(counts, labels)


def _check_labels(labels, size: int) -> np.ndarray | None:
    """``labels`` as distinct class indices (or multilabel columns) in [0, size)."""
    if labels is None:
        return None
    chosen = inputs.labels_array(labels)
    if chosen.ndim != 1 or chosen.shape[0] == 0 or chosen.dtype.kind not in "iu" or (
        chosen.min() < 0 or chosen.max() >= size
    ):
        raise ValueError(f"labels must be class indices in [0, {size}); got {labels!r}.")
    if np.unique(chosen).shape[0] != chosen.shape[0]:
        raise ValueError(f"labels must not contain duplicates; got {labels!r}.")
    return chosen


def _select_labels(counts: ClassCounts, chosen: np.ndarray) -> ClassCounts:
    """Counts over ``chosen`` labels (in their order); every other class joins the overflow
    bin."""
    C = counts.n_classes
    rest = np.setdiff1d(np.arange(C + 1), chosen)
    order = np.r_[chosen, rest]
    J = chosen.shape[0]

    def fold(cm):
        if cm is None:
            return None
        m = cm[:, order][:, :, order]
        out = np.zeros((cm.shape[0], J + 1, J + 1), cm.dtype)
        out[:, :J, :J] = m[:, :J, :J]
        out[:, :J, J] = m[:, :J, J:].sum(axis=2)
        out[:, J, :J] = m[:, J:, :J].sum(axis=1)
        out[:, J, J] = m[:, J:, J:].sum(axis=(1, 2))
        return out

    return ClassCounts(fold(counts.cm), chosen, counts.weighted,
                                counts.integer_weights, fold(counts.occurrences))


class Accuracy(_Classification):
    """Fraction (or count, ``normalize=False``) of correct predictions; multilabel: subset
    accuracy. Equals ``accuracy_score`` on all the data."""

    def __init__(self, task="binary", *, num_classes=None, num_labels=None, normalize=True,
                 **engine):
        self.normalize = normalize
        super().__init__(task, num_classes=num_classes, num_labels=num_labels, **engine)

    def _make_states(self):
        if self.task == "multilabel":
            return {"hits": S.SubsetHits(self.size)}
        return super()._make_states()

    def _compute(self, states, ctx):
        if self.task == "multilabel":
            hits, total = states["hits"].host("sums")[:, 0], states["hits"].host("sums")[:, 1]
        else:
            counts = self._class_counts(states["counts"])
            hits = np.trace(counts.inner, axis1=1, axis2=2).astype(np.float64)
            total = counts.total.astype(np.float64)
        if self.normalize:
            if (total == 0).any():
                raise ZeroDivisionError("Weights sum to zero, can't be normalized")
            hits = hits / total
        return batch_result(hits, ctx, False)


class HammingLoss(Accuracy):
    """Fraction of wrong labels. Equals ``hamming_loss`` on all the data."""

    def __init__(self, task="binary", *, num_classes=None, num_labels=None, **engine):
        super().__init__(task, num_classes=num_classes, num_labels=num_labels, **engine)

    def _compute(self, states, ctx):
        if self.task == "multilabel":
            sums = states["hits"].host("sums")
            return batch_result(sums[:, 2] / (self.size * sums[:, 1]), ctx, False)
        counts = self._class_counts(states["counts"])
        wrong = counts.total - np.trace(counts.inner, axis1=1, axis2=2)
        total = counts.total.astype(np.float64)
        if (total == 0).any():
            raise ZeroDivisionError("Weights sum to zero, can't be normalized")
        return batch_result(wrong / total, ctx, False)


class _Setwise(_Classification):
    """Per-label counts averaged as scikit-learn does: ``average`` defaults to ``binary``
    for binary tasks and ``macro`` otherwise."""

    which = "precision"

    def __init__(self, task="binary", *, num_classes=None, num_labels=None, average="auto",
                 labels=None, pos_label=1, zero_division="warn", beta=1.0, **engine):
        if average == "auto":
            average = "binary" if task == "binary" else "macro"
        division.check_average(average)
        division.check_zero_division(zero_division)
        if average == "samples":
            raise ValueError(
                "average='samples' needs every sample's counts; a streaming metric keeps "
                "per-label counts only. Use the function on all the data instead."
            )
        if average == "binary" and task != "binary":
            raise setwise.targets_kind_error(task)
        self.average, self.pos_label = average, pos_label
        self.zero_division, self.beta = zero_division, beta
        super().__init__(task, num_classes=num_classes, num_labels=num_labels, **engine)
        self.labels = _check_labels(labels, self.size)

    def _counts(self, states) -> setwise.SetwiseCounts:
        if self.task == "multilabel":
            counts = states["counts"].totals()[0]
            return setwise.from_label_counts(counts,
                                              inputs.label_columns(self.labels, self.size))
        if self.average == "binary":  # labels are ignored, as scikit-learn does
            return setwise.binary_counts(self._class_counts(states["counts"]), self.pos_label)
        counts = self._class_counts(states["counts"], self.labels)
        return setwise.from_class_counts(counts, self.labels)

    def _compute(self, states, ctx):
        return setwise.setwise_score(self.which, self._counts(states), self.beta, self.average,
                                  self.zero_division, ctx, False)


class Precision(_Setwise):
    """``tp / (tp + fp)``. Equals ``precision_score`` on all the data."""

    which = "precision"


class Recall(_Setwise):
    """``tp / (tp + fn)``. Equals ``recall_score`` on all the data."""

    which = "recall"


class FBetaScore(_Setwise):
    """F-beta (``beta`` required). Equals ``fbeta_score`` on all the data."""

    which = "f-score"

    def __init__(self, task="binary", *, beta, **kwargs):
        setwise.check_beta(beta)
        super().__init__(task, beta=beta, **kwargs)


class F1Score(_Setwise):
    """F1. Equals ``f1_score`` on all the data."""

    which = "f-score"


class Specificity(_Setwise):
    """``tn / (tn + fp)``. Equals ``specificity_score`` on all the data."""

    which = "specificity"


class JaccardIndex(_Setwise):
    """``tp / (tp + fp + fn)``. Equals ``jaccard_score`` on all the data."""

    which = "jaccard"


class BalancedAccuracy(_Classification):
    """Mean per-class recall. Equals ``balanced_accuracy_score`` on all the data."""

    multilabel_ok = False

    def __init__(self, task="binary", *, num_classes=None, adjusted=False, **engine):
        self.adjusted = adjusted
        super().__init__(task, num_classes=num_classes, **engine)

    def _compute(self, states, ctx):
        counts = self._class_counts(states["counts"])
        return batch_result(confusion.balanced_accuracy_from(counts, self.adjusted), ctx, False)


class MatthewsCorrCoef(_Classification):
    """Matthews correlation coefficient. Equals ``matthews_corrcoef`` on all the data."""

    multilabel_ok = False

    def _compute(self, states, ctx):
        return batch_result(confusion.mcc_from(self._class_counts(states["counts"])), ctx, False)


class CohenKappa(_Classification):
    """Cohen's kappa (``weights``: None, linear, quadratic). Equals ``cohen_kappa_score``
    on all the data."""

    multilabel_ok = False

    def __init__(self, task="binary", *, num_classes=None, labels=None, weights=None,
                 replace_undefined_by=np.nan, **engine):
        if weights not in (None, "linear", "quadratic"):
            raise ValueError(f"weights must be None, 'linear' or 'quadratic'; got {weights!r}.")
        self.weights = weights
        self.replace_undefined_by = replace_undefined_by
        super().__init__(task, num_classes=num_classes, **engine)
        self.labels = _check_labels(labels, self.size)

    def _compute(self, states, ctx):
        counts = self._class_counts(states["counts"], self.labels)
        if self.labels is not None and not counts.in_true.any(axis=1).all():
            raise ValueError(
                "At least one label in `labels` must be present in `y1` (even though "
                "`cohen_kappa_score` is otherwise agnostic to the order of `y1` and `y2`)."
            )
        scores = confusion.kappa_from(counts, self.labels, self.weights, self.replace_undefined_by)
        return batch_result(scores, ctx, False)


class ConfusionMatrix(_Classification):
    """``C[i, j]``: samples of true class i predicted as class j, over every class 0..C-1
    (or ``labels``), normalised by ``normalize``. Equals ``confusion_matrix`` called with
    ``labels=range(C)``."""

    multilabel_ok = False

    def __init__(self, task="binary", *, num_classes=None, labels=None, normalize=None,
                 **engine):
        confusion.check_normalize(normalize)
        self.normalize = normalize
        super().__init__(task, num_classes=num_classes, **engine)
        self.labels = _check_labels(labels, self.size)

    def _compute(self, states, ctx):
        labels = np.arange(self.size) if self.labels is None else self.labels
        counts = self._class_counts(states["counts"], labels)
        if self.labels is not None and not counts.in_true.any(axis=1).all():
            raise ValueError("At least one label specified must be in y_true")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # a 1 x 1 matrix was asked for
            cm = confusion.confusion_matrix_from(counts, self.normalize)
        return _arrays.wrap(cm[0], ctx)


class TopKAccuracy(Metric):
    """Share of samples whose true class is among the ``k`` highest of ``num_classes``
    scores. Equals ``top_k_accuracy_score(..., labels=range(C))`` on all the data."""

    def __init__(self, k: int = 2, *, num_classes: int, normalize=True, **engine):
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be a positive integer; got {k!r}.")
        self.k = int(k)
        self.size = _check_task("multiclass", num_classes, None)
        self.normalize = normalize
        if self.k >= self.size:
            warnings.warn(
                f"'k' ({self.k}) greater than or equal to 'n_classes' ({self.size}) will "
                "result in a perfect score and is therefore meaningless.",
                undefined_metric(), stacklevel=2,
            )
        super().__init__(**engine)

    def _make_states(self):
        return {"outcomes": S.TopK(self.k, self.size)}

    def _compute(self, states, ctx):
        outcomes = states["outcomes"].totals()[0].astype(np.float64)
        if outcomes[:, 2].any():
            raise ValueError(f"y_true had labels outside [0, {self.size}) in some update.")
        if outcomes[:, 3].any():
            raise ValueError("y_pred had NaN or infinite scores in some update.")
        correct, total = outcomes[:, 1], outcomes[:, :2].sum(axis=1)
        if self.normalize:
            if (total == 0).any():
                raise ZeroDivisionError("Weights sum to zero, can't be normalized")
            correct = correct / total
        return batch_result(correct, ctx, False)


