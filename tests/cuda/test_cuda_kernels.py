"""The CUDA kernels against the NumPy reference, and the public metrics forced onto the
CUDA backend. Runs where the backend can run: under the Numba CUDA simulator in CI
(``NUMBA_ENABLE_CUDASIM=1 python -m pytest -m cudasim tests/cuda tests/kernels``, its own
process) and on a real GPU. The comparison of every backend with the reference on random
inputs is ``tests/kernels``; these tests add the CUDA backend's own paths (shared or
global cells, flush windows, many blocks, streams) and the public functions on it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gpumetrics as gm
from gpumetrics import dispatch

pytestmark = pytest.mark.cudasim
if dispatch.cuda_unavailable_reason() is not None:
    pytest.skip(f"the cuda backend cannot run: {dispatch.cuda_unavailable_reason()}",
                allow_module_level=True)

cuda_k = dispatch._load("cuda")
from gpumetrics.kernels import _cuda_counts as kcc  # noqa: E402
from gpumetrics.kernels import _cuda_launch as kl  # noqa: E402
from gpumetrics.kernels import _cuda_ranking as kr  # noqa: E402
from gpumetrics.kernels import _cuda_scores as ks  # noqa: E402

reference = dispatch._load("reference")
SMALL = settings(max_examples=15, deadline=None)


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@SMALL
@given(seed=st.integers(0, 2**32 - 1), K=st.integers(1, 3), n=st.integers(0, 200),
       C=st.sampled_from([1, 2, 5, 70]), weighted=st.booleans(), ignore=st.booleans(),
       dtype=st.sampled_from([np.int8, np.int32, np.int64, np.uint8]))
def test_confusion_matches_reference(seed, K, n, C, weighted, ignore, dtype):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, min(C + 2, 100), (rng.choice([1, K]), n)).astype(dtype)
    p = rng.integers(0, min(C + 2, 100), (K, n)).astype(dtype)
    w = rng.random((rng.choice([1, K]), n)) if weighted else None
    kw = {"sample_weight": w, "ignore_index": 1 if ignore else None}
    same(cuda_k.confusion(t, p, C, **kw), reference.confusion(t, p, C, **kw))


def test_confusion_lut_offset_and_global_fallback():
    rng = np.random.default_rng(1)
    t = rng.integers(10, 20, (1, 300))
    p = rng.integers(10, 20, (2, 300))
    lut = np.array([3, 0, 1, 2, 3, 3, 1, 0, 2, 2], np.int64)
    same(cuda_k.confusion(t, p, 4, lut=lut, offset=10),
         reference.confusion(t, p, 4, lut=lut, offset=10))
    # (C + 1)^2 > SHARED_CELLS_U32: counted with global atomics
    C = int(np.sqrt(kl.SHARED_CELLS_U32))
    assert kcc._confusion_mode(C, False, 0) == "global"
    t, p = rng.integers(0, C, (1, 400)), rng.integers(0, C, (1, 400))
    same(cuda_k.confusion(t, p, C), reference.confusion(t, p, C))
    out = reference.confusion(t, p, C)
    same(cuda_k.confusion(t, p, C, out=out.copy()), 2 * out)  # adds into out


@SMALL
@given(seed=st.integers(0, 2**32 - 1), K=st.integers(1, 3), n=st.integers(0, 120),
       L=st.integers(1, 5), weighted=st.booleans())
def test_label_counts_match_reference(seed, K, n, L, weighted):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 3, (rng.choice([1, K]), n, L)).astype(np.uint8)
    p = rng.integers(0, 2, (K, n, L)).astype(np.int64)
    w = rng.random((1, n)) if weighted else None
    same(cuda_k.label_counts(t, p, w), reference.label_counts(t, p, w))


@SMALL
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300))
def test_bincount_and_label_range(seed, n):
    rng = np.random.default_rng(seed)
    y = rng.integers(-50, 50, n)
    assert cuda_k.label_range(y) == reference.label_range(y)
    same(cuda_k.bincount(y, -5, 20), reference.bincount(y, -5, 20))


def test_every_kernel_exists():
    from gpumetrics.kernels import KERNELS

    for kernel in KERNELS:
        assert callable(getattr(cuda_k, kernel)), kernel


@SMALL
@given(seed=st.integers(0, 2**32 - 1), K=st.integers(1, 3), n=st.integers(0, 60),
       L=st.integers(1, 4))
def test_sample_label_counts_match_reference(seed, K, n, L):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 3, (rng.choice([1, K]), n, L)).astype(np.int8)
    p = rng.integers(0, 2, (K, n, L)).astype(bool)
    same(cuda_k.sample_label_counts(t, p), reference.sample_label_counts(t, p))


def test_sort_and_scan_across_many_blocks():
    # several levels of the block scan and a bitonic sort over padding
    rng = np.random.default_rng(8)
    n = kl.THREADS * kl.THREADS + 7
    t = rng.integers(0, 2, (1, n))
    s = rng.integers(0, 50, (1, n, 1)).astype(np.float64)
    same(cuda_k.rank_auc(t, s), reference.rank_auc(t, s))


def test_exact_ranking_forced_onto_cuda():
    rng = np.random.default_rng(9)
    y = rng.integers(0, 2, 100)
    s = np.round(rng.random(100), 2)
    w = rng.random(100)
    for fn in (gm.roc_auc_score, gm.average_precision_score):
        same(fn(y, s, sample_weight=w, backend="cuda"), fn(y, s, sample_weight=w))
    for fn in (gm.roc_curve, gm.precision_recall_curve, gm.det_curve):
        for a, b in zip(fn(y, s, backend="cuda"), fn(y, s), strict=True):
            same(a, b)
    yc = rng.integers(0, 3, 60)
    p = rng.random((60, 3))
    p /= p.sum(axis=1, keepdims=True)
    for multi_class in ("ovr", "ovo"):
        same(gm.roc_auc_score(yc, p, multi_class=multi_class, backend="cuda"),
             gm.roc_auc_score(yc, p, multi_class=multi_class))
    ym = rng.integers(0, 2, (60, 3))
    same(gm.roc_auc_score(ym, p, average="micro", backend="cuda"),
         gm.roc_auc_score(ym, p, average="micro"))


def test_multilabel_sample_metrics_forced_onto_cuda():
    rng = np.random.default_rng(10)
    t, p = rng.integers(0, 2, (90, 4)), rng.integers(0, 2, (90, 4))
    same(gm.accuracy_score(t, p, backend="cuda"), gm.accuracy_score(t, p))
    same(gm.f1_score(t, p, average="samples", backend="cuda"),
         gm.f1_score(t, p, average="samples"))
    same(gm.hamming_loss(t, p, backend="cuda"), gm.hamming_loss(t, p))


@pytest.mark.parametrize("fn", [gm.accuracy_score, gm.f1_score, gm.matthews_corrcoef,
                                gm.cohen_kappa_score, gm.balanced_accuracy_score,
                                gm.confusion_matrix, gm.multilabel_confusion_matrix])
def test_public_metrics_forced_onto_cuda(fn):
    rng = np.random.default_rng(2)
    t, p = rng.integers(0, 4, 150), rng.integers(0, 4, 150)
    w = rng.random(150)
    kw = {"average": "macro"} if fn is gm.f1_score else {}
    same(fn(t, p, sample_weight=w, backend="cuda", **kw), fn(t, p, sample_weight=w, **kw))
    same(fn(t, p, backend="cuda", **kw), fn(t, p, **kw))


def test_streaming_metrics_on_cuda():
    from gpumetrics.metrics import MatthewsCorrCoef, MetricSet, Precision

    rng = np.random.default_rng(3)
    t, p = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    metrics = MetricSet([Precision("multiclass", num_classes=3),
                         MatthewsCorrCoef("multiclass", num_classes=3)], backend="cuda")
    for sl in (slice(0, 70), slice(70, 200)):
        metrics.update(t[sl], p[sl])
    result = metrics.compute()
    assert result["precision"] == pytest.approx(gm.precision_score(t, p, average="macro"))
    assert result["matthews_corr_coef"] == pytest.approx(gm.matthews_corrcoef(t, p))


@SMALL
@given(seed=st.integers(0, 2**32 - 1), K=st.integers(1, 2), n=st.integers(0, 150),
       L=st.integers(1, 3), n_bins=st.sampled_from([1, 4, 3000]), use_edges=st.booleans(),
       weighted=st.booleans(), indicator=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_score_range_and_histogram_match_reference(seed, K, n, L, n_bins, use_edges,
                                                   weighted, indicator, dtype):
    rng = np.random.default_rng(seed)
    s = rng.normal(size=(K, n, L)).astype(dtype)
    if n > 3:
        s[0, 3, 0] = np.nan
    expected = reference.score_range(s)
    got = cuda_k.score_range(s)
    same(got[..., 2], expected[..., 2])
    finite = expected[..., 2] == 0
    same(got[..., :2][finite], expected[..., :2][finite])
    if indicator:
        t = (rng.random((rng.choice([1, K]), n, L)) < 0.4).astype(np.uint8)
    else:
        t = rng.integers(-1, L + 1, (rng.choice([1, K]), n))
    w = rng.random((rng.choice([1, K]), n)) if weighted else None
    lo, hi = np.full((K, L), -1.5), np.full((K, L), 2.0)
    edges = np.linspace(-1, 1, n_bins) if use_edges else None
    same(cuda_k.score_histogram(t, s, lo, hi, n_bins, edges, w),
         reference.score_histogram(t, s, lo, hi, n_bins, edges, w))


def test_binned_ranking_forced_onto_cuda():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    s = rng.random(300)
    got = gm.roc_auc_score(y, s, thresholds=64, backend="cuda")
    expected = gm.roc_auc_score(y, s, thresholds=64)
    same(got.value, expected.value)
    same(got.bound, expected.bound)
    same(gm.average_precision_score(y, s, thresholds=np.linspace(0, 1, 33)[1:-1],
                                    backend="cuda").value,
         gm.average_precision_score(y, s, thresholds=np.linspace(0, 1, 33)[1:-1]).value)


@SMALL
@given(seed=st.integers(0, 2**32 - 1), K=st.integers(1, 2), n=st.integers(1, 150),
       L=st.integers(1, 3), weighted=st.booleans(), offset=st.sampled_from([0.0, 1e8]),
       accumulate=st.booleans())
def test_moments_match_reference(seed, K, n, L, weighted, offset, accumulate):
    rng = np.random.default_rng(seed)
    t = offset + rng.normal(size=(rng.choice([1, K]), n, L))
    p = t + rng.normal(size=(K, n, L))
    w = rng.random((rng.choice([1, K]), n)) if weighted else None
    out = reference.moments(t[:, ::-1], p[:, ::-1], w) if accumulate else None
    expected = reference.moments(t, p, w, None if out is None else out.copy())
    got = cuda_k.moments(t, p, w, None if out is None else out.copy())
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_regression_forced_onto_cuda():
    rng = np.random.default_rng(5)
    y = 1e6 + rng.normal(size=(200, 2))
    yhat = y + rng.normal(size=(200, 2))
    w = rng.random(200)
    for fn in (gm.r2_score, gm.mean_squared_error, gm.mean_absolute_error,
               gm.explained_variance_score):
        np.testing.assert_allclose(fn(y, yhat, sample_weight=w, backend="cuda"),
                                   fn(y, yhat, sample_weight=w), rtol=1e-9)


@SMALL
@given(seed=st.integers(0, 2**32 - 1), K=st.integers(1, 2), n=st.integers(0, 120),
       C=st.integers(1, 4), kind=st.sampled_from(["softmax", "proba", "sigmoid",
                                                   "binary_proba"]),
       weighted=st.booleans(), ignore=st.sampled_from([None, 1, -100]))
def test_loss_sums_match_reference(seed, K, n, C, kind, weighted, ignore):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(K, n, C)) * 4
    if kind in ("softmax", "proba"):
        t = rng.integers(-1, C + 1, (rng.choice([1, K]), n))
        s = x if kind == "softmax" else np.exp(x) / np.exp(x).sum(axis=2, keepdims=True)
    else:
        t = rng.random((rng.choice([1, K]), n, C))
        s = x if kind == "sigmoid" else 1 / (1 + np.exp(-x))
    w = rng.random((1, n)) if weighted else None
    kw = {"ignore_index": ignore, "eps": 1e-15}
    np.testing.assert_allclose(cuda_k.loss_sums(t, s, kind, w, **kw),
                               reference.loss_sums(t, s, kind, w, **kw), rtol=1e-12,
                               atol=1e-12)


def test_losses_forced_onto_cuda():
    rng = np.random.default_rng(6)
    t = rng.integers(0, 3, 120)
    logits = rng.normal(size=(120, 3))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    same(gm.cross_entropy(t, logits, backend="cuda"), gm.cross_entropy(t, logits))
    same(gm.log_loss(t, proba, backend="cuda"), gm.log_loss(t, proba))
    b = (t == 1).astype(int)
    same(gm.binary_cross_entropy(b, logits[:, 0], from_logits=True, backend="cuda"),
         gm.binary_cross_entropy(b, logits[:, 0], from_logits=True))


@SMALL
@given(seed=st.integers(0, 2**32 - 1), K=st.integers(1, 2), n=st.integers(0, 100),
       C=st.integers(1, 6), k=st.integers(1, 4), weighted=st.booleans(),
       ties=st.booleans())
def test_topk_outcomes_match_reference(seed, K, n, C, k, weighted, ties):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 3, (K, n, C)).astype(float) if ties else rng.normal(size=(K, n, C))
    if n > 2:
        s[0, 2, 0] = np.nan
    t = rng.integers(-1, C + 1, (rng.choice([1, K]), n))
    w = rng.random((1, n)) if weighted else None
    same(cuda_k.topk_outcomes(t, s, k, w), reference.topk_outcomes(t, s, k, w))


def test_top_k_accuracy_forced_onto_cuda():
    rng = np.random.default_rng(7)
    t = rng.integers(0, 5, 150)
    s = rng.random((150, 5))
    same(gm.top_k_accuracy_score(t, s, k=2, backend="cuda"), gm.top_k_accuracy_score(t, s, k=2))


def _every_streaming_metric(C):
    """(metric factory, data) for every class in ``gpumetrics.metrics.METRICS``."""
    from gpumetrics import metrics as M

    labels = [M.Accuracy, M.HammingLoss, M.Precision, M.Recall, M.F1Score, M.Specificity,
              M.JaccardIndex, M.BalancedAccuracy, M.MatthewsCorrCoef, M.CohenKappa,
              M.ConfusionMatrix]
    cases = [(lambda b, cls=cls: cls("multiclass", num_classes=C, backend=b), "labels")
             for cls in labels]
    cases += [
        (lambda b: M.FBetaScore("multiclass", num_classes=C, beta=2.0, backend=b), "labels"),
        (lambda b: M.TopKAccuracy(2, num_classes=C, backend=b), "proba"),
        (lambda b: M.AUROC("multiclass", num_classes=C, backend=b), "proba"),
        (lambda b: M.AUROC("multiclass", num_classes=C, thresholds=16, backend=b), "proba"),
        (lambda b: M.AveragePrecision(backend=b), "binary"),
        (lambda b: M.ROCCurve(backend=b), "binary"),
        (lambda b: M.PRCurve(thresholds=8, backend=b), "binary"),
        (lambda b: M.LogLoss(num_classes=C, backend=b), "proba"),
        (lambda b: M.CrossEntropy(num_classes=C, backend=b), "logits"),
        (lambda b: M.BinaryCrossEntropy(from_logits=True, backend=b), "binary_logits"),
    ]
    cases += [(lambda b, cls=cls: cls(backend=b), "regression")
              for cls in (M.MeanSquaredError, M.RootMeanSquaredError, M.MeanAbsoluteError,
                          M.MeanAbsolutePercentageError, M.MaxError, M.R2Score,
                          M.ExplainedVariance, M.PearsonCorrCoef)]
    cases += [(lambda b, cls=cls: cls(num_classes=C, num_clusters=C + 2, backend=b),
               "clusters")  # (no weights: clustering scores have none)
              for cls in (M.RandScore, M.AdjustedRandScore, M.MutualInfoScore,
                          M.NormalizedMutualInfoScore, M.AdjustedMutualInfoScore,
                          M.HomogeneityScore, M.CompletenessScore, M.VMeasureScore,
                          M.FowlkesMallowsScore)]
    return cases


def test_every_streaming_metric_on_cuda_equals_cpu():
    from gpumetrics.metrics import METRICS

    rng = np.random.default_rng(11)
    n, C = 90, 3
    t = rng.integers(0, C, n)
    logits = rng.normal(size=(n, C))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    b = rng.integers(0, 2, n)
    y = 5 + rng.normal(size=n)
    data = {"labels": (t, rng.integers(0, C, n)), "proba": (t, proba),
            "logits": (t, logits), "binary": (b, np.round(proba[:, 1], 2)),
            "binary_logits": (b, logits[:, 0]), "regression": (y, y + rng.normal(size=n)),
            "clusters": (t, rng.integers(0, C + 2, n))}
    w = rng.random(n)
    cases = _every_streaming_metric(C)
    assert {type(make("cpu")).__name__ for make, _ in cases} == set(METRICS)
    for make, kind in cases:
        results = []
        for backend in ("cpu", "cuda"):
            metric = make(backend)
            for sl in (slice(0, 40), slice(40, n)):
                metric.update(*(a[sl] for a in data[kind]),
                              sample_weight=None if kind == "clusters" else w[sl])
            results.append(metric.compute())
        got, expected = results
        name = type(metric).__name__
        if isinstance(expected, tuple):  # curves and binned values
            for a, e in zip(got, expected, strict=True):
                np.testing.assert_allclose(a, e, rtol=1e-12, err_msg=name)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=name)


# --- exact ranking by tie runs, narrow scores, edges in shared memory, bincount ----------


def _tie_cases():
    """Scores where runs of ties decide everything: none, one, one run over every block
    and scan block, and many long runs with NaN, -0.0 and 0.0 among them."""
    rng = np.random.default_rng(12)
    heavy = rng.choice([0.0, 0.25, 0.5, 1.0], 100)
    heavy[[3, 40, 41]] = np.nan
    heavy[[5, 90]] = -0.0
    return {"empty": np.zeros(0), "single": np.array([0.5]), "all equal": np.full(70, 0.25),
            "heavy ties": heavy}


def _curve_weights(s, rng):
    """Weights with zeros: the run at 0.5 weighs nothing (no point), the run at 0.25 partly."""
    w = rng.integers(1, 3, s.shape[0]) * 0.5
    w[s == 0.5] = 0
    w[np.flatnonzero(s == 0.25)[::2]] = 0
    return w


@pytest.mark.parametrize("case", list(_tie_cases()))
@pytest.mark.parametrize("weighted", [False, True])
def test_tie_runs_match_reference(case, weighted):
    rng = np.random.default_rng(13)
    s = _tie_cases()[case]
    n = s.shape[0]
    w = _curve_weights(s, rng) if weighted else None
    t = rng.integers(0, 3, (1, n))  # class indices: two score columns
    s2 = np.stack([s, s[::-1]], axis=1)[None]
    w2 = None if w is None else w[None]
    got, expected = cuda_k.rank_auc(t, s2, w2), reference.rank_auc(t, s2, w2)
    if weighted:
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    else:
        same(got, expected)
    y = rng.integers(0, 2, n)
    for a, b in zip(cuda_k.clf_curve(y, s, w), reference.clf_curve(y, s, w), strict=True):
        same(a, b)


@pytest.mark.parametrize("dtype", [np.float16, np.int8, np.bool_])
def test_narrow_scores_sort_as_float32(monkeypatch, dtype):
    # float16 ties and neighbours one float16 step apart: float32 keys hold them exactly
    rng = np.random.default_rng(14)
    if dtype == np.float16:
        steps = np.float16(1) + np.arange(4, dtype=np.float16) * np.finfo(np.float16).eps
        s = rng.choice(np.r_[steps, np.float16(np.nan)], 90).astype(np.float16)
    else:
        s = rng.integers(-3, 3, 90).astype(dtype)
    y = rng.integers(0, 2, 90)
    sorted_dtypes = []
    sort = kr._sorted_columns

    def spy(call, y_score):
        sorted_dtypes.append(np.dtype(y_score.dtype))
        return sort(call, y_score)

    monkeypatch.setattr(kr, "_sorted_columns", spy)
    same(cuda_k.rank_auc(y[None], s[None, :, None]), reference.rank_auc(y[None], s[None, :, None]))
    for a, b in zip(cuda_k.clf_curve(y, s), reference.clf_curve(y, s), strict=True):
        same(a, b)  # thresholds in float64, as the reference gives them
    assert sorted_dtypes == [np.dtype(np.float32)] * 2


@pytest.mark.parametrize("n_edges, weighted, staged", [
    (1, False, True), (2048, False, True), (2049, False, False),
    (2047, True, True), (2048, True, False),
])
def test_edges_histogram_staged_or_not(monkeypatch, n_edges, weighted, staged):
    rng = np.random.default_rng(15)
    edges = np.linspace(-1.0, 1.0, n_edges) if n_edges > 1 else np.array([0.0])
    s = rng.normal(size=(1, 120, 2))
    s[0, :60, 0] = edges[rng.integers(0, n_edges, 60)]  # on an edge: the bin above it
    s[0, 60:63, 1] = [np.nan, np.inf, -np.inf]
    t = rng.integers(-1, 3, (1, 120))
    w = rng.random((1, 120)) if weighted else None
    keys = []
    build = ks._histogram_kernel

    def spy(*key):
        keys.append(key)
        return build(*key)

    monkeypatch.setattr(ks, "_histogram_kernel", spy)
    same(cuda_k.score_histogram(t, s, None, None, n_edges + 1, edges, w),
         reference.score_histogram(t, s, None, None, n_edges + 1, edges, w))
    assert keys[0][2] is True and keys[0][-1] is staged  # use_edges, staged


@pytest.mark.parametrize("size", [3, 12288, 12289])  # shared counts up to SHARED_CELLS_U32
def test_bincount_shared_or_global(size):
    assert kl.SHARED_CELLS_U32 == 12288
    rng = np.random.default_rng(16)
    y = np.r_[rng.integers(-7, size + 7, 300), -7, 0, size - 1, size, [1] * 100]
    out = reference.bincount(y[::-1], -7, size)
    same(cuda_k.bincount(y, -7, size), reference.bincount(y, -7, size))
    same(cuda_k.bincount(y, -7, size, out=out.copy()), 2 * out)  # adds into out


# --- uint32 block cells and their flushes, launch shapes, the moments tree, streams -------


def _labels_with_skew(rng, C, shape):
    """Labels 0..C+1 (C + 1 lands in the overflow bin), most of them 0: many samples of a
    block (and lanes of a warp) on one cell."""
    y = rng.integers(0, C + 2, shape)
    y[rng.random(shape) < 0.6] = 0
    return y


@pytest.mark.parametrize("C, weighted, kind", [
    (2, False, "shared"), (100, False, "shared"), (109, False, "shared"),
    (110, False, "global"), (77, True, "shared"), (78, True, "global"),
])
def test_confusion_cells_and_flushes(C, weighted, kind):
    # uint32 counts fit (C + 1)^2 <= 12288 cells in a block's 48 KiB (C = 100 included),
    # float64 sums 6144; past that, global atomics. The samples span several flush windows
    # of every block under the simulator (FLUSH_ROUNDS = 2 there).
    assert kcc._confusion_mode(C, weighted, 0) in (
        {"shared", "warp"} if kind == "shared" else {"global"})
    rng = np.random.default_rng(C)
    n = 500
    t = _labels_with_skew(rng, C, (1, n))
    p = _labels_with_skew(rng, C, (2, n))
    if kl.SIMULATED:
        (blocks, _), threads = kl.launch_shape(n, 2)
        assert n > 2 * blocks * threads * kl.FLUSH_ROUNDS  # at least three windows
    w = rng.random((2, n)) if weighted else None
    kw = {"sample_weight": w, "ignore_index": 1}
    expected = reference.confusion(t, p, C, **kw)
    same(cuda_k.confusion(t, p, C, **kw), expected)
    same(cuda_k.confusion(t, p, C, out=expected.copy(), **kw), 2 * expected)


@pytest.mark.parametrize("weighted", [False, True])
def test_label_counts_flush_windows(weighted):
    rng = np.random.default_rng(17)
    n, L = 450, 3
    t = (rng.random((1, n, L)) < 0.7).astype(np.uint8)
    p = (rng.random((2, n, L)) < 0.7).astype(np.int8)
    w = rng.random((1, n)) if weighted else None
    same(cuda_k.label_counts(t, p, w), reference.label_counts(t, p, w))


def test_launch_shape_shares_the_grid_between_rows():
    n = 10**6
    assert kl.launch_shape(n, 1) == ((kl.MAX_BLOCKS, 1), kl.THREADS)
    (blocks, rows), _ = kl.launch_shape(n, 64)
    assert rows == min(64, kl.MAX_GRID_ROWS)
    assert blocks == max(1, kl.GRID_BLOCKS // 64)  # on a GPU: 64 a row, 4096 in all
    assert kl.launch_shape(100, 64)[0][0] == 1  # few samples: one block a row
    assert kl.launch_shape(n, 10**6)[0] == (1, kl.MAX_GRID_ROWS)


def test_sixty_four_rows_match_reference():
    rng = np.random.default_rng(18)
    K, n = 64, 70
    t, p = rng.integers(0, 5, (1, n)), rng.integers(0, 6, (K, n))
    same(cuda_k.confusion(t, p, 4), reference.confusion(t, p, 4))
    y = 1e6 + rng.normal(size=(1, n, 2))
    yhat = y + rng.normal(size=(K // 2, n, 2))
    np.testing.assert_allclose(cuda_k.moments(y, yhat), reference.moments(y, yhat),
                               rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("offset", [0.0, 1e6, 1e8])
def test_moments_tree_merges_many_block_states(offset):
    # more block states than threads: each thread merges a few, then the tree; some states
    # are empty (a block that saw no samples) and the row's state is not empty
    from numba import cuda

    rng = np.random.default_rng(19)
    n, L = 3000, 2
    t = offset + rng.normal(size=(1, n, L))
    p = t + rng.normal(size=(1, n, L))
    w = rng.random((1, n))
    w[0, 200:400] = 0.0
    n_states = 3 * kl.THREADS + 5
    cuts = np.r_[0, np.sort(rng.integers(0, n, n_states - 1)), n]
    states = np.zeros((L, n_states, ks.FIELDS))
    for b in range(n_states):
        a, z = cuts[b], cuts[b + 1]
        if z > a:
            states[:, b] = reference.moments(t[:, a:z], p[:, a:z], w[:, a:z])[0]
    before = reference.moments(t[:, :50] + 3.0, p[:, :50], None)
    merged = cuda.to_device(before[0].copy())
    ks._merge_blocks_kernel[L, kl.THREADS](cuda.to_device(states), merged)
    expected = reference.moments(t, p, w, before.copy())[0]
    np.testing.assert_allclose(merged.copy_to_host(), expected, rtol=1e-9, atol=1e-9)


def test_null_stream_is_the_legacy_default_stream(monkeypatch):
    # CuPy's null stream (ptr 0) is the legacy default stream; Numba's default_stream() is
    # the per-thread one under NUMBA_CUDA_PER_THREAD_DEFAULT_STREAM=1, unordered with it
    legacy, per_thread = object(), object()
    monkeypatch.setattr(kl.cuda, "legacy_default_stream", lambda: legacy)
    monkeypatch.setattr(kl.cuda, "default_stream", lambda: per_thread)
    kl._stream.cache_clear()
    try:
        assert kl._stream(0, 0) is legacy
    finally:
        kl._stream.cache_clear()


def test_stand_ins_and_identity_table_are_made_once():
    rng = np.random.default_rng(20)
    t, p = rng.integers(0, 4, (1, 50)), rng.integers(0, 4, (1, 50))
    s = rng.random((1, 50, 1))
    kl._constant.cache_clear()
    for _ in range(3):  # no lut, no weights: the identity table and the weights' stand-in
        same(cuda_k.confusion(t, p, 4), reference.confusion(t, p, 4))
    assert kl._constant.cache_info()[:2] == (4, 2)  # hits, misses
    edges = np.linspace(0, 1, 5)
    for _ in range(2):  # with edges, the ranges' stand-in: the weights' one, read by neither
        same(cuda_k.score_histogram(t, s, None, None, 6, edges),
             reference.score_histogram(t, s, None, None, 6, edges))
    assert kl._constant.cache_info()[:2] == (4 + 4, 2)
