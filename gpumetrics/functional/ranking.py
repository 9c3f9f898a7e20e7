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
from dataclasses import dataclass

import numpy as np

from gpumetrics import _arrays, inputs
from gpumetrics._arrays import batch_result
from gpumetrics.formulas import curves
from gpumetrics.formulas.curves import Binned
from gpumetrics.functional._batching import batchable
from gpumetrics.functional._scores import Scores, check_scores, target_type

# --- binary problems over columns ------------------------------------------------------


@dataclass
class _Problem:
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


def _exact_auc(problem: _Problem, max_fpr):
    if max_fpr is not None and max_fpr != 1:
        return _partial_auc(problem, problem.class_counts(), max_fpr), None
    if problem.weights is not None and (problem.weights < 0).any():
        return _curve_auc(problem), None
    stats = _arrays.to_host(problem.kernels.rank_auc(problem.y_pos, problem.scores,
                                                     problem.weights))
    ok = curves.auc_defined(problem.class_counts(stats[..., :2]), stats[..., :2])
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = stats[..., 2] / (stats[..., 0] * stats[..., 1])
    return np.where(ok, auc, np.nan), None


def _each_roc(problem: _Problem, counts):
    """``(k, j, fpr, tpr)`` of every column holding both classes (scikit-learn's warning
    for the others, whose AUC stays NaN)."""
    K, L = problem.shape
    for j in range(L):
        if (counts[j] == 0).any():
            curves.warn(curves.ONE_CLASS)
            continue
        for k in range(K):
            fps, tps, thr = _curve_counts(problem, k, j)
            fpr, tpr, _ = curves.roc_from_counts(fps, tps, thr, True)
            yield k, j, fpr, tpr


def _curve_auc(problem: _Problem):
    """The trapezoids under each ROC curve, as scikit-learn computes every AUC: with
    negative weights the curve can fall back, which is an error (``auc``'s), or cross
    itself, which the rank statistic would not see."""
    out = np.full(problem.shape, np.nan)
    for k, j, fpr, tpr in _each_roc(problem, problem.class_counts()):
        out[k, j] = curves.trapezoids(fpr[None], tpr[None])[0]
    return out


def _partial_auc(problem: _Problem, counts, max_fpr):
    """McClish-corrected partial AUC up to ``max_fpr``, from each column's ROC curve."""
    out = np.full(problem.shape, np.nan)
    for k, j, fpr, tpr in _each_roc(problem, counts):
        stop = np.searchsorted(fpr, max_fpr, "right")
        x_interp = [fpr[stop - 1], fpr[stop]]
        y_interp = [tpr[stop - 1], tpr[stop]]
        tpr = np.append(tpr[:stop], np.interp(max_fpr, x_interp, y_interp))
        fpr = np.append(fpr[:stop], max_fpr)
        partial = float(np.trapezoid(tpr, fpr))
        min_area = 0.5 * max_fpr**2
        out[k, j] = 0.5 * (1 + (partial - min_area) / (max_fpr - min_area))
    return out


def _curve_counts(problem: _Problem, k: int, j: int):
    """Exact ``(fps, tps, thresholds)`` of one column, thresholds decreasing."""
    t, s, w = problem.column(k, j)
    thresholds, fps, tps = problem.kernels.clf_curve(t, s, w)
    return _arrays.to_host(fps), _arrays.to_host(tps), _arrays.to_host(thresholds)


# --- binned mode -----------------------------------------------------------------------


def _histogram(problem: _Problem, thresholds) -> curves.Histogram:
    n_bins, edges = curves.check_thresholds(thresholds)
    inputs.non_negative(problem.weights)
    rng = problem.score_range()
    lo, hi = rng[..., 0], rng[..., 1]
    k = problem.kernels
    hist = k.score_histogram(problem.y_pos, problem.scores, lo, hi, n_bins,
                             None if edges is None else _device_like(edges, problem.scores),
                             problem.weights)
    if edges is None:
        steps = np.arange(n_bins) / n_bins
        lower = lo[..., None] + (hi - lo)[..., None] * steps
    else:
        lower = np.broadcast_to(np.r_[-np.inf, edges], rng.shape[:2] + (n_bins,)).copy()
        lower[..., 0] = np.minimum(lo, edges[0])
    return curves.Histogram(np.asarray(_arrays.to_host(hist), np.float64), lower)


def _device_like(host: np.ndarray, like):
    """``host`` on the device of the kernel array ``like``."""
    return host if isinstance(like, np.ndarray) else _arrays._cupy().asarray(host)


def _binned_auc(problem: _Problem, thresholds, refine: bool):
    h = _histogram(problem, thresholds)
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


# --- curve post-processing (scikit-learn's, on counts) ---------------------------------


def _exact_ap(problem: _Problem):
    K, L = problem.shape
    out = np.empty((K, L))
    for k in range(K):
        for j in range(L):
            out[k, j] = curves.average_precision(*_curve_counts(problem, k, j))
    return out, None


