"""Streaming metrics equal the functions on the concatenated data, for any split of the
stream, any merge order, and across state_dict round trips."""

from __future__ import annotations

import copy
import itertools
import warnings

import numpy as np
import pytest
from _data import multiclass
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gpumetrics as gm
from gpumetrics import states as S
from gpumetrics.metrics import (
    AUROC,
    Accuracy,
    AveragePrecision,
    BalancedAccuracy,
    BinaryCrossEntropy,
    CohenKappa,
    ConfusionMatrix,
    CrossEntropy,
    ExplainedVariance,
    F1Score,
    FBetaScore,
    HammingLoss,
    JaccardIndex,
    LogLoss,
    MatthewsCorrCoef,
    MaxError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MetricSet,
    PearsonCorrCoef,
    PRCurve,
    Precision,
    R2Score,
    Recall,
    ROCCurve,
    RootMeanSquaredError,
    Specificity,
    TopKAccuracy,
)

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
BACKENDS = ["reference", "cpu"]


def _splits(draw, n):
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=4)))
    return [slice(a, b) for a, b in zip([0, *cuts], [*cuts, n], strict=True)]


def _same(a, b, rtol=1e-12):
    if isinstance(a, tuple | list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y, rtol)
        return
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                               rtol=rtol, atol=1e-13, equal_nan=True)


def _stream(metric, slices, *arrays, weights=None):
    for sl in slices:
        metric.update(*(a[sl] for a in arrays),
                      sample_weight=None if weights is None else weights[sl])
    return metric


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# --- classification -----------------------------------------------------------------------


CLASS_CASES = [
    (Accuracy, {}, gm.accuracy_score, {}),
    (HammingLoss, {}, gm.hamming_loss, {}),
    (Precision, {"average": "macro"}, gm.precision_score, {"average": "macro"}),
    (Recall, {"average": "weighted"}, gm.recall_score, {"average": "weighted"}),
    (F1Score, {"average": "micro"}, gm.f1_score, {"average": "micro"}),
    (F1Score, {"average": None}, gm.f1_score, {"average": None}),
    (FBetaScore, {"beta": 2.0, "average": "macro"}, gm.fbeta_score,
     {"beta": 2.0, "average": "macro"}),
    (Specificity, {"average": "macro"}, gm.specificity_score, {"average": "macro"}),
    (JaccardIndex, {"average": "weighted"}, gm.jaccard_score, {"average": "weighted"}),
    (BalancedAccuracy, {}, gm.balanced_accuracy_score, {}),
    (MatthewsCorrCoef, {}, gm.matthews_corrcoef, {}),
    (CohenKappa, {"weights": "quadratic"}, gm.cohen_kappa_score, {"weights": "quadratic"}),
]


@st.composite
def class_data(draw, max_classes=5):
    C = draw(st.integers(2, max_classes))
    n = draw(st.integers(1, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t = rng.integers(0, C, n)
    p = np.where(rng.random(n) < 0.6, t, rng.integers(0, C, n))
    w = None
    if draw(st.booleans()):
        w = rng.random(n) * draw(st.sampled_from([1.0, 3.0]))
        if draw(st.booleans()):
            w[rng.random(n) < 0.2] = 0.0  # zero weights must not hide labels
            w[0] = 0.5
    return C, t, p, w, _splits(draw, n)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("cls", "kw", "fn", "fkw"), CLASS_CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CLASS_CASES)])
@SETTINGS
@given(data=class_data())
def test_classification_equals_function_on_all_data(backend, cls, kw, fn, fkw, data):
    C, t, p, w, slices = data
    metric = _stream(cls("multiclass", num_classes=C, backend=backend, **kw), slices, t, p,
                     weights=w)
    try:
        expected = _quiet(fn, t, p, sample_weight=w, num_classes=C, **fkw)
    except (ValueError, ZeroDivisionError) as exc:
        if "non-zero" in str(exc):
            # all weights zero: a stream cannot reject that at update time (a later batch
            # may carry weight), so the state computes what its counts give
            return
        with pytest.raises(type(exc)):
            _quiet(metric.compute)
        return
    _same(_quiet(metric.compute), expected)


