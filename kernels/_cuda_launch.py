"""What every CUDA kernel module shares: the launch constants, the caller's arrays and
stream (``Call``), launch shapes, and the two kernel templates (the privatised histogram
and the block reduction)."""

from __future__ import annotations

import functools
import warnings

import numpy as np
from numba import config, cuda
from numba.core.errors import NumbaPerformanceWarning

SIMULATED = bool(config.ENABLE_CUDASIM)
THREADS = 32 if SIMULATED else 256  # threads per block
MAX_BLOCKS = 2 if SIMULATED else 1024  # blocks per batch row (grid-stride beyond that)
# Blocks of one grid across its rows: a few waves of the blocks a large GPU holds resident
# (e.g. 132 SMs x 8 blocks of 256 threads), so that K rows share the device, not K times it.
GRID_BLOCKS = 4 if SIMULATED else 4096
MAX_GRID_ROWS = 2 if SIMULATED else 65535  # the grid's height: kernels stride over rows
# Grid-stride rounds a block of the confusion and multilabel kernels counts into its uint32
# cells before adding them to the global result: THREADS * FLUSH_ROUNDS < 2^32, so no cell
# can wrap whatever N is. (The histogram and bincount kernels flush once per row: a block
# would need 2^32 samples of one row to wrap a cell.) Tiny under the simulator, so that its
# small tests flush many times.
FLUSH_ROUNDS = 2 if SIMULATED else (2**32 - 1) // THREADS
WARP_CLASSES = 32  # confusion with at most this many classes aggregates each warp's equal cells

# Small batches launch few blocks by design (one per 256 samples): Numba's advice to launch
# more does not apply to them.
warnings.filterwarnings("ignore", message="Grid size .* will likely result in GPU under",
                        category=NumbaPerformanceWarning)

SHARED_CELLS_U32 = 12288  # 48 KiB of uint32 counts per block (the most a block may declare)
SHARED_CELLS_F64 = 6144  # 48 KiB of float64 weight sums


# --- arrays, streams, launches -------------------------------------------------------------


def _cupy_of(x):
    """The cupy module when ``x`` is a CuPy array, else None."""
    module = type(x).__module__.partition(".")[0]
    if module == "cupy":
        import cupy

        return cupy
    return None


@functools.cache
def _usable_cupy():
    """The cupy module when it can run here (a device and a driver), else None: CuPy
    imports on machines without a driver and fails only at first use."""
    if SIMULATED:
        return None
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
    except Exception:
        return None
    return cupy


def _kernel_arg(x):
    """A kernel argument: a CuPy array viewed as a Numba array that names no stream. Every
    launch names its own, the caller's current CuPy stream, which the caller's inputs are
    ordered on, so the device orders the work; Numba would otherwise make a stream object
    for each array, and synchronise it."""
    if _cupy_of(x) is None:
        return x
    desc = dict(x.__cuda_array_interface__)
    desc.pop("stream", None)
    return cuda.from_cuda_array_interface(desc, owner=x, sync=False)


@functools.lru_cache(maxsize=64)
def _stream(device: int, ptr: int):
    """Numba's handle of stream ``ptr`` on ``device`` (current when called), made once so
    that Numba's launch configurations are reused. 0 is the legacy default stream, CuPy's
    null stream: Numba's ``default_stream()`` would be the per-thread one under
    ``NUMBA_CUDA_PER_THREAD_DEFAULT_STREAM=1``."""
    return cuda.external_stream(ptr) if ptr else cuda.legacy_default_stream()


@functools.lru_cache(maxsize=256)
def _constant(kind: str, n: int, device: int, ptr: int):
    """A small read-only device array, made once per (device, stream) and written on that
    stream, so that the launches that read it find it ready: ``"zeros"``, a float64 stand-in
    of n axes of length 1 for an array a kernel takes but does not read; ``"arange"``, the
    identity lookup table of n classes."""
    host = np.arange(n, dtype=np.int64) if kind == "arange" else np.zeros((1,) * n)
    return cuda.to_device(host, stream=_stream(device, ptr))


