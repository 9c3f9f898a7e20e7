"""Numba CUDA implementations of the kernels, on device arrays.

Same signatures, results and errors as ``reference.py`` and ``cpu.py``. Inputs are CuPy
arrays (or anything with ``__cuda_array_interface__``), used in place and counted on the
caller's current CuPy stream; host (NumPy) inputs are copied to the device, counted there
and the counts copied back, so that every kernel can be forced onto this backend.

Counting kernels privatise their histogram in shared memory: each block counts into its
own copy with shared-memory atomics, then adds each non-zero bin to the global result with
one atomic. Histograms too large for shared memory are counted with global atomics. Loops
are grid-stride; the batch axis K is the grid's second dimension, so K prediction sets are
counted in one launch.

Tested without a GPU under the Numba CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), where a
block's threads are Python threads: launches are kept small there.
"""

from __future__ import annotations

import numpy as np
from gpumetrics.kernels import _common
from numba import config, cuda, float64, int64, uint32

name = "cuda"

SIMULATED = bool(config.ENABLE_CUDASIM)
THREADS = 32 if SIMULATED else 256  # threads per block
MAX_BLOCKS = 2 if SIMULATED else 1024  # blocks per batch row (grid-stride beyond that)
SHARED_BINS = 4096  # int64/float64 bins per block in shared memory (32 KiB)

SHARED_CELLS_U32 = 12288  # 48 KiB of uint32 counts (score histograms)
SHARED_CELLS_F64 = 6144  # 48 KiB of float64 weight sums

IMPLEMENTED = ("confusion", "label_counts", "bincount", "label_range", "score_range",
               "score_histogram", "moments", "loss_sums", "topk_outcomes")


def __getattr__(attr):  # the kernels this backend does not have yet: a clear error
    from gpumetrics.kernels import KERNELS

    if attr in KERNELS:
        raise NotImplementedError(
            f"the cuda backend has no {attr!r} kernel yet; it has {', '.join(IMPLEMENTED)}. "
            "Use backend='cpu' on host copies of the inputs."
        )
    raise AttributeError(attr)


# --- arrays, streams, launches -------------------------------------------------------------


def _cupy_of(x):
    """The cupy module when ``x`` is a CuPy array, else None."""
    module = type(x).__module__.partition(".")[0]
    if module == "cupy":
        import cupy

        return cupy
    return None


class _Call:
    """Where one call runs: the inputs' array module and stream, and how arrays reach the
    device (CuPy arrays are used in place; host arrays are copied)."""

    def __init__(self, like):
        self.cupy = _cupy_of(like)
        self.xp = self.cupy if self.cupy is not None else np
        if self.cupy is not None:
            self.stream = cuda.external_stream(self.cupy.cuda.get_current_stream().ptr)
        else:
            self.stream = cuda.default_stream()

    def device(self, x):
        if x is None:
            return None
        if self.cupy is not None:
            return self.cupy.ascontiguousarray(x)
        return cuda.to_device(np.ascontiguousarray(x), stream=self.stream)

    def zeros(self, shape, dtype):
        if self.cupy is not None:
            return self.cupy.zeros(shape, dtype)
        return cuda.to_device(np.zeros(shape, dtype), stream=self.stream)

    def weights(self, w):
        """Sample weights on the device, or a 1 x 1 stand-in when there are none (kernels
        take no None; they read it only when weighted)."""
        return self.zeros((1, 1), np.float64) if w is None else self.device(w)

    def host(self, x) -> np.ndarray:
        """A NumPy copy of a device array (a host array as it is), read once the call's
        stream has finished."""
        if isinstance(x, np.ndarray):
            return x
        if self.cupy is not None:
            return x.get()
        host = x.copy_to_host(stream=self.stream)
        self.stream.synchronize()
        return host

    def add_into(self, out, counts):
        """``out += counts`` (counts on the device): in place for device ``out``."""
        if self.cupy is not None:
            out += counts
        else:
            out += self.host(counts)
        return out