@pytest.mark.parametrize("which", ["f1", "precision", "recall", "specificity", "jaccard"])
@SETTINGS
@given(data=class_data(max_classes=2))
def test_binary_average_equals_function(which, data):
    _, t, p, w, slices = data
    cls, fn = {"f1": (F1Score, gm.f1_score), "precision": (Precision, gm.precision_score),
               "recall": (Recall, gm.recall_score),
               "specificity": (Specificity, gm.specificity_score),
               "jaccard": (JaccardIndex, gm.jaccard_score)}[which]
    metric = _stream(cls("binary"), slices, t, p, weights=w)
    _same(_quiet(metric.compute), _quiet(fn, t, p, sample_weight=w, num_classes=2))


@SETTINGS
@given(data=class_data(), labels_seed=st.integers(0, 100))
def test_labels_select_and_order_classes(data, labels_seed):
    C, t, p, w, slices = data
    rng = np.random.default_rng(labels_seed)
    labels = rng.permutation(C)[: rng.integers(1, C + 1)]
    m = _stream(F1Score("multiclass", num_classes=C, labels=labels, average=None), slices, t,
                p, weights=w)
    _same(_quiet(m.compute), _quiet(gm.f1_score, t, p, labels=labels, average=None,
                                    sample_weight=w))
    cm = _stream(ConfusionMatrix("multiclass", num_classes=C), slices, t, p, weights=w)
    _same(cm.compute(), _quiet(gm.confusion_matrix, t, p, labels=np.arange(C),
                               sample_weight=w))


@SETTINGS
@given(n=st.integers(1, 50), L=st.integers(2, 4), seed=st.integers(0, 1000),
       weighted=st.booleans(), data=st.data())
def test_multilabel_equals_function(n, L, seed, weighted, data):
    rng = np.random.default_rng(seed)
    t = rng.integers(0, 2, (n, L))
    p = rng.integers(0, 2, (n, L))
    w = rng.random(n) if weighted else None
    slices = _splits(data.draw, n)
    for cls, fn, kw in ((F1Score, gm.f1_score, {"average": "macro"}),
                        (Precision, gm.precision_score, {"average": "micro"}),
                        (Recall, gm.recall_score, {"average": None}),
                        (Accuracy, gm.accuracy_score, {}),
                        (HammingLoss, gm.hamming_loss, {})):
        m = _stream(cls("multilabel", num_labels=L, **kw), slices, t, p, weights=w)
        _same(_quiet(m.compute), _quiet(fn, t, p, sample_weight=w, **kw))


def test_scores_become_labels_by_threshold_and_argmax():
    rng = np.random.default_rng(0)
    t = rng.integers(0, 2, 200)
    s = rng.random(200)
    m = Accuracy(threshold=0.3)
    m.update(t, s)
    assert m.compute() == gm.accuracy_score(t, s >= 0.3)
    probs = rng.random((200, 4))
    c = rng.integers(0, 4, 200)
    m = F1Score("multiclass", num_classes=4)
    m.update(c, probs)
    assert m.compute() == gm.f1_score(c, probs.argmax(1), average="macro", num_classes=4)


def test_topk_equals_function():
    rng = np.random.default_rng(1)
    s = rng.random((300, 5))
    t = rng.integers(0, 5, 300)
    w = rng.random(300)
    m = _stream(TopKAccuracy(3, num_classes=5), [slice(0, 100), slice(100, 300)], t, s,
                weights=w)
    _same(m.compute(), gm.top_k_accuracy_score(t, s, k=3, labels=np.arange(5),
                                               sample_weight=w))


# --- ranking ----------------------------------------------------------------------------


@st.composite
def score_data(draw):
    n = draw(st.integers(2, 80))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    t = rng.integers(0, 2, n)
    t[:2] = [0, 1]
    s = np.round(rng.random(n), draw(st.sampled_from([1, 3, 8])))  # ties included
    w = rng.random(n) + 0.01 if draw(st.booleans()) else None
    return t, s, w, _splits(draw, n)


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(data=score_data(), bins=st.sampled_from([None, 7, 64]))
def test_binary_ranking_equals_function(backend, data, bins):
    t, s, w, slices = data
    edges = None if bins is None else np.linspace(0, 1, bins + 1)[1:-1]
    for cls, fn in ((AUROC, gm.roc_auc_score), (AveragePrecision, gm.average_precision_score)):
        m = _stream(cls(thresholds=bins, backend=backend), slices, t, s, weights=w)
        _same(_quiet(m.compute), _quiet(fn, t, s, sample_weight=w, thresholds=edges))
    for cls, fn in ((ROCCurve, gm.roc_curve), (PRCurve, gm.precision_recall_curve)):
        m = _stream(cls(thresholds=bins, backend=backend), slices, t, s, weights=w)
        _same(m.compute(), fn(t, s, sample_weight=w, thresholds=edges))
    if bins is None:
        return
    # thresholds=B: the same bins in both entry points once they share a score_range
    for cls, fn in ((AUROC, gm.roc_auc_score), (AveragePrecision, gm.average_precision_score),
                    (ROCCurve, gm.roc_curve), (PRCurve, gm.precision_recall_curve)):
        for score_range in ((0.0, 1.0), (-0.5, 2.0)):
            m = _stream(cls(thresholds=bins, score_range=score_range, backend=backend),
                        slices, t, s, weights=w)
            _same(_quiet(m.compute),
                  _quiet(fn, t, s, sample_weight=w, thresholds=bins, score_range=score_range))


