"""Metrics over Dask collections: each partition is counted where it lives, and the states
(never the samples) are tree-reduced with ``merge``.

>>> import dask.array as da                                     # doctest: +SKIP
>>> from gpumetrics.metrics import Accuracy, F1Score, MetricSet  # doctest: +SKIP
>>> metrics = MetricSet([Accuracy(), F1Score()])                 # doctest: +SKIP
>>> gpumetrics.dask.score(metrics, y_true, y_pred)               # doctest: +SKIP
{'accuracy': 0.91, 'f1_score': 0.87}

Runs on whatever scheduler is active: a ``dask.distributed.Client`` (a cluster of many
machines), or Dask's local threads. Only states travel between workers: a few kilobytes per
partition for counts and moments (exact-mode ranking metrics ship their score buffers).
"""

from __future__ import annotations

import copy

import numpy as np

from gpumetrics.metrics import Metric, MetricSet


def _dask():
    try:
        import dask
    except ImportError:
        raise RuntimeError("gpumetrics.dask needs Dask: pip install 'dask[distributed]'") from None
    return dask


def _fresh(template):
    fresh = copy.deepcopy(template)
    fresh.reset()
    return fresh


def _partition_state(template, y_true, y_pred, sample_weight):
    """The state of one partition (host arrays): the task a worker runs."""
    metrics = _fresh(template)
    if len(y_true):
        metrics.update(_values(y_true), _values(y_pred),
                       None if sample_weight is None else _values(sample_weight))
    return metrics.state_dict()


def _frame_state(template, frame, y_true, y_pred, sample_weight):
    """The state of one dataframe partition."""
    pred = frame[y_pred] if isinstance(y_pred, str) else frame[list(y_pred)]
    weight = None if sample_weight is None else frame[sample_weight]
    return _partition_state(template, frame[y_true], pred, weight)


def _values(x):
    """NumPy (or CuPy) values of an array, Series or DataFrame partition."""
    if hasattr(x, "to_numpy"):
        return x.to_numpy()
    if hasattr(x, "values") and not isinstance(x, np.ndarray):
        return x.values
    return x


def _merge_states(template, *state_dicts):
    """Merge partition states (in the given order): the reduction step of the tree."""
    merged = _fresh(template)
    merged.load_state_dict(state_dicts[0])
    for state in state_dicts[1:]:
        other = _fresh(template)
        other.load_state_dict(state)
        merged.merge(other)
    return merged.state_dict()


def _reduce(template, parts: list, split_every: int):
    """Tree-reduce delayed partition states, ``split_every`` at a time."""
    dask = _dask()
    merge = dask.delayed(_merge_states, pure=True)
    if not parts:
        return dask.delayed(lambda t: _fresh(t).state_dict())(template)
    while len(parts) > 1:
        parts = [merge(template, *parts[i:i + split_every])
                 for i in range(0, len(parts), split_every)]
    return parts[0]


def _check_metrics(metrics):
    if not isinstance(metrics, Metric | MetricSet):
        raise ValueError(
            f"metrics must be a gpumetrics Metric or MetricSet; got {type(metrics).__name__}."
        )
    if not isinstance(metrics, MetricSet):
        return MetricSet({metrics.name: metrics}), True
    return metrics, False


def _finish(metrics, single, merged: dict):
    """Merge the cluster's state into ``metrics`` and compute."""
    other = _fresh(metrics)
    other.load_state_dict(merged)
    metrics.merge(other)
    result = metrics.compute()
    return next(iter(result.values())) if single else result


def _split_every(split_every) -> int:
    if isinstance(split_every, bool) or not isinstance(split_every, int) or split_every < 2:
        raise ValueError(f"split_every must be an integer >= 2; got {split_every!r}.")
    return split_every


def score(metrics, y_true, y_pred, sample_weight=None, *, split_every: int = 8):
    """Compute ``metrics`` (a Metric or a MetricSet) over Dask arrays or Series, partition
    by partition; the result equals the one-shot function on all the data.

    ``y_pred`` may be 2-D (scores per class); it is rechunked to ``y_true``'s row chunks.
    The cluster's state is merged into ``metrics`` (so more updates may follow) and its
    ``compute()`` is returned.
    """
    dask = _dask()
    split_every = _split_every(split_every)
    metrics_set, single = _check_metrics(metrics)
    import dask.array as da

    if hasattr(y_true, "to_dask_array"):  # a dask Series / DataFrame
        y_true = y_true.to_dask_array(lengths=True)
    if hasattr(y_pred, "to_dask_array"):
        y_pred = y_pred.to_dask_array(lengths=True)
    if sample_weight is not None and hasattr(sample_weight, "to_dask_array"):
        sample_weight = sample_weight.to_dask_array(lengths=True)
    arrays = {"y_true": y_true, "y_pred": y_pred, "sample_weight": sample_weight}
    for name, x in arrays.items():
        if x is not None and not isinstance(x, da.Array):
            raise ValueError(f"{name} must be a dask array or series; got {type(x).__name__}.")
    if y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(f"y_true has {y_true.shape[0]} rows but y_pred has {y_pred.shape[0]}.")
    rows = y_true.chunks[0]
    y_true = y_true.rechunk({0: rows, **{a: -1 for a in range(1, y_true.ndim)}})
    y_pred = y_pred.rechunk({0: rows, **{a: -1 for a in range(1, y_pred.ndim)}})
    t_parts = y_true.to_delayed().ravel()
    p_parts = y_pred.to_delayed().ravel()
    if sample_weight is not None:
        w_parts = sample_weight.rechunk({0: rows}).to_delayed().ravel()
    else:
        w_parts = [None] * len(t_parts)
    template = dask.delayed(_fresh(metrics_set), pure=True)
    state = dask.delayed(_partition_state, pure=True)
    parts = [state(template, t, p, w) for t, p, w in zip(t_parts, p_parts, w_parts,
                                                          strict=True)]
    (merged,) = dask.compute(_reduce(template, parts, split_every))
    return _finish(metrics_set, single, merged)


def score_dataframe(metrics, frame, *, y_true: str, y_pred, sample_weight: str | None = None,
                    split_every: int = 8):
    """Compute ``metrics`` over the columns of a Dask DataFrame, partition by partition.

    ``y_pred`` names one column, or a list of columns stacked as ``(n, len(list))`` scores.
    """
    dask = _dask()
    split_every = _split_every(split_every)
    metrics_set, single = _check_metrics(metrics)
    wanted = [y_true, *([y_pred] if isinstance(y_pred, str) else list(y_pred))]
    if sample_weight is not None:
        wanted.append(sample_weight)
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ValueError(
            f"columns {missing} are not in the dataframe; it has {list(frame.columns)}."
        )
    template = dask.delayed(_fresh(metrics_set), pure=True)
    state = dask.delayed(_frame_state, pure=True)
    parts = [state(template, part, y_true, y_pred, sample_weight)
             for part in frame[wanted].to_delayed()]
    (merged,) = dask.compute(_reduce(template, parts, split_every))
    return _finish(metrics_set, single, merged)
