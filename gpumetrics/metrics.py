"""Streaming metrics: ``update()`` batch after batch, ``compute()`` at the end.

Every metric keeps sufficient statistics (``gpumetrics.states``), never the samples
(except the exact-mode ranking metrics, which buffer scores), and gives the same result as
its function in ``gpumetrics`` called on all the data at once::

    >>> import numpy as np
    >>> from gpumetrics.metrics import Accuracy, F1Score, MetricSet
    >>> metrics = MetricSet({"acc": Accuracy(task="multiclass", num_classes=3),
    ...                      "f1": F1Score(task="multiclass", num_classes=3)})
    >>> metrics.update(np.array([0, 1, 2]), np.array([0, 2, 2]))
    >>> metrics.update(np.array([1, 1]), np.array([1, 0]))
    >>> {name: round(value, 4) for name, value in metrics.compute().items()}
    {'acc': 0.6, 'f1': 0.6111}

Arguments follow scikit-learn's order: ``update(y_true, y_pred, sample_weight=None)``;
swapping them silently swaps precision and recall. Label metrics take labels, or scores
that they turn into labels (``>= threshold`` for one score per label, argmax over classes).

A ``MetricSet`` shares states by construction: Accuracy, F1 and MCC in one set read one
confusion state, which ``update()`` counts once. ``merge`` folds in the state of another
instance (another shard, another process); ``sync`` does it over ``torch.distributed`` with
one all-reduce. With ``validate=False``, ``update()`` reads no value back from the device:
bad labels are then caught at ``compute()`` from the state (out-of-range labels land in an
overflow bin, NaN leaves the moments non-finite).
"""

from __future__ import annotations

import copy
import re
import warnings

import numpy as np

from gpumetrics import _arrays, _streams, dispatch
from gpumetrics import states as S
from gpumetrics.functional import _formulas, _setwise, _targets
from gpumetrics.functional import classification as _clf
from gpumetrics.functional import losses as _losses
from gpumetrics.functional import ranking as _ranking
from gpumetrics.functional import regression as _regression
from gpumetrics.functional._batching import batch_result

TASKS = ("binary", "multiclass", "multilabel")