def test_score_range_goes_with_a_bin_count():
    t, s = np.array([0, 1, 1, 0]), np.array([0.1, 0.8, 0.4, 0.3])
    for bad, message in (((0.0,), "two numbers"), ((1.0, 0.0), "lo < hi"),
                         ((0.0, np.inf), "finite"), ("ab", "two numbers")):
        with pytest.raises(ValueError, match=message):
            gm.roc_auc_score(t, s, thresholds=8, score_range=bad)
        with pytest.raises(ValueError, match=message):
            AUROC(thresholds=8, score_range=bad)
    with pytest.raises(ValueError, match="a number of bins"):
        gm.average_precision_score(t, s, thresholds=[0.5], score_range=(0, 1))
    with pytest.raises(ValueError, match="at least 2 bins"):
        gm.roc_curve(t, s, thresholds=1, score_range=(0, 1))
    with pytest.raises(ValueError, match="needs a score_range"):
        AUROC(thresholds=8, score_range=None)
    # the default bins of the function: the observed range, [0.1, 0.8] here
    assert gm.roc_auc_score(t, s, thresholds=2).value == gm.roc_auc_score(
        t, s, thresholds=2, score_range=(0.1, 0.8)).value


@pytest.mark.parametrize("average", ["macro", "weighted", "micro", None])
@pytest.mark.parametrize("bins", [None, 16])
def test_multiclass_and_multilabel_ranking(average, bins):
    n, C = 400, 4
    t, s, w = multiclass(n, C, seed=2)
    edges = None if bins is None else np.linspace(0, 1, bins + 1)[1:-1]
    slices = [slice(0, 150), slice(150, 151), slice(151, n)]
    if average is not None and not (bins is None and average == "micro"):
        m = _stream(AUROC("multiclass", num_classes=C, average=average, thresholds=bins),
                    slices, t, s, weights=w)
        _same(m.compute(), gm.roc_auc_score(t, s, multi_class="ovr", average=average,
                                            sample_weight=w, thresholds=edges))
    onehot = (t[:, None] == np.arange(C)).astype(int)
    m = _stream(AveragePrecision("multiclass", num_classes=C, average=average,
                                 thresholds=bins), slices, t, s, weights=w)
    _same(m.compute(), gm.average_precision_score(onehot, s, average=average,
                                                  sample_weight=w, thresholds=edges))
    m = _stream(AUROC("multilabel", num_labels=C, average=average, thresholds=bins), slices,
                onehot, s, weights=w)
    _same(m.compute(), gm.roc_auc_score(onehot, s, average=average, sample_weight=w,
                                        thresholds=edges))


# --- regression and losses -------------------------------------------------------------------


REGRESSION = [
    (MeanSquaredError, gm.mean_squared_error, {}),
    (RootMeanSquaredError, gm.root_mean_squared_error, {}),
    (MeanAbsoluteError, gm.mean_absolute_error, {}),
    (MeanAbsolutePercentageError, gm.mean_absolute_percentage_error, {}),
    (R2Score, gm.r2_score, {"multioutput": "variance_weighted"}),
    (ExplainedVariance, gm.explained_variance_score, {"force_finite": False}),
    (PearsonCorrCoef, gm.pearson_corrcoef, {"multioutput": "raw_values"}),
]


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(n=st.integers(2, 60), L=st.integers(1, 3), seed=st.integers(0, 10_000),
       weighted=st.booleans(), offset=st.sampled_from([0.0, 1e8]), data=st.data())
