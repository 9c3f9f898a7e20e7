"""Ranking formulas: ROC, precision-recall and DET curves from cumulative counts, the AUC
and average precision of exact curves and of score histograms (with their certified
bounds), and the averaging of per-column values, as scikit-learn defines them."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from gpumetrics import _arrays
from gpumetrics._warnings import undefined_metric

AVERAGES = (None, "micro", "macro", "weighted", "samples")


class Binned(NamedTuple):
    """A metric computed from score bins: ``|value - exact value| <= bound``."""

    value: object
    bound: object

    def __float__(self) -> float:
        return float(self.value)


def warn(message: str):
    warnings.warn(message, undefined_metric(), stacklevel=5)


ONE_CLASS = "Only one class is present in y_true. ROC AUC score is not defined in that case."


NO_NEG = "No negative samples in y_true, false positive value should be meaningless"


NO_POS = "No positive samples in y_true, true positive value should be meaningless"


def auc_defined(counts: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """``(K, L)`` mask of the columns with an AUC; warns as scikit-learn for the others.

    ``counts`` (L, 2) are unweighted class counts, ``totals`` (K, L, 2) weighted ones.
    """
    ok = np.ones(totals.shape[:2], bool)
    for j in range(counts.shape[0]):
        if (counts[j] == 0).any():
            warn(ONE_CLASS)
            ok[:, j] = False
            continue
        for k in range(totals.shape[0]):
            if totals[k, j, 0] <= 0 or totals[k, j, 1] <= 0:
                if totals[k, j, 0] <= 0:
                    warn(NO_NEG)
                if totals[k, j, 1] <= 0:
                    warn(NO_POS)
                ok[k, j] = False
    return ok


def trapezoids(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """scikit-learn's ``auc`` of each row: at least two points, x increasing or
    decreasing, else its errors."""
    if xs.shape[1] < 2:
        raise ValueError("At least 2 points are needed to compute area under curve, but "
                         f"x.shape = {xs.shape[1]}")
    dx = np.diff(xs, axis=1)
    direction = np.ones(ys.shape[0])
    falling = (dx < 0).any(axis=1)
    if (falling & ~(dx <= 0).all(axis=1)).any():
        row = int(np.flatnonzero(falling & ~(dx <= 0).all(axis=1))[0])
        raise ValueError(f"x is neither increasing nor decreasing : {xs[row]}.")
    direction[falling] = -1
    return direction * (dx * (ys[:, 1:] + ys[:, :-1]) / 2.0).sum(axis=1)  # numpy's trapezoid


def check_thresholds(thresholds):
    """``(n_bins, edges)`` from ``thresholds=``: a bin count or increasing thresholds."""
    if isinstance(thresholds, bool):
        raise ValueError(f"thresholds must be a positive int or an array; got {thresholds!r}.")
    if isinstance(thresholds, int | np.integer):
        if thresholds < 1:
            raise ValueError(f"thresholds must be a positive number of bins; got {thresholds}.")
        return int(thresholds), None
    edges = np.asarray(_arrays.to_host(_arrays.to_kernel(thresholds, "thresholds")),
                       dtype=np.float64)
    if edges.ndim != 1 or edges.shape[0] == 0:
        raise ValueError("thresholds must be a positive int or a non-empty 1-D array.")
    if not np.isfinite(edges).all() or (np.diff(edges) <= 0).any():
        raise ValueError("thresholds must be finite and strictly increasing.")
    return edges.shape[0] + 1, edges


def range_thresholds(thresholds, score_range):
    """``thresholds=B`` with ``score_range=(lo, hi)``: the B - 1 inner edges of B equal bins
    over [lo, hi] (scores outside fall in the end bins). Without ``score_range``,
    ``thresholds`` as given: a bin count bins each column's observed score range."""
    if score_range is None:
        return thresholds
    if isinstance(thresholds, bool) or not isinstance(thresholds, int | np.integer):
        raise ValueError("score_range= goes with thresholds=B, a number of bins; an array "
                         "of thresholds sets the bins itself.")
    if thresholds < 2:
        raise ValueError(f"thresholds must be at least 2 bins with score_range=; got {thresholds}.")
    try:
        lo, hi = (float(v) for v in score_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"score_range must be two numbers (lo, hi); got {score_range!r}."
        ) from None
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"score_range must be finite with lo < hi; got {score_range!r}.")
    return np.linspace(lo, hi, int(thresholds) + 1)[1:-1]


@dataclass
class Histogram:
    counts: np.ndarray  # (K, L, B, 2): [negatives, positives] per bin
    lower: np.ndarray  # (K, L, B): each bin's lowest possible score (the bin's threshold)


def auc_from_histogram(counts: np.ndarray, pairs: np.ndarray):
    """Binned AUC of ``(K, L, B, 2)`` [negatives, positives] counts and its bound; ``pairs``
    ``(K, L)`` is P * N, NaN where the AUC is undefined."""
    neg, pos = counts[..., 0], counts[..., 1]
    below = np.cumsum(neg, axis=2) - neg
    u = (pos * (below + 0.5 * neg)).sum(axis=2)
    bound = (pos * neg).sum(axis=2) / (2 * pairs)
    return u / pairs, bound