class _Engine:
    """What a metric and a set of metrics share: unique states, update, merge, sync.

    Every operation on the states runs on the caller's current stream, after the previous
    operation wherever that ran (``gpumetrics._streams``), and the buffers live where the
    metric's context says: on the device of its first GPU batch, or on the host."""

    def _init_engine(self, validate: bool, backend, threshold: float):
        self.validate = bool(validate)
        self.backend = backend
        self.threshold = float(threshold)
        self._ctx: _arrays.ArrayContext | None = None
        self._order = _streams.Order()
        self._states: dict[str, S.State] = {}

    def _adopt(self, state: S.State) -> S.State:
        """The set's state with ``state``'s key (registering ``state`` if new)."""
        return self._states.setdefault(state.key, state)

    @property
    def states(self) -> dict[str, S.State]:
        """The distinct states, by key: each is updated once per ``update()``."""
        return dict(self._states)

    def _set_ctx(self, ctx: _arrays.ArrayContext) -> None:
        self._ctx = ctx

    def _on_device(self, *others):
        """The scope of one operation on the states (and on those of ``others``)."""
        engines = (self, *others)
        ctx = next((e._ctx for e in engines if e._ctx is not None and e._ctx.on_gpu),
                   self._result_ctx())
        return _streams.scope(ctx, *(e._order for e in engines))

    def _place_states(self) -> None:
        """Move every buffer to where the context says the states live: the current device
        (inside a scope) or the host. Without a context yet, buffers stay where they are."""
        if self._ctx is None:
            return
        xp = _arrays._cupy() if self._ctx.on_gpu else np
        for state in self._states.values():
            state.place(xp)

    def __deepcopy__(self, memo):
        """A copy whose buffers are copied in this metric's device order (after its last
        operation, before its next), with an order of its own that starts there."""
        clone = type(self).__new__(type(self))
        memo[id(self)] = clone
        with self._on_device():
            for key, value in self.__dict__.items():
                setattr(clone, key, copy.deepcopy(value, memo))
        clone._order.event, clone._order.stream = self._order.event, self._order.stream
        return clone

    def __getstate__(self):
        """For pickling: device buffers are read back once this metric's queued work on
        them has run."""
        if self._ctx is not None and self._ctx.on_gpu:
            with self._on_device():
                _arrays._cupy().cuda.get_current_stream().synchronize()
        return self.__dict__

    def update(self, y_true, y_pred, sample_weight=None) -> None:
        """Add a batch: ``y_true`` first, then predictions (labels or scores)."""
        ctx = _arrays.context_of(y_true=y_true, y_pred=y_pred, sample_weight=sample_weight)
        if self._ctx is not None and (ctx.on_gpu or self._ctx.on_gpu) and (
            ctx.device != self._ctx.device
        ):
            raise ValueError(
                f"this metric's states live on {self._ctx.device}; the batch is on "
                f"{ctx.device}. Move the batch, or use one metric per device and merge them."
            )
        with _streams.scope(ctx, self._order):
            if self._ctx is None:
                self._set_ctx(ctx)
                self._place_states()
            kernels = dispatch.kernels(self.backend, ctx.on_gpu)
            batch = S.Inputs(y_true, y_pred, sample_weight, kernels=kernels, ctx=ctx,
                             validate=self.validate, threshold=self.threshold)
            states = list(self._states.values())
            for state in states:  # every view is built and checked before any state changes
                state.inputs(batch)
            if batch.n_samples == 0:
                return
            for state in states:
                state.update(batch)

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Add a batch and return the batch's own value (torchmetrics' ``forward``), with
        scikit-learn's argument order: ``y_true`` first. The batch is counted once, into a
        state of its own that is then merged into this metric's."""
        batch = self._empty_like()
        batch.update(y_true, y_pred, sample_weight)
        value = batch.compute()
        self.merge(batch)
        return value

    def _empty_like(self):
        """A metric of this configuration that has seen nothing (no buffer copied)."""
        saved = {key: state.arrays for key, state in self._states.items()}
        ctx = self._ctx
        try:
            for state in self._states.values():
                state.arrays = {}
            self._ctx = None
            clone = copy.deepcopy(self)
        finally:
            for key, state in self._states.items():
                state.arrays = saved[key]
            self._ctx = ctx
        for state in clone._states.values():
            state.reset()
        return clone

    def reset(self) -> None:
        """Forget every update (in place: the buffers stay where they are)."""
        with self._on_device():
            for state in self._states.values():
                state.reset()

    def merge(self, other):
        """Fold in the states of ``other`` (the same metrics, updated elsewhere); returns
        self. Counts add exactly; moments merge by Chan's formulas; exact-mode buffers are
        appended, so merge order only changes the order of samples."""
        if type(other) is not type(self) or set(other._states) != set(self._states):
            raise ValueError(
                "merge needs a metric of the same kind and configuration; got "
                f"{type(other).__name__} with states {sorted(other._states)}."
            )
        if self._ctx is None and other._ctx is not None:
            self._set_ctx(other._ctx)
        with self._on_device(other):
            self._place_states()
            for key, state in self._states.items():
                state.merge(other._states[key])
            self._place_states()  # rows buffered elsewhere join this metric's device
        return self

    def state_dict(self) -> dict:
        """Host copies of every state, by key (plain NumPy arrays: picklable, savable)."""
        with self._on_device():
            return {key: state.state_dict() for key, state in self._states.items()}

    def load_state_dict(self, state_dict: dict) -> None:
        """Replace the states by those of ``state_dict`` (from ``state_dict()``), written
        into the buffers where they live."""
        missing = set(self._states) - set(state_dict)
        if missing:
            raise ValueError(f"state_dict lacks the states {sorted(missing)}.")
        for key, state in self._states.items():  # check every state before changing any
            state.check_state_dict(state_dict[key])
        with self._on_device():
            for key, state in self._states.items():
                state.load_state_dict(state_dict[key])
            self._place_states()

    def sync(self, group=None):
        """Merge the states of every process of a ``torch.distributed`` group into each
        process: one all-reduce of one packed buffer (plus one all-gather when exact-mode
        scores are buffered). Without an initialised process group, a no-op (one process
        holds every state), as in torchmetrics. Returns self."""
        from gpumetrics.distributed import sync_states

        with self._on_device():
            sync_states(list(self._states.values()), group)
            self._place_states()  # gathered exact-mode rows arrive on the host
        return self

    def _result_ctx(self) -> _arrays.ArrayContext:
        return self._ctx or _arrays.HOST


# --- the metric base class -------------------------------------------------------------------


