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

# Subpackages reached as attributes (``gpumetrics.metrics.Accuracy``), imported on first use
# (PEP 562) so that ``import gpumetrics`` stays light: no Numba, torch or matplotlib.
SUBMODULES = ("batched", "dask", "dispatch", "distributed", "energy", "flops", "metrics",
              "runs", "scoring")


def __getattr__(name: str):
    if name in SUBMODULES:
        import importlib

        module = importlib.import_module(f"gpumetrics.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'gpumetrics' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *SUBMODULES})