def binned_curve_counts(h: Histogram, k: int, j: int):
    """``(fps, tps, thresholds)`` of the binned scores: one point per non-empty bin."""
    neg, pos = h.counts[k, j, :, 0], h.counts[k, j, :, 1]
    keep = (neg + pos) > 0
    neg, pos, lower = neg[keep][::-1], pos[keep][::-1], h.lower[k, j][keep][::-1]
    return np.cumsum(neg), np.cumsum(pos), lower


def roc_from_counts(fps, tps, thresholds, drop_intermediate):
    if drop_intermediate and fps.shape[0] > 2:
        keep = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    tps = np.r_[0.0, tps]
    fps = np.r_[0.0, fps]
    thresholds = np.r_[np.inf, np.asarray(thresholds, np.float64)]
    if fps[-1] <= 0:
        warn(NO_NEG)
        fpr = np.full(fps.shape, np.nan)
    else:
        fpr = fps / fps[-1]
    if tps[-1] <= 0:
        warn(NO_POS)
        tpr = np.full(tps.shape, np.nan)
    else:
        tpr = tps / tps[-1]
    return fpr, tpr, thresholds


def pr_from_counts(fps, tps, thresholds, drop_intermediate):
    if drop_intermediate and fps.shape[0] > 2:
        keep = np.flatnonzero(
            np.r_[True, np.logical_or(np.diff(tps[:-1]), np.diff(tps[1:])), True]
        )
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    ps = tps + fps
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(ps != 0, tps / np.where(ps != 0, ps, 1), 0.0)
    if tps[-1] == 0:
        warnings.warn(
            "No positive class found in y_true, recall is set to one for all thresholds.",
            UserWarning,
            stacklevel=4,
        )
        recall = np.ones(tps.shape)
    else:
        recall = tps / tps[-1]
    return np.r_[precision[::-1], 1.0], np.r_[recall[::-1], 0.0], thresholds[::-1]


def det_from_counts(fps, tps, thresholds, drop_intermediate):
    # a first point at threshold inf, where nothing is predicted positive
    tps = np.r_[0.0, tps]
    fps = np.r_[0.0, fps]
    thresholds = np.r_[np.inf, np.asarray(thresholds, np.float64)]
    if drop_intermediate and fps.shape[0] > 2:
        keep = np.flatnonzero(
            np.r_[True, np.logical_or(np.diff(tps[:-1]), np.diff(tps[1:])), True]
        )
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fns = tps[-1] - tps
    first = np.searchsorted(fps, fps[0], side="right")
    first = first - 1 if first > 0 else None
    last = np.searchsorted(tps, tps[-1]) + 1
    sl = slice(first, last)
    with np.errstate(invalid="ignore", divide="ignore"):
        return fps[sl][::-1] / fps[-1], fns[sl][::-1] / tps[-1], thresholds[sl][::-1]


def average_precision(fps, tps, thresholds) -> float:
    precision, recall, _ = pr_from_counts(fps, tps, thresholds, False)
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def ap_from_histogram(h: Histogram):
    """Binned average precision of each column of a histogram, and its bound."""
    K, L = h.counts.shape[:2]
    value = np.empty((K, L))
    bound = np.empty((K, L))
    for k in range(K):
        for j in range(L):
            fps, tps, lower = binned_curve_counts(h, k, j)
            value[k, j] = average_precision(fps, tps, lower)
            pos = np.diff(tps, prepend=0.0)
            neg = np.diff(fps, prepend=0.0)
            T, F = tps - pos, fps - neg
            with np.errstate(invalid="ignore", divide="ignore"):
                binned = tps / (tps + fps)
                lo = np.where(T + F + neg > 0, T / (T + F + neg), 0.0)
                hi = (T + pos) / (T + F + pos)
                gap = np.where(pos > 0, np.maximum(hi - binned, binned - lo), 0.0)
                bound[k, j] = (pos * gap).sum() / tps[-1] if tps[-1] > 0 else 0.0
    return value, bound


def check_average(average):
    if average not in AVERAGES:
        raise ValueError(f"average has to be one of {AVERAGES}")


def label_weight(y_pos, weights, k: int) -> np.ndarray:
    """Support of each column (weighted by the sample weights of set k)."""
    t = np.asarray(_arrays.to_host(y_pos[0]), np.float64)
    if weights is None:
        return t.sum(axis=0)
    return t.T @ weights[min(k, weights.shape[0] - 1)]


def average_columns(value, bound, average, y_pos, weights, sample_average_weight=None,
                     support=None):
    """Average (K, L) per-column values (and bounds) as scikit-learn does; ``support``
    (K, L), when known, is each column's weight of positives."""
    if average is None:
        return value, bound
    K = value.shape[0]
    out = np.empty(K)
    out_bound = None if bound is None else np.empty(K)
    for k in range(K):
        v = value[k].copy()
        b = None if bound is None else bound[k].copy()
        avg_weight = None
        if average == "weighted":
            avg_weight = (label_weight(y_pos, weights, k) if support is None
                          else support[k])
            if np.isclose(avg_weight.sum(), 0.0):
                out[k] = 0.0
                if out_bound is not None:
                    out_bound[k] = 0.0
                continue
        elif average == "samples" and sample_average_weight is not None:
            avg_weight = sample_average_weight[min(k, sample_average_weight.shape[0] - 1)]
        if avg_weight is not None:
            v[avg_weight == 0] = 0
            if b is not None:
                b[avg_weight == 0] = 0
        out[k] = np.average(v, weights=avg_weight)
        if out_bound is not None:
            out_bound[k] = np.average(b, weights=avg_weight)
    return out, out_bound
