"""Clustering scores from a contingency table: true classes (rows) by predicted clusters
(columns), as ``sklearn.metrics.cluster`` defines them.

A ``Table`` holds the non-zero cells and the row and column sums, so that a sparse table of
many clusters costs what its cells cost. Logarithms are natural. Every function takes one
table and returns a Python number (or a small array), with scikit-learn's limit cases:
an empty or unsplit labelling counts as a perfect match.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

AVERAGE_METHODS = ("min", "geometric", "arithmetic", "max")
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Table:
    """A contingency table by its non-zero cells; every row and column sum is positive."""

    rows: np.ndarray  # int64 row of each non-zero cell
    cols: np.ndarray  # int64 column of each non-zero cell
    counts: np.ndarray  # int64 count of each non-zero cell
    row_sums: np.ndarray  # int64 (n_classes,)
    col_sums: np.ndarray  # int64 (n_clusters,)

    @classmethod
    def from_dense(cls, dense) -> Table:
        """The table of a dense ``(R, C)`` array of counts; empty rows and columns (labels
        of other prediction sets) are dropped."""
        dense = np.asarray(dense, np.int64)
        dense = dense[dense.sum(axis=1) > 0][:, dense.sum(axis=0) > 0]
        rows, cols = np.nonzero(dense)
        return cls(rows, cols, dense[rows, cols], dense.sum(axis=1), dense.sum(axis=0))

    @property
    def n(self) -> int:
        return int(self.row_sums.sum())

    def dense(self) -> np.ndarray:
        out = np.zeros((self.row_sums.shape[0], self.col_sums.shape[0]), np.int64)
        out[self.rows, self.cols] = self.counts
        return out


def pair_confusion(t: Table) -> np.ndarray:
    """``[[tn, fp], [fn, tp]]`` over pairs of samples: same or different class by same or
    different cluster (ordered pairs, so every count is even)."""
    n = np.int64(t.n)
    squares = int((t.counts.astype(np.int64) ** 2).sum())
    out = np.empty((2, 2), np.int64)
    out[1, 1] = squares - n
    out[0, 1] = int((t.counts * t.col_sums[t.cols]).sum()) - squares
    out[1, 0] = int((t.counts * t.row_sums[t.rows]).sum()) - squares
    out[0, 0] = n * n - out[0, 1] - out[1, 0] - squares
    return out


def rand(t: Table) -> float:
    pairs = pair_confusion(t)
    agree, total = pairs.trace(), pairs.sum()
    if agree == total or total == 0:
        return 1.0  # nothing split, or every sample its own cluster: a perfect match
    return float(agree / total)


def adjusted_rand(t: Table) -> float:
    (tn, fp), (fn, tp) = (map(int, row) for row in pair_confusion(t))  # exact integers
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


def entropy(sums: np.ndarray) -> float:
    """Entropy of a labelling from its class sizes: 1.0 for no samples (scikit-learn's
    convention), 0.0 for one class."""
    if sums.shape[0] == 0:
        return 1.0
    if sums.shape[0] == 1:
        return 0.0
    p = sums.astype(np.float64)
    total = p.sum()
    return float(-((p / total) * (np.log(p) - math.log(total))).sum())


def mutual_info(t: Table) -> float:
    if t.row_sums.shape[0] == 1 or t.col_sums.shape[0] == 1:
        return 0.0  # a labelling of zero entropy shares no information
    total = float(t.counts.sum())
    share = t.counts / total
    outer = t.row_sums[t.rows] * t.col_sums[t.cols]  # int64, as scikit-learn forms it
    log_outer = (-np.log(outer) + math.log(float(t.row_sums.sum()))
                 + math.log(float(t.col_sums.sum())))
    mi = share * (np.log(t.counts) - math.log(total)) + share * log_outer
    mi = np.where(np.abs(mi) < _EPS, 0.0, mi)
    return float(np.clip(mi.sum(), 0.0, None))


_AVERAGES = {
    "min": min,
    "geometric": lambda u, v: float(np.sqrt(u * v)),
    "arithmetic": lambda u, v: float(np.mean([u, v])),
    "max": max,
}


def generalized_average(u: float, v: float, method: str) -> float:
    """The mean of two entropies that ``average_method`` names."""
    return _AVERAGES[check_average_method(method)](u, v)


def check_average_method(method) -> str:
    """``average_method`` of the normalized and adjusted mutual information."""
    if method not in AVERAGE_METHODS:
        raise ValueError("average_method must be one of 'min', 'geometric', 'arithmetic' or "
                         f"'max'; got {method!r}.")
    return method


def check_beta(beta) -> float:
    """``beta`` of the V-measure: the weight of completeness, a non-negative number."""
    if not (isinstance(beta, int | float | np.number) and beta >= 0):
        raise ValueError(f"beta must be a non-negative number; got {beta!r}.")
    return float(beta)


def _one_labelling(t: Table) -> bool:
    """Both labellings hold one class, or there are no samples: a perfect match."""
    R, C = t.row_sums.shape[0], t.col_sums.shape[0]
    return R == C == 1 or R == C == 0


def normalized_mutual_info(t: Table, method: str) -> float:
    if _one_labelling(t):
        return 1.0
    mi = mutual_info(t)
    if mi == 0:
        return 0.0
    return float(mi / generalized_average(entropy(t.row_sums), entropy(t.col_sums), method))


def adjusted_mutual_info(t: Table, method: str) -> float:
    if _one_labelling(t):
        return 1.0
    if t.row_sums.shape[0] == 1 or t.col_sums.shape[0] == 1:
        return 0.0
    mi = mutual_info(t)
    emi = expected_mutual_info(t.row_sums, t.col_sums)
    normalizer = generalized_average(entropy(t.row_sums), entropy(t.col_sums), method)
    # Keep signs away from 0/0 when the expectation meets the maximum (a perfect match).
    den = normalizer - emi
    den = min(den, -_EPS) if den < 0 else max(den, _EPS)
    num = mi - emi
    num = min(num, -_EPS) if num < 0 else max(num, _EPS)
    return float(num / den)


def homogeneity_completeness_v(t: Table, beta: float) -> tuple[float, float, float]:
    if t.n == 0:
        return 1.0, 1.0, 1.0
    h_true, h_pred = entropy(t.row_sums), entropy(t.col_sums)
    mi = mutual_info(t)
    homogeneity = mi / h_true if h_true else 1.0
    completeness = mi / h_pred if h_pred else 1.0
    if homogeneity + completeness == 0.0:
        return float(homogeneity), float(completeness), 0.0
    v = (1 + beta) * homogeneity * completeness / (beta * homogeneity + completeness)
    return float(homogeneity), float(completeness), float(v)


def fowlkes_mallows(t: Table) -> float:
    n = t.n
    tk = int((t.counts.astype(np.int64) ** 2).sum()) - n
    pk = int((t.col_sums ** 2).sum()) - n
    qk = int((t.row_sums ** 2).sum()) - n
    return float(np.sqrt(tk / pk) * np.sqrt(tk / qk)) if tk != 0 else 0.0


# --- expected mutual information --------------------------------------------------------

_SMALL = 16
_LOG_FACTORIALS = np.array([math.lgamma(k) if k else np.inf for k in range(_SMALL)])
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
_EMI_TERMS = 1 << 22  # terms evaluated at once: bounds the memory of one step


def log_gamma(k: np.ndarray) -> np.ndarray:
    """``lgamma`` of positive integers (as float64): a table below 16, Stirling's series
    with four correction terms above (error below 1e-14 there)."""
    k = np.asarray(k, np.float64)
    small = k < _SMALL
    x = np.where(small, _SMALL, k)
    inv = 1.0 / x
    inv2 = inv * inv
    series = inv * (1 / 12 - inv2 * (1 / 360 - inv2 * (1 / 1260 - inv2 / 1680)))
    big = (x - 0.5) * np.log(x) - x + _HALF_LOG_2PI + series
    return np.where(small, _LOG_FACTORIALS[np.where(small, k, 0).astype(np.int64)], big)


def expected_mutual_info(a: np.ndarray, b: np.ndarray) -> float:
    """Expected mutual information of two labellings with class sizes ``a`` and ``b``
    under random permutation (the hypergeometric model of Vinh et al., 2010), summed over
    every pair of classes and every feasible cell count, in bounded steps."""
    if a.shape[0] == 1 or b.shape[0] == 1:
        return 0.0
    a = a.astype(np.int64)
    b = b.astype(np.int64)
    N = int(a.sum())
    log_n = math.log(N)
    fixed_a = log_gamma(a + 1) + log_gamma(N - a + 1) - log_gamma(np.array([N + 1]))[0]
    fixed_b = log_gamma(b + 1) + log_gamma(N - b + 1)
    log_a, log_b = np.log(a), np.log(b)
    emi = 0.0
    for i in range(a.shape[0]):
        start = np.maximum(1, a[i] + b - N)
        length = np.maximum(0, np.minimum(a[i], b) - start + 1)
        cuts = np.cumsum(length)
        j0 = 0
        while j0 < b.shape[0]:  # columns whose terms fit one step
            base = cuts[j0 - 1] if j0 else 0
            j1 = max(j0 + 1, int(np.searchsorted(cuts, base + _EMI_TERMS, "right")))
            cols = np.arange(j0, j1)
            counts = length[j0:j1]
            col = np.repeat(cols, counts)
            if col.shape[0]:
                first = np.repeat(np.cumsum(counts) - counts, counts)
                nij = start[col] + (np.arange(col.shape[0]) - first)
                gln = (fixed_a[i] + fixed_b[col] - log_gamma(nij + 1)
                       - log_gamma(a[i] - nij + 1) - log_gamma(b[col] - nij + 1)
                       - log_gamma(N - a[i] - b[col] + nij + 1))
                term2 = log_n + np.log(nij) - log_a[i] - log_b[col]
                emi += float((nij / N * term2 * np.exp(gln)).sum())
            j0 = j1
    return emi
