"""Bad input gets a ValueError that names the argument."""

import numpy as np
import pytest

import gpumetrics
from gpumetrics import batched

METRICS = [
    gpumetrics.accuracy_score,
    gpumetrics.f1_score,
    gpumetrics.confusion_matrix,
    gpumetrics.matthews_corrcoef,
    gpumetrics.hamming_loss,
]

CASES = {
    "NaN in y_pred": ([0, 1, 1], [0, np.nan, 1], "y_pred"),
    "NaN in y_true": ([0, np.nan, 1], [0, 1, 1], "y_true"),
    "continuous y_pred": ([0, 1, 1], [0.2, 0.7, 1.0], "y_pred"),
    "length mismatch": ([0, 1, 1], [0, 1], "y_true has 3 samples but y_pred has 2"),
    "empty": ([], [], "empty"),
    "3-D y_pred": ([0, 1], np.zeros((2, 2, 2), int), "y_pred"),
    "complex dtype": ([0, 1], np.array([0, 1], complex), "y_pred"),
    "multilabel vs labels": (np.eye(3, dtype=int), [0, 1, 2], "mix of targets"),
}


@pytest.mark.parametrize("metric", METRICS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(metric, case, backend):
    y_true, y_pred, message = CASES[case]
    if metric is gpumetrics.f1_score and case == "multilabel vs labels":
        message = "mix of targets"
    with pytest.raises(ValueError, match=message):
        metric(y_true, y_pred, backend=backend)


@pytest.mark.parametrize("bad", [[0, 1, 3], [-1, 0, 1]])
@pytest.mark.parametrize("where", ["y_true", "y_pred"])
def test_num_classes_range_is_checked_in_the_counting_pass(bad, where, backend):
    good = [0, 1, 2]
    y_true, y_pred = (bad, good) if where == "y_true" else (good, bad)
    with pytest.raises(ValueError, match=rf"{where} has labels outside \[0, num_classes=3\)"):
        gpumetrics.accuracy_score(y_true, y_pred, num_classes=3, backend=backend)


@pytest.mark.parametrize("num_classes", [0, -1, 2.5, "3", True])
def test_num_classes_must_be_a_positive_integer(num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        gpumetrics.accuracy_score([0, 1], [0, 1], num_classes=num_classes)


def test_sample_weight_is_checked():
    with pytest.raises(ValueError, match="sample_weight has 2 entries but there are 3 samples"):
        gpumetrics.accuracy_score([0, 1, 1], [0, 1, 1], sample_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="sample_weight contains NaN"):
        gpumetrics.accuracy_score([0, 1], [0, 1], sample_weight=[1.0, np.nan])
    with pytest.raises(ValueError, match="sample_weight must be numeric"):
        gpumetrics.accuracy_score([0, 1], [0, 1], sample_weight=["a", "b"])


def test_argument_values_are_checked():
    with pytest.raises(ValueError, match="average has to be one of"):
        gpumetrics.f1_score([0, 1], [0, 1], average="mean")
    with pytest.raises(ValueError, match="zero_division"):
        gpumetrics.f1_score([0, 1], [0, 1], zero_division=2)
    with pytest.raises(ValueError, match="beta"):
        gpumetrics.fbeta_score([0, 1], [0, 1], beta=-1)
    with pytest.raises(ValueError, match="normalize"):
        gpumetrics.confusion_matrix([0, 1], [0, 1], normalize="rows")
    with pytest.raises(ValueError, match="weights"):
        gpumetrics.cohen_kappa_score([0, 1], [0, 1], weights="cubic")
    with pytest.raises(ValueError, match="k must be a positive integer"):
        gpumetrics.top_k_accuracy_score([0, 1, 2], np.eye(3), k=0)
    with pytest.raises(ValueError, match="y_score contains NaN"):
        gpumetrics.top_k_accuracy_score([0, 1, 2], np.full((3, 3), np.nan))


def test_batched_shapes_are_checked():
    with pytest.raises(ValueError, match="y_pred must be"):
        batched.accuracy_score([0, 1], [0, 1])
    with pytest.raises(ValueError, match="y_true has 2 samples but y_pred has 3"):
        batched.accuracy_score([0, 1], np.zeros((4, 3), int))
