"""Array interop: recognise the caller's array library, view inputs zero-copy, return results
in the caller's library and on the caller's device.

Libraries are recognised through ``sys.modules``: a library the caller has not imported
cannot have produced their arrays, so it is never imported here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

NEUTRAL = "neutral"  # Python lists, tuples and scalars: they take the other inputs' library


@dataclass(frozen=True)
class ArrayContext:
    """Where the caller's data lives: its library (``numpy``, ``torch``, ``cupy``, ``jax``)
    and device (``"cpu"`` or the library's device object)."""

    library: str
    device: object = "cpu"

    @property
    def on_gpu(self) -> bool:
        return self.device != "cpu"

    @property
    def device_index(self) -> int:
        """The CUDA ordinal of a GPU context's device."""
        if self.library == "torch":
            index = self.device.index
            return sys.modules["torch"].cuda.current_device() if index is None else index
        if self.library == "cupy":
            return self.device.id
        if self.library == "jax":
            return self.device.local_hardware_id
        raise ValueError(f"{self.library} arrays on the host have no CUDA device.")


HOST = ArrayContext("numpy")


def _library_of(x) -> str:
    if isinstance(x, np.ndarray | np.generic):
        return "numpy"
    if isinstance(x, list | tuple | int | float | bool | str):
        return NEUTRAL
    root = type(x).__module__.partition(".")[0]
    if root == "torch" and "torch" in sys.modules and isinstance(x, sys.modules["torch"].Tensor):
        return "torch"
    if root == "cupy" and "cupy" in sys.modules and isinstance(x, sys.modules["cupy"].ndarray):
        return "cupy"
    if root in ("jax", "jaxlib") and "jax" in sys.modules:
        return "jax"
    # pandas, xarray, array-likes with __array__: read on the host like NumPy.
    return "numpy"


def _device_of(x, library: str):
    if library == "torch":
        return "cpu" if x.device.type == "cpu" else x.device
    if library == "cupy":
        return x.device
    if library == "jax":
        (device,) = x.devices()
        return "cpu" if device.platform == "cpu" else device
    return "cpu"


def context_of(**arrays) -> ArrayContext:
    """The one library and device shared by the named inputs (None entries are skipped).

    Raises ``ValueError`` naming the arguments when they come from different libraries or
    live on different devices: nothing is copied across devices silently.
    """
    seen: dict[tuple[str, object], str] = {}
    for name, x in arrays.items():
        if x is None:
            continue
        library = _library_of(x)
        if library == NEUTRAL:
            continue
        seen.setdefault((library, _device_of(x, library)), name)
    if not seen:
        return HOST
    if len(seen) > 1:
        parts = ", ".join(f"{name} is {lib} on {dev}" for (lib, dev), name in seen.items())
        raise ValueError(
            f"inputs must come from one array library on one device; {parts}. "
            "Convert them to the same library and device first."
        )
    ((library, device),) = seen
    return ArrayContext(library, device)


def to_kernel(x, name: str, ctx: ArrayContext = HOST):
    """View ``x`` as a kernel array: NumPy on the host, CuPy on a GPU. Zero-copy where the
    library allows it (torch CPU tensors, JAX CPU arrays, NumPy, CuPy). Narrow floats that
    neither NumPy nor CuPy computes with (bfloat16, float8) are widened to float32.

    Device inputs are kept safe for the kernels queued on the current stream: torch's
    allocator is told the stream uses them, JAX arrays are held until the kernels have run
    (see ``gpumetrics._streams``)."""
    if x is None:
        return None
    library = _library_of(x)
    if library == "torch":
        x = x.detach()
        if x.is_conj():
            x = x.resolve_conj()
        if x.is_neg():
            x = x.resolve_neg()
        if x.dtype.is_floating_point and x.dtype.itemsize <= 2 and (
                x.dtype != sys.modules["torch"].float16):
            x = x.float()  # bfloat16, float8: neither NumPy nor CuPy computes with them
        if x.device.type == "cpu":
            return x.numpy()
        from gpumetrics import _streams

        _streams.mark_used(x)
        return _cupy().from_dlpack(x)
    if library == "cupy":
        return x
    if library == "jax":
        if _is_narrow_float(x.dtype):
            x = x.astype("float32")
        if not ctx.on_gpu:
            return np.asarray(x)
        from gpumetrics import _streams

        _streams.hold(x)
        return _cupy().from_dlpack(x)
    if callable(getattr(x, "toarray", None)) and type(x).__module__.startswith("scipy.sparse"):
        x = x.toarray()  # scipy.sparse matrices and arrays: read dense, as scikit-learn does
    try:
        array = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name} could not be read as an array: {exc}") from None
    return array.astype(np.float32) if _is_narrow_float(array.dtype) else array


def _is_narrow_float(dtype) -> bool:
    """bfloat16 and the float8/float6/float4 types of ``ml_dtypes`` (JAX's narrow floats)."""
    dtype = np.dtype(dtype)
    return dtype.kind == "V" and dtype.type.__module__.startswith("ml_dtypes") and (
        dtype.name.startswith(("bfloat", "float")))


def namespace(x):
    """NumPy for host arrays (and None or lists), CuPy for device arrays."""
    if x is None or isinstance(x, np.ndarray | list):
        return np
    return _cupy()


def _cupy():
    try:
        import cupy
    except ImportError:  # pragma: no cover - only on machines with device arrays
        raise RuntimeError(
            "GPU arrays need CuPy: pip install 'gpumetrics[cuda12]' (or [cuda13], after the "
            "CUDA major version of the driver)") from None
    return cupy


def to_host(x):
    """A NumPy copy of a kernel array (a no-op for NumPy)."""
    if isinstance(x, np.ndarray):
        return x
    if "cupy" in sys.modules and isinstance(x, sys.modules["cupy"].ndarray):
        return x.get()
    return np.asarray(x)


def wrap(result, ctx: ArrayContext):
    """Return a kernel result in the caller's library and on its device.

    NumPy callers get Python floats for scalars and NumPy arrays, as scikit-learn returns;
    torch, CuPy and JAX callers get 0-d or n-d arrays of their own library.
    """
    if ctx.library == "numpy":
        if isinstance(result, np.ndarray):
            return result
        result = to_host(result)
        return float(result) if np.ndim(result) == 0 else result
    if ctx.library == "torch":
        torch = sys.modules["torch"]
        if ctx.on_gpu:
            return torch.from_dlpack(_cupy().asarray(result))
        return torch.from_numpy(np.array(to_host(result), copy=True))
    if ctx.library == "cupy":
        return _cupy().asarray(result)
    if ctx.library == "jax":
        import jax.numpy as jnp

        if ctx.on_gpu:  # JAX's stream waits for the kernels (DLPack's stream handshake)
            return jnp.from_dlpack(_cupy().asarray(result))
        return jnp.asarray(to_host(result))
    raise AssertionError(ctx.library)


def batch_result(values, ctx, batched: bool):
    """Give per-set results the shape the caller expects: K values, or the single one (a
    Python float for NumPy callers, a 0-d array of the caller's library otherwise)."""
    out = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=np.float64)
    if not batched:
        out = out[0]
        if out.ndim == 0:
            return wrap(float(out), ctx)
    return wrap(out, ctx)
