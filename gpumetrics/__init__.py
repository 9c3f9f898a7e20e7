"""gpumetrics: machine-learning metrics computed where the data is.

The classification metrics carry scikit-learn's names, arguments and results; they accept
NumPy arrays, Python lists, PyTorch tensors, CuPy and JAX arrays and answer in the caller's
library. ``gpumetrics.batched`` evaluates K prediction sets in one launch.

>>> import gpumetrics
>>> gpumetrics.f1_score([1, 1, 1, 0, 0, 1, 0, 1, 0], [1, 1, 0, 0, 1, 1, 0, 1, 0])
0.8
"""

from gpumetrics._warnings import UndefinedMetricWarning
from gpumetrics.functional import *  # noqa: F403
from gpumetrics.functional import __all__ as _functional_all

__version__ = "0.1.0"
__all__ = [*_functional_all, "UndefinedMetricWarning"]