class Metric(_Engine):
    """A streaming metric. Subclasses declare their states in ``_make_states`` and compute
    from them in ``_compute``."""

    def __init__(self, *, validate: bool = True, backend: str | None = None,
                 threshold: float = 0.5):
        self._init_engine(validate, backend, threshold)
        self._roles = {role: self._adopt(state) for role, state in self._make_states().items()}

    @property
    def name(self) -> str:
        """The class name in snake case (``F1Score`` -> ``f1_score``, ``AUROC`` -> ``auroc``)."""
        words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_",
                       type(self).__name__)
        return words.lower()

    def _make_states(self) -> dict[str, S.State]:
        raise NotImplementedError

    def _compute(self, states: dict[str, S.State], ctx):
        raise NotImplementedError

    def compute(self):
        """The metric over every batch so far, in the caller's array library."""
        with self._on_device():
            return self._compute(self._roles, self._result_ctx())

    #: ``"roc"`` or ``"pr"`` for the curve metrics: how ``plot`` draws their value
    plot_curve: str | None = None

    def plot(self, value=None, ax=None):
        """Draw ``value`` (by default ``compute()``; or a list of values, one per step)
        with matplotlib, on ``ax`` or a new figure; returns ``(figure, axes)``. Curves are
        drawn as curves, confusion matrices as heatmaps, per-class values as bars."""
        from gpumetrics import plotting

        return plotting.plot_value(self.compute() if value is None else value,
                                   name=self.name, curve=self.plot_curve, ax=ax)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self._states))})"


class MetricSet(_Engine):
    """Named metrics updated together; metrics that read the same statistics share one
    state, so ``update()`` runs each distinct kernel once.

    ``metrics`` is a dict of name -> metric, or a list of metrics (named by their class).
    ``validate`` and ``threshold`` are the set's when given, else the metrics' (who must
    agree); ``backend`` is the set's, else the first metric's.
    """

    def __init__(self, metrics, *, validate: bool | None = None, backend=None,
                 threshold: float | None = None):
        if not isinstance(metrics, dict):
            metrics = list(metrics)
            names = [m.name if isinstance(m, Metric) else repr(m) for m in metrics]
            if len(set(names)) < len(names):
                raise ValueError(
                    f"metrics named by class collide ({', '.join(names)}); pass a dict of "
                    "name -> metric instead."
                )
            metrics = dict(zip(names, metrics, strict=True))
        if not metrics:
            raise ValueError("metrics must name at least one metric.")
        for name, m in metrics.items():
            if not isinstance(m, Metric):
                raise ValueError(f"metrics[{name!r}] must be a Metric; got {type(m).__name__}.")
        first = next(iter(metrics.values()))

        def agreed(attr, given):
            if given is not None:
                return given
            values = {getattr(m, attr) for m in metrics.values()}
            if len(values) > 1:
                raise ValueError(f"the metrics of a set must share one {attr}; got {values}.")
            return getattr(first, attr)

        self._init_engine(agreed("validate", validate), backend or first.backend,
                          agreed("threshold", threshold))
        self.metrics = dict(metrics)
        self._adopt_context(list(self.metrics.values()))
        for m in self.metrics.values():
            m._roles = {role: self._adopt(state) for role, state in m._roles.items()}
            m._states = {state.key: state for state in m._roles.values()}
            m.validate, m.backend, m.threshold = self.validate, self.backend, self.threshold
            m._order = self._order  # one order for the buffers they share

    def _set_ctx(self, ctx):
        super()._set_ctx(ctx)
        for m in self.metrics.values():
            m._set_ctx(ctx)

    def _adopt_context(self, metrics: list) -> None:
        """Metrics updated before they joined the set bring their context; the set's first
        operation waits for their last ones."""
        contexts = {m._ctx for m in metrics if m._ctx is not None}
        devices = {c.device for c in contexts if c.on_gpu}
        if len(devices) > 1 or (devices and len(contexts) > 1):
            raise ValueError(
                "the metrics of a set must have been updated on one device; got "
                f"{sorted(map(str, {c.device for c in contexts}))}."
            )
        if contexts:
            self._ctx = next(m._ctx for m in metrics if m._ctx is not None)
            with _streams.scope(self._ctx, self._order, *(m._order for m in metrics)):
                pass

    def compute(self) -> dict:
        """Every metric's value, by name."""
        ctx = self._result_ctx()
        with self._on_device():
            return {name: m._compute(m._roles, ctx) for name, m in self.metrics.items()}

    def plot(self, values: dict | None = None, ax=None):
        """The set's scalar values (by default ``compute()``) as bars, binned ones with
        their bound; returns ``(figure, axes)``."""
        from gpumetrics import plotting

        return plotting.plot_values(self.compute() if values is None else values, ax=ax)

    def __getitem__(self, name: str) -> Metric:
        return self.metrics[name]

    def __iter__(self):
        return iter(self.metrics)

    def __len__(self) -> int:
        return len(self.metrics)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n!r}: {type(m).__name__}" for n, m in self.metrics.items())
        return f"MetricSet({{{inner}}}, {len(self._states)} states)"