class Call:
    """Where one call runs. Device arrays are CuPy arrays when CuPy can run here (so that
    CuPy's sort and scan serve the exact curves), else Numba device arrays; every launch is
    on the caller's current CuPy stream. CuPy inputs are used in place and results stay on
    the device; host inputs are copied to the device and results copied back."""

    def __init__(self, like):
        given = _cupy_of(like)
        self.host_inputs = given is None
        self.cupy = given if given is not None else _usable_cupy()
        self.xp = np if self.host_inputs else self.cupy
        if self.cupy is not None:
            runtime = self.cupy.cuda.runtime
            self.where = (runtime.getDevice(), self.cupy.cuda.get_current_stream().ptr)
        else:  # Numba's own arrays, on its legacy default stream
            self.where = (0 if SIMULATED else cuda.get_current_device().id, 0)
        self.stream = _stream(*self.where)

    def launch(self, kernel, grid, block, *args, shared_bytes=0):
        """``kernel`` on the call's stream, with ``shared_bytes`` of dynamic shared memory
        per block."""
        kernel[grid, block, self.stream, shared_bytes](*(_kernel_arg(a) for a in args))

    def constant(self, kind: str, n: int):
        """``_constant(kind, n)`` of this call's device and stream."""
        return _constant(kind, n, *self.where)

    def device(self, x):
        if x is None or getattr(x, "__cuda_ndarray__", False):  # Numba's own: as it is
            return x
        if self.cupy is not None:  # a host array is copied (asynchronously, on the stream)
            return self.cupy.asarray(x, order="C")
        return cuda.to_device(np.ascontiguousarray(x), stream=self.stream)

    def zeros(self, shape, dtype):
        if self.cupy is not None:
            return self.cupy.zeros(shape, dtype)
        return cuda.to_device(np.zeros(shape, dtype), stream=self.stream)

    def empty(self, shape, dtype):
        if self.cupy is not None:
            return self.cupy.empty(shape, dtype)
        return cuda.device_array(shape, dtype, stream=self.stream)

    def weights(self, w):
        """Sample weights on the device, or a 1 x 1 stand-in when there are none (kernels
        take no None; they read it only when weighted)."""
        return self.constant("zeros", 2) if w is None else self.device(w)

    def host(self, x) -> np.ndarray:
        """A NumPy copy of a device array (a host array as it is), read once the call's
        stream has finished."""
        if isinstance(x, np.ndarray):
            return x
        if _cupy_of(x) is not None:
            return x.get()
        host = x.copy_to_host(stream=self.stream)
        self.stream.synchronize()
        return host

    def result(self, x):
        """A result where the caller's inputs were: on the host or on the device."""
        return self.host(x) if self.host_inputs else x

    def accumulator(self, out, shape):
        """Where a kernel adds its counts, viewed as ``shape``: a device ``out`` itself (no
        buffer, no extra pass), else fresh zeros that ``add_into`` adds to a host ``out``."""
        if not isinstance(out, np.ndarray) and out.flags.c_contiguous:
            return out.reshape(shape)
        return self.zeros(shape, out.dtype)

    def add_into(self, out, counts):
        """``out`` with the counts of ``accumulator(out, ...)`` added."""
        if isinstance(out, np.ndarray):
            out += self.host(counts).reshape(out.shape)
        elif counts.data.ptr != out.data.ptr:
            out += counts.reshape(out.shape)
        return out


def launch_shape(n: int, k: int = 1) -> tuple[tuple[int, int], int]:
    """``(grid, block)`` for n samples per row and k rows: one grid row per row up to the
    grid's limit (kernels loop over rows with a stride of the grid's height), and per row
    enough blocks to fill the device together, about ``GRID_BLOCKS`` in all: more would only
    queue, each thread counting a few samples and flushing its block's cells once per row.
    Grid-stride loops take the rest."""
    blocks = max(1, min(MAX_BLOCKS, -(-n // THREADS), GRID_BLOCKS // max(k, 1)))
    return (blocks, max(1, min(k, MAX_GRID_ROWS))), THREADS


# --- the privatised histogram and the block reduction ----------------------------------------
#
# Every counting kernel is one template: a block clears its copy of the cells in shared
# memory, its threads count into it with shared-memory atomics (``count_cell``), and it adds
# each non-zero cell to its row of the global result once (``flush_cells``); where the
# cells do not fit (``shared`` false) the threads count into the global result directly.
# Every reduction kernel is the other template: each thread's partial result goes to a row
# of a shared array, which ``block_reduce(combine)`` folds pairwise into row 0.


@cuda.jit(device=True, inline=True)
def clear_cells(hist, cells):
    """Zero the block's first ``cells`` shared cells, then wait for every thread."""
    c = cuda.threadIdx.x
    while c < cells:
        hist[c] = 0
        c += cuda.blockDim.x
    cuda.syncthreads()


@cuda.jit(device=True, inline=True)
def count_cell(hist, out, row, cell, value, shared):
    """Add ``value`` to a cell: the block's shared copy, or ``out[row]`` directly. The
    value is cast to the array's dtype (uint32 counts in shared memory, int64 in global)."""
    if shared:
        cuda.atomic.add(hist, cell, value)
    else:
        cuda.atomic.add(out, (row, cell), value)


@cuda.jit(device=True, inline=True)
def flush_cells(hist, out, row, cells):
    """Add the block's non-zero shared cells to ``out[row]``, one atomic per cell, between
    two barriers: all counting is done before, and the cells can be cleared after."""
    cuda.syncthreads()
    c = cuda.threadIdx.x
    while c < cells:
        if hist[c] != 0:
            cuda.atomic.add(out, (row, c), hist[c])
        c += cuda.blockDim.x
    cuda.syncthreads()


@cuda.jit(device=True, inline=True)
def row_of(row, L, n_true, n_weight):
    """Grid row ``row = k * L + j`` of a per-column kernel: ``(k, j)``, and the rows of
    y_true and of the weights that set k reads (their leading axis is 1, shared, or K)."""
    k = row // L
    return k, row % L, min(k, n_true - 1), min(k, n_weight - 1)


def block_reduce(combine):
    """A device function folding the rows of a ``(blockDim, F)`` shared array pairwise
    into row 0 (log2 of the block's threads levels), with ``combine(into, other)``; every
    thread must have written its row, and every thread must call it."""

    @cuda.jit(device=True, inline=True)
    def reduce(shared, tid):
        cuda.syncthreads()
        half = cuda.blockDim.x // 2
        while half > 0:
            if tid < half:
                combine(shared[tid], shared[tid + half])
            cuda.syncthreads()
            half //= 2

    return reduce


@cuda.jit(device=True, inline=True)
def add_row(into, other):
    for f in range(into.shape[0]):
        into[f] += other[f]


add_rows = block_reduce(add_row)