def _binned_ap(problem: _Problem, thresholds):
    """Binned AP and its bound: within bin b, a positive's precision lies between
    ``T / (T + F + n_b)`` and ``(T + p_b) / (T + F + p_b)`` (T, F: weight above the bin);
    the binned value takes ``(T + p_b) / (T + F + p_b + n_b)``, inside that interval."""
    return curves.ap_from_histogram(_histogram(problem, thresholds))


# --- averaging over columns (scikit-learn's _average_binary_score) ---------------------


def _multilabel_problems(sc: Scores, average):
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
        return _Problem(y_pos, scores, weights, sc.kernels), None
    if average == "samples":
        y_pos = t.T[None]
        scores = s.transpose(0, 2, 1)
        return _Problem(y_pos, scores, None, sc.kernels), w
    return _Problem(t[None], s, w, sc.kernels, sc.score_range()), None


def _binary_problem(sc: Scores, y01) -> _Problem:
    s = sc.y_score
    if s.ndim == 3:
        if s.shape[2] != 1:
            raise ValueError(
                f"y_score must be 1-D for binary y_true; got shape {tuple(s.shape[1:])}."
            )
        s = s[:, :, 0]
    return _Problem(y01[None, :, None], s[:, :, None], sc.weights, sc.kernels,
                    sc.score_range())


def _labels_binary(t, classes, pos) -> object:
    """``y_true == pos`` as uint8, on the kernel's device."""
    if t.ndim == 2:
        t = t[:, 0]
    if t.dtype.kind == "b" or (t.dtype == np.uint8 and classes.tolist() in ([0, 1], [1])):
        if pos in (1, True):  # already 0/1 indicators: no copy
            return t.view(np.uint8) if t.dtype.kind == "b" else t
    if t.dtype.kind in "biu" or t.dtype.kind == "f":
        return (t == pos).view(np.uint8) if isinstance(t, np.ndarray) else (t == pos)
    return (np.asarray(_arrays.to_host(t)) == pos).view(np.uint8)


def _class_codes(t, classes) -> np.ndarray:
    host = np.asarray(_arrays.to_host(t))
    if host.ndim == 2:
        host = host[:, 0]
    pos = np.minimum(np.searchsorted(classes, host), classes.shape[0] - 1)
    return np.where(classes[pos] == host, pos, -1).astype(np.int64)


def _finish(value, bound, sc: Scores, binned: bool, batched: bool):
    """Results in the caller's library; per-column results keep their label axis."""
    wrap = (lambda v: batch_result(v, sc.ctx, batched)) if value.ndim == 1 else (
        lambda v: _arrays.wrap(v if batched else v[0], sc.ctx)
    )
    return Binned(wrap(value), wrap(bound)) if binned else wrap(value)


# --- roc_auc_score ---------------------------------------------------------------------


