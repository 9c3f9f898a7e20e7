"""How the CPU kernels share out their work: tasks over (batch row, chunk of samples).

Each task counts its chunk into a private copy of one row of the output; the copies are
merged at the end, so there are no atomics and the result does not depend on the thread
count. ``run_chunked`` is that pattern, for every kernel that follows it.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit

MIN_CHUNK = 1 << 16  # samples per task: below this, thread start-up dominates
MAX_CHUNK = (1 << 32) - 1  # samples per task at most: task-local counts may be uint32
_MAX_PRIVATE_BYTES = 64 << 20  # cap on the private histograms of one call


def chunk_count(n: int, bins: int) -> int:
    """Chunks per batch row: enough to keep every thread busy, few enough to fit in memory
    and to keep each copy of the ``bins`` cells worth its cost, and never more than
    ``MAX_CHUNK`` samples each."""
    threads = numba.get_num_threads()
    by_threads = 4 * threads
    by_size = max(1, -(-n // MIN_CHUNK))
    by_memory = max(1, _MAX_PRIVATE_BYTES // (8 * max(bins, 1)))
    # a task should count at least as many samples as its copy has cells (else zeroing and
    # merging the copies costs more than the counting), yet every thread gets one
    by_density = max(threads, -(-n // max(bins, 1)))
    return max(-(-n // MAX_CHUNK), 1, min(by_threads, by_size, by_memory, by_density))


@njit(inline="always")
def task_span(task, n_chunks, n):
    """Batch row and sample range of a task: tasks enumerate (row, chunk) pairs."""
    chunk = (n + n_chunks - 1) // n_chunks
    start = (task % n_chunks) * chunk
    return task // n_chunks, start, min(start + chunk, n)


@njit(nogil=True, cache=True)
def sum_private(private, n_chunks, out):
    """Add the private copies into ``out`` ``(K, cells)``: row k gets tasks k * n_chunks + c."""
    K = out.shape[0]
    for k in range(K):
        for c in range(n_chunks):
            row = private[k * n_chunks + c]
            for j in range(row.shape[0]):
                out[k, j] += row[j]


def run_chunked(out, work, loop, *args, merge=sum_private):
    """Run ``loop(*args, private, n_chunks)`` and merge its private copies into ``out``.

    ``out`` is ``(K, ...)``. ``private`` is ``(K * n_chunks, ...)``, zeros of ``out``'s
    dtype: task ``k * n_chunks + c`` counts chunk ``c`` of row ``k`` into its copy.
    ``work`` is the sample count that sizes the chunks (callers scale it by the cost of a
    sample); ``merge(private, n_chunks, out)`` folds the copies into ``out``: added by
    ``sum_private``, or merged as ``moments`` states.
    """
    K, row = out.shape[0], out.shape[1:]
    n_chunks = chunk_count(work, math.prod(row))
    private = np.zeros((K * n_chunks, *row), dtype=out.dtype)
    loop(*args, private, n_chunks)
    merge(private, n_chunks, out)
    return out
