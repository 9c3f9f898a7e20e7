"""Per-label counts (tp, predicted, true, total) of the set-wise metrics (precision, recall,
F-beta, Jaccard, specificity) and the scores computed from them, with scikit-learn's
``labels``/``pos_label``/``average`` rules. One state serves every metric and average."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from gpumetrics import _arrays
from gpumetrics._arrays import batch_result
from gpumetrics.formulas import division as F
from gpumetrics.formulas.counts import ClassCounts


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


def targets_kind_error(kind: str) -> ValueError:
    options = [None, "micro", "macro", "weighted"]
    if kind == "multilabel":
        options.append("samples")
    kind_name = "multilabel-indicator" if kind == "multilabel" else "multiclass"
    return ValueError(
        f"Target is {kind_name} but average='binary'. Please choose another average "
        f"setting, one of {options!r}."
    )


def from_class_counts(counts: ClassCounts, labels) -> SetwiseCounts:
    """Per-label counts of a confusion state: over all its classes when ``labels`` were
    given, else over the classes present in each set."""
    K = counts.cm.shape[0]
    mask = counts.present if labels is None else np.ones((K, counts.n_classes), bool)
    return SetwiseCounts(
        counts.tp, counts.pred_sum, counts.true_sum, counts.total[:, None], mask,
        counts.classes, micro_is_accuracy=not counts.other_present.any(),
        true_negatives=counts.tn,
    )


def binary_counts(counts: ClassCounts, pos_label) -> SetwiseCounts:
    """``average="binary"``: one label, ``pos_label``, in each set; checked as scikit-learn."""
    present = counts.present
    n_present = present.sum(axis=1)
    if (n_present > 2).any():
        raise targets_kind_error("multiclass")
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


def from_label_counts(counts: np.ndarray, columns: np.ndarray) -> SetwiseCounts:
    """Per-label counts of the ``(K, L, 2, 2)`` multilabel state, for the given columns."""
    c = counts[:, columns]
    tp = c[..., 1, 1]
    total = c[:, :1].sum(axis=(2, 3))
    return SetwiseCounts(
        tp, tp + c[..., 0, 1], tp + c[..., 1, 0], total, np.ones(tp.shape, bool), columns,
        kind="multilabel", true_negatives=c[..., 0, 0],
    )


def compact_present(s: SetwiseCounts) -> SetwiseCounts:
    """Keep the labels present in any set (a batch shares one label axis)."""
    keep = s.mask.any(axis=0)
    return SetwiseCounts(s.tp[:, keep], s.pred[:, keep], s.true[:, keep], s.total,
                         s.mask[:, keep], s.labels[keep], true_negatives=s.tn[:, keep])


def reduce_labels(values, s: SetwiseCounts, average, weights_kind="nan"):
    """Average per-label values (K, J) as scikit-learn does, per set."""
    if average is None:
        return values
    out = np.empty(values.shape[0])
    for k in range(values.shape[0]):
        v = values[k][s.mask[k]]
        if average == "weighted":
            w = s.true[k][s.mask[k]]
        elif average == "samples" and s.sample_weight is not None:
            w = s.sample_weight[min(k, s.sample_weight.shape[0] - 1)]
        else:
            w = None
        if weights_kind == "nan":
            out[k] = F.nanaverage(v, w)
        else:
            if average == "weighted" and not np.any(w):
                w = None
            out[k] = F.average(v, w)
    return out


def prf(s: SetwiseCounts, beta, average, warn_for, zero_division):
    if average == "micro":
        s = s.micro()
    args = (average, warn_for, zero_division, s.mask)
    precision = F.divide(s.tp, s.pred, "precision", "predicted", *args)
    recall = F.divide(s.tp, s.true, "recall", "true", *args)
    f = F.fbeta_from_counts(s.tp, s.true, s.pred, beta, precision, recall, divide_args=args)
    return s, precision, recall, f


def per_label(values, s: SetwiseCounts, ctx, batched):
    """Per-label output (``average=None``) of the reported labels."""
    if batched:
        return _arrays.wrap(values, ctx)
    return _arrays.wrap(values[0][s.mask[0]], ctx)


def check_beta(beta):
    if isinstance(beta, bool) or not isinstance(beta, int | float | np.number) or not beta >= 0:
        raise ValueError(f"beta must be a non-negative number; got {beta!r}.")


def setwise_score(which, s: SetwiseCounts, beta, average, zero_division, ctx, batched):
    """One set-wise metric (``precision``, ``recall``, ``f-score``, ``specificity`` or
    ``jaccard``) from per-label counts, averaged as ``average`` says."""
    if which in ("precision", "recall", "f-score"):
        s2, precision, recall, f = prf(s, beta, average, (which,), zero_division)
        values = {"precision": precision, "recall": recall, "f-score": f}[which]
    else:
        s2 = s.micro() if average == "micro" else s
        if which == "specificity":
            tn = s2.tn
            values = F.divide(tn, tn + s2.pred - s2.tp, "specificity", "negative", average,
                              ("specificity",), zero_division, s2.mask)
        else:
            union = s2.true + s2.pred - s2.tp
            values = F.divide(s2.tp, union, "jaccard", "true or predicted", average,
                              ("jaccard",), zero_division, s2.mask)
    if average is None:
        return per_label(values, s, ctx, batched)
    kind = "plain" if which == "jaccard" else "nan"
    return batch_result(reduce_labels(values, s2, average, weights_kind=kind), ctx, batched)
