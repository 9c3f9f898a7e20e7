"""Per-label counts (tp, predicted, true, total) for the set-wise metrics: precision, recall,
F-beta, Jaccard and specificity, with scikit-learn's ``labels``/``pos_label``/``average``
rules. One kernel pass serves every metric and every average computed from it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from gpumetrics.functional import _targets
from gpumetrics.functional._formulas import check_average


@dataclass
class SetwiseCounts:
    """Counts per reported label, with a leading batch axis K.

    ``mask[k, j]`` is True where label j is reported for set k (labels not passed in and
    absent from set k are left out, as a separate call on set k would leave them out).
    """

    tp: np.ndarray  # (K, J)
    pred: np.ndarray
    true: np.ndarray
    total: np.ndarray  # (K, 1): all samples (sum of weights)
    mask: np.ndarray  # (K, J) bool
    labels: np.ndarray  # (J,) label values
    sample_weight: np.ndarray | None = None  # (1 or K, N) for average="samples"
    kind: str = "multiclass"
    micro_is_accuracy: bool = False
    true_negatives: np.ndarray | None = None  # (K, J) when counted directly

    @property
    def tn(self) -> np.ndarray:
        if self.true_negatives is not None:
            return self.true_negatives
        return self.total - self.pred - self.true + self.tp

    def micro(self) -> SetwiseCounts:
        """Counts summed over the reported labels: one pseudo-label."""

        def total(a):
            return np.where(self.mask, a, 0).sum(axis=1, keepdims=True)

        ones = np.ones((self.tp.shape[0], 1), bool)
        return SetwiseCounts(
            total(self.tp), total(self.pred), total(self.true),
            self.total * self.mask.sum(axis=1, keepdims=True), ones, self.labels[:1],
            self.sample_weight, self.kind,
            true_negatives=None if self.true_negatives is None else total(self.true_negatives),
        )


def _targets_kind_error(kind: str) -> ValueError:
    options = [None, "micro", "macro", "weighted"]
    if kind == "multilabel":
        options.append("samples")
    kind_name = "multilabel-indicator" if kind == "multilabel" else "multiclass"
    return ValueError(
        f"Target is {kind_name} but average='binary'. Please choose another average "
        f"setting, one of {options!r}."
    )


def setwise_counts(
    y_true, y_pred, *, labels, pos_label, average, sample_weight, num_classes, batched, backend,
) -> tuple[SetwiseCounts, object]:
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
        return _binary(counts, pos_label), targets.ctx
    return multiclass_counts(targets, labels, num_classes), targets.ctx


def multiclass_counts(targets, labels, num_classes) -> SetwiseCounts:
    """Per-label counts over ``labels``, or over the labels present in each set."""
    counts = _targets.count_classes(targets, labels=labels, num_classes=num_classes)
    return from_class_counts(counts, labels)


def from_class_counts(counts: _targets.ClassCounts, labels) -> SetwiseCounts:
    """Per-label counts of a confusion state: over all its classes when ``labels`` were
    given, else over the classes present in each set."""
    K = counts.cm.shape[0]
    mask = counts.present if labels is None else np.ones((K, counts.n_classes), bool)
    return SetwiseCounts(
        counts.tp, counts.pred_sum, counts.true_sum, counts.total[:, None], mask,
        counts.classes, micro_is_accuracy=not counts.other_present.any(),
        true_negatives=counts.tn,
    )


def _binary(counts: _targets.ClassCounts, pos_label) -> SetwiseCounts:
    """``average="binary"``: one label, ``pos_label``, in each set; checked as scikit-learn."""
    present = counts.present
    n_present = present.sum(axis=1)
    if (n_present > 2).any():
        raise _targets_kind_error("multiclass")
    hit = np.flatnonzero(_matches(counts.classes, pos_label))
    # pos_label must occur in every set holding two labels, as in a call per set.
    missing = ~present[:, hit[0]] if hit.size else np.ones(present.shape[0], bool)
    bad = missing & (n_present >= 2)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(
            f"pos_label={pos_label} is not a valid label. It should be one of "
            f"{counts.classes[present[k]]}"
        )
    K = counts.cm.shape[0]
    if hit.size == 0:
        zeros = np.zeros((K, 1), counts.cm.dtype)
        return SetwiseCounts(zeros, zeros, zeros, counts.total[:, None], np.ones((K, 1), bool),
                             np.asarray([pos_label]))
    j = int(hit[0])
    sl = slice(j, j + 1)
    return SetwiseCounts(
        counts.tp[:, sl], counts.pred_sum[:, sl], counts.true_sum[:, sl], counts.total[:, None],
        np.ones((K, 1), bool), counts.classes[sl], true_negatives=counts.tn[:, sl],
    )


def _matches(classes: np.ndarray, value) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = classes == value
    except (TypeError, ValueError):
        return np.zeros(classes.shape, bool)
    return np.asarray(result, bool).reshape(classes.shape)


def label_columns(labels, n_labels: int) -> np.ndarray:
    """The multilabel columns that ``labels`` selects (all of them for None)."""
    if labels is None:
        return np.arange(n_labels)
    columns = _targets._labels_array(labels)
    if columns.dtype.kind not in "iu":
        raise ValueError(f"labels for multilabel targets must be column indices; got {labels}.")
    if columns.max() >= n_labels:
        raise ValueError(
            "All labels must be in [0, n labels) for multilabel targets. "
            f"Got {columns.max()} > {n_labels - 1}"
        )
    if columns.min() < 0:
        raise ValueError(
            "All labels must be in [0, n labels) for multilabel targets. "
            f"Got {columns.min()} < 0"
        )
    return columns


def _multilabel(targets, labels, average) -> SetwiseCounts:
    if average == "binary":
        raise _targets_kind_error("multilabel")
    L = targets.y_pred.shape[2]
    columns = label_columns(labels, L)
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
        return SetwiseCounts(
            tp, pred, true, total, np.ones((K, N), bool), np.arange(N), w, "multilabel",
        )
    return from_label_counts(counts.counts, columns)


def from_label_counts(counts: np.ndarray, columns: np.ndarray) -> SetwiseCounts:
    """Per-label counts of the ``(K, L, 2, 2)`` multilabel state, for the given columns."""
    c = counts[:, columns]
    tp = c[..., 1, 1]
    total = c[:, :1].sum(axis=(2, 3))
    return SetwiseCounts(
        tp, tp + c[..., 0, 1], tp + c[..., 1, 0], total, np.ones(tp.shape, bool), columns,
        kind="multilabel", true_negatives=c[..., 0, 0],
    )
