"""Numba CUDA implementations of the kernels, on device arrays.

Same signatures, results and errors as ``reference.py`` and ``cpu.py``. Inputs are CuPy
arrays (or anything with ``__cuda_array_interface__``), used in place and counted on the
caller's current CuPy stream, with no host synchronisation; host (NumPy) inputs are copied
to the device, counted there and the results copied back, so that every kernel can be
forced onto this backend.

Counting kernels privatise their histogram in shared memory: each block counts into its
own copy with shared-memory atomics, then adds each non-zero bin to the global result with
one atomic. Histograms too large for shared memory are counted with global atomics. Loops
are grid-stride; the batch axis K is the grid's second dimension, so K prediction sets are
counted in one launch. Moments and loss sums are block reductions in float64, merged with
Chan's formulas on the device. Exact ranking sorts each score column (CuPy's radix sort, or
a bitonic sort here when CuPy cannot run) and scans it.

Tested without a GPU under the Numba CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), where a
block's threads are Python threads: launches are kept small there. The simulator has no
``match_any_sync``: the warp-aggregated confusion path is chosen only off the simulator
(``SIMULATED``), and is checked by compiling and assembling it (``tests/cuda/test_ptx.py``).
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from gpumetrics.kernels import _common
from numba import config, cuda, float64, int32, int64, uint32
from numba.core.errors import NumbaPerformanceWarning

name = "cuda"

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


class _Call:
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


# --- confusion -----------------------------------------------------------------------------


# --- the privatised histogram and the block reduction ----------------------------------------
#
# Every counting kernel is one template: a block clears its copy of the cells in shared
# memory, its threads count into it with shared-memory atomics (``_count``), and it adds
# each non-zero cell to its row of the global result once (``_flush_cells``); where the
# cells do not fit (``shared`` false) the threads count into the global result directly.
# Every reduction kernel is the other template: each thread's partial result goes to a row
# of a shared array, which ``_block_reduce(combine)`` folds pairwise into row 0.


@cuda.jit(device=True, inline=True)
def _clear_cells(hist, cells):
    """Zero the block's first ``cells`` shared cells, then wait for every thread."""
    c = cuda.threadIdx.x
    while c < cells:
        hist[c] = 0
        c += cuda.blockDim.x
    cuda.syncthreads()


@cuda.jit(device=True, inline=True)
def _count(hist, out, row, cell, value, shared):
    """Add ``value`` to a cell: the block's shared copy, or ``out[row]`` directly. The
    value is cast to the array's dtype (uint32 counts in shared memory, int64 in global)."""
    if shared:
        cuda.atomic.add(hist, cell, value)
    else:
        cuda.atomic.add(out, (row, cell), value)


@cuda.jit(device=True, inline=True)
def _flush_cells(hist, out, row, cells):
    """Add the block's non-zero shared cells to ``out[row]``, one atomic per cell, between
    two barriers: all counting is done before, and the cells can be cleared after."""
    cuda.syncthreads()
    c = cuda.threadIdx.x
    while c < cells:
        if hist[c] != 0:
            cuda.atomic.add(out, (row, c), hist[c])
        c += cuda.blockDim.x
    cuda.syncthreads()


def _block_reduce(combine):
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
def _add_row(into, other):
    for f in range(into.shape[0]):
        into[f] += other[f]


_add_rows = _block_reduce(_add_row)


@cuda.jit(device=True, inline=True)
def _class_index(v, offset, lut, n_classes):
    shifted = int64(v) - offset
    if shifted >= 0 and shifted < lut.shape[0]:
        return lut[shifted]
    return n_classes


CONFUSION_MODES = ("global", "shared", "warp")


def _confusion_kernel(weighted: bool, mode: str):
    """A confusion kernel: float64 weight sums or int64 counts. ``mode``: ``"global"`` adds
    each sample to the global result; ``"shared"`` counts into a block-private copy in
    dynamic shared memory (uint32 counts or float64 sums), added to the result at each
    flush; ``"warp"`` (counts only) as ``"shared"``, the lanes of a warp that share a cell
    adding to it once (``match_any_sync``), so that few classes do not serialise the warp."""
    shared = mode != "global"
    cell_type = float64 if weighted else uint32

    @cuda.jit
    def kernel(y_true, y_pred, lut, offset, n_classes, ignore, use_ignore, weight, out):
        width = n_classes + 1
        cells = width * width
        N = y_pred.shape[1]
        tid = cuda.threadIdx.x
        hist = cuda.shared.array(0, cell_type)
        stride = cuda.gridDim.x * cuda.blockDim.x
        window = stride * FLUSH_ROUNDS
        for k in range(cuda.blockIdx.y, y_pred.shape[0], cuda.gridDim.y):
            kt = min(k, y_true.shape[0] - 1)
            kw = min(k, weight.shape[0] - 1)
            # Each window's loop bounds are the block's, not the thread's: every thread (so
            # every lane of a warp, as match_any_sync needs) runs every round, and a window
            # gives a block at most FLUSH_ROUNDS samples a thread, too few to wrap a cell.
            # While loops: a range with a runtime step costs a 64-bit division and is
            # unrolled, which took 44-56 registers where these take 23-27 (ptxas, sm_90).
            first = cuda.blockIdx.x * cuda.blockDim.x
            while first < N:
                if shared:
                    _clear_cells(hist, cells)
                end = min(N, first + window)
                i = first + tid
                while i - tid < end:
                    cell = -1  # no cell: past the end, or an ignored label
                    if i < N:
                        t = y_true[kt, i]
                        if not (use_ignore and int64(t) == ignore):
                            cell = (_class_index(t, offset, lut, n_classes) * width
                                    + _class_index(y_pred[k, i], offset, lut, n_classes))
                    if mode == "warp":
                        peers = cuda.match_any_sync(int32(-1), int32(cell))
                        # the lowest lane of each group of equal cells adds the group's size
                        if cell >= 0 and (peers & ((1 << cuda.laneid) - 1)) == 0:
                            cuda.atomic.add(hist, cell, uint32(cuda.popc(peers)))
                    elif cell >= 0 and weighted:
                        _count(hist, out, k, cell, weight[kw, i], shared)
                    elif cell >= 0:
                        _count(hist, out, k, cell, uint32(1), shared)
                    i += stride
                if shared:
                    _flush_cells(hist, out, k, cells)
                first += window

    return kernel


