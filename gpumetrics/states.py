"""Sufficient statistics of the streaming metrics: small objects around arrays.

A state is a set of named arrays, each with a merge rule:

* ``sum`` - counts (int64) or weight sums (float64) that add;
* ``min`` / ``max`` - running extremes;
* ``moments`` - the ``(..., 13)`` regression state, merged with Chan's formulas;
* ``concat`` - variable-length buffers (exact-mode scores), appended in order.

Every state is sized when it is built, so states made by different processes from
different shards (an empty shard included) always have the same fields and shapes and can
be merged, packed into one buffer and reduced. ``update`` adds one batch with one kernel
call into the state's own buffers (``out=``): no host synchronisation, no data-dependent
Python branching. Merging is associative and commutative: counts exactly, float64 moments
up to rounding.

States with the same ``key`` hold the same statistics, so a ``MetricSet`` keeps one of each
and every metric reading it shares it.
"""

from __future__ import annotations

import numpy as np

from gpumetrics import _arrays, _buffers, inputs
from gpumetrics._buffers import CONCAT, MAX, MIN, MOMENTS, SUM, merge_into
from gpumetrics.kernels import _common


class State:
    """Named arrays with merge rules; subclasses define ``fields`` and ``update``."""

    #: field name -> (rule, dtype); shapes come from ``shape(field)``
    fields: dict[str, tuple[str, str]] = {}

    def __init__(self, **params):
        self.params = params
        self.arrays: dict[str, object] = {}
        self.reset()

    # --- identity ------------------------------------------------------------------

    @property
    def key(self) -> str:
        """Equal keys mean equal statistics: a ``MetricSet`` keeps one state per key."""
        args = ", ".join(f"{k}={_short(v)}" for k, v in sorted(self.params.items()))
        return f"{type(self).__name__}({args})"

    def __repr__(self) -> str:
        return self.key

    def shape(self, name: str) -> tuple:
        raise NotImplementedError

    # --- life cycle ----------------------------------------------------------------

    def reset(self):
        """Initial values (zero counts, infinite extremes, empty buffers), written into the
        existing buffers: they keep their device, and no buffer another stream may still
        be using is freed."""
        for name, (rule, dtype) in self.fields.items():
            if rule == CONCAT:
                _buffers.drop_buffers(self.arrays.get(name, []))
                self.arrays[name] = []
            elif name in self.arrays:
                self.arrays[name].fill(_buffers.initial(rule, dtype))
            else:
                self.arrays[name] = np.full(self.shape(name), _buffers.initial(rule, dtype), dtype)

    def place(self, xp):
        """Move the buffers to the array library ``xp`` (NumPy, or CuPy on its current
        device); buffers already there stay as they are."""
        for name, (rule, _) in self.fields.items():
            if rule == CONCAT:
                self.arrays[name] = [_buffers.to(xp, chunk) for chunk in self.arrays[name]]
            else:
                self.arrays[name] = _buffers.to(xp, self.arrays[name])

    def inputs(self, batch):
        """The views of ``batch`` this state reads; built (and checked) before any state
        of a set is updated, so that bad input leaves every state untouched."""
        raise NotImplementedError

    def update(self, batch) -> None:
        raise NotImplementedError

    def merge(self, other: State) -> State:
        """Fold ``other`` (a state with the same key) into this one; returns self."""
        if other.key != self.key:
            raise ValueError(f"cannot merge {other.key} into {self.key}: different statistics.")
        for name, (rule, _) in self.fields.items():
            a, b = self.arrays[name], other.arrays[name]
            if rule == CONCAT:
                # (the metric then places every chunk where its context says)
                moved = [_buffers.like(chunk, a[0]) for chunk in b] if a else list(b)
                self.arrays[name] = list(a) + moved
            else:  # in place (see reset)
                merge_into(rule, a, _buffers.like(b, a))
        return self

    # --- serialisation -------------------------------------------------------------

    def state_dict(self) -> dict:
        """Host copies of every field (buffers concatenated)."""
        out = {}
        for name, (rule, _) in self.fields.items():
            value = self.arrays[name]
            if rule == CONCAT:
                value = _buffers.concat(value, self.shape(name))
            out[name] = np.array(_arrays.to_host(value), copy=True)
        return out

    def check_state_dict(self, state: dict) -> None:
        """Raise ``ValueError`` unless ``state`` has every field with the right shape."""
        missing = set(self.fields) - set(state)
        if missing:
            raise ValueError(f"state of {self.key} lacks the fields {sorted(missing)}.")
        for name, (rule, _) in self.fields.items():
            shape = np.shape(state[name])
            if rule == CONCAT:
                if shape[1:] != self.shape(name)[1:]:
                    raise ValueError(
                        f"field {name!r} of {self.key} must have rows of shape "
                        f"{self.shape(name)[1:]}; got {shape[1:]}."
                    )
            elif shape != self.shape(name):
                raise ValueError(
                    f"field {name!r} of {self.key} must have shape {self.shape(name)}; "
                    f"got {shape}."
                )

    def load_state_dict(self, state: dict) -> None:
        """Replace every field by ``state``'s, written into the existing buffers (so they
        stay on their device); buffered rows land next to the buffers' other chunks."""
        self.check_state_dict(state)
        for name, (rule, dtype) in self.fields.items():
            value = np.asarray(state[name])
            if rule == CONCAT:
                _buffers.drop_buffers(self.arrays[name])
                self.arrays[name] = [np.array(value, copy=True)] if value.shape[0] else []
            else:
                _buffers.assign(self.arrays[name], value.astype(dtype, copy=False))

    def host(self, name: str) -> np.ndarray:
        """One field on the host (buffers concatenated): for formulas at ``compute()``."""
        value = self.arrays[name]
        if self.fields[name][0] == CONCAT:
            value = _buffers.concat(value, self.shape(name))
        return np.asarray(_arrays.to_host(value))


