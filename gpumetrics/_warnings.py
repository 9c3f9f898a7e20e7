"""Warning classes."""

from __future__ import annotations

import sys


class UndefinedMetricWarning(UserWarning):
    """A metric is ill-defined for the given data (for example 0/0) and was set to a
    replacement value; scikit-learn emits a warning of the same name in the same cases.

    Where scikit-learn is imported, the warning raised is also an instance of
    ``sklearn.exceptions.UndefinedMetricWarning``, so that filters on either class see it
    (scikit-learn is never imported for that)."""


_BOTH: dict[type, type] = {}


def undefined_metric() -> type[UndefinedMetricWarning]:
    """The class to warn with: ``UndefinedMetricWarning``, or where the caller has imported
    scikit-learn, a subclass of it and of scikit-learn's class of the same name."""
    theirs = getattr(sys.modules.get("sklearn.exceptions"), "UndefinedMetricWarning", None)
    if theirs is None:
        return UndefinedMetricWarning
    if theirs not in _BOTH:
        _BOTH[theirs] = type("UndefinedMetricWarning", (UndefinedMetricWarning, theirs),
                             {"__module__": "gpumetrics",
                              "__doc__": UndefinedMetricWarning.__doc__})
    return _BOTH[theirs]
