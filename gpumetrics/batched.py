"""Batched metrics: K prediction sets (models, checkpoints, thresholds) in one launch.

Every function has the signature of its namesake in ``gpumetrics`` but takes ``y_pred``
(or ``y_score``) with a leading axis of K sets, all scored against one ``y_true``, and
returns results with a leading axis K. There is no Python loop over K in the counting.

>>> import numpy as np
>>> from gpumetrics import batched
>>> y_true = np.array([0, 1, 1, 0])
>>> batched.accuracy_score(y_true, np.array([[0, 1, 1, 0], [1, 1, 1, 1]]))
array([1. , 0.5])
"""

from gpumetrics import functional as _functional  # noqa: F401  (registers the twins)
from gpumetrics.functional._batching import BATCHED as _BATCHED

__all__ = sorted(_BATCHED)
globals().update(_BATCHED)


def __dir__():
    return __all__