def launch_shape(n: int, k: int = 1) -> tuple[tuple[int, int], int]:
    """``(grid, block)`` for n samples per row and k rows: enough blocks to fill the device
    (grid-stride loops take the rest), one grid row per batch entry."""
    blocks = max(1, min(MAX_BLOCKS, -(-n // THREADS)))
    return (blocks, max(k, 1)), THREADS


# --- confusion -----------------------------------------------------------------------------


@cuda.jit(device=True, inline=True)
def _class_index(v, offset, lut, n_classes):
    shifted = int64(v) - offset
    if shifted >= 0 and shifted < lut.shape[0]:
        return lut[shifted]
    return n_classes


def _confusion_kernel(weighted: bool, shared: bool):
    """A confusion kernel: float64 weight sums or int64 counts, in shared memory per block
    or straight into the global result."""
    dtype = np.float64 if weighted else np.int64

    @cuda.jit
    def kernel(y_true, y_pred, lut, offset, n_classes, ignore, use_ignore, weight, out):
        width = n_classes + 1
        bins = width * width
        k = cuda.blockIdx.y
        kt = min(k, y_true.shape[0] - 1)
        kw = min(k, weight.shape[0] - 1)
        tid = cuda.threadIdx.x
        hist = cuda.shared.array(SHARED_BINS, dtype)
        if shared:
            for c in range(tid, bins, cuda.blockDim.x):
                hist[c] = 0
            cuda.syncthreads()
        start = cuda.blockIdx.x * cuda.blockDim.x + tid
        stride = cuda.gridDim.x * cuda.blockDim.x
        for i in range(start, y_pred.shape[1], stride):
            t = y_true[kt, i]
            if use_ignore and int64(t) == ignore:
                continue
            cell = (_class_index(t, offset, lut, n_classes) * width
                    + _class_index(y_pred[k, i], offset, lut, n_classes))
            if weighted:
                value = weight[kw, i]
            else:
                value = 1
            if shared:
                cuda.atomic.add(hist, cell, value)
            else:
                cuda.atomic.add(out, (k, cell), value)
        if shared:
            cuda.syncthreads()
            for c in range(tid, bins, cuda.blockDim.x):
                if hist[c] != 0:
                    cuda.atomic.add(out, (k, c), hist[c])

    return kernel


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
    y_true, y_pred, C, w, lut, offset, out = _common.prepare_confusion(
        y_true, y_pred, num_classes, sample_weight, lut, offset, out, xp=call.xp
    )
    K, N = y_pred.shape
    bins = (C + 1) * (C + 1)
    weighted = w is not None
    counts = call.zeros((K, bins), np.float64 if weighted else np.int64)
    if N:
        kernel = _kernel("confusion", weighted, bins <= SHARED_BINS)
        grid, block = launch_shape(N, K)
        kernel[grid, block, call.stream](
            call.device(y_true), call.device(y_pred), call.device(lut), int(offset), C,
            int(ignore_index) if ignore_index is not None else 0, ignore_index is not None,
            call.weights(w), counts,
        )
    return call.add_into(out, counts.reshape(out.shape))


# --- multilabel counts ---------------------------------------------------------------------


def _label_kernel(weighted: bool):
    dtype = np.float64 if weighted else np.int64

    @cuda.jit
    def kernel(y_true, y_pred, weight, out):
        # out[k, 4 * l + 2 * true + pred]; one shared copy of the L x 4 counts per block
        L = y_pred.shape[2]
        k = cuda.blockIdx.y
        kt = min(k, y_true.shape[0] - 1)
        kw = min(k, weight.shape[0] - 1)
        tid = cuda.threadIdx.x
        hist = cuda.shared.array(SHARED_BINS, dtype)
        shared = 4 * L <= SHARED_BINS
        if shared:
            for c in range(tid, 4 * L, cuda.blockDim.x):
                hist[c] = 0
            cuda.syncthreads()
        start = cuda.blockIdx.x * cuda.blockDim.x + tid
        stride = cuda.gridDim.x * cuda.blockDim.x
        for i in range(start, y_pred.shape[1], stride):
            if weighted:
                value = weight[kw, i]
            else:
                value = 1
            for j in range(L):
                cell = 4 * j + 2 * int64(y_true[kt, i, j] != 0) + int64(y_pred[k, i, j] != 0)
                if shared:
                    cuda.atomic.add(hist, cell, value)
                else:
                    cuda.atomic.add(out, (k, cell), value)
        if shared:
            cuda.syncthreads()
            for c in range(tid, 4 * L, cuda.blockDim.x):
                if hist[c] != 0:
                    cuda.atomic.add(out, (k, c), hist[c])

    return kernel


_LABEL_KERNELS = {False: _label_kernel(False), True: _label_kernel(True)}


def label_counts(y_true, y_pred, sample_weight=None, out=None):
    call = _Call(y_pred)
    y_true, y_pred, w, out = _common.prepare_label_counts(y_true, y_pred, sample_weight, out,
                                                          xp=call.xp)
    K, N, L = y_pred.shape
    weighted = w is not None
    counts = call.zeros((K, 4 * L), np.float64 if weighted else np.int64)
    if N and L:
        grid, block = launch_shape(N, K)
        _LABEL_KERNELS[weighted][grid, block, call.stream](
            call.device(y_true), call.device(y_pred),
            call.weights(w), counts,
        )
    return call.add_into(out, counts.reshape(out.shape))


# --- label ranges and counts ---------------------------------------------------------------


@cuda.jit
def _bincount_kernel(y, offset, size, out):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, y.shape[0], stride):
        v = int64(y[i]) - offset
        if v >= 0 and v < size:
            cuda.atomic.add(out, v, 1)


def bincount(y, offset, size, out=None):
    call = _Call(y)
    y, offset, size, out = _common.prepare_bincount(y, offset, size, out, xp=call.xp)
    counts = call.zeros((size,), np.int64)
    if y.shape[0]:
        grid, block = launch_shape(y.shape[0])
        _bincount_kernel[grid[0], block, call.stream](call.device(y), offset, size, counts)
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
    _range_kernel[grid[0], block, call.stream](call.device(y), out)
    host = call.host(out)
    return int(host[0]), int(host[1])


# --- scores: ranges and histograms ---------------------------------------------------------


@cuda.jit
def _score_range_kernel(y_score, out):
    # grid row = k * L + j; finite scores reduce to out[k, j, 0:2] (min, max); any NaN or
    # infinite score sets out[k, j, 2] to 1
    L = y_score.shape[2]
    row = cuda.blockIdx.y
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
    first = np.empty((K, L, 3))
    first[..., 0], first[..., 1], first[..., 2] = np.inf, -np.inf, 0.0
    out = call.device(first)
    if N and L:
        grid, block = launch_shape(N, K * L)
        _score_range_kernel[grid, block, call.stream](call.device(y_score), out)
    return out if call.cupy is not None else call.host(out)


@cuda.jit(device=True, inline=True)
def _search_right(edges, v):
    """``searchsorted(edges, v, side="right")``: NaN sorts last."""
    if v != v:
        return edges.shape[0]
    a = 0
    b = edges.shape[0]
    while a < b:
        mid = (a + b) // 2
        if edges[mid] <= v:
            a = mid + 1
        else:
            b = mid
    return a


def _histogram_kernel(weighted: bool, indicator: bool, use_edges: bool, shared: bool):
    """A score-histogram kernel. Grid row ``k * L + j`` counts column j of set k into a
    block-private histogram of 2 B cells (uint32 counts or float64 weight sums)."""
    cells_max = SHARED_CELLS_F64 if weighted else SHARED_CELLS_U32
    cell_type = float64 if weighted else uint32

    @cuda.jit
    def kernel(y_true, y_score, lo, scale, n_bins, edges, weight, out):
        L = y_score.shape[2]
        row = cuda.blockIdx.y
        k = row // L
        j = row % L
        kt = min(k, y_true.shape[0] - 1)
        kw = min(k, weight.shape[0] - 1)
        tid = cuda.threadIdx.x
        cells = 2 * n_bins
        hist = cuda.shared.array(cells_max, cell_type)
        if shared:
            for c in range(tid, cells, cuda.blockDim.x):
                hist[c] = 0
            cuda.syncthreads()
        low = lo[k, j]
        step = scale[k, j]
        start = cuda.blockIdx.x * cuda.blockDim.x + tid
        stride = cuda.gridDim.x * cuda.blockDim.x
        for i in range(start, y_score.shape[1], stride):
            v = float64(y_score[k, i, j])
            if use_edges:
                b = _search_right(edges, v)
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
                value = weight[kw, i]
            else:
                value = uint32(1)
            if shared:
                cuda.atomic.add(hist, cell, value)
            elif weighted:
                cuda.atomic.add(out, (row, cell), value)
            else:
                cuda.atomic.add(out, (row, cell), int64(1))
        if shared:
            cuda.syncthreads()
            for c in range(tid, cells, cuda.blockDim.x):
                if hist[c] != 0:
                    if weighted:
                        cuda.atomic.add(out, (row, c), hist[c])
                    else:
                        cuda.atomic.add(out, (row, c), int64(hist[c]))

    return kernel


def score_histogram(y_true, y_score, lo, hi, n_bins, edges=None, sample_weight=None, out=None):
    call = _Call(y_score)
    y_true, y_score, lo, hi, B, edges, w, out = _common.prepare_histogram(
        y_true, y_score, lo, hi, n_bins, edges, sample_weight, out, xp=call.xp
    )
    K, N, L = y_score.shape
    weighted = w is not None
    width = hi - lo
    scale = call.xp.where(width > 0, B / call.xp.where(width > 0, width, 1.0), 0.0)
    counts = call.zeros((K * L, 2 * B), np.float64 if weighted else np.int64)
    if N and L:
        cells_max = SHARED_CELLS_F64 if weighted else SHARED_CELLS_U32
        kernel = _kernel("histogram", weighted, y_true.ndim == 3, edges is not None,
                         2 * B <= cells_max)
        grid, block = launch_shape(N, K * L)
        kernel[grid, block, call.stream](
            call.device(y_true), call.device(y_score),
            call.device(call.xp.ascontiguousarray(lo)), call.device(scale), B,
            call.device(edges) if edges is not None else call.zeros((1,), np.float64),
            call.weights(w), counts,
        )
    return call.add_into(out, counts.reshape(out.shape))


# --- regression moments --------------------------------------------------------------------

FIELDS = len(_common.MOMENTS)
_EPS64 = float(np.finfo(np.float64).eps)


_merge_state = cuda.jit(device=True, inline=True)(_common.merge_state)


def _moments_kernel(weighted: bool):
    """Per-thread weighted Welford updates of the 13 fields (means relative to the column's
    first values), merged across the block in shared memory; one state per block."""

    @cuda.jit
    def kernel(y_true, y_pred, weight, blocks):
        L = y_pred.shape[2]
        row = cuda.blockIdx.y
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
        start = cuda.blockIdx.x * cuda.blockDim.x + tid
        stride = cuda.gridDim.x * cuda.blockDim.x
        for i in range(start, y_pred.shape[1], stride):
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
        shared = cuda.shared.array((THREADS, FIELDS), float64)
        for f in range(FIELDS):
            shared[tid, f] = st[f]
        cuda.syncthreads()
        half = cuda.blockDim.x // 2
        while half > 0:
            if tid < half:
                _merge_state(shared[tid], shared[tid + half])
            cuda.syncthreads()
            half //= 2
        if tid == 0:
            for f in range(FIELDS):
                blocks[row, cuda.blockIdx.x, f] = shared[0, f]

    return kernel


@cuda.jit
def _merge_blocks_kernel(blocks, states):
    row = cuda.grid(1)
    if row < states.shape[0]:
        for b in range(blocks.shape[1]):
            _merge_state(states[row], blocks[row, b])


_MOMENT_KERNELS = {False: _moments_kernel(False), True: _moments_kernel(True)}


def moments(y_true, y_pred, sample_weight=None, out=None):
    call = _Call(y_pred)
    y_true, y_pred, w, out = _common.prepare_moments(y_true, y_pred, sample_weight, out,
                                                     xp=call.xp)
    K, N, L = y_pred.shape
    if N == 0 or L == 0:
        return out
    grid, block = launch_shape(N, K * L)
    blocks = call.zeros((K * L, grid[0], FIELDS), np.float64)
    weighted = w is not None
    _MOMENT_KERNELS[weighted][grid, block, call.stream](
        call.device(y_true), call.device(y_pred),
        call.weights(w), blocks)
    states = call.zeros((K * L, FIELDS), np.float64)
    _merge_blocks_kernel[max(1, -(-K * L // THREADS)), THREADS, call.stream](blocks, states)
    # merged with ``out`` on the host: a (K, L, 13) state, not the data
    host = call.host(states).reshape(K, L, FIELDS)
    merged = _common.merge_moments(call.host(out), host)
    out[...] = merged if call.cupy is None else call.cupy.asarray(merged)
    return out



# --- losses --------------------------------------------------------------------------------

_class_loss = cuda.jit(device=True, inline=True)(_common.class_loss)
_binary_loss = cuda.jit(device=True, inline=True)(_common.binary_loss)


def _loss_kernel(classes: bool, weighted: bool):
    """Loss sums per block (per-thread sums reduced in shared memory), added to the
    ``(K, 4)`` result with one atomic per field and block."""

    @cuda.jit
    def kernel(y_true, y_score, flag, weight, ignore, eps, out):
        # flag: softmax (class targets) or from_logits (binary targets)
        k = cuda.blockIdx.y
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
                label = int64(y_true[kt, i])
                if label == ignore:
                    continue
                n_cols = 2 if (not flag and C == 1) else C
                if label < 0 or label >= n_cols:
                    sums[2] += 1.0
                    continue
                loss, unnormalised = _class_loss(y_score[k, i], label, flag, eps)
                if unnormalised:
                    sums[3] += 1.0
                sums[0] += w * loss
                sums[1] += w
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
        cuda.syncthreads()
        half = cuda.blockDim.x // 2
        while half > 0:
            if tid < half:
                for f in range(4):
                    shared[tid, f] += shared[tid + half, f]
            cuda.syncthreads()
            half //= 2
        if tid < 4:
            cuda.atomic.add(out, (k, tid), shared[0, tid])

    return kernel


_LOSS_KERNELS = {(c, w): _loss_kernel(c, w) for c in (False, True) for w in (False, True)}


def loss_sums(y_true, y_score, kind, sample_weight=None, ignore_index=None, eps=0.0, out=None):
    call = _Call(y_score)
    y_true, y_score, w, ignore, out = _common.prepare_loss(
        y_true, y_score, kind, sample_weight, ignore_index, out, xp=call.xp
    )
    K, N, C = y_score.shape
    sums = call.zeros((K, 4), np.float64)
    if N:
        classes = kind in ("softmax", "proba")
        flag = kind == "softmax" if classes else kind == "sigmoid"
        weighted = w is not None
        grid, block = launch_shape(N, K)
        _LOSS_KERNELS[classes, weighted][grid, block, call.stream](
            call.device(y_true), call.device(y_score), flag,
            call.weights(w), ignore, float(eps),
            sums)
    return call.add_into(out, sums)


# --- top-k ---------------------------------------------------------------------------------

_topk_code = cuda.jit(device=True, inline=True)(_common.topk_code)


def _topk_kernel(weighted: bool):
    dtype = np.float64 if weighted else np.int64

    @cuda.jit
    def kernel(y_true, y_score, k_top, weight, out):
        k = cuda.blockIdx.y
        kt = min(k, y_true.shape[0] - 1)
        kw = min(k, weight.shape[0] - 1)
        tid = cuda.threadIdx.x
        hist = cuda.shared.array(4, dtype)
        if tid < 4:
            hist[tid] = 0
        cuda.syncthreads()
        start = cuda.blockIdx.x * cuda.blockDim.x + tid
        stride = cuda.gridDim.x * cuda.blockDim.x
        for i in range(start, y_score.shape[1], stride):
            code = _topk_code(y_score[k, i], int64(y_true[kt, i]), k_top)
            if weighted:
                cuda.atomic.add(hist, code, weight[kw, i])
            else:
                cuda.atomic.add(hist, code, 1)
        cuda.syncthreads()
        if tid < 4 and hist[tid] != 0:
            cuda.atomic.add(out, (k, tid), hist[tid])

    return kernel


_TOPK_KERNELS = {False: _topk_kernel(False), True: _topk_kernel(True)}


def topk_outcomes(y_true, y_score, k, sample_weight=None, out=None):
    call = _Call(y_score)
    y_true, y_score, k, w, out = _common.prepare_topk(y_true, y_score, k, sample_weight, out,
                                                      xp=call.xp)
    K, N, C = y_score.shape
    weighted = w is not None
    counts = call.zeros((K, 4), np.float64 if weighted else np.int64)
    if N:
        grid, block = launch_shape(N, K)
        _TOPK_KERNELS[weighted][grid, block, call.stream](
            call.device(y_true), call.device(y_score), k,
            call.weights(w), counts)
    return call.add_into(out, counts)
