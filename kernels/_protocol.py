"""The kernel interface every backend module (``reference``, ``cpu``, ``cuda``) implements:
the same functions, with the same parameters, results and errors. ``Kernels`` states it as
a typed protocol, so that a type checker reads a backend module as one; ``missing(module)``
lists what a module lacks or spells differently (checked for every backend in
``tests/kernels/test_compare.py``).

The functions' full contracts (shapes, dtypes, the leading batch axis K, adding into
``out``) are in ``reference.py``, the NumPy implementation that defines them; the argument
checks every backend shares are the ``prepare_*`` functions of ``_common.py``.
"""

from __future__ import annotations

import inspect
from typing import Protocol


class Kernels(Protocol):
    """The functions of a backend module."""

    def confusion(
        self, y_true, y_pred, num_classes, sample_weight=None, ignore_index=None, lut=None,
        offset=0, out=None,
    ):
        """Add the ``(K, C + 1, C + 1)`` confusion counts ``out[k, true, pred]``."""

    def contingency(
        self, y_true, y_pred, n_rows, n_cols, lut_true=None, offset_true=0, lut_pred=None,
        offset_pred=0, out=None,
    ):
        """Add the ``(K, R + 1, C + 1)`` counts ``out[k, row of true, column of pred]``."""

    def label_counts(self, y_true, y_pred, sample_weight=None, out=None):
        """Add multilabel counts ``out[k, label, true, pred]`` of shape ``(K, L, 2, 2)``."""

    def sample_label_counts(self, y_true, y_pred):
        """Per-sample multilabel counts ``(K, N, 4)``: tp, predicted, true, differing."""

    def topk_outcomes(self, y_true, y_score, k, sample_weight=None, out=None):
        """Add top-k outcome counts ``(K, 4)``: miss, hit, label out of range, non-finite."""

    def label_range(self, y):
        """Smallest and largest label of a non-empty integer array, as Python ints."""

    def bincount(self, y, offset, size, out=None):
        """Add the counts of each value in ``[offset, offset + size)`` into ``out`` (int64)."""

    def score_range(self, y_score):
        """``(K, L, 3)``: each column's smallest and largest score, and a non-finite flag."""

    def score_histogram(
        self, y_true, y_score, lo, hi, n_bins, edges=None, sample_weight=None, out=None,
    ):
        """Add per-bin negative and positive counts ``out[k, l, bin, is_positive]``."""

    def rank_auc(self, y_true, y_score, sample_weight=None):
        """Exact Mann-Whitney statistic of every column, ``(K, L, 3)``."""

    def refine_auc(self, y_true, y_score, lo, hi, n_bins, edges=None, sample_weight=None):
        """The exact ``rank_auc`` of every column, reached from the score bins."""

    def clf_curve(self, y_true, y_score, sample_weight=None):
        """scikit-learn's binary curve of one column: ``(thresholds, fps, tps)``."""

    def moments(self, y_true, y_pred, sample_weight=None, out=None):
        """Merge the regression state of every column into ``out`` ``(K, L, 13)``."""

    def loss_sums(
        self, y_true, y_score, kind, sample_weight=None, ignore_index=None, eps=0.0, out=None,
    ):
        """Add ``(K, 4)`` float64 loss sums: loss, weight, labels out of range, rows off one."""


def missing(module) -> list[str]:
    """The functions of ``Kernels`` that ``module`` lacks or whose parameters differ."""
    problems = []
    for name, member in inspect.getmembers(Kernels, inspect.isfunction):
        if name.startswith("_"):
            continue
        wanted = list(inspect.signature(member).parameters.values())[1:]  # without self
        found = getattr(module, name, None)
        if found is None:
            problems.append(f"{name}: missing")
            continue
        got = list(inspect.signature(found).parameters.values())
        if [(p.name, p.default) for p in got] != [(p.name, p.default) for p in wanted]:
            problems.append(f"{name}{inspect.signature(found)}: expected "
                            f"{name}({', '.join(str(p) for p in wanted)})")
    return problems