@functools.cache
def _has_match_any(device: int) -> bool:
    """Whether ``device`` (current when called) runs ``match_any_sync`` (compute capability
    7.0 and later); never under the simulator, which does not implement it."""
    return not SIMULATED and cuda.get_current_device().compute_capability >= (7, 0)


def _confusion_mode(C: int, weighted: bool, device: int) -> str:
    """The ``_confusion_kernel`` mode for C classes: shared memory when the (C + 1)^2 cells
    fit, warp-aggregated where few classes make equal cells in a warp likely."""
    if (C + 1) ** 2 > (SHARED_CELLS_F64 if weighted else SHARED_CELLS_U32):
        return "global"
    if not weighted and C <= WARP_CLASSES and _has_match_any(device):
        return "warp"
    return "shared"


_KERNELS: dict = {}


def _kernel(op: str, *key):
    """Kernels are built once per (op, options) and cached; Numba compiles each once per
    argument types."""
    if (op, *key) not in _KERNELS:
        build = {"confusion": _confusion_kernel, "histogram": _histogram_kernel}[op]
        _KERNELS[(op, *key)] = build(*key)
    return _KERNELS[(op, *key)]


def confusion(
    y_true, y_pred, num_classes, sample_weight=None, ignore_index=None, lut=None, offset=0,
    out=None,
):
    call = _Call(y_pred)
    if lut is None:  # the identity table (at offset 0), made once per device and stream
        lut, offset = call.constant("arange", max(1, int(num_classes))), 0
    y_true, y_pred, C, w, lut, offset, out = _common.prepare_confusion(
        y_true, y_pred, num_classes, sample_weight, lut, offset, out, xp=call.xp
    )
    K, N = y_pred.shape
    cells = (C + 1) * (C + 1)
    weighted = w is not None
    counts = call.accumulator(out, (K, cells))
    if N:
        mode = _confusion_mode(C, weighted, call.where[0])
        grid, block = launch_shape(N, K)
        call.launch(
            _kernel("confusion", weighted, mode), grid, block,
            call.device(y_true), call.device(y_pred), call.device(lut), int(offset), C,
            int(ignore_index) if ignore_index is not None else 0, ignore_index is not None,
            call.weights(w), counts,
            shared_bytes=0 if mode == "global" else cells * (8 if weighted else 4),
        )
    return call.add_into(out, counts)


# --- multilabel counts ---------------------------------------------------------------------


def _label_kernel(weighted: bool, shared: bool):
    """A multilabel counting kernel: ``out[k, 4 * l + 2 * true + pred]``, int64 counts or
    float64 weight sums, through a block-private copy of the L x 4 cells in dynamic shared
    memory (uint32 counts, flushed before they can wrap) when ``shared``."""
    cell_type = float64 if weighted else uint32

    @cuda.jit
    def kernel(y_true, y_pred, weight, out):
        L = y_pred.shape[2]
        N = y_pred.shape[1]
        tid = cuda.threadIdx.x
        hist = cuda.shared.array(0, cell_type)
        stride = cuda.gridDim.x * cuda.blockDim.x
        window = stride * FLUSH_ROUNDS  # a sample adds 1 to one cell of each label
        for k in range(cuda.blockIdx.y, y_pred.shape[0], cuda.gridDim.y):
            kt = min(k, y_true.shape[0] - 1)
            kw = min(k, weight.shape[0] - 1)
            first = cuda.blockIdx.x * cuda.blockDim.x
            while first < N:  # while loops: fewer registers than range (see confusion)
                if shared:
                    _clear_cells(hist, 4 * L)
                end = min(N, first + window)
                i = first + tid
                while i < end:
                    if weighted:
                        value = weight[kw, i]
                    else:
                        value = cell_type(1)
                    for j in range(L):
                        cell = (4 * j + 2 * int64(y_true[kt, i, j] != 0)
                                + int64(y_pred[k, i, j] != 0))
                        _count(hist, out, k, cell, value, shared)
                    i += stride
                if shared:
                    _flush_cells(hist, out, k, 4 * L)
                first += window

    return kernel


_LABEL_KERNELS = {(w, s): _label_kernel(w, s) for w in (False, True) for s in (False, True)}


def label_counts(y_true, y_pred, sample_weight=None, out=None):
    call = _Call(y_pred)
    y_true, y_pred, w, out = _common.prepare_label_counts(y_true, y_pred, sample_weight, out,
                                                          xp=call.xp)
    K, N, L = y_pred.shape
    weighted = w is not None
    counts = call.accumulator(out, (K, 4 * L))
    if N and L:
        shared = 4 * L <= (SHARED_CELLS_F64 if weighted else SHARED_CELLS_U32)
        grid, block = launch_shape(N, K)
        call.launch(_LABEL_KERNELS[weighted, shared], grid, block, call.device(y_true),
                    call.device(y_pred), call.weights(w), counts,
                    shared_bytes=4 * L * (8 if weighted else 4) if shared else 0)
    return call.add_into(out, counts)


# --- label ranges and counts ---------------------------------------------------------------


@cuda.jit
def _bincount_kernel(y, offset, size, out):
    # Few labels over many samples would serialise every thread on a handful of global
    # addresses: when the counts fit, each block counts into shared memory and adds each
    # non-zero count once. uint32 holds a block's counts: a block reads at most its
    # grid-stride share of y, far below 2^32 samples. ``out`` is (1, size).
    hist = cuda.shared.array(SHARED_CELLS_U32, uint32)
    shared = size <= SHARED_CELLS_U32
    if shared:
        _clear_cells(hist, size)
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, y.shape[0], stride):
        v = int64(y[i]) - offset
        if v >= 0 and v < size:
            _count(hist, out, 0, v, uint32(1), shared)
    if shared:
        _flush_cells(hist, out, 0, size)


