"""Inputs read alike by every entry point (``gpumetrics.inputs``), as scikit-learn reads
them: large integers, pandas, torch, object, sparse and bytes arrays, weights."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sklearn.exceptions
import sklearn.metrics as skm
from hypothesis import given, settings
from hypothesis import strategies as st

import gpumetrics as gm
from gpumetrics import metrics
from tests._sklearn import check_parity

torch = pytest.importorskip("torch")


# --- integers beyond float64's 2**53 --------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(labels=st.lists(st.sampled_from([0, 1, 2**63, 2**63 + 1, 2**64 - 1]), min_size=2,
                       max_size=12),
       rnd=st.randoms(use_true_random=False))
def test_uint64_labels_beyond_int64(labels, rnd, backend):
    y_true = np.array(labels, np.uint64)
    y_pred = np.array(rnd.sample(labels, len(labels)), np.uint64)
    for name in ("accuracy_score", "f1_score", "confusion_matrix"):
        kwargs = {"average": "macro"} if name == "f1_score" else {}
        check_parity(name, backend, y_true, y_pred, **kwargs)


def test_uint64_labels_example(backend):
    y_true = np.array([0, 2**63, 2**63, 0], np.uint64)
    y_pred = np.array([0, 2**63, 0, 0], np.uint64)
    assert gm.accuracy_score(y_true, y_pred, backend=backend) == 0.75


@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 1), st.integers(-3, 3)), min_size=2,
                     max_size=15))
def test_integer_scores_beyond_2_53_keep_their_order(rows, backend):
    y_true = np.array([r[0] for r in rows])
    y_score = np.array([2**62 + r[1] for r in rows], np.int64)
    check_parity("roc_auc_score", backend, y_true, y_score)
    check_parity("average_precision_score", backend, y_true, y_score)
    check_parity("precision_recall_curve", backend, y_true, y_score)
    check_parity("roc_curve", backend, y_true, y_score)


def test_regression_of_integers_beyond_2_53(backend):
    # max_error subtracts integers as integers; the others read them as float64 first
    for name in ("max_error", "mean_absolute_error", "mean_squared_error", "r2_score"):
        check_parity(name, backend, np.array([2**53, 5, 2**60 + 3]),
                     np.array([2**53 + 1, 5, 2**60]))
    assert gm.max_error([2**53, 5], [2**53 + 1, 5], backend=backend) == 1.0


def test_max_error_of_uint64_beyond_int64(backend):
    check_parity("max_error", backend, np.array([2**64 - 1, 0], np.uint64),
                 np.array([0, 0], np.uint64))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int64, bool])
def test_curve_thresholds_keep_the_scores_dtype(dtype, backend):
    y_true = [0, 1, 1, 0, 1]
    y_score = np.array([0, 1, 1, 0, 1]).astype(dtype) if dtype is bool else (
        np.array([0.1, 0.5, 0.7, 0.2, 0.5]) * (10 if dtype is np.int64 else 1)).astype(dtype)
    for name in ("precision_recall_curve", "roc_curve", "det_curve"):
        expected = getattr(skm, name)(y_true, y_score)[2]
        actual = getattr(gm, name)(y_true, y_score, backend=backend)[2]
        assert actual.dtype == expected.dtype, name
        np.testing.assert_array_equal(actual, expected)


# --- array types ------------------------------------------------------------------------------


def test_pandas_weights(backend):
    w = pd.Series([1.0, 2.0, 3.0])
    check_parity("accuracy_score", backend, [0, 1, 1], [0, 1, 0], sample_weight=w)
    check_parity("mean_squared_error", backend, [0.0, 1, 1], [0, 1, 0], sample_weight=w)
    check_parity("roc_auc_score", backend, [0, 1, 1], [0.1, 0.6, 0.4], sample_weight=w)
    check_parity("log_loss", backend, [0, 1, 1], [0.1, 0.6, 0.4], sample_weight=w)


def test_torch_weights_that_require_grad_are_read_as_values(backend):
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    expected = skm.accuracy_score([0, 1, 1], [0, 1, 0], sample_weight=[1.0, 2.0, 3.0])
    y_true, y_pred = torch.tensor([0, 1, 1]), torch.tensor([0, 1, 0])
    assert float(gm.accuracy_score(y_true, y_pred, sample_weight=w, backend=backend)) == (
        pytest.approx(expected))
    assert float(gm.mean_squared_error(y_true.double(), y_pred.double(), sample_weight=w,
                                       backend=backend)) == pytest.approx(0.5)
    metric = metrics.Accuracy(task="binary", backend=backend)
    metric.update(y_true, y_pred, sample_weight=w)
    assert float(metric.compute()) == pytest.approx(expected)


def test_sparse_inputs_are_read_dense(backend):
    y_true = sp.csr_matrix(np.array([[1, 0], [0, 1]]))
    y_pred = sp.csr_matrix(np.array([[1, 0], [1, 1]]))
    check_parity("accuracy_score", backend, y_true, y_pred)
    check_parity("f1_score", backend, y_true, y_pred, average="micro")
    check_parity("hamming_loss", backend, y_true, y_pred)


def test_object_arrays_of_numbers(backend):
    check_parity("accuracy_score", backend, [0, 1, 1], [0, 1, 0],
                 sample_weight=np.array([1, 2, 3], dtype=object))
    check_parity("roc_auc_score", backend, [0, 1, 1], np.array([0.1, 0.5, 0.3], dtype=object))
    check_parity("mean_squared_error", backend, np.array([1.0, 2.0], dtype=object),
                 np.array([1.5, 2.0], dtype=object))
    check_parity("mean_absolute_error", backend, ["1", "2"], ["1.5", "2"])
    with pytest.raises(ValueError, match="sample_weight must hold numbers"):
        gm.accuracy_score([0, 1], [0, 1], sample_weight=np.array([1, "a"], dtype=object),
                          backend=backend)


@pytest.mark.parametrize("labels", [
    np.array([[], [1, 2]], dtype=object),
    np.array([{1}, {2, 3}], dtype=object),
    np.array([(1,), (2, 3)], dtype=object),
])
def test_sequences_of_labels_are_the_legacy_format(labels, backend):
    with pytest.raises(ValueError, match="legacy multi-label data representation"):
        gm.accuracy_score(labels, labels, backend=backend)
    check_parity("accuracy_score", backend, labels, labels)


@pytest.mark.parametrize("name", ["roc_curve", "roc_auc_score", "average_precision_score",
                                  "accuracy_score"])
def test_none_is_no_label(name, backend):
    y_true = np.array([None, 1, 0, 1], dtype=object)
    other = [0, 1, 0, 1] if name == "accuracy_score" else [0.1, 0.2, 0.3, 0.4]
    with pytest.raises(ValueError, match="y_true holds None, which is not a class label"):
        getattr(gm, name)(y_true, other, backend=backend)


@pytest.mark.parametrize("dtype", ["S", object])
@pytest.mark.parametrize("name", ["accuracy_score", "f1_score", "roc_auc_score", "roc_curve",
                                  "top_k_accuracy_score"])
def test_bytes_labels_are_a_type_error(name, dtype, backend):
    y_true = np.array([b"a", b"b", b"a"], dtype=dtype)
    other = y_true if name in ("accuracy_score", "f1_score") else [0.2, 0.8, 0.4]
    kwargs = {"average": "macro"} if name == "f1_score" else {}
    with pytest.raises(TypeError, match="bytes is not supported"):
        getattr(gm, name)(y_true, other, backend=backend, **kwargs)
    with pytest.raises(TypeError, match="bytes is not supported"):
        getattr(skm, name)(y_true, other, **kwargs)


# --- log_loss ---------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(n_labels=st.integers(2, 4), n=st.integers(1, 20), rnd=st.randoms(use_true_random=False))
def test_log_loss_multilabel(n_labels, n, rnd):
    y_true = np.array([[rnd.randint(0, 1) for _ in range(n_labels)] for _ in range(n)])
    y_proba = np.array([[rnd.uniform(0.01, 0.99) for _ in range(n_labels)] for _ in range(n)])
    check_parity("log_loss", "cpu", y_true, y_proba)
    check_parity("log_loss", "reference", y_true, y_proba,
                 sample_weight=[rnd.uniform(0, 2) for _ in range(n)])


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@settings(max_examples=20, deadline=None)
@given(n_classes=st.integers(2, 4), n=st.integers(2, 40), seed=st.integers(0, 2**31))
def test_log_loss_in_the_probabilities_dtype(dtype, n_classes, n, seed):
    rng = np.random.default_rng(seed)
    y_proba = rng.dirichlet(np.ones(n_classes), n).astype(dtype)
    y_true = np.r_[np.arange(n_classes), rng.integers(0, n_classes, n)][:max(n, n_classes)]
    y_proba = np.resize(y_proba, (y_true.shape[0], n_classes))
    expected = skm.log_loss(y_true, y_proba)
    assert gm.log_loss(y_true, y_proba) == expected  # the same float ops, the same float


def test_log_loss_unsorted_labels_and_the_old_keyword(backend):
    y_proba = [[0.2, 0.3, 0.5], [0.3, 0.4, 0.3], [0.1, 0.1, 0.8]]
    check_parity("log_loss", backend, [0, 1, 2], y_proba, labels=[2, 1, 0])
    with pytest.warns(UserWarning, match="assumes labels are ordered lexicographically"):
        gm.log_loss([0, 1, 2], y_proba, labels=[2, 1, 0], backend=backend)
    with pytest.warns(FutureWarning, match="`y_pred` was renamed to `y_proba`"):
        value = gm.log_loss([0, 1], y_pred=[[0.8, 0.2], [0.3, 0.7]], backend=backend)
    assert value == pytest.approx(skm.log_loss([0, 1], [[0.8, 0.2], [0.3, 0.7]]))
    with pytest.raises(ValueError, match="Cannot use both"):
        gm.log_loss([0, 1], [[0.8, 0.2], [0.3, 0.7]], y_pred=[[0.8, 0.2], [0.3, 0.7]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_loss_warning_points_at_the_caller(dtype):
    with pytest.warns(UserWarning, match="do not sum to one") as record:
        gm.log_loss([0, 1], np.array([[0.5, 0.4], [0.3, 0.6]], dtype))
    assert record[0].filename == __file__


# --- weights ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mean_squared_error", "r2_score", "explained_variance_score",
                                  "mean_absolute_error", "log_loss", "roc_auc_score",
                                  "accuracy_score"])
def test_all_zero_weights_are_a_value_error(name, backend):
    y_true, y_pred = ([0, 1, 1], [0.2, 0.6, 0.7]) if name != "accuracy_score" else (
        [0, 1, 1], [0, 1, 0])
    if name in ("mean_squared_error", "r2_score", "explained_variance_score",
                "mean_absolute_error"):
        y_true = [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match="sample_weight must contain at least one non-zero"):
        getattr(gm, name)(y_true, y_pred, sample_weight=[0, 0, 0], backend=backend)
    check_parity(name, backend, y_true, y_pred, sample_weight=[0, 0, 0])


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1, width=16),
                               st.integers(-2, 3)), min_size=2, max_size=12))
def test_negative_weights_in_exact_ranking(rows, backend):
    y_true = np.array([r[0] for r in rows])
    y_score = np.array([r[1] for r in rows])
    weight = np.array([r[2] for r in rows], np.float64)
    if not weight.any():
        return
    check_parity("roc_auc_score", backend, y_true, y_score, sample_weight=weight)
    check_parity("roc_curve", backend, y_true, y_score, sample_weight=weight)


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 1), st.floats(0, 1, width=16),
                               st.integers(-2, 3)), min_size=2, max_size=12))
def test_negative_weights_in_partial_auc(rows, backend):
    y_true = np.array([r[0] for r in rows])
    weight = np.array([r[2] for r in rows], np.float64)
    if not weight.any():
        return
    check_parity("roc_auc_score", backend, y_true, np.array([r[1] for r in rows]),
                 sample_weight=weight, max_fpr=0.5)


def test_negative_weights_example_and_binned_refusal(backend):
    y_true, y_score = [0, 0, 1, 0, 0], [0.2, 0.3, 0.8, 0.3, 0.5]
    weight = [-1, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="neither increasing nor decreasing"):
        gm.roc_auc_score(y_true, y_score, sample_weight=weight, backend=backend)
    for name in ("roc_auc_score", "average_precision_score"):
        with pytest.raises(ValueError, match="must not be negative with thresholds="):
            getattr(gm, name)(y_true, y_score, sample_weight=weight, thresholds=10,
                              backend=backend)
    metric = metrics.AUROC(task="binary", thresholds=10, backend=backend, validate=True)
    with pytest.raises(ValueError, match="must not be negative with thresholds="):
        metric.update(np.array(y_true), np.array(y_score), sample_weight=np.array(weight, float))


def test_column_scores_and_weights_for_the_curves(backend):
    y_true = [0, 1, 1, 0]
    y_score = np.array([[0.1], [0.5], [0.7], [0.4]])
    weight = np.array([[1.0], [2.0], [1.0], [3.0]])
    for name in ("roc_curve", "det_curve", "roc_auc_score", "average_precision_score"):
        check_parity(name, backend, y_true, y_score)
    for name in ("roc_auc_score", "average_precision_score", "roc_curve"):
        check_parity(name, backend, y_true, y_score[:, 0], sample_weight=weight)


# --- regression ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mean_absolute_error", "mean_absolute_percentage_error",
                                  "max_error"])
def test_finite_large_regression_inputs(name, backend):
    check_parity(name, backend, [1e300, 1.0], [0.0, 1.0])
    check_parity(name, backend, [-1e300, 1.0, 5e299], [1e300, 1.0, 0.0])


def test_squares_that_overflow_say_so(backend):
    with pytest.raises(ValueError, match="too large for mse"):
        gm.mean_squared_error([1e300, 0.0], [0.0, 0.0], backend=backend)
    with pytest.raises(ValueError, match="NaN or infinity"):
        gm.mean_absolute_error([np.nan, 0.0], [0.0, 0.0], backend=backend)
    with pytest.raises(ValueError, match="NaN or infinity"):
        gm.max_error([np.inf, 0.0], [0.0, 0.0], backend=backend)


# --- warnings -----------------------------------------------------------------------------------


def test_filters_on_scikit_learns_warning_class_see_ours():
    with warnings.catch_warnings():
        warnings.simplefilter("error", sklearn.exceptions.UndefinedMetricWarning)
        with pytest.raises(sklearn.exceptions.UndefinedMetricWarning):
            gm.precision_score([0, 0], [0, 0])
        with pytest.raises(gm.UndefinedMetricWarning):
            gm.precision_score([0, 0], [0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.UndefinedMetricWarning)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("ignore", sklearn.exceptions.UndefinedMetricWarning)
            gm.precision_score([0, 0], [0, 0])
        assert not caught
