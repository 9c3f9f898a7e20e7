"""The counting states of the classification metrics: confusion counts over an ordered set
of classes (``ClassCounts``) and multilabel-indicator counts (``LabelCounts``), with a
leading batch axis K. The functions fill them in one kernel pass; the streaming metrics
accumulate them over batches."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gpumetrics import _arrays


@dataclass
class ClassCounts:
    """Confusion counts of K prediction sets over one ordered set of classes."""

    cm: np.ndarray  # (K, C + 1, C + 1): [true, pred]; index C = any other label
    classes: np.ndarray  # (C,) label values, in the order of the matrix
    weighted: bool
    integer_weights: bool = False
    # Unweighted counts, kept when zero (or negative) weights could hide a label from ``cm``:
    # a label occurs whatever its weight, as scikit-learn's label discovery sees it.
    occurrences: np.ndarray | None = None

    @property
    def _occurs(self) -> np.ndarray:
        return self.cm if self.occurrences is None else self.occurrences

    @property
    def n_classes(self) -> int:
        return self.classes.shape[0]

    @property
    def inner(self) -> np.ndarray:
        """``(K, C, C)`` counts between listed classes."""
        C = self.n_classes
        return self.cm[:, :C, :C]

    @property
    def true_sum(self) -> np.ndarray:
        return self.cm[:, : self.n_classes, :].sum(axis=2)

    @property
    def pred_sum(self) -> np.ndarray:
        return self.cm[:, :, : self.n_classes].sum(axis=1)

    @property
    def tp(self) -> np.ndarray:
        return np.diagonal(self.inner, axis1=1, axis2=2)

    @property
    def total(self) -> np.ndarray:
        return self.cm.sum(axis=(1, 2))

    @property
    def tn(self) -> np.ndarray:
        """``(K, C)``: samples with neither true nor predicted class c, summed from the
        matrix rather than as ``total - ...``, so that weighted counts are exactly 0 where
        no such sample exists (a 0/0 must stay a 0/0)."""
        cm = self.cm
        outside_column = cm.sum(axis=2, keepdims=True) - cm  # [k, i, j]: row i off column j
        off_row = ~np.eye(cm.shape[1], dtype=bool)
        return np.where(off_row, outside_column, 0).sum(axis=1)[:, : self.n_classes]

    @property
    def in_true(self) -> np.ndarray:
        """``(K, C)``: the class occurs in y_true."""
        return self._occurs[:, : self.n_classes, :].sum(axis=2) != 0

    @property
    def present(self) -> np.ndarray:
        """``(K, C)``: the class occurs in y_true or in set k's y_pred."""
        occurs = self._occurs
        return self.in_true | (occurs[:, :, : self.n_classes].sum(axis=1) != 0)

    @property
    def other_present(self) -> np.ndarray:
        """``(K,)``: some label outside ``classes`` occurs."""
        C = self.n_classes
        occurs = self._occurs
        return (occurs[:, C, :].sum(axis=1) + occurs[:, :C, C].sum(axis=1)) != 0


@dataclass
class LabelCounts:
    """Multilabel-indicator counts of K prediction sets over L labels."""

    counts: np.ndarray  # (K, L, 2, 2): [label, true, pred]
    n_samples: int
    weights: np.ndarray | None  # (1 or K, N) float64, or None
    y_true: object = field(repr=False)  # kernel arrays, kept for per-sample counts
    y_pred: object = field(repr=False)
    kernels: object = field(repr=False)
    _per_sample: np.ndarray | None = field(default=None, repr=False)

    @property
    def weighted(self) -> bool:
        return self.weights is not None

    @property
    def per_sample(self) -> np.ndarray:
        """``(K, N, 4)``: true positives, predicted, true, differing entries of each sample."""
        if self._per_sample is None:
            self._per_sample = _arrays.to_host(
                self.kernels.sample_label_counts(self.y_true, self.y_pred)
            )
        return self._per_sample