def bincount(y, offset, size, out=None):
    call = _Call(y)
    y, offset, size, out = _common.prepare_bincount(y, offset, size, out, xp=call.xp)
    counts = call.accumulator(out, (size,))
    if y.shape[0]:
        grid, block = launch_shape(y.shape[0])
        call.launch(_bincount_kernel, grid[0], block, call.device(y), offset, size,
                    counts.reshape(1, size))
    return call.add_into(out, counts)


@cuda.jit
def _range_kernel(y, out):
    # out[0] = min, out[1] = max (as int64), by atomics on per-thread extremes
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    lo = int64(y[start]) if start < y.shape[0] else int64(y[0])
    hi = lo
    for i in range(start, y.shape[0], stride):
        v = int64(y[i])
        lo = min(lo, v)
        hi = max(hi, v)
    cuda.atomic.min(out, 0, lo)
    cuda.atomic.max(out, 1, hi)


def label_range(y):
    """Smallest and largest label (Python ints: this reads the device)."""
    call = _Call(y)
    y = _common.prepare_range(y, xp=call.xp)
    first = np.asarray([np.iinfo(np.int64).max, np.iinfo(np.int64).min], np.int64)
    out = call.device(first)
    grid, block = launch_shape(y.shape[0])
    call.launch(_range_kernel, grid[0], block, call.device(y), out)
    host = call.host(out)
    return int(host[0]), int(host[1])


# --- scores: ranges and histograms ---------------------------------------------------------


@cuda.jit
def _score_range_kernel(y_score, out):
    # grid row = k * L + j; finite scores reduce to out[k, j, 0:2] (min, max); any NaN or
    # infinite score sets out[k, j, 2] to 1
    L = y_score.shape[2]
    for row in range(cuda.blockIdx.y, y_score.shape[0] * L, cuda.gridDim.y):
        k = row // L
        j = row % L
        start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        stride = cuda.gridDim.x * cuda.blockDim.x
        low = float64(np.inf)
        high = float64(-np.inf)
        nonfinite = 0.0
        for i in range(start, y_score.shape[1], stride):
            v = float64(y_score[k, i, j])
            if v != v:
                nonfinite = 1.0
                continue
            if v == np.inf or v == -np.inf:
                nonfinite = 1.0
            low = min(low, v)
            high = max(high, v)
        cuda.atomic.min(out, (k, j, 0), low)
        cuda.atomic.max(out, (k, j, 1), high)
        if nonfinite:
            cuda.atomic.max(out, (k, j, 2), nonfinite)


def score_range(y_score):
    call = _Call(y_score)
    y_score = _common.as_score_array(y_score, "y_score", call.xp)
    if y_score.ndim != 3:
        raise ValueError(f"y_score must be 3-D (K, N, L); got {y_score.ndim}-D.")
    K, N, L = y_score.shape
    if call.cupy is not None:  # filled on the device: nothing crosses per call
        out = call.cupy.empty((K, L, 3))
    else:
        out = np.empty((K, L, 3))
    out[..., 0], out[..., 1], out[..., 2] = np.inf, -np.inf, 0.0
    out = call.device(out)
    if N and L:
        grid, block = launch_shape(N, K * L)
        call.launch(_score_range_kernel, grid, block, call.device(y_score), out)
    return call.result(out)


@cuda.jit(device=True, inline=True)
def _search_right(edges, n, v):
    """``searchsorted(edges[:n], v, side="right")``: NaN sorts last."""
    if v != v:
        return n
    a = 0
    b = n
    while a < b:
        mid = (a + b) // 2
        if edges[mid] <= v:
            a = mid + 1
        else:
            b = mid
    return a


SHARED_EDGES = 2048  # float64 edges a block stages in shared memory (16 KiB)


def _edge_cells(staged: bool) -> int:
    """float64 cells of a histogram kernel's edge cache (a 1-cell stand-in when unused)."""
    return SHARED_EDGES if staged else 1


def _histogram_cells(weighted: bool, staged: bool) -> int:
    """Histogram cells per block in shared memory: what the edge cache leaves of the
    48 KiB a block may declare."""
    budget = 48 * 1024 - 8 * _edge_cells(staged)
    return budget // 8 if weighted else budget // 4


def _stages_edges(n_edges: int, weighted: bool) -> bool:
    """Whether a block stages the edges in shared memory: when they fit beside a shared
    histogram of their bins (else the histogram keeps shared memory, the edges global)."""
    return n_edges <= SHARED_EDGES and 2 * (n_edges + 1) <= _histogram_cells(weighted, True)


def _histogram_kernel(weighted: bool, indicator: bool, use_edges: bool, shared: bool,
                      staged: bool = False):
    """A score-histogram kernel. Grid row ``k * L + j`` counts column j of set k into a
    block-private histogram of 2 B cells (uint32 counts or float64 weight sums); with
    ``staged``, each block first copies the edges into shared memory."""
    cells_max = _histogram_cells(weighted, staged)
    cell_type = float64 if weighted else uint32
    edge_cells = _edge_cells(staged)

    @cuda.jit
    def kernel(y_true, y_score, lo, hi, n_bins, edges, weight, out):
        L = y_score.shape[2]
        # every sample binary-searches the edges: from shared memory, not global, when staged
        n_edges = edges.shape[0]
        edge_cache = cuda.shared.array(edge_cells, float64)
        if staged:
            for c in range(cuda.threadIdx.x, n_edges, cuda.blockDim.x):
                edge_cache[c] = edges[c]
            cuda.syncthreads()
        for row in range(cuda.blockIdx.y, y_score.shape[0] * L, cuda.gridDim.y):
            k = row // L
            j = row % L
            kt = min(k, y_true.shape[0] - 1)
            kw = min(k, weight.shape[0] - 1)
            tid = cuda.threadIdx.x
            cells = 2 * n_bins
            hist = cuda.shared.array(cells_max, cell_type)
            if shared:
                _clear_cells(hist, cells)
            low = 0.0
            step = 0.0
            if not use_edges:  # with edges, lo and hi are 1 x 1 stand-ins
                # the reference's scale, computed here rather than by a few array
                # operations per call: n_bins / (hi - lo), or 0 for an empty range
                low = lo[k, j]
                width = hi[k, j] - low
                if width > 0:
                    step = n_bins / width
            start = cuda.blockIdx.x * cuda.blockDim.x + tid
            stride = cuda.gridDim.x * cuda.blockDim.x
            for i in range(start, y_score.shape[1], stride):
                v = float64(y_score[k, i, j])
                if use_edges and staged:
                    b = _search_right(edge_cache, n_edges, v)
                elif use_edges:
                    b = _search_right(edges, n_edges, v)
                else:
                    f = (v - low) * step
                    if f >= n_bins:
                        b = n_bins - 1
                    elif f >= 0:
                        b = int64(f)
                    else:
                        b = 0  # also NaN, as the reference
                if indicator:
                    positive = int64(y_true[kt, i, j] != 0)
                else:
                    positive = int64(int64(y_true[kt, i]) == j)
                cell = 2 * b + positive
                if weighted:
                    _count(hist, out, row, cell, weight[kw, i], shared)
                else:
                    _count(hist, out, row, cell, uint32(1), shared)
            if shared:
                _flush_cells(hist, out, row, cells)  # (its last barrier: the next row's too)

    return kernel


