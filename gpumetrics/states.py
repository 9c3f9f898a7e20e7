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

from gpumetrics import _arrays, _streams, inputs
from gpumetrics.kernels import _common

SUM, MIN, MAX, MOMENTS, CONCAT = "sum", "min", "max", "moments", "concat"
RULES = (SUM, MIN, MAX, MOMENTS, CONCAT)


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
                drop_buffers(self.arrays.get(name, []))
                self.arrays[name] = []
            elif name in self.arrays:
                self.arrays[name].fill(_initial(rule, dtype))
            else:
                self.arrays[name] = np.full(self.shape(name), _initial(rule, dtype), dtype)

    def place(self, xp):
        """Move the buffers to the array library ``xp`` (NumPy, or CuPy on its current
        device); buffers already there stay as they are."""
        for name, (rule, _) in self.fields.items():
            if rule == CONCAT:
                self.arrays[name] = [_to(xp, chunk) for chunk in self.arrays[name]]
            else:
                self.arrays[name] = _to(xp, self.arrays[name])

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
                self.arrays[name] = list(a) + [_like(chunk, a[0]) for chunk in b] if a else list(b)
            else:  # in place (see reset)
                merge_into(rule, a, _like(b, a))
        return self

    # --- serialisation -------------------------------------------------------------

    def state_dict(self) -> dict:
        """Host copies of every field (buffers concatenated)."""
        out = {}
        for name, (rule, _) in self.fields.items():
            value = self.arrays[name]
            if rule == CONCAT:
                value = _concat(value, self.shape(name))
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
                drop_buffers(self.arrays[name])
                self.arrays[name] = [np.array(value, copy=True)] if value.shape[0] else []
            else:
                assign(self.arrays[name], value.astype(dtype, copy=False))

    def host(self, name: str) -> np.ndarray:
        """One field on the host (buffers concatenated): for formulas at ``compute()``."""
        value = self.arrays[name]
        if self.fields[name][0] == CONCAT:
            value = _concat(value, self.shape(name))
        return np.asarray(_arrays.to_host(value))


def _short(value) -> str:
    if isinstance(value, tuple) and len(value) > 6:
        return f"<{len(value)} values, hash {hash(value) & 0xFFFFFFFF:08x}>"
    return repr(value)


def _initial(rule: str, dtype: str):
    if rule == MIN:
        return np.inf
    if rule == MAX:
        return -np.inf
    return 0


# The one table of merge rules, for ``merge`` (in place, on the metric's device) and for
# ``sync`` (host arrays gathered from every process): element-wise rules by their ufunc;
# moments by Chan's formulas, on the host (a merge is not per batch); buffers concatenate.
_UFUNCS = {SUM: "add", MIN: "minimum", MAX: "maximum"}