@batchable
def roc_auc_score(
    y_true, y_score, *, average="macro", sample_weight=None, max_fpr=None, multi_class="raise",
    labels=None, thresholds=None, refine=False, backend=None, _batched,
):
    """Area under the ROC curve (binary, multiclass one-vs-rest or one-vs-one, multilabel).

    Ties between a positive and a negative count one half. ``max_fpr`` gives the
    McClish-corrected partial AUC. ``thresholds=`` switches to the binned mode and returns
    ``Binned(value, bound)``; with ``refine=True`` the bins holding both classes are sorted
    and the exact AUC is returned.

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
            return _binned_auc(problem, thresholds, refine)
        return _exact_auc(problem, max_fpr)

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
        y01 = _labels_binary(sc.y_true, classes, classes[-1] if classes.shape[0] == 2 else None)
        if classes.shape[0] < 2:
            y01 = y01 & 0
        else:
            sc.check_weights()
        value, bound = score(_binary_problem(sc, y01))
        value, bound = value[:, 0], None if bound is None else bound[:, 0]
    elif ytype == "multilabel-indicator":
        curves.check_average(average)
        sc.check_weights()
        problem, sample_avg = _multilabel_problems(sc, average)
        value, bound = score(problem)
        if average == "micro":
            value, bound = value[:, 0], None if bound is None else bound[:, 0]
        else:
            value, bound = curves.average_columns(value, bound, average, problem.y_pos, sc.weights,
                                            sample_avg)
    else:
        raise ValueError(f"{ytype} format is not supported")
    return _finish(value, bound, sc, binned, _batched)


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
    codes = _class_codes(sc.y_true, classes)
    sc.check_weights()
    if multi_class == "ovo":
        if sc.weights is not None:
            raise ValueError(
                "sample_weight is not supported for multiclass one-vs-one ROC AUC, "
                "'sample_weight' must be None in this case."
            )
        return _ovo_auc(sc, codes, average, score)
    C = classes.shape[0]
    onehot = (codes[:, None] == np.arange(C)).view(np.uint8)
    if average == "micro":
        K = s.shape[0]
        w = None if sc.weights is None else np.repeat(sc.weights, C, axis=1)
        value, bound = score(_Problem(onehot.reshape(1, -1, 1), s.reshape(K, -1, 1), w,
                                      sc.kernels))
        return value[:, 0], None if bound is None else bound[:, 0]
    problem = _Problem(codes[None], s, sc.weights, sc.kernels, sc.score_range())
    value, bound = score(problem)
    return curves.average_columns(value, bound, average, onehot[None], sc.weights)


def _ovo_auc(sc: Scores, codes, average, score):
    """Hand & Till: the mean over class pairs of the two one-vs-one AUCs."""
    present = np.unique(codes)
    pairs = list(itertools.combinations(present.tolist(), 2))
    K = sc.y_score.shape[0]
    value = np.empty((K, len(pairs)))
    bound = None
    prevalence = np.empty(len(pairs))
    for i, (a, b) in enumerate(pairs):
        mask = (codes == a) | (codes == b)
        sub = np.flatnonzero(mask)
        a_true = (codes[sub] == a).view(np.uint8)
        s = sc.y_score[:, sub][:, :, [a, b]]
        y_pos = np.stack([a_true, 1 - a_true], axis=1)[None]
        v, bnd = score(_Problem(y_pos, s, None, sc.kernels))
        value[:, i] = v.mean(axis=1)
        if bnd is not None:
            bound = np.empty((K, len(pairs))) if bound is None else bound
            bound[:, i] = bnd.mean(axis=1)
        prevalence[i] = mask.mean()
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
    if ys.shape[1] < 2:
        raise ValueError("At least 2 points are needed to compute area under curve, but "
                         f"x.shape = {(ys.shape[1],)}")
    return batch_result(curves.trapezoids(xs, ys), ctx, _batched)


@batchable
def average_precision_score(
    y_true, y_score, *, average="macro", pos_label=1, sample_weight=None, thresholds=None,
    backend=None, _batched,
):
    """Average precision: the step-wise (not trapezoidal) area under the precision-recall
    curve, ``sum_n (R_n - R_{n-1}) P_n``.

    >>> average_precision_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.8333333333333333
    """
    sc = check_scores(y_true, y_score, sample_weight, batched=_batched, backend=backend,
                      column=True, nonzero=False, ranks=thresholds is None)
    sc.check_finite()
    sc.check_weights()
    ytype, classes = target_type(sc.y_true, sc.kernels)

    def score(problem):
        if thresholds is not None:
            return _binned_ap(problem, thresholds)
        return _exact_ap(problem)

    if ytype == "binary":
        if classes.shape[0] == 2 and pos_label not in classes.tolist():
            raise ValueError(
                f"pos_label={pos_label} is not a valid label. It should be one of {classes}"
            )
        curves.check_average(average)
        value, bound = score(_binary_problem(sc, _labels_binary(sc.y_true, classes, pos_label)))
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
            codes = _class_codes(sc.y_true, classes)
            sc = Scores((codes[:, None] == np.arange(classes.shape[0])).view(np.uint8),
                        s, sc.weights, sc.ctx, sc.kernels, sc.batched, sc._range)
        problem, sample_avg = _multilabel_problems(sc, average)
        value, bound = score(problem)
        if average == "micro":
            value, bound = value[:, 0], None if bound is None else bound[:, 0]
        else:
            value, bound = curves.average_columns(value, bound, average, problem.y_pos, sc.weights,
                                            sample_avg)
    else:
        raise ValueError(f"{ytype} format is not supported")
    return _finish(value, bound, sc, thresholds is not None, _batched)


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
                  finish, two_classes=False):
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
    problem = _binary_problem(sc, _labels_binary(sc.y_true, classes, pos))
    h = None if thresholds is None else _histogram(problem, thresholds)
    points = []
    for k in range(sc.y_score.shape[0]):
        if h is None:
            fps, tps, thr = _curve_counts(problem, k, 0)
            thr = sc.as_given(thr)
        else:
            fps, tps, thr = curves.binned_curve_counts(h, k, 0)
        points.append(tuple(_arrays.wrap(np.asarray(a), sc.ctx) for a in finish(fps, tps, thr)))
    return points if batched else points[0]


@batchable
def roc_curve(
    y_true, y_score, *, pos_label=None, sample_weight=None, drop_intermediate=True,
    thresholds=None, backend=None, _batched,
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
    )


@batchable
def precision_recall_curve(
    y_true, y_score, *, pos_label=None, sample_weight=None, drop_intermediate=False,
    thresholds=None, backend=None, _batched,
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


__all__ = [
    "Binned",
    "average_precision_score",
    "det_curve",
    "precision_recall_curve",
    "roc_auc_score",
    "roc_curve",
]
