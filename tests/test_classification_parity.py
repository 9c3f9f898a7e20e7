"""Parity with scikit-learn: every classification metric, on every host backend.

scikit-learn is the oracle. For random inputs (binary, multiclass, string and
non-contiguous labels, imbalanced and single-class data, weights, ``labels=`` subsets and
supersets, multilabel indicators) each metric must give scikit-learn's value and result
type, emit the same ``UserWarning``/``UndefinedMetricWarning`` messages, and raise
``ValueError`` where scikit-learn does. The batched twins must equal a loop of single calls.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import sklearn.metrics as skm
from _sklearn import assert_same, check_parity, run  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import gpumetrics as gm
from gpumetrics import batched

parity = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=(HealthCheck.too_slow, HealthCheck.data_too_large),
)

# Label pools; data draws a random subset of a pool, so labels may be absent.
POOLS = {
    "binary": [0, 1],
    "signed": [-1, 1],
    "int": [0, 1, 2, 3, 4],
    "sparse": [-3, 5, 70, 9],
    "wide": [-5, 300, 100_000],  # a range past direct counting: a lookup table
    "huge": [7, 2**40, -(2**35)],  # a range past the lookup table: sorted
    "float": [0.0, 1.0, 3.0],
    "bool": [False, True],
    "str": ["ant", "bee", "cat", "dog"],
}
ABSENT = {"str": "zebra"}  # a label that never occurs in the data; 99 for integer pools
SETWISE = (
    "precision_score", "recall_score", "f1_score", "fbeta_score", "jaccard_score",
    "precision_recall_fscore_support",
)
AVERAGES = ("binary", "micro", "macro", "weighted", "samples", None)
ZERO_DIVISIONS = ("warn", 0, 1, 0.0, 1.0, np.nan)


# --- comparing with scikit-learn -------------------------------------------------------


def float_counts_quirk(y_true, y_pred, sample_weight) -> bool:
    """scikit-learn's one-vs-rest counts of unweighted single-label targets come out as
    float64 when no prediction at all is right (the "pathological case" branch of its
    ``multilabel_confusion_matrix``); gpumetrics keeps integer counts integers."""
    return (
        np.ndim(y_true) == 1 and sample_weight is None
        and not (np.asarray(y_true) == np.asarray(y_pred)).any()
    )


def dodge_bincount_quirk(case, labels, w):
    """scikit-learn counts multilabel positives with np.bincount, which gives int64 for
    integer weights when there is nothing to count (float64 otherwise): pass float weights
    then (test_quirk_integer_weights_without_positives shows the quirk)."""
    if case.kind != "multilabel" or w is None:
        return w
    columns = slice(None) if labels is None else [c for c in labels if c in case.pool]
    if case.y_true[:, columns].any() or case.y_pred[:, columns].any():
        return w
    return w.astype(np.float64)


def as_int64(counts):
    return counts.astype(np.int64)


# --- strategies ------------------------------------------------------------------------


@dataclass
class Case:
    kind: str
    pool: list
    y_true: np.ndarray
    y_pred: np.ndarray  # (N,) or (K, N) for the batched tests

    @property
    def absent(self):
        return ABSENT.get(self.kind, 99)


def _column(draw, values, n):
    if len(values) > 1 and draw(st.booleans()):
        values = [values[0]] * 8 + values[1:]  # imbalanced: the first label dominates
    return draw(st.lists(st.sampled_from(values), min_size=n, max_size=n))


def _as_some_dtype(draw, values: list) -> np.ndarray:
    """Labels as an array of their natural dtype or, for numbers, another numeric one."""
    y = np.array(values)
    if y.dtype.kind in "iufb":
        dtypes = [t for t in (np.int32, np.uint8, np.float64) if (y.astype(t) == y).all()]
        y = y.astype(draw(st.sampled_from([y.dtype, *dtypes])))
    return y


def _subset(pool):
    return st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique=True)


@st.composite
def class_targets(draw, kinds=tuple(POOLS), n_sets=None, max_n=30):
    """Binary/multiclass labels; ``n_sets=K`` gives y_pred a leading axis of K sets."""
    kind = draw(st.sampled_from(kinds))
    pool = POOLS[kind]
    n = draw(st.integers(1, max_n))
    y_true = _as_some_dtype(draw, _column(draw, draw(_subset(pool)), n))
    if n_sets is None:
        y_pred = _as_some_dtype(draw, _column(draw, draw(_subset(pool)), n))
    else:
        y_pred = _as_some_dtype(
            draw, [_column(draw, draw(_subset(pool)), n) for _ in range(n_sets)]
        )
    return Case(kind, pool, y_true, y_pred)


@st.composite
def multilabel_targets(draw, max_n=20):
    n = draw(st.integers(1, max_n))
    L = draw(st.integers(2, 5))
    indicators = arrays(np.int64, (n, L), elements=st.integers(0, 1))
    return Case("multilabel", list(range(L)), draw(indicators), draw(indicators))


@st.composite
def sample_weights(draw, n, zeros=True, exact=False):
    """None, positive floats, or integers (some 0, unless ``zeros=False``). ``exact``:
    floats are multiples of 1/8, whose sums do not depend on the order of summation."""
    kind = draw(st.sampled_from([None, "float", "int"]))
    if kind == "float":
        floats = st.integers(1, 40).map(lambda i: i / 8) if exact else st.floats(0.1, 5.0)
        return np.array(draw(st.lists(floats, min_size=n, max_size=n)))
    if kind == "int":
        ints = st.integers(0 if zeros else 1, 4)
        return np.array(draw(st.lists(ints, min_size=n, max_size=n)), np.int64)
    return None


@st.composite
def labels_arg(draw, case):
    """None, a subset of the pool in random order, or the pool plus an absent label."""
    choice = draw(st.sampled_from(["none", "subset", "superset"]))
    if choice == "none":
        return None
    order = draw(st.permutations(case.pool))
    if choice == "subset":
        return order[: draw(st.integers(1, len(order)))]
    return [*order, case.absent]


def pos_label_arg(case):
    return st.sampled_from([1, *case.pool])


# --- the worked example ----------------------------------------------------------------

Y_TRUE = [1, 1, 1, 0, 0, 1, 0, 1, 0]
Y_PRED = [1, 1, 0, 0, 1, 1, 0, 1, 0]


def test_worked_example(backend):
    cm = gm.confusion_matrix(Y_TRUE, Y_PRED, backend=backend)
    (tn, fp), (fn, tp) = cm.tolist()
    assert (tp, tn, fp, fn) == (4, 3, 1, 1)
    assert gm.accuracy_score(Y_TRUE, Y_PRED, backend=backend) == pytest.approx(7 / 9)
    for name in ("precision_score", "recall_score", "f1_score"):
        assert getattr(gm, name)(Y_TRUE, Y_PRED, backend=backend) == pytest.approx(0.8)
    p, r, f, s = gm.precision_recall_fscore_support(Y_TRUE, Y_PRED, average="binary",
                                                     backend=backend)
    assert (p, r, f, s) == pytest.approx((0.8, 0.8, 0.8, None))
    for name in ("accuracy_score", "precision_score", "recall_score", "f1_score",
                 "confusion_matrix", "matthews_corrcoef", "jaccard_score"):
        check_parity(name, backend, Y_TRUE, Y_PRED)


# --- accuracy, Hamming loss, confusion matrices ----------------------------------------


@parity
@given(case=st.one_of(class_targets(), multilabel_targets()), data=st.data())
def test_accuracy_and_hamming(backend, case, data):
    w = data.draw(sample_weights(len(case.y_true)))
    normalize = data.draw(st.booleans())
    check_parity("accuracy_score", backend, case.y_true, case.y_pred, normalize=normalize,
                 sample_weight=w)
    check_parity("hamming_loss", backend, case.y_true, case.y_pred, sample_weight=w)
    check_parity("zero_one_loss", backend, case.y_true, case.y_pred, normalize=normalize,
                 sample_weight=w)


@parity
@given(case=class_targets(), data=st.data())
def test_confusion_matrix(backend, case, data):
    check_parity(
        "confusion_matrix", backend, case.y_true, case.y_pred,
        labels=data.draw(labels_arg(case)),
        sample_weight=data.draw(sample_weights(len(case.y_true))),
        normalize=data.draw(st.sampled_from([None, "true", "pred", "all"])),
    )


@parity
@given(case=st.one_of(class_targets(), multilabel_targets()), data=st.data())
def test_multilabel_confusion_matrix(backend, case, data):
    labels = data.draw(labels_arg(case))
    w = data.draw(sample_weights(len(case.y_true)))
    samplewise = data.draw(st.booleans())
    if not samplewise:
        w = dodge_bincount_quirk(case, labels, w)
    check_parity(
        "multilabel_confusion_matrix", backend, case.y_true, case.y_pred,
        labels=labels, sample_weight=w, samplewise=samplewise,
        fix_expected=as_int64 if float_counts_quirk(case.y_true, case.y_pred, w) else None,
    )


@pytest.mark.xfail(strict=True, reason="scikit-learn quirk: float64 counts without weights "
                   "when no prediction is right")
def test_quirk_float_counts_without_correct_predictions(backend):
    check_parity("multilabel_confusion_matrix", backend, [0, 1], [1, 0])


@pytest.mark.xfail(strict=True, reason="scikit-learn quirk: int64 counts for integer weights "
                   "when the indicators hold no positive at all (np.bincount of nothing)")
def test_quirk_integer_weights_without_positives(backend):
    check_parity("multilabel_confusion_matrix", backend, np.zeros((2, 2), int),
                 np.zeros((2, 2), int), sample_weight=np.array([1, 2]))


# --- precision, recall, F-beta, Jaccard ------------------------------------------------


def _setwise_kwargs(data, case, name, averages=AVERAGES):
    kwargs = dict(
        average=data.draw(st.sampled_from(averages)),
        labels=data.draw(labels_arg(case)),
        pos_label=data.draw(pos_label_arg(case)),
        zero_division=data.draw(st.sampled_from(ZERO_DIVISIONS)),
        sample_weight=data.draw(sample_weights(len(case.y_true))),
    )
    if name == "jaccard_score" and kwargs["zero_division"] is np.nan:
        # scikit-learn rejects it (see test_jaccard_zero_division_nan).
        kwargs["zero_division"] = 1
    if name in ("fbeta_score", "precision_recall_fscore_support"):
        kwargs["beta"] = data.draw(st.sampled_from([1.0, 0.5, 2, 0, np.inf]))
    return kwargs


@parity
@given(case=class_targets(), data=st.data())
def test_setwise_metrics(backend, case, data):
    name = data.draw(st.sampled_from(SETWISE))
    kwargs = _setwise_kwargs(data, case, name)
    fix = None
    if name == "precision_recall_fscore_support" and float_counts_quirk(
        case.y_true, case.y_pred, kwargs["sample_weight"]
    ):
        def fix(result):  # the support, when there is one, is a count
            return (*result[:3], None if result[3] is None else as_int64(result[3]))
    check_parity(name, backend, case.y_true, case.y_pred, fix_expected=fix, **kwargs)


@parity
@given(case=multilabel_targets(), data=st.data())
def test_setwise_metrics_multilabel(backend, case, data):
    name = data.draw(st.sampled_from(SETWISE))
    kwargs = _setwise_kwargs(data, case, name)
    if data.draw(st.booleans()):
        kwargs["labels"] = data.draw(_subset(case.pool))  # column indices only
    if kwargs["average"] != "samples":
        kwargs["sample_weight"] = dodge_bincount_quirk(case, kwargs["labels"],
                                                       kwargs["sample_weight"])
    check_parity(name, backend, case.y_true, case.y_pred, **kwargs)


@pytest.mark.xfail(
    strict=True,
    reason="scikit-learn 1.9.1's parameter validation rejects zero_division=np.nan for "
    "jaccard_score although its docstring lists it; gpumetrics accepts it, as it does for "
    "every other set-wise metric",
)
def test_jaccard_zero_division_nan(backend):
    check_parity("jaccard_score", backend, [0, 1], [1, 1], average=None, zero_division=np.nan)


@parity
@given(case=st.one_of(class_targets(), multilabel_targets()), data=st.data())
def test_specificity(backend, case, data):
    """Not in scikit-learn: recall's rules applied to tn / (tn + fp), from sklearn's
    one-vs-rest matrices."""
    kwargs = _setwise_kwargs(data, case, "specificity_score",
                             averages=("micro", "macro", "weighted", None))
    del kwargs["pos_label"]
    actual, error, _ = run(gm.specificity_score, case.y_true, case.y_pred, **kwargs,
                           backend=backend)
    mcm, sk_error, _ = run(skm.multilabel_confusion_matrix, case.y_true, case.y_pred,
                           labels=kwargs["labels"], sample_weight=kwargs["sample_weight"])
    if sk_error is not None:
        assert isinstance(error, ValueError)
        return
    assert error is None, error
    mcm = mcm.astype(np.float64)
    # scikit-learn's tn is "total weight - tp - fp - fn": clear its rounding residue.
    mcm[np.abs(mcm) < 1e-9 * mcm.sum(axis=(1, 2), keepdims=True)] = 0
    (tn, fp), (fn, tp) = np.moveaxis(mcm, 0, -1)
    support = tp + fn
    if kwargs["average"] == "micro":
        tn, fp = tn.sum(keepdims=True), fp.sum(keepdims=True)
    zd = kwargs["zero_division"]
    fill = np.nan if zd is np.nan else (0.0 if zd == "warn" else float(zd))
    with np.errstate(all="ignore"):
        per_label = np.where(tn + fp == 0, fill, tn / np.where(tn + fp == 0, 1, tn + fp))
    if kwargs["average"] is None:
        expected = per_label
    else:
        keep = ~np.isnan(per_label)
        weights = support[keep] if kwargs["average"] == "weighted" else None
        if weights is not None and weights.sum() == 0:
            weights = None
        expected = float(np.average(per_label[keep], weights=weights)) if keep.any() else np.nan
    assert_same(expected, actual)


@pytest.mark.parametrize("pos_label", [0, 1])
def test_binary_specificity_is_recall_of_the_other_class(backend, pos_label):
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 2, 50), rng.integers(0, 2, 50)
    expected = skm.recall_score(y_true, y_pred, pos_label=1 - pos_label)
    actual = gm.specificity_score(y_true, y_pred, pos_label=pos_label, backend=backend)
    assert actual == pytest.approx(expected)


# --- single-number summaries -----------------------------------------------------------


@parity
@given(case=class_targets(), data=st.data())
def test_balanced_accuracy(backend, case, data):
    check_parity(
        "balanced_accuracy_score", backend, case.y_true, case.y_pred,
        sample_weight=data.draw(sample_weights(len(case.y_true))),
        adjusted=data.draw(st.booleans()),
    )


@parity
@given(case=class_targets(), data=st.data())
def test_matthews_corrcoef(backend, case, data):
    check_parity("matthews_corrcoef", backend, case.y_true, case.y_pred,
                 sample_weight=data.draw(sample_weights(len(case.y_true))))


REPLACEMENTS = (np.nan, 1.0, {"LR+": 2.0, "LR-": 0.5}, {"LR+": np.inf, "LR-": np.nan},
                {"LR+": 0.5, "LR-": 0.5}, {"LR+": 1.0}, 0.5)


@parity
@given(case=class_targets(), data=st.data())
def test_class_likelihood_ratios(backend, case, data):
    check_parity(
        "class_likelihood_ratios", backend, case.y_true, case.y_pred,
        sample_weight=data.draw(sample_weights(len(case.y_true))),
        labels=data.draw(st.one_of(st.none(), st.permutations(case.pool).map(
            lambda order: order[:2]))),
        replace_undefined_by=data.draw(st.sampled_from(REPLACEMENTS)),
    )


@parity
@given(case=class_targets(), data=st.data())
def test_cohen_kappa(backend, case, data):
    check_parity(
        "cohen_kappa_score", backend, case.y_true, case.y_pred,
        labels=data.draw(labels_arg(case)),
        weights=data.draw(st.sampled_from([None, "linear", "quadratic"])),
        sample_weight=data.draw(sample_weights(len(case.y_true))),
        replace_undefined_by=data.draw(st.sampled_from([np.nan, 0.0, -1.0])),
    )


@parity
@given(case=st.one_of(class_targets(), multilabel_targets()), data=st.data())
def test_classification_report(backend, case, data):
    labels = data.draw(labels_arg(case))
    if case.kind == "multilabel" and labels is not None:
        labels = data.draw(_subset(case.pool))
    target_names = None
    if labels is not None and data.draw(st.booleans()):
        target_names = [f"class {label}" for label in labels]
    output_dict = data.draw(st.booleans())
    # Text prints rounded and full-precision numbers: give it weights whose sums are exact,
    # as a last-bit difference from another summation order can flip a rounded digit.
    w = data.draw(sample_weights(len(case.y_true), exact=not output_dict))
    w = dodge_bincount_quirk(case, labels, w)
    # Under the float-counts quirk scikit-learn prints the support as "1.0": compare the
    # numbers instead (test_quirk_report_support_as_float shows the text).
    output_dict = output_dict or float_counts_quirk(case.y_true, case.y_pred, w)
    check_parity(
        "classification_report", backend, case.y_true, case.y_pred,
        labels=labels, target_names=target_names, sample_weight=w,
        digits=data.draw(st.integers(0, 4)), output_dict=output_dict,
        zero_division=data.draw(st.sampled_from(ZERO_DIVISIONS)),
    )


@pytest.mark.xfail(strict=True, reason="scikit-learn quirk: float64 counts without weights "
                   "when no prediction is right, so the report prints a support of 1.0")
def test_quirk_report_support_as_float(backend):
    check_parity("classification_report", backend, [0, 1], [1, 0], zero_division=0)


# --- top-k accuracy --------------------------------------------------------------------

# Scores from a small set, so that ties are common.
TIED_SCORES = st.sampled_from([0.0, 0.25, 0.5, 1.0])


@st.composite
def topk_targets(draw):
    n_classes = draw(st.integers(3, 5))
    pool = draw(st.sampled_from(["int", "sparse", "str"]))
    classes = {"int": list(range(5)), "sparse": [-3, 5, 9, 70, 71],
               "str": ["ant", "bee", "cat", "dog", "eel"]}[pool][:n_classes]
    n = draw(st.integers(1, 25))
    y_true = np.array(_column(draw, draw(_subset(classes)), n))
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int64]))
    elements = st.integers(0, 2) if dtype is np.int64 else TIED_SCORES
    y_score = draw(arrays(dtype, (n, n_classes), elements=elements))
    return classes, y_true, y_score


@parity
@given(target=topk_targets(), data=st.data())
def test_top_k_accuracy(backend, target, data):
    classes, y_true, y_score = target
    labels = data.draw(st.sampled_from([None, classes]))
    check_parity(
        "top_k_accuracy_score", backend, y_true, y_score,
        k=data.draw(st.integers(1, len(classes))),
        normalize=data.draw(st.booleans()),
        sample_weight=data.draw(sample_weights(len(y_true))),
        labels=labels,
    )


@parity
@given(case=class_targets(kinds=("binary", "signed", "str")), data=st.data())
def test_top_k_accuracy_binary(backend, case, data):
    """Binary ``y_score`` is the score of the greater label, thresholded at 0.5 or 0."""
    n = len(case.y_true)
    values = data.draw(st.sampled_from([[0.0, 0.5, 0.7, 1.0], [-1.0, 0.0, 0.5, 2.0]]))
    y_score = np.array(data.draw(st.lists(st.sampled_from(values), min_size=n, max_size=n)))
    check_parity(
        "top_k_accuracy_score", backend, case.y_true, y_score,
        k=data.draw(st.integers(1, 2)),
        normalize=data.draw(st.booleans()),
        sample_weight=data.draw(sample_weights(n)),
        labels=data.draw(st.sampled_from([None, case.pool])),
    )


# --- num_classes ------------------------------------------------------------------------


@parity
@given(case=class_targets(kinds=("binary", "int")), data=st.data())
def test_num_classes_skips_discovery(backend, case, data):
    C = 5
    w = data.draw(sample_weights(len(case.y_true), zeros=False))
    expected, error, _ = run(skm.confusion_matrix, case.y_true, case.y_pred,
                             labels=list(range(C)), sample_weight=w)
    if error is None:
        actual = gm.confusion_matrix(case.y_true, case.y_pred, num_classes=C, sample_weight=w,
                                     backend=backend)
        assert_same(expected, actual)
    calls = (("accuracy_score", {}), ("matthews_corrcoef", {}), ("balanced_accuracy_score", {}),
             ("cohen_kappa_score", {"weights": "linear"}), ("f1_score", {"average": "macro"}),
             ("recall_score", {"average": None}))
    for name, kwargs in calls:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = getattr(skm, name)(case.y_true, case.y_pred, sample_weight=w, **kwargs)
            actual = getattr(gm, name)(case.y_true, case.y_pred, sample_weight=w, **kwargs,
                                       num_classes=C, backend=backend)
        assert_same(expected, actual, name)
    with pytest.raises(ValueError):
        gm.accuracy_score(case.y_true, case.y_pred, num_classes=int(case.y_true.max()),
                          backend=backend)


# --- errors ----------------------------------------------------------------------------

ML = np.array([[0, 1], [1, 1], [1, 0]])
ERROR_CASES = [
    ("accuracy_score", [0, 1, 1], [0, 1], {}),
    ("accuracy_score", [], [], {}),
    ("accuracy_score", [0, 1, 1], ML, {}),
    ("accuracy_score", [0, 1, 1], [0.5, 1, 0], {}),
    ("accuracy_score", ["a", "b", "a"], [0, 1, 0], {}),
    ("accuracy_score", [[0, 2], [1, 1]], [[0, 2], [1, 1]], {}),
    ("f1_score", [0, 1, 2], [0, 1, 2], {}),
    ("f1_score", [0, 1, 2], [0, 1, 2], {"average": "bogus"}),
    ("f1_score", [0, 1, 2], [0, 1, 2], {"average": "samples"}),
    ("f1_score", ML, ML, {}),
    ("f1_score", ML, ML, {"average": "macro", "labels": [0, 2]}),
    ("f1_score", ML, ML, {"average": "macro", "labels": [-1, 0]}),
    ("f1_score", [0, 1, 1], [0, 1, 0], {"pos_label": 2}),
    ("f1_score", ["a", "b"], ["a", "b"], {}),
    ("f1_score", [0, 1, 1], [0, 1, 0], {"zero_division": "foo"}),
    ("f1_score", [0, 1, 1], [0, 1, 0], {"zero_division": 2}),
    ("fbeta_score", [0, 1, 1], [0, 1, 0], {"beta": -1}),
    ("confusion_matrix", [0, 1, 1], [0, 1, 0], {"labels": []}),
    ("confusion_matrix", [0, 1, 1], [0, 1, 0], {"labels": [5, 6]}),
    ("confusion_matrix", [0, 1, 1], [0, 1, 0], {"normalize": "rows"}),
    ("confusion_matrix", ML, ML, {}),
    ("multilabel_confusion_matrix", [0, 1, 1], [0, 1, 0], {"samplewise": True}),
    ("matthews_corrcoef", ML, ML, {}),
    ("balanced_accuracy_score", ML, ML, {}),
    ("cohen_kappa_score", ML, ML, {}),
    ("cohen_kappa_score", [0, 1, 1], [0, 1, 0], {"labels": [5]}),
    ("cohen_kappa_score", [0, 1, 1], [0, 1, 0], {"weights": "cubic"}),
    ("top_k_accuracy_score", [0, 1, 2], np.eye(3), {"labels": [0, 1, 1]}),
    ("top_k_accuracy_score", [0, 1, 2], np.eye(3), {"labels": [2, 1, 0]}),
    ("top_k_accuracy_score", [0, 1, 2], np.eye(3), {"labels": [0, 1, 2, 3]}),
    ("top_k_accuracy_score", [0, 1, 3], np.eye(3), {"labels": [0, 1, 2]}),
    ("top_k_accuracy_score", [0, 1, 1], np.eye(3), {}),
    ("top_k_accuracy_score", [0, 1, 2], [0.2, 0.4, 0.9], {}),
    ("top_k_accuracy_score", [0, 1, 2], np.eye(3)[:, :2], {}),
    ("classification_report", [0, 1, 2], [0, 1, 2], {"target_names": ["a", "b"]}),
]


@pytest.mark.parametrize(("name", "y_true", "y_pred", "kwargs"), ERROR_CASES)
def test_errors_and_edge_cases(backend, name, y_true, y_pred, kwargs):
    check_parity(name, backend, y_true, y_pred, **kwargs)


# --- batched == a loop of single calls -------------------------------------------------

BATCHED_CALLS = (
    ("accuracy_score", {}), ("accuracy_score", {"normalize": False}), ("hamming_loss", {}),
    ("balanced_accuracy_score", {}), ("balanced_accuracy_score", {"adjusted": True}),
    ("matthews_corrcoef", {}), ("cohen_kappa_score", {"weights": "quadratic"}),
    *((name, {"average": average}) for name in (*SETWISE, "specificity_score")
      for average in ("binary", "micro", "macro", "weighted", None)),
)


def _single_calls(name, case, kwargs, backend):
    """The results of single calls on each set, or the exception one of them raised."""
    results = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for k, y_pred in enumerate(case.y_pred):
            w = kwargs.get("sample_weight")
            per_set = {**kwargs, "sample_weight": w[k] if w is not None and w.ndim == 2 else w}
            try:
                results.append(getattr(gm, name)(case.y_true, y_pred, **per_set,
                                                 backend=backend))
            except ValueError as exc:
                return exc
    return results


def _present(case, k, classes):
    """Which of ``classes`` occur in y_true or in set k's predictions."""
    return np.isin(classes, np.concatenate([case.y_true, case.y_pred[k]]))


