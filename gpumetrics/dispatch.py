"""Backend registry: which kernel module runs a call.

Order of precedence: the ``backend=`` argument, then the ``GPUMETRICS_BACKEND`` environment
variable, then the input's device (GPU arrays -> ``cuda``; host arrays -> ``cpu``, or
``reference`` when Numba cannot be loaded). Backend modules are imported on first use.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os

BACKENDS = ("reference", "cpu", "cuda")
ENV_VAR = "GPUMETRICS_BACKEND"


class BackendUnavailableError(RuntimeError):
    """The backend that was asked for cannot run on this machine."""


@functools.cache
def _load(name: str):
    return importlib.import_module(f"gpumetrics.kernels.{name}")


@functools.cache
def cuda_unavailable_reason() -> str | None:
    """Why the CUDA backend cannot run here, or None when it can.

    CuPy may import on a machine with no driver and fail only at first use; that counts as
    "no GPU", never as a crash.
    """
    try:
        found = importlib.util.find_spec("gpumetrics.kernels.cuda") is not None
    except ImportError as exc:  # a source tree without the gpumetrics.kernels mapping
        return f"the kernels package could not be found ({exc}); install gpumetrics"
    if not found:
        return "this version of gpumetrics has no CUDA kernels"
    try:
        from numba import cuda
    except Exception as exc:  # numba-cuda missing or broken
        return f"numba-cuda could not be imported ({exc})"
    try:
        if not cuda.is_available():
            return "no CUDA driver or device was found"
    except Exception as exc:
        return f"the CUDA driver failed to initialise ({exc})"
    try:
        _load("cuda")
    except Exception as exc:
        return f"the CUDA kernels could not be loaded ({type(exc).__name__}: {exc})"
    return None


@functools.cache
def _cpu_unavailable_reason() -> str | None:
    try:
        _load("cpu")
    except ImportError as exc:
        return f"Numba could not be imported ({exc})"
    except Exception as exc:  # Numba present but broken
        return f"the CPU kernels could not be loaded ({type(exc).__name__}: {exc})"
    return None


def _check_name(name: str, source: str) -> str:
    name = name.strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"{source} must be one of {', '.join(BACKENDS)}; got {name!r}.")
    return name


def resolve(backend: str | None = None, on_gpu: bool = False) -> str:
    """The name of the backend that will run a call on data on the host or a GPU."""
    if backend is not None:
        name = _check_name(backend, "backend")
    elif os.environ.get(ENV_VAR):
        name = _check_name(os.environ[ENV_VAR], ENV_VAR)
    elif on_gpu:
        name = "cuda"
    else:
        return "cpu" if _cpu_unavailable_reason() is None else "reference"
    if name == "cuda":
        reason = cuda_unavailable_reason()
        if reason is not None:
            raise BackendUnavailableError(f"the 'cuda' backend cannot run: {reason}.")
    elif on_gpu:
        raise ValueError(
            f"backend={name!r} runs on the host, but the inputs are on a GPU; use "
            "backend='cuda' or move the inputs to the host first."
        )
    elif name == "cpu":
        reason = _cpu_unavailable_reason()
        if reason is not None:
            raise BackendUnavailableError(f"the 'cpu' backend cannot run: {reason}.")
    return name


def kernels(backend: str | None = None, on_gpu: bool = False):
    """The kernel module (``gpumetrics.kernels.<name>``) for a call."""
    return _load(resolve(backend, on_gpu))


def available() -> tuple[str, ...]:
    """The backends that can run on this machine."""
    names = ["reference"]
    if _cpu_unavailable_reason() is None:
        names.append("cpu")
    if cuda_unavailable_reason() is None:
        names.append("cuda")
    return tuple(names)
