"""The engine every streaming metric runs on: unique states, update, compute, merge,
sync and the CUDA stream order of all of them; ``Metric`` and ``MetricSet``."""

from __future__ import annotations

import copy
import re

import numpy as np

from gpumetrics import _arrays, _streams, dispatch, inputs
from gpumetrics import states as S

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
            batch = inputs.UpdateInputs(y_true, y_pred, sample_weight, kernels=kernels, ctx=ctx,
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