def _short(value) -> str:
    if isinstance(value, tuple) and len(value) > 6:
        return f"<{len(value)} values, hash {hash(value) & 0xFFFFFFFF:08x}>"
    return repr(value)



# --- counting states ---------------------------------------------------------------------


class _Counts(State):
    """Counts from one counting kernel, exact whatever the mix of weighted and unweighted
    updates: ``counts`` (int64) adds the unweighted updates, ``weighted`` (float64) the
    weight sums of the weighted ones, and ``weighted_updates`` says whether there were
    any. ``occurrences`` (kept when ``occurrences=True``) counts every sample of every
    update, weight or not, for label discovery that zero weights must not hide (it
    holds the weighted updates' samples; the unweighted ones are in ``counts``)."""

    fields = {
        "counts": (SUM, "int64"),
        "weighted": (SUM, "float64"),
        "occurrences": (SUM, "int64"),
        "weighted_updates": (SUM, "int64"),
        "integer_weights": (SUM, "int64"),  # updates whose weights had an integer dtype
    }
    track_occurrences = False

    def count_shape(self) -> tuple:
        raise NotImplementedError

    def shape(self, name):
        if name in ("weighted_updates", "integer_weights"):
            return (1,)
        if name == "occurrences" and not self.track_occurrences:
            return (0,)
        return self.count_shape()

    def count(self, batch, weights, out) -> None:
        raise NotImplementedError

    def update(self, batch):
        w = batch.weights
        if w is None:
            self.count(batch, None, self.arrays["counts"])
            return
        self.count(batch, w, self.arrays["weighted"])
        if self.track_occurrences:
            self.count(batch, None, self.arrays["occurrences"])
        self.arrays["weighted_updates"] += 1
        if batch.weight_dtype.kind in "biu":
            self.arrays["integer_weights"] += 1

    def totals(self) -> tuple[np.ndarray, bool, bool, np.ndarray | None]:
        """Host ``(counts, weighted, integer_weights, occurrences)`` over all updates, as
        a one-shot call on all the data would count them."""
        counts = self.host("counts")
        n_weighted = int(self.host("weighted_updates")[0])
        if n_weighted == 0:
            return counts, False, False, None
        total = self.host("weighted") + counts
        integer = int(self.host("integer_weights")[0]) == n_weighted
        occurrences = None
        if self.track_occurrences:
            occurrences = self.host("occurrences") + counts
        return total, True, integer, occurrences


