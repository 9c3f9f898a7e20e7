"""Streaming ranking metrics: AUROC, average precision and their curves, binned (a fixed
score histogram, with its bound) or exact (every score kept)."""

from __future__ import annotations

import numpy as np

from gpumetrics import _arrays
from gpumetrics import functional as F
from gpumetrics import states as S
from gpumetrics._arrays import batch_result
from gpumetrics.formulas import curves
from gpumetrics.metrics.base import Metric, _check_task


def _edges(thresholds, score_range) -> tuple | None:
    """Inner bin edges, fixed before the data arrive: ``thresholds=B`` gives B equal bins
    over ``score_range``."""
    if thresholds is None:
        return None
    if score_range is None:
        raise ValueError("a streaming metric fixes its bins before the data arrive: "
                         "thresholds=B needs a score_range=(lo, hi).")
    _, edges = curves.check_thresholds(curves.range_thresholds(thresholds, score_range))
    return tuple(edges.tolist())


class _Ranking(Metric):
    """Score metrics: exact (scores buffered, ``thresholds=None``) or binned into fixed
    bins (``thresholds=B`` equal bins over ``score_range``, [0, 1] unless given, or an
    increasing array of thresholds), which returns ``Binned(value, bound)`` as the
    functions do.

    The one difference from the functions is explicit: a function's ``thresholds=B`` bins
    each column's observed range unless it is given ``score_range=``, which a stream cannot
    observe before its data arrive; with the same ``score_range`` both give the same value."""

    curve = False

    def __init__(self, task="binary", *, num_classes=None, num_labels=None, thresholds=None,
                 score_range=(0.0, 1.0), average="macro", **engine):
        self.task = task
        self.size = _check_task(task, num_classes, num_labels)
        self.columns = 1 if task == "binary" else self.size
        self.edges = _edges(thresholds, score_range)
        self.average = average
        super().__init__(**engine)

    def _make_states(self):
        if self.edges is None:
            return {"scores": S.ScoreBuffer(self.task, self.columns)}
        made = {"histogram": S.ScoreHistogram(self.edges, self.columns, self.task)}
        if self.curve:
            made["range"] = S.ScoreRange(self.columns, self.task)
        return made

    def _buffered(self, states):
        buf = states["scores"]
        weighted = int(buf.host("weighted_updates")[0]) > 0
        w = buf.host("sample_weight") if weighted else None
        t = buf.host("y_true")
        if self.task == "multiclass" and t.shape[0] and (t.min() < 0 or t.max() >= self.size):
            raise ValueError(f"y_true had labels outside [0, {self.size}) in some update.")
        return t, buf.host("y_score"), w

    def _histogram(self, states) -> np.ndarray:
        counts = np.asarray(states["histogram"].totals()[0], np.float64)
        if self.task == "multiclass":
            # each sample is a positive of exactly one column: fewer positives than
            # samples means class indices outside 0..C-1 (not checked: validate=False)
            samples = counts[:, 0].sum()
            if counts[..., 1].sum() < samples * (1 - 1e-9):
                raise ValueError(f"y_true had labels outside [0, {self.size}) in some update.")
        return counts

    def _binned(self, states, per_column):
        """Average per-column binned values as the functions do; ``per_column(counts)``
        maps (1, L, B, 2) counts to (1, L) values and bounds."""
        counts = self._histogram(states)
        if self.task == "binary" or self.average == "micro":
            value, bound = per_column(counts.sum(axis=1, keepdims=True))
            return value[:, 0], bound[:, 0]
        support = counts[..., 1].sum(axis=2)
        return curves.average_columns(*per_column(counts), self.average, None, None,
                                         support=support)

    def _finish(self, value, bound, ctx):
        wrap = (lambda v: batch_result(v, ctx, False)) if value.ndim == 1 else (
            lambda v: _arrays.wrap(v[0], ctx))
        return curves.Binned(wrap(value), wrap(bound))


def _auc_columns(counts):
    totals = counts.sum(axis=2)
    ok = curves.auc_defined(totals[0], totals)
    pairs = np.where(ok, totals[..., 0] * totals[..., 1], np.nan)
    return curves.auc_from_histogram(counts, pairs)