# --- classification --------------------------------------------------------------------------


def _check_task(task, num_classes, num_labels) -> int:
    """The size of the label axis: 2 for binary, C for multiclass, L for multilabel."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}; got {task!r}.")
    if task == "binary":
        return 2
    name, value = ("num_classes", num_classes) if task == "multiclass" else (
        "num_labels", num_labels)
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"task={task!r} needs {name}, a positive integer; got {value!r}.")
    return int(value)


class _Classification(Metric):
    """Metrics of predicted labels; ``task`` is binary, multiclass (``num_classes``) or
    multilabel (``num_labels``)."""

    multilabel_ok = True

    def __init__(self, task: str = "binary", *, num_classes: int | None = None,
                 num_labels: int | None = None, **engine):
        self.task = task
        self.size = _check_task(task, num_classes, num_labels)
        if task == "multilabel" and not self.multilabel_ok:
            raise ValueError(f"{type(self).__name__} does not support multilabel targets.")
        super().__init__(**engine)

    def _make_states(self):
        if self.task == "multilabel":
            return {"counts": S.LabelCounts(self.size)}
        return {"counts": S.Confusion(self.size)}

    def _class_counts(self, state: S.Confusion, labels=None) -> _targets.ClassCounts:
        cm, weighted, integer, occurrences = state.totals()
        C = self.size
        seen = cm if occurrences is None else occurrences
        if seen[:, C, :].any() or seen[:, :, C].any():
            which = "y_true" if seen[:, C, :].any() else "y_pred"
            raise ValueError(
                f"{which} had labels outside [0, {C}) in some update (not checked then: "
                "validate=False)."
            )
        counts = _targets.ClassCounts(cm, np.arange(C), weighted, integer, occurrences)
        return counts if labels is None else _select_labels(counts, labels)


def _check_labels(labels, size: int) -> np.ndarray | None:
    """``labels`` as distinct class indices (or multilabel columns) in [0, size)."""
    if labels is None:
        return None
    chosen = _targets._labels_array(labels)
    if chosen.ndim != 1 or chosen.shape[0] == 0 or chosen.dtype.kind not in "iu" or (
        chosen.min() < 0 or chosen.max() >= size
    ):
        raise ValueError(f"labels must be class indices in [0, {size}); got {labels!r}.")
    if np.unique(chosen).shape[0] != chosen.shape[0]:
        raise ValueError(f"labels must not contain duplicates; got {labels!r}.")
    return chosen


def _select_labels(counts: _targets.ClassCounts, chosen: np.ndarray) -> _targets.ClassCounts:
    """Counts over ``chosen`` labels (in their order); every other class joins the overflow
    bin."""
    C = counts.n_classes
    rest = np.setdiff1d(np.arange(C + 1), chosen)
    order = np.r_[chosen, rest]
    J = chosen.shape[0]

    def fold(cm):
        if cm is None:
            return None
        m = cm[:, order][:, :, order]
        out = np.zeros((cm.shape[0], J + 1, J + 1), cm.dtype)
        out[:, :J, :J] = m[:, :J, :J]
        out[:, :J, J] = m[:, :J, J:].sum(axis=2)
        out[:, J, :J] = m[:, J:, :J].sum(axis=1)
        out[:, J, J] = m[:, J:, J:].sum(axis=(1, 2))
        return out

    return _targets.ClassCounts(fold(counts.cm), chosen, counts.weighted,
                                counts.integer_weights, fold(counts.occurrences))


class Accuracy(_Classification):
    """Fraction (or count, ``normalize=False``) of correct predictions; multilabel: subset
    accuracy. Equals ``accuracy_score`` on all the data."""

    def __init__(self, task="binary", *, num_classes=None, num_labels=None, normalize=True,
                 **engine):
        self.normalize = normalize
        super().__init__(task, num_classes=num_classes, num_labels=num_labels, **engine)

    def _make_states(self):
        if self.task == "multilabel":
            return {"hits": S.SubsetHits(self.size)}
        return super()._make_states()

    def _compute(self, states, ctx):
        if self.task == "multilabel":
            hits, total = states["hits"].host("sums")[:, 0], states["hits"].host("sums")[:, 1]
        else:
            counts = self._class_counts(states["counts"])
            hits = np.trace(counts.inner, axis1=1, axis2=2).astype(np.float64)
            total = counts.total.astype(np.float64)
        if self.normalize:
            if (total == 0).any():
                raise ZeroDivisionError("Weights sum to zero, can't be normalized")
            hits = hits / total
        return batch_result(hits, ctx, False)


class HammingLoss(Accuracy):
    """Fraction of wrong labels. Equals ``hamming_loss`` on all the data."""

    def __init__(self, task="binary", *, num_classes=None, num_labels=None, **engine):
        super().__init__(task, num_classes=num_classes, num_labels=num_labels, **engine)

    def _compute(self, states, ctx):
        if self.task == "multilabel":
            sums = states["hits"].host("sums")
            return batch_result(sums[:, 2] / (self.size * sums[:, 1]), ctx, False)
        counts = self._class_counts(states["counts"])
        wrong = counts.total - np.trace(counts.inner, axis1=1, axis2=2)
        total = counts.total.astype(np.float64)
        if (total == 0).any():
            raise ZeroDivisionError("Weights sum to zero, can't be normalized")
        return batch_result(wrong / total, ctx, False)


class _Setwise(_Classification):
    """Per-label counts averaged as scikit-learn does: ``average`` defaults to ``binary``
    for binary tasks and ``macro`` otherwise."""

    which = "precision"

    def __init__(self, task="binary", *, num_classes=None, num_labels=None, average="auto",
                 labels=None, pos_label=1, zero_division="warn", beta=1.0, **engine):
        if average == "auto":
            average = "binary" if task == "binary" else "macro"
        _formulas.check_average(average)
        _formulas.check_zero_division(zero_division)
        if average == "samples":
            raise ValueError(
                "average='samples' needs every sample's counts; a streaming metric keeps "
                "per-label counts only. Use the function on all the data instead."
            )
        if average == "binary" and task != "binary":
            raise _setwise._targets_kind_error(task)
        self.average, self.pos_label = average, pos_label
        self.zero_division, self.beta = zero_division, beta
        super().__init__(task, num_classes=num_classes, num_labels=num_labels, **engine)
        self.labels = _check_labels(labels, self.size)

    def _counts(self, states) -> _setwise.SetwiseCounts:
        if self.task == "multilabel":
            counts = states["counts"].totals()[0]
            return _setwise.from_label_counts(counts,
                                              _setwise.label_columns(self.labels, self.size))
        if self.average == "binary":  # labels are ignored, as scikit-learn does
            return _setwise._binary(self._class_counts(states["counts"]), self.pos_label)
        counts = self._class_counts(states["counts"], self.labels)
        return _setwise.from_class_counts(counts, self.labels)

    def _compute(self, states, ctx):
        return _clf.setwise_score(self.which, self._counts(states), self.beta, self.average,
                                  self.zero_division, ctx, False)


class Precision(_Setwise):
    """``tp / (tp + fp)``. Equals ``precision_score`` on all the data."""

    which = "precision"


class Recall(_Setwise):
    """``tp / (tp + fn)``. Equals ``recall_score`` on all the data."""

    which = "recall"


class FBetaScore(_Setwise):
    """F-beta (``beta`` required). Equals ``fbeta_score`` on all the data."""

    which = "f-score"

    def __init__(self, task="binary", *, beta, **kwargs):
        _clf._check_beta(beta)
        super().__init__(task, beta=beta, **kwargs)


class F1Score(_Setwise):
    """F1. Equals ``f1_score`` on all the data."""

    which = "f-score"


class Specificity(_Setwise):
    """``tn / (tn + fp)``. Equals ``specificity_score`` on all the data."""

    which = "specificity"


class JaccardIndex(_Setwise):
    """``tp / (tp + fp + fn)``. Equals ``jaccard_score`` on all the data."""

    which = "jaccard"


class BalancedAccuracy(_Classification):
    """Mean per-class recall. Equals ``balanced_accuracy_score`` on all the data."""

    multilabel_ok = False

    def __init__(self, task="binary", *, num_classes=None, adjusted=False, **engine):
        self.adjusted = adjusted
        super().__init__(task, num_classes=num_classes, **engine)

    def _compute(self, states, ctx):
        counts = self._class_counts(states["counts"])
        return batch_result(_clf.balanced_accuracy_from(counts, self.adjusted), ctx, False)


class MatthewsCorrCoef(_Classification):
    """Matthews correlation coefficient. Equals ``matthews_corrcoef`` on all the data."""

    multilabel_ok = False

    def _compute(self, states, ctx):
        return batch_result(_clf.mcc_from(self._class_counts(states["counts"])), ctx, False)


class CohenKappa(_Classification):
    """Cohen's kappa (``weights``: None, linear, quadratic). Equals ``cohen_kappa_score``
    on all the data."""

    multilabel_ok = False

    def __init__(self, task="binary", *, num_classes=None, labels=None, weights=None,
                 replace_undefined_by=np.nan, **engine):
        if weights not in (None, "linear", "quadratic"):
            raise ValueError(f"weights must be None, 'linear' or 'quadratic'; got {weights!r}.")
        self.weights = weights
        self.replace_undefined_by = replace_undefined_by
        super().__init__(task, num_classes=num_classes, **engine)
        self.labels = _check_labels(labels, self.size)

    def _compute(self, states, ctx):
        counts = self._class_counts(states["counts"], self.labels)
        if self.labels is not None and not counts.in_true.any(axis=1).all():
            raise ValueError(
                "At least one label in `labels` must be present in `y1` (even though "
                "`cohen_kappa_score` is otherwise agnostic to the order of `y1` and `y2`)."
            )
        scores = _clf.kappa_from(counts, self.labels, self.weights, self.replace_undefined_by)
        return batch_result(scores, ctx, False)


class ConfusionMatrix(_Classification):
    """``C[i, j]``: samples of true class i predicted as class j, over every class 0..C-1
    (or ``labels``), normalised by ``normalize``. Equals ``confusion_matrix`` called with
    ``labels=range(C)``."""

    multilabel_ok = False

    def __init__(self, task="binary", *, num_classes=None, labels=None, normalize=None,
                 **engine):
        _clf.check_normalize(normalize)
        self.normalize = normalize
        super().__init__(task, num_classes=num_classes, **engine)
        self.labels = _check_labels(labels, self.size)

    def _compute(self, states, ctx):
        labels = np.arange(self.size) if self.labels is None else self.labels
        counts = self._class_counts(states["counts"], labels)
        if self.labels is not None and not counts.in_true.any(axis=1).all():
            raise ValueError("At least one label specified must be in y_true")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # a 1 x 1 matrix was asked for
            cm = _clf.confusion_matrix_from(counts, self.normalize)
        return _arrays.wrap(cm[0], ctx)


class TopKAccuracy(Metric):
    """Share of samples whose true class is among the ``k`` highest of ``num_classes``
    scores. Equals ``top_k_accuracy_score(..., labels=range(C))`` on all the data."""

    def __init__(self, k: int = 2, *, num_classes: int, normalize=True, **engine):
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be a positive integer; got {k!r}.")
        self.k = int(k)
        self.size = _check_task("multiclass", num_classes, None)
        self.normalize = normalize
        if self.k >= self.size:
            warnings.warn(
                f"'k' ({self.k}) greater than or equal to 'n_classes' ({self.size}) will "
                "result in a perfect score and is therefore meaningless.",
                _formulas.undefined_metric(), stacklevel=2,
            )
        super().__init__(**engine)

    def _make_states(self):
        return {"outcomes": S.TopK(self.k, self.size)}

    def _compute(self, states, ctx):
        outcomes = states["outcomes"].totals()[0].astype(np.float64)
        if outcomes[:, 2].any():
            raise ValueError(f"y_true had labels outside [0, {self.size}) in some update.")
        if outcomes[:, 3].any():
            raise ValueError("y_pred had NaN or infinite scores in some update.")
        correct, total = outcomes[:, 1], outcomes[:, :2].sum(axis=1)
        if self.normalize:
            if (total == 0).any():
                raise ZeroDivisionError("Weights sum to zero, can't be normalized")
            correct = correct / total
        return batch_result(correct, ctx, False)


# --- ranking ---------------------------------------------------------------------------------


def _edges(thresholds) -> tuple | None:
    """Inner bin edges: ``thresholds=B`` gives B equal bins over [0, 1]."""
    if thresholds is None:
        return None
    if isinstance(thresholds, int | np.integer) and not isinstance(thresholds, bool):
        if thresholds < 2:
            raise ValueError(f"thresholds must be at least 2 bins; got {thresholds}.")
        return tuple(np.linspace(0.0, 1.0, int(thresholds) + 1)[1:-1].tolist())
    _, edges = _ranking._check_thresholds(thresholds)
    return tuple(edges.tolist())


class _Ranking(Metric):
    """Score metrics: exact (scores buffered, ``thresholds=None``) or binned into fixed
    bins (``thresholds=B`` equal bins over [0, 1], or an increasing array of thresholds),
    which returns ``Binned(value, bound)`` as the functions do."""

    curve = False

    def __init__(self, task="binary", *, num_classes=None, num_labels=None, thresholds=None,
                 average="macro", **engine):
        self.task = task
        self.size = _check_task(task, num_classes, num_labels)
        self.columns = 1 if task == "binary" else self.size
        self.edges = _edges(thresholds)
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
        return _ranking._average_columns(*per_column(counts), self.average, None, None,
                                         support=support)

    def _finish(self, value, bound, ctx):
        wrap = (lambda v: batch_result(v, ctx, False)) if value.ndim == 1 else (
            lambda v: _arrays.wrap(v[0], ctx))
        return _ranking.Binned(wrap(value), wrap(bound))


def _auc_columns(counts):
    totals = counts.sum(axis=2)
    ok = _ranking._auc_defined(totals[0], totals)
    pairs = np.where(ok, totals[..., 0] * totals[..., 1], np.nan)
    return _ranking.auc_from_histogram(counts, pairs)


class AUROC(_Ranking):
    """Area under the ROC curve. Exact mode equals ``roc_auc_score`` on all the data
    (multiclass: ``labels=range(C)``; with two classes, which scikit-learn reads as binary,
    one vs rest over the two score columns). Binned mode equals ``roc_auc_score`` given the same
    array of thresholds; ``thresholds=B`` here means B equal bins over [0, 1], fixed before
    the data arrive (the function's ``thresholds=B`` bins each column's observed range)."""

    def __init__(self, task="binary", *, num_classes=None, num_labels=None, thresholds=None,
                 average="macro", max_fpr=None, multi_class="ovr", **engine):
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
                         thresholds=thresholds, average=average, **engine)

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
            value = _ranking.roc_auc_score(
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
            value = _ranking.average_precision_score(t, s, sample_weight=w,
                                                     average=self.average)
            return _arrays.wrap(value, ctx) if ctx.library != "numpy" else value
        lower = np.r_[-np.inf, self.edges]

        def per_column(counts):
            lows = np.broadcast_to(lower, counts.shape[:3])
            return _ranking.ap_from_histogram(_ranking._Histogram(counts, lows))

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
        fps, tps, thr = _ranking._binned_curve_counts(_ranking._Histogram(counts, lower), 0, 0)
        curve = self.from_counts(fps, tps, thr, self.drop_intermediate)
        return tuple(_arrays.wrap(np.asarray(a), ctx) for a in curve)


class ROCCurve(_Curve):
    """``(fpr, tpr, thresholds)`` of binary scores; equals ``roc_curve`` on all the data."""

    function = staticmethod(_ranking.roc_curve)
    from_counts = staticmethod(_ranking._roc_from_counts)
    plot_curve = "roc"

    def __init__(self, *, thresholds=None, drop_intermediate=True, **engine):
        super().__init__(thresholds=thresholds, drop_intermediate=drop_intermediate, **engine)


class PRCurve(_Curve):
    """``(precision, recall, thresholds)`` of binary scores; equals
    ``precision_recall_curve`` on all the data."""

    function = staticmethod(_ranking.precision_recall_curve)
    from_counts = staticmethod(_ranking._pr_from_counts)
    plot_curve = "pr"


# --- regression ------------------------------------------------------------------------------


class _Regression(Metric):
    """Metrics of the moments state; ``num_outputs`` columns of targets and predictions."""

    metric = "mse"
    allowed = _regression.MULTIOUTPUT[:2]

    def __init__(self, *, num_outputs: int = 1, multioutput="uniform_average", **engine):
        self.num_outputs = _check_task("multilabel", None, num_outputs)
        self.multioutput = _regression.check_multioutput(multioutput, self.num_outputs,
                                                         self.allowed)
        self.options = {}
        super().__init__(**engine)

    def _make_states(self):
        return {"moments": S.Moments(self.num_outputs)}

    def _compute(self, states, ctx):
        state = states["moments"].host("moments")
        _regression.check_finite_state(state, self.metric)
        n = int(states["moments"].host("samples")[0])
        return _regression.from_state(self.metric, state, self.multioutput, ctx, False,
                                      n_samples=n, **self.options)


class MeanSquaredError(_Regression):
    """Equals ``mean_squared_error`` on all the data."""

    metric = "mse"


class RootMeanSquaredError(_Regression):
    """Equals ``root_mean_squared_error`` on all the data."""

    metric = "rmse"


class MeanAbsoluteError(_Regression):
    """Equals ``mean_absolute_error`` on all the data."""

    metric = "mae"


class MeanAbsolutePercentageError(_Regression):
    """Equals ``mean_absolute_percentage_error`` on all the data."""

    metric = "mape"


class MaxError(_Regression):
    """Equals ``max_error`` on all the data (single output)."""

    metric = "max_error"


class PearsonCorrCoef(_Regression):
    """Equals ``pearson_corrcoef`` on all the data."""

    metric = "pearson"


class R2Score(_Regression):
    """Equals ``r2_score`` on all the data."""

    metric = "r2"
    allowed = _regression.MULTIOUTPUT

    def __init__(self, *, force_finite=True, **kwargs):
        super().__init__(**kwargs)
        self.options = {"force_finite": force_finite}


class ExplainedVariance(R2Score):
    """Equals ``explained_variance_score`` on all the data."""

    metric = "explained_variance"


# --- losses ----------------------------------------------------------------------------------


class _Loss(Metric):
    kind = "softmax"

    def __init__(self, *, num_classes: int = 2, reduction="mean", ignore_index=None, **engine):
        _losses._check_reduction(reduction)
        self.size = _check_task("multiclass", num_classes, None)
        self.reduction, self.ignore_index = reduction, ignore_index
        super().__init__(**engine)

    def _make_states(self):
        return {"sums": S.LossSums(self.kind, self.size, self.ignore_index)}

    def _sums(self, states) -> np.ndarray:
        sums = states["sums"].host("sums")
        if sums[:, 2].any():
            raise ValueError(f"y_true had class indices outside [0, {self.size}) in some update.")
        return sums

    def _compute(self, states, ctx):
        return _losses.reduce_sums(self._sums(states), self.reduction, ctx, False)


class CrossEntropy(_Loss):
    """Cross-entropy of logits ``(N, C)`` against class indices (``ignore_index`` left
    out). Equals ``cross_entropy`` on all the data."""

    kind = "softmax"


class LogLoss(_Loss):
    """scikit-learn's log loss of probabilities ``(N, C)`` (or ``(N,)`` for two classes)
    against class indices 0..C-1. Equals ``log_loss(..., labels=range(C))``."""

    kind = "proba"

    def __init__(self, *, num_classes: int = 2, normalize=True, **engine):
        super().__init__(num_classes=num_classes, reduction="mean" if normalize else "sum",
                         **engine)

    def _compute(self, states, ctx):
        sums = self._sums(states)
        if sums[:, 3].any():
            warnings.warn("The y_prob values do not sum to one. Make sure to pass "
                          "probabilities.", UserWarning, stacklevel=3)
        return _losses.reduce_sums(sums, self.reduction, ctx, False)


class BinaryCrossEntropy(_Loss):
    """Binary cross-entropy of probabilities (or logits, ``from_logits=True``) against
    targets in [0, 1]. Equals ``binary_cross_entropy`` on all the data."""

    def __init__(self, *, from_logits=False, reduction="mean", **engine):
        self.kind = "sigmoid" if from_logits else "binary_proba"
        super().__init__(num_classes=2, reduction=reduction, **engine)


METRICS = {
    cls.__name__: cls for cls in (
        Accuracy, HammingLoss, Precision, Recall, F1Score, FBetaScore, Specificity,
        JaccardIndex, BalancedAccuracy, MatthewsCorrCoef, CohenKappa, ConfusionMatrix,
        TopKAccuracy, AUROC, AveragePrecision, ROCCurve, PRCurve, MeanSquaredError,
        RootMeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError, MaxError,
        R2Score, ExplainedVariance, PearsonCorrCoef, LogLoss, CrossEntropy,
        BinaryCrossEntropy,
    )
}
"""Every streaming metric class, by name."""

__all__ = ["Metric", "MetricSet", *METRICS]
