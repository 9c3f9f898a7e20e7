"""Where state buffers live and how they fold: the merge rules of every state field.

A field's rule says how two copies combine: ``sum`` (counts, weight sums), ``min`` /
``max`` (running extremes), ``moments`` (the regression state, by Chan's formulas) and
``concat`` (exact-mode buffers, appended in order). ``merged`` and ``merge_into`` are the
one table of those rules: ``State.merge`` folds in place, on the metric's device, and
``distributed`` folds the host copies gathered from every process.
"""

from __future__ import annotations

import numpy as np

from gpumetrics import _arrays, _streams
from gpumetrics.kernels import _common

SUM, MIN, MAX, MOMENTS, CONCAT = "sum", "min", "max", "moments", "concat"
RULES = (SUM, MIN, MAX, MOMENTS, CONCAT)


def initial(rule: str, dtype: str):
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
        getattr(_arrays.namespace(a), _UFUNCS[rule])(a, b, out=a)
    else:
        assign(a, merged(rule, _arrays.to_host(a), _arrays.to_host(b)))


def assign(buffer, value) -> None:
    """Write ``value`` (host or device) into ``buffer`` where it lives."""
    buffer[...] = like(value, buffer)


def drop_buffers(chunks: list) -> None:
    """Let go of exact-mode chunks once the device work queued so far has run: a chunk
    freed at once could be handed to a new array while a kernel on another stream still
    reads it (``_streams.hold``; nothing to wait for on the host)."""
    if chunks and not isinstance(chunks[0], np.ndarray):
        _streams.hold(list(chunks))


def to(xp, x):
    """``x`` in the array library ``xp``: NumPy on the host, CuPy on the current device
    (an array of another device is copied to it)."""
    if xp is np:
        return np.asarray(_arrays.to_host(x))
    if _arrays.namespace(x) is not xp:
        return xp.asarray(x)
    return x if x.device.id == xp.cuda.Device().id else x.copy()


def like(b, a):
    """``b`` where ``a`` is: in its library, on its device."""
    if isinstance(a, np.ndarray):
        return to(np, b)
    with a.device:
        return to(_arrays.namespace(a), b)


def concat(chunks: list, shape: tuple):
    if not chunks:
        return np.zeros((0, *shape[1:]))
    if len(chunks) == 1:
        return chunks[0]
    return _arrays.namespace(chunks[0]).concatenate(chunks, axis=0)