def score_histogram(y_true, y_score, lo, hi, n_bins, edges=None, sample_weight=None, out=None):
    call = _Call(y_score)
    y_true, y_score, lo, hi, B, edges, w, out = _common.prepare_histogram(
        y_true, y_score, lo, hi, n_bins, edges, sample_weight, out, xp=call.xp
    )
    K, N, L = y_score.shape
    weighted = w is not None
    counts = call.accumulator(out, (K * L, 2 * B))
    if N and L:
        staged = edges is not None and _stages_edges(edges.shape[0], weighted)
        kernel = _kernel("histogram", weighted, y_true.ndim == 3, edges is not None,
                         2 * B <= _histogram_cells(weighted, staged), staged)
        if edges is None:  # the kernel reads the ranges, or the edges: a stand-in for the other
            ranges, edges = (call.device(lo), call.device(hi)), call.constant("zeros", 1)
        else:
            ranges, edges = (call.constant("zeros", 2),) * 2, call.device(edges)
        grid, block = launch_shape(N, K * L)
        call.launch(
            kernel, grid, block,
            call.device(y_true), call.device(y_score), *ranges, B, edges, call.weights(w),
            counts,
        )
    return call.add_into(out, counts)


# --- exact ranking: sort and scan on the device --------------------------------------------
#
# Each score column (k, j) is one row r = k * L + j. Rows are sorted ascending (NaN last)
# with CuPy's sort (CUB radix sort) where CuPy can run, else with a bitonic sort written
# here; cumulative sums likewise use CuPy's scan, else a block scan written here. The
# kernels around them (gather, tie runs, rank sums, curve points) are the same for both.


@cuda.jit(device=True, inline=True)
def _before(a, ia, b, ib):
    """(score, index) ``a`` sorts before ``b``: by score, NaN last, ties by index."""
    if a < b:
        return True
    if a > b:
        return False
    a_nan = a != a
    b_nan = b != b
    if a_nan != b_nan:
        return b_nan
    return ia < ib


@cuda.jit
def _sort_init_kernel(y_score, values, order):
    # values[r, i] = y_score[k, i, j] (NaN beyond N, so the padding sorts last); order = i
    L = y_score.shape[2]
    for r in range(cuda.blockIdx.y, values.shape[0], cuda.gridDim.y):
        k = r // L
        j = r % L
        start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        for i in range(start, values.shape[1], cuda.gridDim.x * cuda.blockDim.x):
            if i < y_score.shape[1]:
                values[r, i] = y_score[k, i, j]
            else:
                values[r, i] = np.nan
            order[r, i] = i


@cuda.jit
def _bitonic_step_kernel(values, order, j, size):
    # one compare-exchange stage of a bitonic sort of every row; each pair has one owner
    for r in range(cuda.blockIdx.y, values.shape[0], cuda.gridDim.y):
        start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        for i in range(start, values.shape[1], cuda.gridDim.x * cuda.blockDim.x):
            partner = i ^ j
            if partner > i:
                a, ia = values[r, i], order[r, i]
                b, ib = values[r, partner], order[r, partner]
                if (i & size) == 0:
                    swap = _before(b, ib, a, ia)
                else:
                    swap = _before(a, ia, b, ib)
                if swap:
                    values[r, i], order[r, i] = b, ib
                    values[r, partner], order[r, partner] = a, ia


def _sorted_columns(call, y_score):
    """Every column of the device array ``y_score`` ``(K, N, L)`` sorted ascending, NaN
    last: ``(values, order)``, both ``(K * L, N)``, with ``values[r] = column[order[r]]``."""
    K, N, L = y_score.shape
    R = K * L
    if call.cupy is not None:
        cp = call.cupy
        rows = cp.ascontiguousarray(cp.moveaxis(y_score, 2, 1).reshape(R, N))
        # one NaN bit pattern: the radix sort puts positive NaN last, but not negative NaN
        rows = cp.where(rows == rows, rows, np.nan).astype(rows.dtype, copy=False)
        order = cp.empty((R, N), cp.int64)
        for r in range(R):  # a radix sort per row
            order[r] = cp.argsort(rows[r])
        return cp.take_along_axis(rows, order, axis=1), order
    M = 1 << max(0, (N - 1).bit_length())
    values = call.empty((R, M), y_score.dtype)
    order = call.empty((R, M), np.int64)
    grid, block = launch_shape(M, R)
    call.launch(_sort_init_kernel, grid, block, y_score, values, order)
    size = 2
    while size <= M:
        j = size // 2
        while j > 0:
            call.launch(_bitonic_step_kernel, grid, block, values, order, j, size)
            j //= 2
        size *= 2
    return values[:, :N], order[:, :N]