class AUROC(_Ranking):
    """Area under the ROC curve. Exact mode equals ``roc_auc_score`` on all the data
    (multiclass: ``labels=range(C)``; with two classes, which scikit-learn reads as binary,
    one vs rest over the two score columns). Binned mode equals ``roc_auc_score`` given the same
    thresholds, or the same ``thresholds=B`` and ``score_range``."""

    def __init__(self, task="binary", *, num_classes=None, num_labels=None, thresholds=None,
                 score_range=(0.0, 1.0), average="macro", max_fpr=None, multi_class="ovr",
                 **engine):
        if thresholds is not None and (max_fpr is not None or multi_class != "ovr"):
            raise ValueError("max_fpr and multi_class='ovo' need the exact mode "
                             "(thresholds=None).")
        if max_fpr is not None and task != "binary":  # as scikit-learn: no partial AUC
            raise ValueError(f"max_fpr (partial AUC) is for binary tasks; got task={task!r}.")
        if task == "multiclass" and multi_class == "ovo" and average not in (
                "macro", "weighted", None):  # checked now, not after an epoch of scores
            raise ValueError("average must be one of ('macro', 'weighted', None) for "
                             f"multi_class='ovo'; got {average!r}.")
        self.max_fpr, self.multi_class = max_fpr, multi_class
        super().__init__(task, num_classes=num_classes, num_labels=num_labels,
                         thresholds=thresholds, score_range=score_range, average=average,
                         **engine)

    def _compute(self, states, ctx):
        if self.edges is None:
            t, s, w = self._buffered(states)
            labels = np.arange(self.size) if self.task == "multiclass" else None
            average, multi_class = self.average, self.multi_class
            if self.task == "multiclass" and self.size == 2:
                # scikit-learn reads two classes as a binary problem, with 1-D scores; one
                # vs rest over two score columns is the AUROC of the one-hot targets, and
                # one vs one (one pair, both ways) is its macro average
                t, labels = (t[:, None] == labels).astype(np.uint8), None
                if multi_class == "ovo":
                    average = "macro"
            value = F.roc_auc_score(
                t, s, sample_weight=w, average=average, max_fpr=self.max_fpr,
                multi_class=multi_class, labels=labels)
            return _arrays.wrap(value, ctx) if ctx.library != "numpy" else value
        return self._finish(*self._binned(states, _auc_columns), ctx)


class AveragePrecision(_Ranking):
    """Step-wise area under the precision-recall curve; exact or binned as ``AUROC``."""

    def _compute(self, states, ctx):
        if self.edges is None:
            t, s, w = self._buffered(states)
            if self.task == "multiclass":
                t = (t[:, None] == np.arange(self.size)).astype(np.uint8)
            value = F.average_precision_score(t, s, sample_weight=w,
                                                     average=self.average)
            return _arrays.wrap(value, ctx) if ctx.library != "numpy" else value
        lower = np.r_[-np.inf, self.edges]

        def per_column(counts):
            lows = np.broadcast_to(lower, counts.shape[:3])
            return curves.ap_from_histogram(curves.Histogram(counts, lows))

        return self._finish(*self._binned(states, per_column), ctx)


class _Curve(_Ranking):
    curve = True

    def __init__(self, *, thresholds=None, drop_intermediate=False, **engine):
        self.drop_intermediate = drop_intermediate
        super().__init__("binary", thresholds=thresholds, **engine)

    def _compute(self, states, ctx):
        if self.edges is None:
            t, s, w = self._buffered(states)
            curve = self.function(t, s, pos_label=1, sample_weight=w,
                                  drop_intermediate=self.drop_intermediate)
            return tuple(_arrays.wrap(np.asarray(a), ctx) for a in curve)
        counts = self._histogram(states)
        if states["range"].host("nonfinite").any():
            raise ValueError("y_pred had NaN or infinite scores in some update.")
        lo = states["range"].host("lo")
        lower = np.broadcast_to(np.r_[-np.inf, self.edges], counts.shape[:3]).copy()
        lower[..., 0] = np.minimum(lo, self.edges[0] if self.edges else np.inf)
        fps, tps, thr = curves.binned_curve_counts(curves.Histogram(counts, lower), 0, 0)
        curve = self.from_counts(fps, tps, thr, self.drop_intermediate)
        return tuple(_arrays.wrap(np.asarray(a), ctx) for a in curve)


class ROCCurve(_Curve):
    """``(fpr, tpr, thresholds)`` of binary scores; equals ``roc_curve`` on all the data."""

    function = staticmethod(F.roc_curve)
    from_counts = staticmethod(curves.roc_from_counts)
    plot_curve = "roc"

    def __init__(self, *, thresholds=None, drop_intermediate=True, **engine):
        super().__init__(thresholds=thresholds, drop_intermediate=drop_intermediate, **engine)


class PRCurve(_Curve):
    """``(precision, recall, thresholds)`` of binary scores; equals
    ``precision_recall_curve`` on all the data."""

    function = staticmethod(F.precision_recall_curve)
    from_counts = staticmethod(curves.pr_from_counts)
    plot_curve = "pr"


