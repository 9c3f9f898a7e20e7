"""Metrics called as torchmetrics users call them: ``value = metric(y_true, y_pred)`` adds the
batch and returns the batch's own value; swapped arguments are named as such; two-class
scores are read one-vs-rest."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gpumetrics as gm
from gpumetrics import metrics as M


def _value(x):
    return float(getattr(x, "value", x))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sizes=st.lists(st.integers(1, 40), min_size=1,
                                                      max_size=4))
def test_a_call_returns_the_batch_value_and_adds_the_batch(seed, sizes):
    rng = np.random.default_rng(seed)
    batches = [(rng.integers(0, 3, n), rng.integers(0, 3, n), rng.random(n)) for n in sizes]
    metrics = M.MetricSet({"acc": M.Accuracy("multiclass", num_classes=3),
                           "f1": M.F1Score("multiclass", num_classes=3, average="micro"),
                           "mse": M.MeanSquaredError()})
    for t, p, w in batches:
        got = metrics(t, p, sample_weight=w)
        assert got["acc"] == pytest.approx(gm.accuracy_score(t, p, sample_weight=w))
        assert got["mse"] == pytest.approx(gm.mean_squared_error(t, p, sample_weight=w))
    t, p, w = (np.concatenate(parts) for parts in zip(*batches, strict=True))
    total = metrics.compute()
    assert total["acc"] == pytest.approx(gm.accuracy_score(t, p, sample_weight=w))
    assert total["f1"] == pytest.approx(gm.f1_score(t, p, average="micro", sample_weight=w))
    assert total["mse"] == pytest.approx(gm.mean_squared_error(t, p, sample_weight=w))


@pytest.mark.parametrize("thresholds", [None, 32])
def test_a_call_on_ranking_metrics_buffers_once(thresholds):
    rng = np.random.default_rng(3)
    auroc = M.AUROC("binary", thresholds=thresholds)
    ys, ss = [], []
    for _ in range(3):
        y, s = rng.integers(0, 2, 60), rng.random(60)
        value = auroc(y, s)
        expected = gm.roc_auc_score(y, s, thresholds=np.linspace(0, 1, 33)[1:-1]
                                    if thresholds else None)
        assert _value(value) == pytest.approx(_value(expected))
        ys.append(y)
        ss.append(s)
    if thresholds is None:  # each batch's rows kept once
        assert sum(c.shape[0] for c in next(iter(auroc.states.values())).arrays["y_score"]) == 180
    assert _value(auroc.compute()) == pytest.approx(
        _value(gm.roc_auc_score(np.concatenate(ys), np.concatenate(ss),
                                thresholds=np.linspace(0, 1, 33)[1:-1] if thresholds else None)))


def test_swapped_arguments_are_named_as_such():
    probs = np.array([[0.1, 0.9, 0.0], [0.2, 0.3, 0.5]])
    with pytest.raises(ValueError, match="scikit-learn's order: y_true"):
        M.Accuracy("multiclass", num_classes=3)(probs, np.array([1, 2]))
    with pytest.raises(ValueError, match="scikit-learn's order: y_true"):
        M.Accuracy("binary")(np.array([0.2, 0.9]), np.array([0, 1]))
    # float targets beside integer predictions are fine where they make sense
    assert M.MeanSquaredError()(np.array([1.5, 2.0]), np.array([1, 2])) == 0.125
    column = np.array([[1.5], [2.0], [3.0]])  # (n, 1) targets, 1-D predictions: regression
    assert M.MeanSquaredError()(column, np.array([1, 2, 3])) == pytest.approx(1 / 12)
    assert M.R2Score()(column, np.array([1, 2, 3])) == pytest.approx(
        gm.r2_score(column[:, 0], [1, 2, 3]))


def test_two_class_scores_are_one_vs_rest_in_exact_mode():
    rng = np.random.default_rng(4)
    p = rng.random((80, 2))
    p /= p.sum(axis=1, keepdims=True)
    y = rng.integers(0, 2, 80)
    for average in ("macro", "weighted", "micro"):
        m = M.AUROC("multiclass", num_classes=2, average=average)
        m.update(y, p)
        onehot = (y[:, None] == np.arange(2)).astype(int)
        assert m.compute() == pytest.approx(gm.roc_auc_score(onehot, p, average=average))
    softmax = M.AUROC("multiclass", num_classes=2)
    softmax.update(y, p)  # complementary columns: each is the binary AUROC
    assert softmax.compute() == pytest.approx(gm.roc_auc_score(y, p[:, 1]))
    with pytest.raises(ValueError, match=r"\(n_samples, 2\)"):  # at update, not compute
        M.AUROC("multiclass", num_classes=2).update(y, p[:, 1])


def test_two_class_options_as_scikit_learn_takes_them():
    with pytest.raises(ValueError, match="partial AUC"):
        M.AUROC("multiclass", num_classes=2, max_fpr=0.5)
    rng = np.random.default_rng(5)
    p = rng.random((60, 2))
    y = rng.integers(0, 2, 60)
    ovo = M.AUROC("multiclass", num_classes=2, multi_class="ovo")
    ovo.update(y, p)
    both_ways = (gm.roc_auc_score(y == 0, p[:, 0]) + gm.roc_auc_score(y == 1, p[:, 1])) / 2
    assert ovo.compute() == pytest.approx(both_ways)
    with pytest.raises(ValueError, match="average must be one of"):  # when built
        M.AUROC("multiclass", num_classes=3, multi_class="ovo", average="micro")
