"""The ranking functions' work in K x L binary problems: column l of prediction set k,
scored against its positives. Built once from the checked inputs (binary, multilabel or
one-vs-rest), then read exactly (sort and scan kernels) or through a score histogram
(binned mode), column by column, with scikit-learn's warnings for columns without both
classes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpumetrics import _arrays, inputs
from gpumetrics._arrays import batch_result
from gpumetrics.formulas import curves
from gpumetrics.formulas.curves import Binned
from gpumetrics.functional._scores import Scores


@dataclass
class Problem:
    """K x L binary problems sharing N samples: column l of set k scores
    ``scores[k, :, l]`` against the positives of ``y_pos`` (``(1, N, L)`` indicators or
    ``(1, N)`` class codes, positive where the code is l)."""

    y_pos: object
    scores: object  # (K, N, L) kernel array
    weights: np.ndarray | None
    kernels: object
    range_: np.ndarray | None = None  # (K, L, 3), when already known

    @property
    def shape(self) -> tuple[int, int]:
        return self.scores.shape[0], self.scores.shape[2]

    def class_counts(self, totals=None) -> np.ndarray:
        """``(L, 2)`` unweighted negatives and positives of each column; ``totals``
        ``(K, L, 2)`` from a kernel are those counts already when there are no weights."""
        if totals is not None and self.weights is None:
            return np.asarray(totals[0], np.int64)
        n, L = self.scores.shape[1], self.scores.shape[2]
        if self.y_pos.ndim == 3:
            pos = np.asarray(_arrays.to_host((self.y_pos[0] != 0).sum(axis=0)), np.int64)
        else:
            codes = np.asarray(_arrays.to_host(self.y_pos[0]))
            pos = np.bincount(codes[(codes >= 0) & (codes < L)], minlength=L)[:L]
        return np.stack([n - pos, pos], axis=1)

    def column(self, k: int, j: int):
        """``(positive mask, scores, weights)`` of one column, as 1-D kernel arrays."""
        t = self.y_pos[0, :, j] != 0 if self.y_pos.ndim == 3 else self.y_pos[0] == j
        w = None if self.weights is None else self.weights[min(k, self.weights.shape[0] - 1)]
        return t, self.scores[k, :, j], w

    def score_range(self) -> np.ndarray:
        if self.range_ is None:
            self.range_ = _arrays.to_host(self.kernels.score_range(self.scores))
        return self.range_


def exact_auc(problem: Problem, max_fpr):
    if max_fpr is not None and max_fpr != 1:
        return partial_auc(problem, problem.class_counts(), max_fpr), None
    if problem.weights is not None and (problem.weights < 0).any():
        return curve_auc(problem), None
    stats = _arrays.to_host(problem.kernels.rank_auc(problem.y_pos, problem.scores,
                                                     problem.weights))
    ok = curves.auc_defined(problem.class_counts(stats[..., :2]), stats[..., :2])
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = stats[..., 2] / (stats[..., 0] * stats[..., 1])
    return np.where(ok, auc, np.nan), None


def each_roc(problem: Problem, counts):
    """``(k, j, fpr, tpr)`` of every column holding both classes (scikit-learn's warning
    for the others, whose AUC stays NaN)."""
    K, L = problem.shape
    for j in range(L):
        if (counts[j] == 0).any():
            curves.warn(curves.ONE_CLASS)
            continue
        for k in range(K):
            fps, tps, thr = curve_counts(problem, k, j)
            fpr, tpr, _ = curves.roc_from_counts(fps, tps, thr, True)
            yield k, j, fpr, tpr


def curve_auc(problem: Problem):
    """The trapezoids under each ROC curve, as scikit-learn computes every AUC: with
    negative weights the curve can fall back, which is an error (``auc``'s), or cross
    itself, which the rank statistic would not see."""
    out = np.full(problem.shape, np.nan)
    for k, j, fpr, tpr in each_roc(problem, problem.class_counts()):
        out[k, j] = curves.trapezoids(fpr[None], tpr[None])[0]
    return out


def partial_auc(problem: Problem, counts, max_fpr):
    """McClish-corrected partial AUC up to ``max_fpr``, from each column's ROC curve."""
    out = np.full(problem.shape, np.nan)
    for k, j, fpr, tpr in each_roc(problem, counts):
        stop = np.searchsorted(fpr, max_fpr, "right")
        x_interp = [fpr[stop - 1], fpr[stop]]
        y_interp = [tpr[stop - 1], tpr[stop]]
        tpr = np.append(tpr[:stop], np.interp(max_fpr, x_interp, y_interp))
        fpr = np.append(fpr[:stop], max_fpr)
        partial = float(curves.trapezoids(fpr[None], tpr[None])[0])  # scikit-learn's auc
        min_area = 0.5 * max_fpr**2
        out[k, j] = 0.5 * (1 + (partial - min_area) / (max_fpr - min_area))
    return out


def curve_counts(problem: Problem, k: int, j: int):
    """Exact ``(fps, tps, thresholds)`` of one column, thresholds decreasing."""
    t, s, w = problem.column(k, j)
    thresholds, fps, tps = problem.kernels.clf_curve(t, s, w)
    return _arrays.to_host(fps), _arrays.to_host(tps), _arrays.to_host(thresholds)


def histogram(problem: Problem, thresholds) -> curves.Histogram:
    n_bins, edges = curves.check_thresholds(thresholds)
    inputs.non_negative(problem.weights)
    rng = problem.score_range()
    lo, hi = rng[..., 0], rng[..., 1]
    k = problem.kernels
    hist = k.score_histogram(problem.y_pos, problem.scores, lo, hi, n_bins,
                             None if edges is None else device_like(edges, problem.scores),
                             problem.weights)
    if edges is None:
        steps = np.arange(n_bins) / n_bins
        lower = lo[..., None] + (hi - lo)[..., None] * steps
    else:
        lower = np.broadcast_to(np.r_[-np.inf, edges], rng.shape[:2] + (n_bins,)).copy()
        lower[..., 0] = np.minimum(lo, edges[0])
    return curves.Histogram(np.asarray(_arrays.to_host(hist), np.float64), lower)


def device_like(host: np.ndarray, like):
    """``host`` on the device of the kernel array ``like``."""
    return _arrays.namespace(like).asarray(host)


def binned_auc(problem: Problem, thresholds, refine: bool):
    h = histogram(problem, thresholds)
    neg, pos = h.counts[..., 0], h.counts[..., 1]
    P, N = pos.sum(axis=2), neg.sum(axis=2)
    totals = np.stack([N, P], axis=-1)
    ok = curves.auc_defined(problem.class_counts(totals), totals)
    pairs = np.where(ok, P * N, np.nan)
    if refine:
        stats = _arrays.to_host(problem.kernels.refine_auc(
            problem.y_pos, problem.scores, problem.score_range()[..., 0],
            problem.score_range()[..., 1], *curves.check_thresholds(thresholds), problem.weights))
        return stats[..., 2] / pairs, None
    return curves.auc_from_histogram(h.counts, pairs)


def exact_ap(problem: Problem):
    K, L = problem.shape
    out = np.empty((K, L))
    for k in range(K):
        for j in range(L):
            out[k, j] = curves.average_precision(*curve_counts(problem, k, j))
    return out, None


def binned_ap(problem: Problem, thresholds):
    """Binned AP and its bound: within bin b, a positive's precision lies between
    ``T / (T + F + n_b)`` and ``(T + p_b) / (T + F + p_b)`` (T, F: weight above the bin);
    the binned value takes ``(T + p_b) / (T + F + p_b + n_b)``, inside that interval."""
    return curves.ap_from_histogram(histogram(problem, thresholds))


def multilabel_problems(sc: Scores, average):
    """The problem for multilabel-indicator targets under ``average``, and the weights
    the samples average uses."""
    t, s, w = sc.y_true, sc.y_score, sc.weights
    if s.ndim != 3 or s.shape[1:] != t.shape:
        raise ValueError(
            f"y_score must have the shape of y_true {tuple(t.shape)} for multilabel "
            f"targets; got {tuple(s.shape[1:])}."
        )
    if average == "micro":
        K = s.shape[0]
        y_pos = t.reshape(1, -1, 1)
        scores = s.reshape(K, -1, 1)
        weights = None if w is None else np.repeat(w, t.shape[1], axis=1)
        return Problem(y_pos, scores, weights, sc.kernels), None
    if average == "samples":
        y_pos = t.T[None]
        scores = s.transpose(0, 2, 1)
        return Problem(y_pos, scores, None, sc.kernels), w
    return Problem(t[None], s, w, sc.kernels, sc.score_range()), None


def binary_problem(sc: Scores, y01) -> Problem:
    s = sc.y_score
    if s.ndim == 3:
        if s.shape[2] != 1:
            raise ValueError(
                f"y_score must be 1-D for binary y_true; got shape {tuple(s.shape[1:])}."
            )
        s = s[:, :, 0]
    return Problem(y01[None, :, None], s[:, :, None], sc.weights, sc.kernels,
                    sc.score_range())


def labels_binary(t, classes, pos) -> object:
    """``y_true == pos`` as uint8, on the kernel's device."""
    if t.ndim == 2:
        t = t[:, 0]
    if t.dtype.kind == "b" or (t.dtype == np.uint8 and classes.tolist() in ([0, 1], [1])):
        if pos in (1, True):  # already 0/1 indicators: no copy
            return t.view(np.uint8) if t.dtype.kind == "b" else t
    if t.dtype.kind in "biu" or t.dtype.kind == "f":
        return (t == pos).view(np.uint8) if isinstance(t, np.ndarray) else (t == pos)
    return (np.asarray(_arrays.to_host(t)) == pos).view(np.uint8)


def class_codes(t, classes: np.ndarray):
    """``(N,)`` int64 index of each label of ``t`` in the sorted ``classes`` (-1 where it is
    none of them), on the labels' device: only ``classes`` travels there."""
    if t.ndim == 2:
        t = t[:, 0]
    xp = _arrays.namespace(t)
    if xp is not np:
        classes = xp.asarray(classes)
    elif t.dtype.kind not in "biuf":  # strings and objects: host arrays
        t = np.asarray(t)
    pos = xp.minimum(xp.searchsorted(classes, t), classes.shape[0] - 1)
    return xp.where(classes[pos] == t, pos, -1).astype(xp.int64)


def one_hot(codes, n_classes: int):
    """``(N, C)`` uint8 indicators of the class codes, where the codes are."""
    xp = _arrays.namespace(codes)
    return (codes[:, None] == xp.arange(n_classes)).view(xp.uint8)


def class_support(codes, weights, n_classes: int) -> np.ndarray:
    """``(1 or K, C)`` weight of each class code (counts without weights), counted where the
    codes are; host weights, one row per set, travel to them."""
    xp = _arrays.namespace(codes)
    if weights is None:
        return np.asarray(_arrays.to_host(xp.bincount(codes, minlength=n_classes)))[None]
    return np.stack([
        np.asarray(_arrays.to_host(xp.bincount(codes, weights=xp.asarray(w), minlength=n_classes)))
        for w in weights
    ])


def finish(value, bound, sc: Scores, binned: bool, batched: bool):
    """Results in the caller's library; per-column results keep their label axis."""
    wrap = (lambda v: batch_result(v, sc.ctx, batched)) if value.ndim == 1 else (
        lambda v: _arrays.wrap(v if batched else v[0], sc.ctx)
    )
    return Binned(wrap(value), wrap(bound)) if binned else wrap(value)