def test_regression_equals_function(backend, n, L, seed, weighted, offset, data):
    rng = np.random.default_rng(seed)
    t = offset + rng.normal(size=(n, L))
    p = t + rng.normal(size=(n, L))
    w = rng.random(n) + 0.1 if weighted else None
    slices = _splits(data.draw, n)
    for cls, fn, kw in REGRESSION:
        m = _stream(cls(num_outputs=L, backend=backend, **kw), slices, t, p, weights=w)
        _same(_quiet(m.compute), _quiet(fn, t, p, sample_weight=w, **kw), rtol=1e-9)
    m = _stream(MaxError(), slices, t[:, 0], p[:, 0])
    _same(m.compute(), gm.max_error(t[:, 0], p[:, 0]))


def test_losses_equal_functions():
    rng = np.random.default_rng(3)
    n, C = 500, 3
    t = rng.integers(0, C, n)
    logits = rng.normal(size=(n, C)) * 5
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    w = rng.random(n)
    slices = [slice(0, 10), slice(10, 10), slice(10, n)]
    _same(_stream(CrossEntropy(num_classes=C, ignore_index=1), slices, t, logits,
                  weights=w).compute(),
          gm.cross_entropy(t, logits, ignore_index=1, sample_weight=w))
    _same(_stream(LogLoss(num_classes=C), slices, t, proba, weights=w).compute(),
          gm.log_loss(t, proba, sample_weight=w, labels=np.arange(C)))
    b = rng.integers(0, 2, n)
    _same(_stream(LogLoss(), slices, b, proba[:, 0]).compute(), gm.log_loss(b, proba[:, 0]))
    _same(_stream(BinaryCrossEntropy(from_logits=True), slices, b, logits[:, 0]).compute(),
          gm.binary_cross_entropy(b, logits[:, 0], from_logits=True))


# --- merge, state_dict, sets ---------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_shards=st.integers(1, 6), data=st.data())
def test_merge_is_associative_and_commutative(seed, n_shards, data):
    """Any split, any merge order or tree: identical counts, moments within 1e-12."""
    rng = np.random.default_rng(seed)
    n = 300
    t = rng.integers(0, 3, n)
    p = rng.integers(0, 3, n)
    y = 1e8 + rng.normal(size=n)
    yp = y + rng.normal(size=n)
    w = rng.random(n)
    cuts = np.sort(rng.integers(0, n + 1, n_shards - 1))
    bounds = list(zip([0, *cuts], [*cuts, n], strict=True))

    def factory():
        return MetricSet({"f1": F1Score("multiclass", num_classes=3),
                          "r2": R2Score(), "auc": AUROC(thresholds=8)})

    one = factory()
    one["f1"].update(t, p, sample_weight=w)
    one["r2"].update(y, yp, sample_weight=w)
    one["auc"].update((t == 1).astype(int), p / 2.0, sample_weight=w)

    def build(a, b):
        m = factory()
        if b > a:
            m["f1"].update(t[a:b], p[a:b], sample_weight=w[a:b])
            m["r2"].update(y[a:b], yp[a:b], sample_weight=w[a:b])
            m["auc"].update((t[a:b] == 1).astype(int), p[a:b] / 2.0, sample_weight=w[a:b])
        return m

    parts = [build(a, b) for a, b in bounds]
    order = data.draw(st.permutations(range(len(parts))))
    # a random tree: repeatedly merge two random neighbours of the permuted list
    pool = [parts[i] for i in order]
    while len(pool) > 1:
        i = data.draw(st.integers(0, len(pool) - 2))
        pool[i:i + 2] = [pool[i].merge(pool[i + 1])]
    merged = pool[0].state_dict()
    expected = one.state_dict()
    for key, fields in expected.items():
        for name, value in fields.items():
            got = merged[key][name]
            if name in ("weighted_updates", "integer_weights"):  # bookkeeping: any or none
                np.testing.assert_array_equal(got > 0, value > 0)
            elif value.dtype.kind in "iu":
                np.testing.assert_array_equal(got, value)
            elif name == "moments":
                # shifts are data values: compare the statistics, not the frame they sit in
                _same(gm_stats(got), gm_stats(value), rtol=1e-12)
            else:
                _same(got, value, rtol=1e-12)