def _scan_kernel(dtype):
    @cuda.jit
    def kernel(x, out, totals):
        # inclusive scan of one block's slice of row r (Hillis-Steele in shared memory)
        for r in range(cuda.blockIdx.y, x.shape[0], cuda.gridDim.y):
            tid = cuda.threadIdx.x
            i = cuda.blockIdx.x * cuda.blockDim.x + tid
            buf = cuda.shared.array(THREADS, dtype)
            if i < x.shape[1]:
                buf[tid] = x[r, i]
            else:
                buf[tid] = 0
            cuda.syncthreads()
            offset = 1
            while offset < cuda.blockDim.x:
                add = buf[tid] * 0
                if tid >= offset:
                    add = buf[tid - offset]
                cuda.syncthreads()
                buf[tid] += add
                cuda.syncthreads()
                offset *= 2
            if i < x.shape[1]:
                out[r, i] = buf[tid]
            if tid == cuda.blockDim.x - 1:
                totals[r, cuda.blockIdx.x] = buf[tid]
            cuda.syncthreads()  # the block's shared memory is reused by its next row

    return kernel


_SCAN_KERNELS = {np.dtype(np.int64): _scan_kernel(int64),
                 np.dtype(np.float64): _scan_kernel(float64)}


@cuda.jit
def _add_offsets_kernel(out, scanned_totals):
    for r in range(cuda.blockIdx.y, out.shape[0], cuda.gridDim.y):
        b = cuda.blockIdx.x
        i = b * cuda.blockDim.x + cuda.threadIdx.x
        if b > 0 and i < out.shape[1]:
            out[r, i] += scanned_totals[r, b - 1]


