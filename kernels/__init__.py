"""Batched counting kernels: the only code in gpumetrics that loops over samples.

Three modules export the same functions with the same signatures, results and errors:

* ``reference`` - NumPy; the fallback and the oracle for the others;
* ``cpu`` - Numba, parallel over (batch, chunk);
* ``cuda`` - Numba CUDA on device arrays (CuPy's sort and scan for exact ranking).

Nothing is imported here: ``gpumetrics.dispatch`` loads a backend module on first use, so
``import gpumetrics`` does not pay for Numba's start-up.

Kernels
-------
confusion(y_true, y_pred, num_classes, sample_weight, ignore_index, lut, offset, out)
    -> (K, C + 1, C + 1) counts[true, pred]; row/column C is the overflow bin.
label_counts(y_true, y_pred, sample_weight, out) -> (K, L, 2, 2) multilabel counts[true, pred]
sample_label_counts(y_true, y_pred) -> (K, N, 4) per-sample tp, predicted, true, differing
topk_outcomes(y_true, y_score, k, sample_weight, out) -> (K, 4) miss, hit, bad label, non-finite
label_range(y) -> (min, max);  bincount(y, offset, size, out) -> (size,)

Score kernels take ``y_score`` as ``(K, N, L)`` (L score columns) and ``y_true`` as
``(1 or K, N, L)`` indicators or ``(1 or K, N)`` class indices (positive where == l):

score_range(y_score) -> (K, L, 3) min, max, 1 if any score is NaN or infinite
score_histogram(y_true, y_score, lo, hi, n_bins, edges, sample_weight, out)
    -> (K, L, B, 2) per-bin [negatives, positives]
rank_auc(y_true, y_score, sample_weight) -> (K, L, 3) exact [negatives, positives, U]
refine_auc(y_true, y_score, lo, hi, n_bins, edges, sample_weight) -> as rank_auc, sorting
    only the bins that hold both classes
clf_curve(y_true, y_score, sample_weight) -> (thresholds, fps, tps) of one (N,) column
moments(y_true, y_pred, sample_weight, out) -> (K, L, 13) Chan-merged regression state
loss_sums(y_true, y_score, kind, sample_weight, ignore_index, eps, out) -> (K, 4)
"""

KERNELS = (
    "confusion",
    "label_counts",
    "sample_label_counts",
    "topk_outcomes",
    "label_range",
    "bincount",
    "score_range",
    "score_histogram",
    "rank_auc",
    "refine_auc",
    "clf_curve",
    "moments",
    "loss_sums",
)