def gm_stats(state):
    """Frame-free statistics of a moments state: weight, means, M2s, co-moment, sums."""
    s = state[..., :]
    return np.stack([s[..., 0], s[..., 1] + s[..., 11], s[..., 2], s[..., 3] + s[..., 12],
                     s[..., 4], s[..., 5], s[..., 6], s[..., 7], s[..., 8], s[..., 9],
                     s[..., 10]], axis=-1)


def test_state_dict_round_trip_and_reset():
    rng = np.random.default_rng(4)
    t = rng.integers(0, 2, 100)
    s = rng.random(100)
    metrics = MetricSet([Accuracy(), F1Score(), AUROC(), AveragePrecision(thresholds=32),
                         MatthewsCorrCoef()])
    metrics.update(t, s)
    saved = copy.deepcopy(metrics.state_dict())
    fresh = MetricSet([Accuracy(), F1Score(), AUROC(), AveragePrecision(thresholds=32),
                       MatthewsCorrCoef()])
    fresh.load_state_dict(saved)
    _same(list(fresh.compute().values()), list(metrics.compute().values()))
    metrics.reset()
    metrics.update(t[:50], s[:50])
    one = MetricSet([Accuracy()])
    one.update(t[:50], s[:50])
    assert metrics.compute()["accuracy"] == one.compute()["accuracy"]
    with pytest.raises(ValueError, match="lacks"):
        MetricSet([R2Score()]).load_state_dict(saved)


