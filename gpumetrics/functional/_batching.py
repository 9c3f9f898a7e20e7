"""One implementation, two entry points: ``gpumetrics.<name>`` and ``gpumetrics.batched.<name>``.

A metric is written once with a private ``_batched`` keyword. ``batchable`` hides that
keyword from the public signature (so ``backend=`` stays the last keyword) and registers a
twin that sets it, for ``gpumetrics.batched``.
"""

from __future__ import annotations

import functools
import inspect

from gpumetrics import _streams

BATCHED: dict[str, object] = {}

_BATCHED_NOTE = """
    Batched form: ``y_pred`` (or ``y_score``) has a leading axis of K prediction sets
    (models, checkpoints, thresholds) evaluated against the same ``y_true`` in one kernel
    launch; every result gains a leading axis K. Label sets are taken per prediction set,
    so each entry equals the single call on that set (confusion matrices use the union of
    labels so that they stack).
"""


def batchable(func):
    signature = inspect.signature(func)
    public = signature.replace(
        parameters=[p for p in signature.parameters.values() if p.name != "_batched"]
    )

    @functools.wraps(func)
    def single(*args, **kwargs):
        with _streams.scope_of(*args, *kwargs.values()):
            return func(*args, **kwargs, _batched=False)

    @functools.wraps(func)
    def batched(*args, **kwargs):
        with _streams.scope_of(*args, *kwargs.values()):
            return func(*args, **kwargs, _batched=True)

    single.__signature__ = public
    batched.__signature__ = public
    batched.__module__ = "gpumetrics.batched"
    # The single-call example does not apply to the batched form: keep the summary only.
    summary = (func.__doc__ or "").split("\n\n")[0]
    batched.__doc__ = summary + "\n" + _BATCHED_NOTE
    BATCHED[func.__name__] = batched
    return single