class Confusion(_Counts):
    """``(1, C + 1, C + 1)`` confusion counts [true, pred] over classes 0..C-1; row and
    column C count labels outside that range (an error at ``compute()``)."""

    track_occurrences = True

    def __init__(self, num_classes: int):
        super().__init__(num_classes=int(num_classes))

    def count_shape(self):
        C = self.params["num_classes"]
        return (1, C + 1, C + 1)

    def inputs(self, batch):
        """The batch's labels; when validating, also its unweighted counts, checked: a
        label outside 0..C-1 lands in the overflow bin of the same pass, so validation
        costs no extra pass over the labels."""
        C = self.params["num_classes"]
        labels = batch.class_labels(C)
        if batch.validate and batch.n_samples:
            counts = batch._cached(("confusion", C), lambda: self._checked_counts(batch, labels))
            return labels, counts
        return labels, None

    def _checked_counts(self, batch, labels):
        C = self.params["num_classes"]
        counts = batch.kernels.confusion(*labels, C)
        host = _arrays.to_host(counts)
        for name, bad in (("y_true", host[0, C, :]), ("y_pred", host[0, :, C])):
            if bad.any():
                raise ValueError(
                    f"{name} has labels outside [0, {C}): class labels must be integers "
                    f"0..{C - 1}."
                )
        return counts

    def update(self, batch):
        (t, p), counts = self.inputs(batch)
        C = self.params["num_classes"]
        if counts is None:  # not validated: count straight into the state
            super().update(batch)
            return
        if batch.weights is None:
            self.arrays["counts"] += counts
            return
        batch.kernels.confusion(t, p, C, sample_weight=batch.weights,
                                out=self.arrays["weighted"])
        self.arrays["occurrences"] += counts
        self.arrays["weighted_updates"] += 1
        if batch.weight_dtype.kind in "biu":
            self.arrays["integer_weights"] += 1

    def count(self, batch, weights, out):
        (t, p), _ = self.inputs(batch)
        batch.kernels.confusion(t, p, self.params["num_classes"], sample_weight=weights, out=out)


class LabelCounts(_Counts):
    """``(1, L, 2, 2)`` multilabel counts [label, true, pred]."""

    def __init__(self, num_labels: int):
        super().__init__(num_labels=int(num_labels))

    def count_shape(self):
        return (1, self.params["num_labels"], 2, 2)

    def inputs(self, batch):
        return batch.indicator_labels(self.params["num_labels"])

    def count(self, batch, weights, out):
        t, p = self.inputs(batch)
        batch.kernels.label_counts(t, p, sample_weight=weights, out=out)


class TopK(_Counts):
    """``(1, 4)`` top-k outcomes: miss, hit, label outside 0..C-1, non-finite row."""

    def __init__(self, k: int, num_classes: int):
        super().__init__(k=int(k), num_classes=int(num_classes))

    def count_shape(self):
        return (1, 4)

    def inputs(self, batch):
        C = self.params["num_classes"]
        return batch.class_targets(C), batch.class_scores(C)

    def count(self, batch, weights, out):
        t, s = self.inputs(batch)
        batch.kernels.topk_outcomes(t, s, self.params["k"], sample_weight=weights, out=out)


class SubsetHits(State):
    """Multilabel per-sample sums: ``[sum w * (all labels right), sum w, sum w * wrong
    labels]`` (float64; no weights count 1), for subset accuracy and the Hamming loss."""

    fields = {"sums": (SUM, "float64")}

    def __init__(self, num_labels: int):
        super().__init__(num_labels=int(num_labels))

    def shape(self, name):
        return (1, 3)

    def inputs(self, batch):
        return batch.indicator_labels(self.params["num_labels"])

    def update(self, batch):
        t, p = self.inputs(batch)
        per = batch.kernels.sample_label_counts(t, p)  # (1, N, 4): tp, pred, true, differing
        diff = per[..., 3]
        xp = _arrays.namespace(diff)
        w = xp.ones(diff.shape, xp.float64) if batch.weights is None else batch.weights
        sums = self.arrays["sums"]
        sums[:, 0] += (w * (diff == 0)).sum(axis=1)
        sums[:, 1] += w.sum(axis=1)
        sums[:, 2] += (w * diff).sum(axis=1)


# --- score states ------------------------------------------------------------------------


class ScoreHistogram(_Counts):
    """``(1, L, B, 2)`` [negatives, positives] per score bin and column, with bins fixed
    when the state is built (``edges``: the B - 1 inner thresholds)."""

    def __init__(self, edges: tuple, num_columns: int, target: str):
        super().__init__(edges=tuple(float(e) for e in edges), num_columns=int(num_columns),
                         target=target)
        self._edges = np.asarray(self.params["edges"], np.float64)  # built once, not per batch

    def count_shape(self):
        return (1, self.params["num_columns"], len(self.params["edges"]) + 1, 2)

    def place(self, xp):
        super().place(xp)
        self._edges = _buffers.to(xp, self._edges)  # copied once, not per batch

    def inputs(self, batch):
        return batch.score_columns(self.params["target"], self.params["num_columns"])

    def count(self, batch, weights, out):
        y_pos, s = self.inputs(batch)
        if batch.validate:
            inputs.non_negative(weights)
        # with edges the kernel takes no range (lo, hi)
        batch.kernels.score_histogram(y_pos, s, None, None, self._edges.shape[0] + 1,
                                      batch.device_array(self._edges), sample_weight=weights,
                                      out=out)


