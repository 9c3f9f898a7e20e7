"""Parity with scikit-learn for the ranking metrics, on every host backend; the binned
mode's certified bound; the exact refinement; batched = loop.

Random inputs cover ties, constant and extreme scores (logits of +-1e4), float32 scores,
weights with zeros, single-class targets, {-1, 1} and string labels, multiclass
one-vs-rest and one-vs-one with every average, and multilabel indicators.
"""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics as skm
from _sklearn import assert_same, check_parity, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gpumetrics as gm
from gpumetrics import batched

parity = settings(
    max_examples=50, deadline=None, derandomize=True,
    suppress_health_check=(HealthCheck.too_slow,),
)


def draw_scores(draw, rng, shape):
    kind = draw(st.sampled_from(["continuous", "ties", "constant", "extreme", "float32"]))
    if kind == "continuous":
        return rng.normal(size=shape)
    if kind == "ties":
        return rng.integers(0, draw(st.integers(2, 6)), size=shape) / 4
    if kind == "constant":
        return np.full(shape, 0.3)
    if kind == "extreme":
        return rng.choice([-1e4, -3.0, 0.0, 2.5, 1e4], size=shape)
    return rng.random(shape).astype(np.float32)


@st.composite
def binary_case(draw):
    n = draw(st.integers(1, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    pool = draw(st.sampled_from([[0, 1], [-1, 1], [0], [1], ["no", "yes"], [False, True]]))
    y_true = np.asarray(pool)[rng.integers(0, len(pool), n)]
    y_score = draw_scores(draw, rng, n)
    weight = None
    if draw(st.booleans()):
        weight = rng.random(n)
        weight[rng.random(n) < 0.2] = 0
    return y_true, y_score, weight


@parity
@given(case=binary_case(), max_fpr=st.sampled_from([None, 1.0, 0.3]))
def test_roc_auc_binary(backend, case, max_fpr):
    y_true, y_score, weight = case
    check_parity("roc_auc_score", backend, y_true, y_score, sample_weight=weight,
                 max_fpr=max_fpr)


@parity
@given(case=binary_case(), pos_label=st.sampled_from([1, "yes", None]))
def test_average_precision_binary(backend, case, pos_label):
    y_true, y_score, weight = case
    kwargs = {} if pos_label is None else {"pos_label": pos_label}
    check_parity("average_precision_score", backend, y_true, y_score, sample_weight=weight,
                 **kwargs)


@parity
@given(case=binary_case(), drop=st.booleans(),
       name=st.sampled_from(["roc_curve", "precision_recall_curve", "det_curve"]),
       pos_label=st.sampled_from([None, 1, "yes", -1]))
def test_curves(backend, case, drop, name, pos_label):
    y_true, y_score, weight = case
    check_parity(name, backend, y_true, y_score, sample_weight=weight, pos_label=pos_label,
                 drop_intermediate=drop)


@parity
@given(case=binary_case(), pos_label=st.sampled_from([None, 1, "yes", -1]))
def test_confusion_matrix_at_thresholds(backend, case, pos_label):
    y_true, y_score, weight = case
    check_parity("confusion_matrix_at_thresholds", backend, y_true, y_score,
                 sample_weight=weight, pos_label=pos_label)


@parity
@given(case=binary_case(), name=st.sampled_from(["accuracy_score", "balanced_accuracy_score",
                                                  "matthews_corrcoef", "confusion_matrix"]))
def test_metric_at_thresholds_calls_any_metric(backend, case, name):
    y_true, y_score, weight = case
    check_parity("metric_at_thresholds", backend, y_true, y_score, getattr(skm, name),
                 sample_weight=weight)


@parity
@given(case=binary_case(), name=st.sampled_from(["accuracy_score", "f1_score",
                                                  "precision_score", "jaccard_score"]),
       params=st.sampled_from([None, {"zero_division": 0}, {"average": "macro",
                                                            "zero_division": 1}]))
def test_metric_at_thresholds_batches_gpumetrics_metrics(backend, case, name, params):
    # a gpumetrics metric is evaluated by its batched twin, many thresholds a call
    y_true, y_score, weight = case
    if name == "accuracy_score" and params is not None:
        params = None
    expected, sk_error, _ = run(skm.metric_at_thresholds, y_true, y_score, getattr(skm, name),
                                sample_weight=weight, metric_params=params)
    actual, gm_error, _ = run(gm.metric_at_thresholds, y_true, y_score, getattr(gm, name),
                              sample_weight=weight, metric_params=params, backend=backend)
    if sk_error is not None:
        assert isinstance(gm_error, ValueError), (sk_error, gm_error)
        return
    assert gm_error is None, gm_error
    assert_same(expected, actual)


@pytest.mark.parametrize("scores", [
    np.array([-128, 5, 127, 0, -128], np.int8),  # negating the least int8 would wrap
    np.array([2**63 + 1, 2**63, 2**63 + 1, 7, 2**63], np.uint64),  # float64 would tie them
])
def test_metric_at_thresholds_orders_integer_scores_exactly(backend, scores):
    y_true = [0, 1, 1, 0, 1]
    check_parity("metric_at_thresholds", backend, y_true, scores, skm.accuracy_score)
    got = gm.metric_at_thresholds(y_true, scores, gm.accuracy_score, backend=backend)
    want = skm.metric_at_thresholds(y_true, scores, skm.accuracy_score)
    assert_same(want, got)


def test_metric_at_thresholds_warns_once_per_threshold_for_tuple_metrics(backend):
    # a tuple-valued gpumetrics metric runs once per threshold, its batched twin's warnings
    # discarded: the warnings are scikit-learn's
    args = ([0, 1, 1, 0, 1], [0.1, 0.5, 0.5, 0.2, 0.9])
    _, _, expected = run(skm.metric_at_thresholds, *args, skm.precision_recall_fscore_support)
    _, error, got = run(gm.metric_at_thresholds, *args, gm.precision_recall_fscore_support,
                        backend=backend)
    assert error is None and got == expected


def test_ties_count_one_half(backend):
    assert gm.roc_auc_score([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9], backend=backend) == 0.875


@st.composite
def multiclass_case(draw):
    n = draw(st.integers(2, 60))
    C = draw(st.integers(3, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y_true = rng.integers(0, C, n)
    if draw(st.booleans()):
        y_true = np.array([-2, 3, 10, 11, 20])[y_true]
    raw = rng.random((n, C))
    if draw(st.booleans()):
        raw = np.round(raw, 1) + 1e-3  # ties
    y_score = raw / raw.sum(axis=1, keepdims=True)
    weight = rng.random(n) if draw(st.booleans()) else None
    return y_true, y_score, weight


@parity
@given(case=multiclass_case(), multi_class=st.sampled_from(["ovr", "ovo", "raise"]),
       average=st.sampled_from(["macro", "weighted", "micro", None]),
       with_labels=st.booleans())
def test_roc_auc_multiclass(backend, case, multi_class, average, with_labels):
    y_true, y_score, weight = case
    kwargs = {}
    if with_labels:
        kwargs["labels"] = np.unique(np.r_[y_true, np.arange(100, 110)])[: y_score.shape[1]]
    check_parity("roc_auc_score", backend, y_true, y_score, sample_weight=weight,
                 multi_class=multi_class, average=average, **kwargs)


@parity
@given(case=multiclass_case(), average=st.sampled_from(["macro", "weighted", "micro", None]))
def test_average_precision_multiclass(backend, case, average):
    y_true, y_score, weight = case
    check_parity("average_precision_score", backend, y_true, y_score, sample_weight=weight,
                 average=average)


@st.composite
def multilabel_case(draw):
    n = draw(st.integers(1, 40))
    L = draw(st.integers(2, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    y_true = (rng.random((n, L)) < draw(st.sampled_from([0.1, 0.5]))).astype(np.int64)
    y_score = draw_scores(draw, rng, (n, L))
    weight = rng.random(n) if draw(st.booleans()) else None
    return y_true, y_score, weight


@parity
@given(case=multilabel_case(),
       average=st.sampled_from(["macro", "weighted", "micro", "samples", None]),
       name=st.sampled_from(["roc_auc_score", "average_precision_score"]))
def test_multilabel(backend, case, average, name):
    y_true, y_score, weight = case
    check_parity(name, backend, y_true, y_score, sample_weight=weight, average=average)


# --- binned mode -----------------------------------------------------------------------


@parity
@given(case=binary_case(), n_bins=st.sampled_from([1, 2, 7, 64, 4096]),
       edges=st.booleans())
def test_binned_bound_holds(backend, case, n_bins, edges):
    y_true, y_score, weight = case
    if len(np.unique(y_true)) < 2 or isinstance(y_true[0], str):
        return
    y01 = (y_true == np.unique(y_true)[-1]).astype(int)
    thresholds = np.linspace(-1.0, 1.0, n_bins) if edges else n_bins
    for name in ("roc_auc_score", "average_precision_score"):
        exact, error, _ = run(getattr(skm, name), y01, y_score, sample_weight=weight)
        binned, gm_error, _ = run(getattr(gm, name), y01, y_score, sample_weight=weight,
                                  thresholds=thresholds, backend=backend)
        if error is not None or np.isnan(exact):
            continue
        assert gm_error is None, gm_error
        value, bound = binned
        assert abs(value - exact) <= bound + 1e-12, (name, value, exact, bound)
    auc, error, _ = run(skm.roc_auc_score, y01, y_score, sample_weight=weight)
    if error is None:
        refined, _, _ = run(gm.roc_auc_score, y01, y_score, sample_weight=weight,
                            thresholds=thresholds, refine=True, backend=backend)
        assert refined == pytest.approx(auc, rel=1e-12, nan_ok=True)


def test_binned_is_exact_when_bins_separate_the_classes(backend):
    y = np.array([0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.7, 0.9])
    value, bound = gm.roc_auc_score(y, s, thresholds=16, backend=backend)
    assert (value, bound) == (1.0, 0.0)


def test_binned_on_logits_and_multiclass(backend):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 5000)
    logits = rng.normal(size=(5000, 3)) * 2 + 3 * np.eye(3)[y]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    exact = skm.roc_auc_score(y, p, multi_class="ovr")
    value, bound = gm.roc_auc_score(y, p, multi_class="ovr", thresholds=4096, backend=backend)
    assert abs(value - exact) <= bound
    assert bound < 1e-3
    y01 = (y == 0).astype(int)
    value, bound = gm.roc_auc_score(y01, logits[:, 0], thresholds=512, backend=backend)
    assert abs(value - skm.roc_auc_score(y01, logits[:, 0])) <= bound


def test_binned_curves_are_curves_of_binned_scores(backend):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = rng.random(300)
    edges = np.linspace(0, 1, 11)
    floored = np.floor(s * 10) / 10
    fpr, tpr, thr = gm.roc_curve(y, s, thresholds=edges[1:-1], backend=backend,
                                 drop_intermediate=False)
    e_fpr, e_tpr, _ = skm.roc_curve(y, floored, drop_intermediate=False)
    np.testing.assert_allclose(fpr, e_fpr)
    np.testing.assert_allclose(tpr, e_tpr)


# --- batched, errors -------------------------------------------------------------------


@parity
@given(case=binary_case(), K=st.integers(1, 4))
def test_batched_equals_loop(backend, case, K):
    y_true, y_score, weight = case
    if len(np.unique(y_true)) < 2:
        return
    rng = np.random.default_rng(0)
    stack = np.stack([y_score] + [rng.permutation(y_score) for _ in range(K - 1)])
    y01 = (y_true == np.unique(y_true)[-1]).astype(int)
    for name in ("roc_auc_score", "average_precision_score"):
        got = getattr(batched, name)(y01, stack, sample_weight=weight, backend=backend)
        want = [getattr(gm, name)(y01, s, sample_weight=weight, backend=backend) for s in stack]
        np.testing.assert_allclose(got, want, rtol=1e-12)
    curves = batched.roc_curve(y01, stack, backend=backend)
    for curve, s in zip(curves, stack, strict=True):
        for a, b in zip(curve, gm.roc_curve(y01, s, backend=backend), strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_scores_are_a_clear_error(backend, bad):
    for name in ("roc_auc_score", "average_precision_score", "roc_curve"):
        with pytest.raises(ValueError, match="y_score contains NaN or infinity"):
            getattr(gm, name)([0, 1, 1], [0.1, bad, 0.3], backend=backend)


def test_bad_arguments(backend):
    y, s = [0, 1, 1, 0], [0.1, 0.2, 0.3, 0.4]
    with pytest.raises(ValueError, match="thresholds"):
        gm.roc_auc_score(y, s, thresholds=0, backend=backend)
    with pytest.raises(ValueError, match="strictly increasing"):
        gm.roc_auc_score(y, s, thresholds=[0.5, 0.2], backend=backend)
    with pytest.raises(ValueError, match="refine=True"):
        gm.roc_auc_score(y, s, refine=True, backend=backend)
    with pytest.raises(ValueError, match="max_fpr"):
        gm.roc_auc_score(y, s, max_fpr=0, backend=backend)
    with pytest.raises(ValueError, match="same length"):
        gm.roc_auc_score(y, s[:3], backend=backend)
    with pytest.raises(ValueError, match="continuous format is not supported"):
        gm.roc_auc_score([0.5, 0.2, 0.1, 0.3], s, backend=backend)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(data=st.data(), n=st.integers(0, 12), order=st.sampled_from(["up", "down", "any"]))
def test_auc_of_points(backend, data, n, order):
    values = st.floats(-5, 5, allow_nan=False, width=32)
    x = np.array(data.draw(st.lists(values, min_size=n, max_size=n)), np.float64)
    y = np.array(data.draw(st.lists(values, min_size=n, max_size=n)), np.float64)
    if order != "any":
        x = np.sort(x) if order == "up" else np.sort(x)[::-1]
    check_parity("auc", backend, x, y)
    if n >= 2 and order != "any":  # batched: K curves over one x, each the single call
        ys = np.stack([y, y[::-1], 2 * y])
        got = batched.auc(x, ys, backend=backend)
        assert got.shape == (3,)
        np.testing.assert_array_equal(got, [gm.auc(x, row) for row in ys])