def _cumsum_rows(call, x):
    """Inclusive cumulative sums along each row of a ``(R, N)`` device array."""
    if call.cupy is not None:
        return call.cupy.cumsum(x, axis=1)
    R, N = x.shape
    blocks = -(-N // THREADS)
    out = call.empty((R, N), x.dtype)
    totals = call.empty((R, blocks), x.dtype)
    grid = (blocks, min(R, MAX_GRID_ROWS))
    call.launch(_SCAN_KERNELS[np.dtype(x.dtype)], grid, THREADS, x, out, totals)
    if blocks > 1:
        call.launch(_add_offsets_kernel, grid, THREADS, out,
                    _cumsum_rows(call, totals))
    return out


def _gather_kernel(weighted: bool, indicator: bool):
    @cuda.jit
    def kernel(order, y_true, weight, L, reverse, pos, neg, nonzero):
        # the positive and negative weight at each sorted position (reversed: descending),
        # and with weights, whether the weight there is non-zero
        for r in range(cuda.blockIdx.y, order.shape[0], cuda.gridDim.y):
            k = r // L
            j = r % L
            kt = min(k, y_true.shape[0] - 1)
            kw = min(k, weight.shape[0] - 1)
            N = order.shape[1]
            start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
            for i in range(start, N, cuda.gridDim.x * cuda.blockDim.x):
                s = order[r, i]
                if indicator:
                    positive = y_true[kt, s, j] != 0
                else:
                    positive = int64(y_true[kt, s]) == j
                if weighted:
                    value = weight[kw, s]
                else:
                    value = 1
                d = N - 1 - i if reverse else i
                if positive:
                    pos[r, d] = value
                    neg[r, d] = 0
                else:
                    pos[r, d] = 0
                    neg[r, d] = value
                if weighted:
                    nonzero[r, d] = int64(value != 0)

    return kernel


@cuda.jit
def _run_ends_kernel(values, reverse, ends):
    # ends[r, d] = 1 where sorted position d (descending order when reversed) is the last
    # of a run of equal scores: one comparison with the neighbour, no search. NaN != NaN,
    # so each NaN is a run of its own, as in the reference.
    N = values.shape[1]
    for r in range(cuda.blockIdx.y, values.shape[0], cuda.gridDim.y):
        start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        for d in range(start, N, cuda.gridDim.x * cuda.blockDim.x):
            if d == N - 1:
                ends[r, d] = 1
            elif reverse:
                ends[r, d] = int64(values[r, N - 1 - d] != values[r, N - 2 - d])
            else:
                ends[r, d] = int64(values[r, d] != values[r, d + 1])


@cuda.jit(device=True, inline=True)
def _run_of(cends, r, i):
    """The run holding position i of row r: the number of runs that end before i."""
    return cends[r, i - 1] if i > 0 else 0


@cuda.jit
def _run_totals_kernel(ends, cends, csum, totals):
    # totals[r, g] = csum[r, i] at the last position i of run g: each run's bounds in a
    # running sum, gathered once, so that every position reads them in O(1)
    for r in range(cuda.blockIdx.y, ends.shape[0], cuda.gridDim.y):
        start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        for i in range(start, ends.shape[1], cuda.gridDim.x * cuda.blockDim.x):
            if ends[r, i]:
                totals[r, cends[r, i] - 1] = csum[r, i]


def _rank_kernel(weighted: bool):
    dtype = float64 if weighted else int64

    @cuda.jit
    def kernel(pos, cneg, cends, neg_through, out):
        # out[r] += [negatives, positives, U] (unweighted: 2U, exact in int64): each
        # positive counts the negatives below its run and half those in it
        for r in range(cuda.blockIdx.y, pos.shape[0], cuda.gridDim.y):
            tid = cuda.threadIdx.x
            N = pos.shape[1]
            p_sum = dtype(0)
            u_sum = dtype(0)
            start = cuda.blockIdx.x * cuda.blockDim.x + tid
            for i in range(start, N, cuda.gridDim.x * cuda.blockDim.x):
                if i == N - 1:
                    out[r, 0] = cneg[r, i]
                p = pos[r, i]
                if p != 0:
                    g = _run_of(cends, r, i)
                    below = neg_through[r, g - 1] if g > 0 else dtype(0)
                    tied = neg_through[r, g] - below
                    if weighted:
                        u_sum += p * (below + 0.5 * tied)
                    else:
                        u_sum += p * (2 * below + tied)
                    p_sum += p
            shared = cuda.shared.array((THREADS, 2), dtype)
            shared[tid, 0] = p_sum
            shared[tid, 1] = u_sum
            cuda.syncthreads()
            half = cuda.blockDim.x // 2
            while half > 0:
                if tid < half:
                    shared[tid, 0] += shared[tid + half, 0]
                    shared[tid, 1] += shared[tid + half, 1]
                cuda.syncthreads()
                half //= 2
            if tid < 2:
                cuda.atomic.add(out, (r, tid + 1), shared[0, tid])
            cuda.syncthreads()  # the block's shared memory is reused by its next row

    return kernel


_GATHER_KERNELS = {(w, i): _gather_kernel(w, i) for w in (False, True) for i in (False, True)}
_RANK_KERNELS = {False: _rank_kernel(False), True: _rank_kernel(True)}


def _class_weights(call, order, y_true, w, L, reverse):
    """The positive and negative weight (or count) at each sorted position, ``(R, N)``
    each, and with weights, the non-zero flags."""
    R, N = order.shape
    weighted = w is not None
    dtype = np.float64 if weighted else np.int64
    pos, neg = call.empty((R, N), dtype), call.empty((R, N), dtype)
    nonzero = call.empty((R, N) if weighted else (1, 1), np.int64)
    grid, block = launch_shape(N, R)
    call.launch(_GATHER_KERNELS[weighted, y_true.ndim == 3], grid, block, order,
                call.device(y_true), call.weights(w), L, reverse, pos, neg, nonzero)
    return pos, neg, nonzero


def _tie_runs(call, values, reverse):
    """Flags on the last position of each run of equal scores (in descending order when
    reversed) and their running count, ``(R, N)`` int64 each: run ids and run bounds come
    from these scans, not from a search per element."""
    R, N = values.shape
    ends = call.empty((R, N), np.int64)
    grid, block = launch_shape(N, R)
    call.launch(_run_ends_kernel, grid, block, values, reverse, ends)
    return ends, _cumsum_rows(call, ends)


def _exact_float32(y_score, xp):
    """Scores that float32 holds exactly (float16, integers of at most 16 bits, bool) as
    float32, so that the exact ranking sorts 4-byte keys where ``as_score_array`` would
    widen them to float64; the order and the ties, all that ranking reads, are the same."""
    dtype = getattr(y_score, "dtype", None)
    if dtype is not None and dtype.kind in "biuf" and dtype.itemsize <= 2:
        return y_score.astype(xp.float32)
    return y_score


def rank_auc(y_true, y_score, sample_weight=None):
    call = _Call(y_score)
    y_score = _exact_float32(y_score, call.xp)
    y_true, y_score, w = _common.prepare_scores(y_true, y_score, sample_weight, xp=call.xp)
    K, N, L = y_score.shape
    weighted = w is not None
    stats = call.zeros((K * L, 3), np.float64 if weighted else np.int64)
    if N and L:
        values, order = _sorted_columns(call, call.device(y_score))
        pos, neg, _ = _class_weights(call, order, y_true, w, L, reverse=False)
        ends, cends = _tie_runs(call, values, reverse=False)
        del values, order  # not read past here: a lower peak of device memory
        cneg = _cumsum_rows(call, neg)
        neg_through = call.empty(cneg.shape, cneg.dtype)
        grid, block = launch_shape(N, K * L)
        call.launch(_run_totals_kernel, grid, block, ends, cends, cneg, neg_through)
        call.launch(_RANK_KERNELS[weighted], grid, block, pos, cneg, cends, neg_through,
                    stats)
    stats = call.result(stats)
    out = stats.astype(np.float64)
    if not weighted:
        out[:, 2] = stats[:, 2] / 2
    return out.reshape(K, L, 3)


def refine_auc(y_true, y_score, lo, hi, n_bins, edges=None, sample_weight=None):
    """``rank_auc``: on the device, sorting every score costs less than a pass to find
    the bins that need it."""
    call = _Call(y_score)
    y_score = _exact_float32(y_score, call.xp)
    y_true, y_score, *_, w, _ = _common.prepare_histogram(
        y_true, y_score, lo, hi, n_bins, edges, sample_weight, None, xp=call.xp
    )
    return rank_auc(y_true, y_score, w)


@cuda.jit
def _runs_held_kernel(nonzero, cends, held):
    # held[0, g] = 1 where run g holds a non-zero weight (every such position of the run
    # stores the same 1, so the race is harmless)
    start = cuda.grid(1)
    for i in range(start, nonzero.shape[1], cuda.gridsize(1)):
        if nonzero[0, i]:
            held[0, _run_of(cends, 0, i)] = 1


@cuda.jit
def _drop_empty_runs_kernel(ends, cends, held):
    # a run of zero weights only gives no point: the reference drops those samples
    start = cuda.grid(1)
    for i in range(start, ends.shape[1], cuda.gridsize(1)):
        if ends[0, i] and held[0, cends[0, i] - 1] == 0:
            ends[0, i] = 0


@cuda.jit
def _curve_points_kernel(values, fps, tps, ends, cends, thresholds, fps_out, tps_out, count):
    N = values.shape[1]
    start = cuda.grid(1)
    for i in range(start, N, cuda.gridsize(1)):
        if i == N - 1:
            count[0] = cends[0, i]
        if ends[0, i]:
            at = cends[0, i] - 1
            thresholds[at] = values[0, N - 1 - i]
            fps_out[at] = float64(fps[0, i])
            tps_out[at] = float64(tps[0, i])


def clf_curve(y_true, y_score, sample_weight=None):
    call = _Call(y_score)
    given = y_score.dtype
    y_true, y_score, w = _common.prepare_curve(y_true, _exact_float32(y_score, call.xp),
                                               sample_weight, xp=call.xp)
    # thresholds in the reference's dtype, which widens what was sorted as float32 to float64
    threshold_dtype = y_score.dtype if y_score.dtype == given else np.float64
    N = y_score.shape[0]
    weighted = w is not None
    if N == 0:
        empty = call.xp.zeros(0, np.float64)
        return empty.astype(threshold_dtype), empty, empty.copy()
    values, order = _sorted_columns(call, call.device(y_score).reshape(1, N, 1))
    pos, neg, nonzero = _class_weights(call, order, y_true.reshape(1, N, 1),
                                       None if w is None else w.reshape(1, N), 1,
                                       reverse=True)
    tps, fps = _cumsum_rows(call, pos), _cumsum_rows(call, neg)
    ends, cends = _tie_runs(call, values, reverse=True)
    grid, block = launch_shape(N)
    if weighted:  # keep the ends of runs holding a non-zero weight, then count again
        held = call.zeros((1, N), np.int64)
        call.launch(_runs_held_kernel, grid[0], block, nonzero, cends, held)
        call.launch(_drop_empty_runs_kernel, grid[0], block, ends, cends, held)
        cends = _cumsum_rows(call, ends)
    count = call.zeros((1,), np.int64)
    size = N  # at most one point per sample; trimmed to the count read back below
    thresholds = call.empty((size,), threshold_dtype)
    fps_out, tps_out = call.empty((size,), np.float64), call.empty((size,), np.float64)
    call.launch(_curve_points_kernel, grid[0], block, values, fps, tps, ends, cends,
                thresholds, fps_out, tps_out, count)
    n = int(call.host(count)[0])
    return tuple(call.result(a[:n]) for a in (thresholds, fps_out, tps_out))


# --- per-sample multilabel counts ----------------------------------------------------------


@cuda.jit
def _sample_label_kernel(y_true, y_pred, out):
    for k in range(cuda.blockIdx.y, y_pred.shape[0], cuda.gridDim.y):
        kt = min(k, y_true.shape[0] - 1)
        start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
        for i in range(start, y_pred.shape[1], cuda.gridDim.x * cuda.blockDim.x):
            tp = 0
            predicted = 0
            true = 0
            differing = 0
            for j in range(y_pred.shape[2]):
                t = y_true[kt, i, j]
                p = y_pred[k, i, j]
                tp += int64(t != 0 and p != 0)
                predicted += int64(p != 0)
                true += int64(t != 0)
                differing += int64(int64(t) != int64(p))
            out[k, i, 0] = tp
            out[k, i, 1] = predicted
            out[k, i, 2] = true
            out[k, i, 3] = differing


def sample_label_counts(y_true, y_pred):
    call = _Call(y_pred)
    y_true, y_pred, _ = _common.prepare_sample_label_counts(y_true, y_pred, xp=call.xp)
    K, N, _ = y_pred.shape
    out = call.zeros((K, N, 4), np.int64)
    if N:
        grid, block = launch_shape(N, K)
        call.launch(_sample_label_kernel, grid, block, call.device(y_true),
                    call.device(y_pred), out)
    return call.result(out)


# --- regression moments --------------------------------------------------------------------

FIELDS = len(_common.MOMENTS)
_EPS64 = float(np.finfo(np.float64).eps)


_merge_state = cuda.jit(device=True, inline=True)(_common.merge_state)
_merge_states = _block_reduce(_merge_state)


def _moments_kernel(weighted: bool):
    """Per-thread weighted Welford updates of the 13 fields (means relative to the column's
    first values), merged across the block in shared memory; one state per block."""

    @cuda.jit
    def kernel(y_true, y_pred, weight, blocks):
        L = y_pred.shape[2]
        for row in range(cuda.blockIdx.y, y_pred.shape[0] * L, cuda.gridDim.y):
            k = row // L
            j = row % L
            kt = min(k, y_true.shape[0] - 1)
            kw = min(k, weight.shape[0] - 1)
            tid = cuda.threadIdx.x
            st = cuda.local.array(FIELDS, float64)
            for f in range(FIELDS):
                st[f] = 0.0
            st[11] = float64(y_true[kt, 0, j])
            st[12] = float64(y_pred[k, 0, j])
            stride = cuda.gridDim.x * cuda.blockDim.x
            i = cuda.blockIdx.x * cuda.blockDim.x + tid
            while i < y_pred.shape[1]:  # not range: fewer registers (see confusion)
                if weighted:
                    w = weight[kw, i]
                else:
                    w = 1.0
                t = float64(y_true[kt, i, j])
                p = float64(y_pred[k, i, j])
                x = t - st[11]
                y = p - st[12]
                e = p - t
                err = abs(e)
                if not err <= st[10]:  # NaN propagates
                    st[10] = err
                W = st[0] + w
                frac = w / W if W != 0 else 0.0
                dx = x - st[1]
                st[1] += dx * frac
                dy = y - st[3]
                st[3] += dy * frac
                st[2] += w * dx * (x - st[1])
                st[4] += w * dy * (y - st[3])
                st[5] += w * dx * (y - st[3])
                de = e - st[6]
                st[6] += de * frac
                st[7] += w * de * (e - st[6])
                st[0] = W
                st[8] += w * err
                st[9] += w * err / max(abs(t), _EPS64)
                i += stride
            shared = cuda.shared.array((THREADS, FIELDS), float64)
            for f in range(FIELDS):
                shared[tid, f] = st[f]
            _merge_states(shared, tid)
            if tid == 0:
                for f in range(FIELDS):
                    blocks[row, cuda.blockIdx.x, f] = shared[0, f]
            cuda.syncthreads()  # the block's shared memory is reused by its next row

    return kernel


@cuda.jit
def _merge_blocks_kernel(blocks, states):
    # Merges the block states of row r into states[r], one block per row: each thread merges
    # every blockDim-th state, then the threads' states merge pairwise in shared memory
    # (log2 THREADS levels). A tree, not one thread walking up to MAX_BLOCKS states: short
    # on the device, and each merge joins states of like weight, which keeps precision.
    tid = cuda.threadIdx.x
    shared = cuda.shared.array((THREADS, FIELDS), float64)
    for row in range(cuda.blockIdx.x, states.shape[0], cuda.gridDim.x):
        for f in range(FIELDS):
            shared[tid, f] = 0.0  # an empty state: the first merge copies the other
        for b in range(tid, blocks.shape[1], cuda.blockDim.x):
            _merge_state(shared[tid], blocks[row, b])
        _merge_states(shared, tid)
        if tid == 0:
            _merge_state(states[row], shared[0])
        cuda.syncthreads()  # the block's shared memory is reused by its next row


_MOMENT_KERNELS = {False: _moments_kernel(False), True: _moments_kernel(True)}


def moments(y_true, y_pred, sample_weight=None, out=None):
    call = _Call(y_pred)
    y_true, y_pred, w, out = _common.prepare_moments(y_true, y_pred, sample_weight, out,
                                                     xp=call.xp)
    K, N, L = y_pred.shape
    if N == 0 or L == 0:
        return out
    grid, block = launch_shape(N, K * L)
    blocks = call.empty((K * L, grid[0], FIELDS), np.float64)  # every block writes its own
    weighted = w is not None
    call.launch(_MOMENT_KERNELS[weighted], grid, block, call.device(y_true),
                call.device(y_pred), call.weights(w), blocks)
    merge_rows = min(K * L, MAX_GRID_ROWS)  # one block per row (striding beyond that)
    if isinstance(out, np.ndarray):  # host inputs: the (K, L, 13) state comes back
        states = call.zeros((K * L, FIELDS), np.float64)
        call.launch(_merge_blocks_kernel, merge_rows, THREADS, blocks, states)
        out[...] = _common.merge_moments(out, call.host(states).reshape(K, L, FIELDS))
    elif out.flags.c_contiguous:  # merged into the state on the device: nothing read back
        call.launch(_merge_blocks_kernel, merge_rows, THREADS, blocks,
                    out.reshape(K * L, FIELDS))
    else:
        merged = call.cupy.ascontiguousarray(out).reshape(K * L, FIELDS)
        call.launch(_merge_blocks_kernel, merge_rows, THREADS, blocks, merged)
        out[...] = merged.reshape(out.shape)
    return out


# --- losses --------------------------------------------------------------------------------

_class_loss = cuda.jit(device=True, inline=True)(_common.class_loss)
_add_class_loss = cuda.jit(device=True, inline=True)(
    _common.class_loss_accumulator(_class_loss))
_binary_loss = cuda.jit(device=True, inline=True)(_common.binary_loss)


def _loss_kernel(classes: bool, weighted: bool):
    """Loss sums per block (per-thread sums reduced in shared memory), added to the
    ``(K, 4)`` result with one atomic per field and block."""

    @cuda.jit
    def kernel(y_true, y_score, flag, weight, ignore, eps, out):
        # flag: softmax (class targets) or from_logits (binary targets)
        for k in range(cuda.blockIdx.y, y_score.shape[0], cuda.gridDim.y):
            kt = min(k, y_true.shape[0] - 1)
            kw = min(k, weight.shape[0] - 1)
            tid = cuda.threadIdx.x
            C = y_score.shape[2]
            sums = cuda.local.array(4, float64)
            for f in range(4):
                sums[f] = 0.0
            start = cuda.blockIdx.x * cuda.blockDim.x + tid
            stride = cuda.gridDim.x * cuda.blockDim.x
            for i in range(start, y_score.shape[1], stride):
                if weighted:
                    w = weight[kw, i]
                else:
                    w = 1.0
                if classes:
                    n_cols = 2 if (not flag and C == 1) else C
                    _add_class_loss(sums, y_score[k, i], int64(y_true[kt, i]), ignore, n_cols,
                                    flag, eps, w)
                else:
                    loss = 0.0
                    for c in range(C):
                        loss += _binary_loss(float64(y_score[k, i, c]),
                                             float64(y_true[kt, i, c]), flag)
                    sums[0] += w * loss
                    sums[1] += w * C
            shared = cuda.shared.array((THREADS, 4), float64)
            for f in range(4):
                shared[tid, f] = sums[f]
            _add_rows(shared, tid)
            if tid < 4:
                cuda.atomic.add(out, (k, tid), shared[0, tid])
            cuda.syncthreads()  # the block's shared memory is reused by its next row

    return kernel


_LOSS_KERNELS = {(c, w): _loss_kernel(c, w) for c in (False, True) for w in (False, True)}


def loss_sums(y_true, y_score, kind, sample_weight=None, ignore_index=None, eps=0.0, out=None):
    call = _Call(y_score)
    y_true, y_score, w, ignore, out = _common.prepare_loss(
        y_true, y_score, kind, sample_weight, ignore_index, out, xp=call.xp
    )
    K, N, C = y_score.shape
    sums = call.accumulator(out, (K, 4))
    if N:
        classes = kind in ("softmax", "proba")
        flag = kind == "softmax" if classes else kind == "sigmoid"
        weighted = w is not None
        grid, block = launch_shape(N, K)
        call.launch(_LOSS_KERNELS[classes, weighted], grid, block, call.device(y_true),
                    call.device(y_score), flag, call.weights(w), ignore, float(eps), sums)
    return call.add_into(out, sums)


# --- top-k ---------------------------------------------------------------------------------

_topk_code = cuda.jit(device=True, inline=True)(_common.topk_code)


def _topk_kernel(weighted: bool):
    dtype = np.float64 if weighted else np.int64

    @cuda.jit
    def kernel(y_true, y_score, k_top, weight, out):
        for k in range(cuda.blockIdx.y, y_score.shape[0], cuda.gridDim.y):
            kt = min(k, y_true.shape[0] - 1)
            kw = min(k, weight.shape[0] - 1)
            hist = cuda.shared.array(4, dtype)
            _clear_cells(hist, 4)
            start = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
            stride = cuda.gridDim.x * cuda.blockDim.x
            for i in range(start, y_score.shape[1], stride):
                code = _topk_code(y_score[k, i], int64(y_true[kt, i]), k_top)
                if weighted:
                    cuda.atomic.add(hist, code, weight[kw, i])
                else:
                    cuda.atomic.add(hist, code, 1)
            _flush_cells(hist, out, k, 4)  # (its last barrier: the next row's too)

    return kernel


_TOPK_KERNELS = {False: _topk_kernel(False), True: _topk_kernel(True)}


def topk_outcomes(y_true, y_score, k, sample_weight=None, out=None):
    call = _Call(y_score)
    y_true, y_score, k, w, out = _common.prepare_topk(y_true, y_score, k, sample_weight, out,
                                                      xp=call.xp)
    K, N, C = y_score.shape
    weighted = w is not None
    counts = call.accumulator(out, (K, 4))
    if N:
        grid, block = launch_shape(N, K)
        call.launch(_TOPK_KERNELS[weighted], grid, block, call.device(y_true),
                    call.device(y_score), k, call.weights(w), counts)
    return call.add_into(out, counts)
