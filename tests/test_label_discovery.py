"""Label discovery on inputs longer than the prefix used to guess the label range."""

import numpy as np
import pytest
from sklearn import metrics as skm

import gpumetrics


def _long(rng, labels_head, labels_tail, n=20_000):
    head = rng.choice(labels_head, 5_000)
    tail = rng.choice(labels_tail, n - 5_000)
    return np.concatenate([head, tail])


@pytest.mark.parametrize(
    "head, tail",
    [
        ([0, 1], [0, 1]),  # guess holds
        ([0, 1], [0, 1, 2, 7]),  # a label above the guessed window
        ([3, 4], [-5, 3, 4]),  # a label below it
        ([0, 1], [0, 1, 500]),  # a far label: range search, then a table
        ([0, 1], [0, 1, 2**40]),  # a huge range: sorted path
    ],
)
def test_labels_beyond_the_prefix_are_found(head, tail, backend):
    rng = np.random.default_rng(len(tail))
    y_true = _long(rng, head, tail)
    y_pred = _long(rng, head, tail)
    np.testing.assert_array_equal(
        gpumetrics.confusion_matrix(y_true, y_pred, backend=backend),
        skm.confusion_matrix(y_true, y_pred),
    )
    assert gpumetrics.f1_score(y_true, y_pred, average="macro", backend=backend) == (
        pytest.approx(skm.f1_score(y_true, y_pred, average="macro"), rel=1e-12)
    )