def test_set_shares_one_confusion_state_and_counts_once(monkeypatch):
    C = 5
    metrics = MetricSet({
        "accuracy": Accuracy("multiclass", num_classes=C),
        "balanced": BalancedAccuracy("multiclass", num_classes=C),
        "precision": Precision("multiclass", num_classes=C),
        "recall": Recall("multiclass", num_classes=C),
        "f1": F1Score("multiclass", num_classes=C),
        "mcc": MatthewsCorrCoef("multiclass", num_classes=C),
        "kappa": CohenKappa("multiclass", num_classes=C),
        "jaccard": JaccardIndex("multiclass", num_classes=C),
    })
    assert len(metrics.states) == 1
    calls = []
    from gpumetrics.kernels import cpu

    real = cpu.confusion
    monkeypatch.setattr(cpu, "confusion", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(5)
    metrics.update(rng.integers(0, C, 1000), rng.integers(0, C, 1000))
    assert len(calls) == 1
    scores = MetricSet([AUROC(thresholds=64), AveragePrecision(thresholds=64)])
    assert len(scores.states) == 1


def test_counts_are_int64_past_2_to_the_32():
    m = Accuracy("multiclass", num_classes=3)
    (state,) = m.states.values()
    big = 2**32 - 1
    state.arrays["counts"][0, 0, 0] = big
    m.update(np.zeros(10, np.int32), np.zeros(10, np.int32))
    m.update(np.ones(3, np.int32), np.full(3, 2, np.int32))
    counts = state.host("counts")
    assert counts.dtype == np.int64
    assert counts[0, 0, 0] == big + 10
    assert m.compute() == (big + 10) / (big + 13)
    merged = copy.deepcopy(m).merge(m)
    assert merged.states[state.key].host("counts")[0, 0, 0] == 2 * (big + 10)


def test_mixed_weighted_and_unweighted_updates():
    rng = np.random.default_rng(6)
    t = rng.integers(0, 3, 200)
    p = rng.integers(0, 3, 200)
    w = rng.random(200)
    m = F1Score("multiclass", num_classes=3)
    m.update(t[:100], p[:100])
    m.update(t[100:], p[100:], sample_weight=w[100:])
    full = np.r_[np.ones(100), w[100:]]
    _same(m.compute(), gm.f1_score(t, p, average="macro", sample_weight=full))


# --- validation and host syncs ----------------------------------------------------------------


def test_bad_input_is_rejected_before_any_state_changes():
    metrics = MetricSet([Accuracy("multiclass", num_classes=3), AUROC("multiclass",
                                                                       num_classes=3)])
    rng = np.random.default_rng(7)
    s = rng.random((10, 3))
    metrics.update(rng.integers(0, 3, 10), s)
    before = copy.deepcopy(metrics.state_dict())
    with pytest.raises(ValueError, match="y_true has labels outside"):
        metrics.update(np.array([0, 1, 5]), s[:3])
    bad = s[:3].copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics.update(np.array([0, 1, 2]), bad)
    with pytest.raises(ValueError, match="samples"):
        metrics.update(np.array([0, 1]), s[:3])
    after = metrics.state_dict()
    for key in before:
        for name in before[key]:
            np.testing.assert_array_equal(before[key][name], after[key][name])


def test_unchecked_labels_are_caught_at_compute():
    m = F1Score("multiclass", num_classes=3, validate=False)
    m.update(np.array([0, 1, 7]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="outside"):
        m.compute()
    r = R2Score(validate=False)
    r.update(np.array([1.0, np.nan]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="NaN"):
        r.compute()


def test_argument_errors_name_the_argument():
    with pytest.raises(ValueError, match="num_classes"):
        F1Score("multiclass")
    with pytest.raises(ValueError, match="task"):
        Accuracy("regression")
    with pytest.raises(ValueError, match="average"):
        F1Score("multiclass", num_classes=3, average="binary")
    with pytest.raises(ValueError, match="samples"):
        F1Score("multilabel", num_labels=3, average="samples")
    with pytest.raises(ValueError, match="thresholds"):
        AUROC(thresholds=1)
    with pytest.raises(ValueError, match="collide"):
        MetricSet([AUROC(), AUROC(thresholds=10)])
    with pytest.raises(ValueError, match="merge"):
        Accuracy().merge(F1Score())


class _SyncTrap(np.ndarray):
    """An array whose values cannot be read back on the host: every operation that would
    synchronise a device array (bool, int, float, item, tolist, boolean-mask indexing)
    raises."""

    def _trap(self, *args, **kwargs):
        raise AssertionError("update() read a value back (a host sync on a device)")

    __bool__ = __int__ = __float__ = __index__ = item = tolist = _trap

    def __getitem__(self, key):
        if isinstance(key, np.ndarray) and key.dtype == bool:
            self._trap()
        return super().__getitem__(key)


class _Launcher:
    """Kernels seen as opaque launches: they take the trap arrays as plain arrays."""

    def __init__(self, module):
        self.module = module

    def __getattr__(self, name):
        fn = getattr(self.module, name)

        def launch(*args, **kwargs):
            plain = [a.view(np.ndarray) if isinstance(a, _SyncTrap) else a for a in args]
            kw = {k: v.view(np.ndarray) if isinstance(v, _SyncTrap) else v
                  for k, v in kwargs.items()}
            return fn(*plain, **kw)

        return launch


def test_update_reads_nothing_back_without_validation(monkeypatch):
    """Structural proof of the no-sync update: no value of the batch reaches Python."""
    from gpumetrics.kernels import cpu

    from gpumetrics import dispatch

    monkeypatch.setattr(dispatch, "kernels", lambda backend=None, on_gpu=False: _Launcher(cpu))
    rng = np.random.default_rng(8)
    n, C = 64, 4
    t = rng.integers(0, C, n).view(_SyncTrap)
    scores = rng.random((n, C)).view(_SyncTrap)
    w = rng.random(n).view(_SyncTrap)
    metrics = MetricSet({
        "acc": Accuracy("multiclass", num_classes=C), "f1": F1Score("multiclass",
                                                                    num_classes=C),
        "auc": AUROC("multiclass", num_classes=C, thresholds=32),
        "top2": TopKAccuracy(2, num_classes=C), "ce": CrossEntropy(num_classes=C),
    }, validate=False)
    for _ in range(3):
        metrics.update(t, scores, sample_weight=w)
    reg = MetricSet([R2Score(), MeanSquaredError()], validate=False)
    reg.update(scores[:, 0], scores[:, 1], sample_weight=w)
    expected = gm.accuracy_score(np.asarray(t), np.asarray(scores).argmax(1),
                                 sample_weight=np.asarray(w))
    assert metrics.compute()["acc"] == pytest.approx(expected, rel=1e-12)


def test_batch_permutations_give_identical_counts():
    rng = np.random.default_rng(9)
    t = rng.integers(0, 4, 120)
    p = rng.integers(0, 4, 120)
    chunks = np.array_split(np.arange(120), 4)
    results = set()
    for order in itertools.permutations(range(4)):
        m = ConfusionMatrix("multiclass", num_classes=4)
        for i in order:
            m.update(t[chunks[i]], p[chunks[i]])
        results.add(m.compute().tobytes())
    assert len(results) == 1


def test_state_objects_report_their_key():
    assert S.Confusion(3).key == "Confusion(num_classes=3)"
    assert S.Confusion(3).key != S.Confusion(4).key


def test_torch_batches_answer_in_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    t = rng.integers(0, 3, 90)
    s = rng.random((90, 3))
    s /= s.sum(axis=1, keepdims=True)
    metrics = MetricSet({"f1": F1Score("multiclass", num_classes=3, average=None),
                         "auc": AUROC("multiclass", num_classes=3),
                         "cm": ConfusionMatrix("multiclass", num_classes=3)})
    for sl in (slice(0, 40), slice(40, 90)):
        metrics.update(torch.from_numpy(t[sl]), torch.from_numpy(s[sl]))
    out = metrics.compute()
    assert all(isinstance(v, torch.Tensor) for v in out.values())
    _same(out["f1"].numpy(), gm.f1_score(t, s.argmax(1), average=None, num_classes=3))
    _same(float(out["auc"]), gm.roc_auc_score(t, s, multi_class="ovr"))
    np.testing.assert_array_equal(out["cm"].numpy(), gm.confusion_matrix(t, s.argmax(1)))


def test_float_labels_are_labels_unless_they_are_scores():
    t = np.array([0.0, 1, 2, 2])
    p = np.array([0.0, 2, 2, 1])
    m = Accuracy("multiclass", num_classes=3)
    m.update(t, p)
    assert m.compute() == gm.accuracy_score(t, p) == 0.5
    with pytest.raises(ValueError, match="non-integer"):
        m.update(np.array([0.5, 1.0]), np.array([0, 1]))


def test_ignore_index_is_not_a_bad_label():
    logits = np.random.default_rng(0).normal(size=(3, 3))
    m = CrossEntropy(num_classes=3, ignore_index=-100)
    m.update(np.array([0, -100, 2]), logits)
    _same(m.compute(), gm.cross_entropy([0, -100, 2], logits, ignore_index=-100))
    with pytest.raises(ValueError, match="outside"):
        m.update(np.array([0, 5, 2]), logits)


def test_binary_average_ignores_labels_as_sklearn():
    t, p = np.array([0, 1, 1, 0, 1]), np.array([0, 1, 0, 0, 1])
    m = F1Score(labels=[0])
    m.update(t, p)
    assert m.compute() == gm.f1_score(t, p, labels=[0]) == 0.8


def test_labels_are_checked_when_the_metric_is_built():
    with pytest.raises(ValueError, match="duplicates"):
        F1Score("multiclass", num_classes=3, labels=[1, 1], average=None)
    with pytest.raises(ValueError, match="class indices"):
        ConfusionMatrix("multiclass", num_classes=3, labels=[3])
    m = ConfusionMatrix("multiclass", num_classes=3, labels=[2])
    m.update(np.array([0, 1]), np.array([0, 2]))
    with pytest.raises(ValueError, match="must be in y_true"):
        m.compute()


def test_targets_are_validated_for_scores_and_losses():
    with pytest.raises(ValueError, match="binary targets"):
        AUROC(thresholds=10).update(np.array([0, 2, 1]), np.array([0.2, 0.9, 0.6]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        BinaryCrossEntropy().update(np.array([0.0, 2.0]), np.array([0.3, 0.6]))
    # integer scores are scores, not indicators, for multilabel ranking
    t = np.array([[0, 1], [1, 0], [1, 1]])
    s = np.array([[3, 7], [9, 2], [5, 5]])
    m = AUROC("multilabel", num_labels=2)
    m.update(t, s)
    assert m.compute() == gm.roc_auc_score(t, s)


def test_unchecked_class_indices_are_caught_by_ranking_metrics():
    rng = np.random.default_rng(11)
    s = rng.random((20, 3))
    s /= s.sum(axis=1, keepdims=True)
    t = rng.integers(0, 3, 20)
    t[4] = 7
    for m in (AUROC("multiclass", num_classes=3, thresholds=16, validate=False),
              AveragePrecision("multiclass", num_classes=3, validate=False)):
        m.update(t, s)
        with pytest.raises(ValueError, match="outside"):
            m.compute()
    curve = ROCCurve(thresholds=8, validate=False)
    bad = s[:, 0].copy()
    bad[3] = np.nan
    curve.update((t == 1).astype(int), bad)
    with pytest.raises(ValueError, match="NaN"):
        curve.compute()