class ScoreRange(State):
    """Per-column score minimum and maximum, and a count of non-finite scores seen."""

    fields = {"lo": (MIN, "float64"), "hi": (MAX, "float64"), "nonfinite": (SUM, "int64")}

    def __init__(self, num_columns: int, target: str):
        super().__init__(num_columns=int(num_columns), target=target)

    def shape(self, name):
        return (1, self.params["num_columns"])

    def inputs(self, batch):
        return batch.score_range(self.params["target"], self.params["num_columns"])

    def update(self, batch):
        rng = batch.score_range(self.params["target"], self.params["num_columns"])
        merge_into(MIN, self.arrays["lo"], rng[..., 0])
        merge_into(MAX, self.arrays["hi"], rng[..., 1])
        self.arrays["nonfinite"] += rng[..., 2].astype(self.arrays["nonfinite"].dtype)


class ScoreBuffer(State):
    """Exact mode: every target, score and weight, kept (copied) in arrival order."""

    fields = {
        "y_true": (CONCAT, "int64"),
        "y_score": (CONCAT, "float64"),
        "sample_weight": (CONCAT, "float64"),
        "weighted_updates": (SUM, "int64"),
    }

    def __init__(self, task: str, num_columns: int):
        super().__init__(task=task, num_columns=int(num_columns))

    def shape(self, name):
        L = self.params["num_columns"]
        task = self.params["task"]
        if name == "y_true":
            return (0, L) if task == "multilabel" else (0,)
        if name == "y_score":
            return (0,) if task == "binary" else (0, L)
        return (1,) if name == "weighted_updates" else (0,)

    def inputs(self, batch):
        return batch.raw_scores(self.params["task"], self.params["num_columns"])

    def update(self, batch):
        t, s = self.inputs(batch)
        xp = _arrays.namespace(s)
        self.arrays["y_true"].append(xp.array(t, copy=True))
        self.arrays["y_score"].append(xp.array(s, copy=True))
        n = s.shape[0]
        w = xp.ones(n, xp.float64) if batch.weights is None else batch.weights[0]
        self.arrays["sample_weight"].append(xp.array(w, dtype=xp.float64, copy=True))
        if batch.weights is not None:
            self.arrays["weighted_updates"] += 1


# --- regression and losses ---------------------------------------------------------------


class Moments(State):
    """The ``(1, L, 13)`` regression state of ``kernels.moments`` and the sample count."""

    fields = {"moments": (MOMENTS, "float64"), "samples": (SUM, "int64")}

    def __init__(self, num_outputs: int):
        super().__init__(num_outputs=int(num_outputs))

    def shape(self, name):
        if name == "samples":
            return (1,)
        return (1, self.params["num_outputs"], len(_common.MOMENTS))

    def inputs(self, batch):
        return batch.regression(self.params["num_outputs"])

    def update(self, batch):
        t, p = self.inputs(batch)
        batch.kernels.moments(t, p, batch.weights, out=self.arrays["moments"])
        self.arrays["samples"] += p.shape[1]


class LossSums(State):
    """``(1, 4)`` float64 sums of ``kernels.loss_sums``: weighted loss, weight, labels out
    of range, rows of probabilities that do not sum to one."""

    fields = {"sums": (SUM, "float64")}

    def __init__(self, kind: str, num_classes: int, ignore_index=None, eps="auto"):
        super().__init__(kind=kind, num_classes=int(num_classes), ignore_index=ignore_index,
                         eps=eps if eps == "auto" else float(eps))

    def shape(self, name):
        return (1, 4)

    def inputs(self, batch):
        return batch.loss_inputs(self.params["kind"], self.params["num_classes"],
                                 self.params["ignore_index"])

    def update(self, batch):
        t, s = self.inputs(batch)
        eps = self.params["eps"]
        if eps == "auto":  # the machine epsilon of the scores, as scikit-learn's log_loss
            eps = float(np.finfo(s.dtype).eps)
        batch.kernels.loss_sums(t, s, self.params["kind"], batch.weights,
                                ignore_index=self.params["ignore_index"], eps=eps,
                                out=self.arrays["sums"])


# --- one update's inputs -----------------------------------------------------------------


