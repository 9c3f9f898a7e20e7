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

The backend is four modules behind this one: ``_cuda_launch`` (constants, arrays and streams,
launch shapes, the two templates), ``_cuda_counts`` (confusion, multilabel, bincount,
label range, per-sample and top-k counts), ``_cuda_scores`` (score ranges and histograms,
moments, loss sums) and ``_cuda_ranking`` (exact ranking).

Tested without a GPU under the Numba CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), where a
block's threads are Python threads: launches are kept small there. The simulator has no
``match_any_sync``: the warp-aggregated confusion path is chosen only off the simulator
(``SIMULATED``), and is checked by compiling and assembling it (``tests/cuda/test_ptx.py``).
"""

from __future__ import annotations

from gpumetrics.kernels._cuda_counts import (
    bincount,
    confusion,
    contingency,
    label_counts,
    label_range,
    sample_label_counts,
    topk_outcomes,
)
from gpumetrics.kernels._cuda_ranking import clf_curve, rank_auc, refine_auc
from gpumetrics.kernels._cuda_scores import loss_sums, moments, score_histogram, score_range

name = "cuda"

__all__ = [
    "bincount", "clf_curve", "confusion", "contingency", "label_counts", "label_range",
    "loss_sums", "moments", "rank_auc", "refine_auc", "sample_label_counts",
    "score_histogram", "score_range", "topk_outcomes",
]