def merged(rule: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a`` and ``b`` folded by ``rule``, as a new host array."""
    if rule in _UFUNCS:
        return getattr(np, _UFUNCS[rule])(a, b)
    if rule == MOMENTS:
        return _common.merge_moments(a, b)
    raise ValueError(f"no element-wise merge for rule {rule!r}")


def merge_into(rule: str, a, b) -> None:
    """Fold ``b`` into the buffer ``a`` by ``rule`` (``a`` keeps its memory)."""
    if rule in _UFUNCS:
        getattr(_namespace(a), _UFUNCS[rule])(a, b, out=a)
    else:
        assign(a, merged(rule, _arrays.to_host(a), _arrays.to_host(b)))


def assign(buffer, value) -> None:
    """Write ``value`` (host or device) into ``buffer`` where it lives."""
    buffer[...] = _like(value, buffer)


def drop_buffers(chunks: list) -> None:
    """Let go of exact-mode chunks once the device work queued so far has run: a chunk
    freed at once could be handed to a new array while a kernel on another stream still
    reads it (``_streams.hold``; nothing to wait for on the host)."""
    if chunks and not isinstance(chunks[0], np.ndarray):
        _streams.hold(list(chunks))


def _to(xp, x):
    """``x`` in the array library ``xp``: NumPy on the host, CuPy on the current device
    (an array of another device is copied to it)."""
    if xp is np:
        return np.asarray(_arrays.to_host(x))
    if _namespace(x) is not xp:
        return xp.asarray(x)
    return x if x.device.id == xp.cuda.Device().id else x.copy()


def _namespace(x):
    if x is None or isinstance(x, np.ndarray | list):
        return np
    return _arrays._cupy()


def _like(b, a):
    """``b`` where ``a`` is: in its library, on its device."""
    if isinstance(a, np.ndarray):
        return _to(np, b)
    with a.device:
        return _to(_namespace(a), b)


def _concat(chunks: list, shape: tuple):
    if not chunks:
        return np.zeros((0, *shape[1:]))
    if len(chunks) == 1:
        return chunks[0]
    return _namespace(chunks[0]).concatenate(chunks, axis=0)


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
        xp = _namespace(diff)
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
        self._edges = _to(xp, self._edges)  # copied once, not per batch

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
        xp = _namespace(s)
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


class Inputs:
    """The inputs of one ``update()``, as kernel arrays, and the views states read.

    Views are built once per update and shared by every state that reads them (a set of
    F1, MCC and kappa thresholds scores once). Shape and dtype checks read metadata only;
    value checks (labels in range, finite scores) run only with ``validate=True``, since
    reading a value back synchronises with the device.
    """

    def __init__(self, y_true, y_pred, sample_weight, *, kernels, ctx, validate: bool,
                 threshold: float = 0.5):
        self.ctx = ctx
        self.kernels = kernels
        self.validate = validate
        self.threshold = threshold
        self.y_true = inputs.read(y_true, "y_true", ctx)
        self.y_pred = inputs.read(y_pred, "y_pred", ctx)
        if self.y_pred.ndim == 0 or self.y_true.ndim == 0:
            raise ValueError("y_true and y_pred must be arrays of samples, not scalars.")
        n = self.y_pred.shape[0]
        inputs.check_length(self.y_true.shape[0], n, "y_pred")
        self.n_samples = n
        # On the inputs' device; an update may hold only zero weights (a stream's total is
        # what counts), so only their being finite is checked, when validating.
        w = inputs.weights(sample_weight, n, ctx, on_device=True, validate=validate,
                           nonzero=False)
        self.weight_dtype = None if w is None else w.dtype
        self.weights = None if w is None else w.astype(_namespace(w).float64)
        self._cache: dict = {}

    def _cached(self, key, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def device_array(self, host) -> object:
        """A float64 constant on the inputs' device (no copy when it is there already)."""
        xp = _namespace(self.y_pred)
        return xp.asarray(host, dtype=xp.float64)

    # --- labels ----------------------------------------------------------------------

    def _labels(self, y, name: str, ndim: int, scores: bool):
        """Integer labels. Integer and bool arrays are labels. Float arrays are labels too
        (checked integral when validating), except predictions given as scores
        (``scores=True``): one score per label is thresholded (``>= threshold``), a score
        per class is reduced with argmax."""
        xp = _namespace(y)
        if y.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold integer labels or float scores; got {y.dtype}.")
        if y.dtype.kind == "f" and scores:
            if y.ndim == ndim:
                return (y >= self.threshold).view(xp.uint8)
            if y.ndim == ndim + 1 and ndim == 1:
                return y.argmax(axis=1)
        if y.ndim != ndim:
            raise ValueError(f"{name} must be {ndim}-D labels; got shape {tuple(y.shape)}.")
        if y.dtype.kind == "f":
            if self.validate and not bool((y == xp.floor(y)).all()):
                hint = f" ({SWAPPED})" if (
                    name == "y_true" and self.y_pred.dtype.kind in "iu") else ""
                raise ValueError(
                    f"{name} holds non-integer values; labels must be integers{hint}.")
            return y.astype(xp.int64)
        return y

    def class_labels(self, num_classes: int):
        """``(1, N)`` true and predicted class labels. Float predictions are scores when
        there are two classes (thresholded) or one column per class (argmax); a 1-D float
        array for more classes holds labels."""
        def build():
            _check_order(self.y_true, self.y_pred)
            if self.y_pred.ndim == 2 and self.y_pred.shape[1] != num_classes:
                raise ValueError(
                    f"y_pred holds scores for {self.y_pred.shape[1]} classes; "
                    f"num_classes is {num_classes}."
                )
            t = self._labels(self.y_true, "y_true", 1, scores=False)
            p = self._labels(self.y_pred, "y_pred", 1,
                             scores=num_classes == 2 or self.y_pred.ndim == 2)
            # (the range is checked by the confusion state from its own counts)
            return t[None], p[None]
        return self._cached(("class_labels", num_classes), build)

    def _indicators(self, y, name: str, num_labels: int, scores: bool):
        """``(1, N, L)`` 0/1 indicators of ``y`` (scores thresholded when ``scores``)."""
        if y.ndim != 2 or y.shape[1] != num_labels:
            what = "label indicators or scores" if scores else "label indicators"
            raise ValueError(
                f"{name} must be (n_samples, {num_labels}) {what}; got shape {tuple(y.shape)}."
            )
        y = self._labels(y, name, 2, scores=scores)
        if self.validate:
            _check_range(self.kernels, y, name, 2, "label indicators must be 0 or 1")
        return y[None]

    def indicator_targets(self, num_labels: int):
        """``(1, N, L)`` multilabel indicators of y_true, checked to be 0 or 1."""
        return self._cached(("indicator_targets", num_labels),
                            lambda: self._indicators(self.y_true, "y_true", num_labels, False))

    def indicator_labels(self, num_labels: int):
        """``(1, N, L)`` true and predicted multilabel indicators (scores thresholded)."""
        return self._cached(("indicators", num_labels), lambda: (
            self.indicator_targets(num_labels),
            self._indicators(self.y_pred, "y_pred", num_labels, True)))

    # --- scores ----------------------------------------------------------------------

    def class_scores(self, num_classes: int):
        """``(1, N, C)`` float scores of every class."""
        def build():
            s = self.y_pred
            if s.ndim != 2 or s.shape[1] != num_classes:
                raise ValueError(
                    f"y_pred must be (n_samples, {num_classes}) class scores; got shape "
                    f"{tuple(s.shape)}."
                )
            s = _common.as_score_array(s, "y_pred", _namespace(s))
            self._check_finite(s[None])
            return s[None]
        return self._cached(("class_scores", num_classes), build)

    def class_targets(self, num_classes: int, ignore_index=None):
        """``(1, N)`` integer class indices of y_true (``ignore_index`` allowed too)."""
        def build():
            _check_order(self.y_true, self.y_pred)
            t = self._labels(self.y_true, "y_true", 1, scores=False)
            if self.validate:
                kept = t if ignore_index is None else t[t != ignore_index]
                _check_range(self.kernels, kept, "y_true", num_classes)
            return t[None]
        return self._cached(("class_targets", num_classes, ignore_index), build)

    def score_columns(self, target: str, num_columns: int):
        """``(y_pos, scores)`` for the score kernels: binary ``(1, N, 1)`` 0/1 targets (not
        validated: non-zero is positive); multiclass ``(1, N)`` class indices; multilabel
        ``(1, N, L)`` indicators."""
        def build():
            s = self.y_pred
            if s.dtype.kind not in "biuf":
                raise ValueError(f"y_pred must hold scores; got dtype {s.dtype}.")
            if target == "binary":
                if s.ndim == 2 and s.shape[1] == 1:
                    s = s[:, 0]
                if s.ndim != 1:
                    raise ValueError(
                        f"y_pred must be 1-D scores for binary targets; got shape "
                        f"{tuple(s.shape)}."
                    )
                t = self._labels(self.y_true, "y_true", 1, scores=False)
                if self.validate:
                    _check_range(self.kernels, t, "y_true", 2,
                                 "binary targets must be 0 (negative) or 1 (positive)")
                y_pos = t[None, :, None]  # 0/1 (checked when validating): non-zero is positive
                s = s[None, :, None]
            elif target == "multiclass":
                s = self.class_scores(num_columns)[0][None]
                y_pos = self.class_targets(num_columns)
            else:
                y_pos = self.indicator_targets(num_columns)
                if s.ndim != 2 or s.shape[1] != num_columns:
                    raise ValueError(
                        f"y_pred must be (n_samples, {num_columns}) scores; got shape "
                        f"{tuple(s.shape)}."
                    )
                s = s[None]
            s = _common.as_score_array(s, "y_pred", _namespace(s))
            self._check_finite(s)
            return y_pos, s
        return self._cached(("score_columns", target, num_columns), build)

    def score_range(self, target: str, num_columns: int):
        _, s = self.score_columns(target, num_columns)
        return self._cached(("range", target, num_columns), lambda: self.kernels.score_range(s))

    def _check_finite(self, s):
        if self.validate:
            rng = _arrays.to_host(self.kernels.score_range(s))
            if rng[..., 2].any():
                raise ValueError("y_pred contains NaN or infinity; scores must be finite.")

    def raw_scores(self, task: str, num_columns: int):
        """``(y_true, y_score)`` as given, shape-checked, for the exact-mode buffers."""
        self.score_columns(task, num_columns)  # checks shapes (and values when validating)
        s = self.y_pred
        if task == "binary" and s.ndim == 2:
            s = s[:, 0]
        return self.y_true, s

    # --- regression and losses ---------------------------------------------------------

    def regression(self, num_outputs: int):
        """``(1, N, L)`` float targets and predictions."""
        def build():
            out = []
            for name, y in (("y_true", self.y_true), ("y_pred", self.y_pred)):
                if y.dtype.kind not in "biuf":
                    raise ValueError(f"{name} must hold numbers; got dtype {y.dtype}.")
                y2 = y[:, None] if y.ndim == 1 else y
                if y2.ndim != 2 or y2.shape[1] != num_outputs:
                    raise ValueError(
                        f"{name} must be (n_samples,) or (n_samples, {num_outputs}) for "
                        f"num_outputs={num_outputs}; got shape {tuple(y.shape)}."
                    )
                out.append(_common.as_score_array(y2, name, _namespace(y2))[None])
            return tuple(out)
        return self._cached(("regression", num_outputs), build)

    def loss_inputs(self, kind: str, num_classes: int, ignore_index=None):
        """``(y_true, y_score)`` for ``loss_sums``."""
        def build():
            s = self.y_pred
            if kind in ("softmax", "proba"):
                t = self.class_targets(num_classes, ignore_index)
                if kind == "proba" and num_classes == 2 and s.ndim == 1:
                    s = s[:, None]
                elif s.ndim != 2 or s.shape[1] != num_classes:
                    raise ValueError(
                        f"y_pred must be (n_samples, {num_classes}) "
                        f"{'logits' if kind == 'softmax' else 'probabilities'}; got shape "
                        f"{tuple(s.shape)}."
                    )
            else:
                if s.ndim == 1:
                    s = s[:, None]
                t = self.y_true[:, None] if self.y_true.ndim == 1 else self.y_true
                if t.shape != s.shape:
                    raise ValueError(
                        f"y_true has shape {tuple(self.y_true.shape)} but y_pred has "
                        f"{tuple(self.y_pred.shape)}."
                    )
                t = _common.as_score_array(t, "y_true", _namespace(t))[None]
                if self.validate:
                    rng = _arrays.to_host(self.kernels.score_range(t))
                    if rng[..., 2].any() or rng[..., 0].min() < 0 or rng[..., 1].max() > 1:
                        raise ValueError("y_true must hold finite targets in [0, 1].")
            s = _common.as_score_array(s, "y_pred", _namespace(s))[None]
            self._check_finite(s)
            if self.validate and kind in ("proba", "binary_proba"):
                rng = _arrays.to_host(self.kernels.score_range(s))
                if rng[..., 0].min() < 0 or rng[..., 1].max() > 1:
                    raise ValueError("y_pred must hold probabilities in [0, 1].")
            return t, s
        return self._cached(("loss", kind, num_classes, ignore_index), build)


SWAPPED = ("arguments follow scikit-learn's order: y_true (the labels) first, then y_pred "
           "(labels or scores); torchmetrics puts predictions first")


def _check_order(y_true, y_pred) -> None:
    """Class scores in y_true beside integer labels in y_pred, where a label metric reads
    class labels from y_true: the arguments are swapped."""
    if y_true.dtype.kind == "f" and y_pred.dtype.kind in "iu" and y_true.ndim == 2 == (
            y_pred.ndim + 1):
        raise ValueError(
            f"y_true holds float values of shape {tuple(y_true.shape)} and y_pred integer "
            f"labels of shape {tuple(y_pred.shape)}: {SWAPPED}."
        )


def _check_range(kernels, y, name: str, size: int, what: str | None = None):
    if y.shape[0] == 0:
        return
    lo, hi = kernels.label_range(y)
    if lo < 0 or hi >= size:
        raise ValueError(
            f"{name} has labels outside [0, {size}): "
            + (what or f"class labels must be integers 0..{size - 1}") + f"; got {lo}..{hi}."
        )