@parity
@given(case=class_targets(n_sets=3), call=st.sampled_from(BATCHED_CALLS), data=st.data())
def test_batched_equals_loop(backend, case, call, data):
    name, kwargs = call
    n = len(case.y_true)
    kwargs = dict(kwargs)
    w = data.draw(sample_weights(n))
    if w is not None and data.draw(st.booleans()):
        w = np.stack([w, w[::-1], np.roll(w, 1)])  # one weight vector per set
    kwargs["sample_weight"] = w
    if name in (*SETWISE, "specificity_score"):
        kwargs["labels"] = data.draw(labels_arg(case))
        kwargs["zero_division"] = data.draw(st.sampled_from((0, 1, "warn")))
        if kwargs["average"] == "binary":
            kwargs["pos_label"] = data.draw(pos_label_arg(case))
        if name == "fbeta_score":
            kwargs["beta"] = 0.5
    expected = _single_calls(name, case, kwargs, backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if isinstance(expected, ValueError):
            with pytest.raises(ValueError):
                getattr(batched, name)(case.y_true, case.y_pred, **kwargs, backend=backend)
            return
        actual = getattr(batched, name)(case.y_true, case.y_pred, **kwargs, backend=backend)
    if name == "precision_recall_fscore_support":
        expected = list(zip(*expected, strict=True))
        assert len(actual) == 4
    else:
        expected, actual = [expected], [actual]
    union = np.unique(np.concatenate([case.y_true, case.y_pred.ravel()]))
    for exp, act in zip(expected, actual, strict=True):
        if exp[0] is None:
            assert act is None
            continue
        assert isinstance(act, np.ndarray) and act.shape[0] == len(case.y_pred)
        for k, single in enumerate(exp):
            got = act[k]
            if kwargs.get("average", "") is None and kwargs.get("labels") is None:
                got = got[_present(case, k, union)]  # batched reports the union of labels
            np.testing.assert_allclose(got, single, rtol=1e-9, atol=1e-12, equal_nan=True,
                                       err_msg=f"{name} set {k}")


@parity
@given(case=class_targets(n_sets=3), data=st.data())
def test_batched_confusion_matrices(backend, case, data):
    """Batched confusion matrices share the union label set (or the given ``labels``)."""
    w = data.draw(sample_weights(len(case.y_true), zeros=False))
    labels = data.draw(labels_arg(case))
    normalize = data.draw(st.sampled_from([None, "true", "pred", "all"]))
    union = np.unique(np.concatenate([case.y_true, case.y_pred.ravel()]))
    reference_labels = union if labels is None else labels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = [run(skm.confusion_matrix, case.y_true, y_pred, labels=reference_labels,
                        sample_weight=w, normalize=normalize)[:2] for y_pred in case.y_pred]
        if any(error is not None for _, error in expected):
            with pytest.raises(ValueError):
                batched.confusion_matrix(case.y_true, case.y_pred, labels=labels,
                                         sample_weight=w, normalize=normalize, backend=backend)
        else:
            actual = batched.confusion_matrix(case.y_true, case.y_pred, labels=labels,
                                              sample_weight=w, normalize=normalize,
                                              backend=backend)
            assert_same(np.stack([cm for cm, _ in expected]), actual)
        expected = np.stack([
            skm.multilabel_confusion_matrix(case.y_true, y_pred, labels=reference_labels,
                                            sample_weight=w) for y_pred in case.y_pred
        ])
        if w is None:
            expected = as_int64(expected)  # float_counts_quirk in some sets
        actual = batched.multilabel_confusion_matrix(case.y_true, case.y_pred, labels=labels,
                                                     sample_weight=w, backend=backend)
    assert_same(expected, actual)


@parity
@given(target=topk_targets(), data=st.data())
def test_batched_top_k(backend, target, data):
    classes, y_true, y_score = target
    scores = np.stack([y_score, y_score[:, ::-1], np.roll(y_score, 1, axis=1)])
    kwargs = dict(k=data.draw(st.integers(1, len(classes))), labels=classes,
                  normalize=data.draw(st.booleans()),
                  sample_weight=data.draw(sample_weights(len(y_true), zeros=False)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = [gm.top_k_accuracy_score(y_true, s, **kwargs, backend=backend)
                    for s in scores]
        actual = batched.top_k_accuracy_score(y_true, scores, **kwargs, backend=backend)
    np.testing.assert_allclose(actual, expected, rtol=1e-12)


# --- torch tensors in, torch tensors out -----------------------------------------------

TORCH_CALLS = (
    ("accuracy_score", {}), ("hamming_loss", {}), ("balanced_accuracy_score", {}),
    ("matthews_corrcoef", {}), ("cohen_kappa_score", {}), ("confusion_matrix", {}),
    ("multilabel_confusion_matrix", {}), ("f1_score", {"average": "macro"}),
    ("precision_score", {"average": None}), ("recall_score", {"average": "weighted"}),
    ("jaccard_score", {"average": "micro"}), ("specificity_score", {"average": "macro"}),
    ("fbeta_score", {"beta": 2.0, "average": "macro"}),
    ("precision_recall_fscore_support", {"average": None}),
    ("precision_recall_fscore_support", {"average": "macro"}),
)


@pytest.mark.parametrize(("name", "kwargs"), TORCH_CALLS)
def test_torch_in_torch_out(backend, name, kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    y_true, y_pred, w = rng.integers(0, 4, 40), rng.integers(0, 4, 40), rng.random(40)
    for weights in (None, w):
        expected = getattr(gm, name)(y_true, y_pred, sample_weight=weights, **kwargs,
                                     backend=backend)
        actual = getattr(gm, name)(
            torch.from_numpy(y_true), torch.from_numpy(y_pred),
            sample_weight=None if weights is None else torch.from_numpy(weights),
            **kwargs, backend=backend,
        )
        pairs = zip(expected, actual, strict=True) if isinstance(expected, tuple) else [
            (expected, actual)
        ]
        for exp, act in pairs:
            if exp is None:
                assert act is None
                continue
            assert isinstance(act, torch.Tensor), type(act)
            np.testing.assert_allclose(act.numpy(), exp, rtol=1e-12)


def test_torch_top_k_report_and_batched(backend):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    y_true, y_pred = rng.integers(0, 3, 30), rng.integers(0, 3, (2, 30))
    y_score = rng.random((30, 3))
    t = torch.from_numpy
    expected = gm.top_k_accuracy_score(y_true, y_score, k=2, backend=backend)
    actual = gm.top_k_accuracy_score(t(y_true), t(y_score), k=2, backend=backend)
    assert isinstance(actual, torch.Tensor) and actual.item() == pytest.approx(expected)
    assert gm.classification_report(t(y_true), t(y_pred[0]), backend=backend) == (
        gm.classification_report(y_true, y_pred[0], backend=backend)
    )
    expected = batched.f1_score(y_true, y_pred, average="macro", backend=backend)
    actual = batched.f1_score(t(y_true), t(y_pred), average="macro", backend=backend)
    assert isinstance(actual, torch.Tensor) and actual.shape == (2,)
    np.testing.assert_allclose(actual.numpy(), expected, rtol=1e-12)
