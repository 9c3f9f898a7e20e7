"""Streaming clustering scores: one contingency state (true class by cluster, counted by
the ``contingency`` kernel) read by every clustering metric of a set, and the formulas of
``gpumetrics.formulas.contingency``.

Labels are class indices ``0..num_classes-1`` and cluster ids ``0..num_clusters-1``, as
torchmetrics' classification metrics take them, so that states of any shard have one shape
and merge; ``gpumetrics.<name>`` discovers arbitrary labels in one call. A clustering score
has no sample weights: a set updated with weights refuses to compute one.
"""

from __future__ import annotations

import numpy as np

from gpumetrics import _arrays
from gpumetrics import states as S
from gpumetrics._arrays import batch_result
from gpumetrics.formulas import contingency as T
from gpumetrics.metrics.base import Metric


def _positive(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


class Contingency(S.State):
    """``(1, R + 1, C + 1)`` counts [class, cluster] from the ``contingency`` kernel; row R
    and column C count labels outside ``0..R-1`` and ``0..C-1``, an error found in the
    validating pass or at ``compute()``. Weights are not counted: an update that brings
    them is remembered, and ``compute()`` refuses."""

    fields = {"counts": (S.SUM, "int64"), "weighted_updates": (S.SUM, "int64")}

    def __init__(self, num_classes: int, num_clusters: int):
        super().__init__(num_classes=int(num_classes), num_clusters=int(num_clusters))

    def shape(self, name):
        if name == "weighted_updates":
            return (1,)
        return (1, self.params["num_classes"] + 1, self.params["num_clusters"] + 1)

    def inputs(self, batch):
        for name, y in (("labels_true", batch.y_true), ("labels_pred", batch.y_pred)):
            if y.ndim != 1 or y.dtype.kind not in "biu":
                raise ValueError(f"{name} must be 1-D integer labels; got dtype {y.dtype} "
                                 f"and shape {tuple(y.shape)}.")
        if batch.validate and batch.n_samples:
            return batch._cached(("contingency", *self.shape("counts")), lambda: self._checked(
                batch))
        return None

    def _count(self, batch, out=None):
        R, C = self.params["num_classes"], self.params["num_clusters"]
        return batch.kernels.contingency(batch.y_true[None], batch.y_pred[None], R, C, out=out)

    def _checked(self, batch):
        counts = self._count(batch)
        self.check_bounds(_arrays.to_host(counts))
        return counts

    def update(self, batch):
        counts = self.inputs(batch)
        if counts is None:  # not validated: count straight into the state
            self._count(batch, out=self.arrays["counts"])
        else:
            self.arrays["counts"] += counts
        if batch.weights is not None:
            self.arrays["weighted_updates"] += 1

    def check_bounds(self, counts) -> None:
        R, C = self.params["num_classes"], self.params["num_clusters"]
        for name, bad, size in (("labels_true", counts[0, R, :], R),
                                ("labels_pred", counts[0, :, C], C)):
            if bad.any():
                raise ValueError(f"{name} has labels outside [0, {size}): they must be "
                                 f"integers 0..{size - 1}.")

    def table(self) -> T.Table:
        if self.host("weighted_updates")[0]:
            raise ValueError("clustering scores count samples, without weights; this "
                             "metric was updated with sample_weight.")
        counts = self.host("counts")
        self.check_bounds(counts)
        return T.Table.from_dense(counts[0, :-1, :-1])


class _Clustering(Metric):
    """Scores of cluster ids against true classes, from one contingency state."""

    def __init__(self, *, num_classes: int, num_clusters: int, **engine):
        self.num_classes = _positive("num_classes", num_classes)
        self.num_clusters = _positive("num_clusters", num_clusters)
        super().__init__(**engine)

    def _make_states(self):
        return {"table": Contingency(self.num_classes, self.num_clusters)}

    def _score(self, table: T.Table) -> float:
        raise NotImplementedError

    def _compute(self, states, ctx):
        value = self._score(states["table"].table())
        return batch_result(np.array([value], np.float64), ctx, False)


class RandScore(_Clustering):
    """Share of pairs on which classes and clusters agree. Equals ``rand_score``."""

    def _score(self, table):
        return T.rand(table)


class AdjustedRandScore(_Clustering):
    """Rand index adjusted for chance. Equals ``adjusted_rand_score``."""

    def _score(self, table):
        return T.adjusted_rand(table)


class MutualInfoScore(_Clustering):
    """Mutual information (natural logarithm). Equals ``mutual_info_score``."""

    def _score(self, table):
        return T.mutual_info(table)


class _Averaged(_Clustering):
    def __init__(self, *, num_classes: int, num_clusters: int,
                 average_method: str = "arithmetic", **engine):
        self.average_method = T.check_average_method(average_method)
        super().__init__(num_classes=num_classes, num_clusters=num_clusters, **engine)


class NormalizedMutualInfoScore(_Averaged):
    """Mutual information over a mean of the entropies. Equals
    ``normalized_mutual_info_score``."""

    def _score(self, table):
        return T.normalized_mutual_info(table, self.average_method)


class AdjustedMutualInfoScore(_Averaged):
    """Mutual information adjusted for chance. Equals ``adjusted_mutual_info_score``."""

    def _score(self, table):
        return T.adjusted_mutual_info(table, self.average_method)


class HomogeneityScore(_Clustering):
    """1 when each cluster holds one class. Equals ``homogeneity_score``."""

    def _score(self, table):
        return T.homogeneity_completeness_v(table, 1.0)[0]


class CompletenessScore(_Clustering):
    """1 when each class sits in one cluster. Equals ``completeness_score``."""

    def _score(self, table):
        return T.homogeneity_completeness_v(table, 1.0)[1]


class VMeasureScore(_Clustering):
    """Weighted harmonic mean of homogeneity and completeness. Equals
    ``v_measure_score``."""

    def __init__(self, *, num_classes: int, num_clusters: int, beta: float = 1.0, **engine):
        self.beta = T.check_beta(beta)
        super().__init__(num_classes=num_classes, num_clusters=num_clusters, **engine)

    def _score(self, table):
        return T.homogeneity_completeness_v(table, self.beta)[2]


class FowlkesMallowsScore(_Clustering):
    """Geometric mean of pairwise precision and recall. Equals ``fowlkes_mallows_score``."""

    def _score(self, table):
        return T.fowlkes_mallows(table)
