"""pytest-benchmark suite for the classification counts, at sizes that run in minutes.

    pytest benchmarks --benchmark-only
    pytest benchmarks --benchmark-only --benchmark-group-by=group,param:n_classes

Each group holds the read floor (a Numba pass that only reads the labels) next to the
contenders, so the report shows how close each comes to the memory system. For the large
sizes and the peers (scikit-learn, torchmetrics) run ``python -m benchmarks.run_classification``.
"""

import numpy as np
import pytest
from gpumetrics.kernels import cpu

import gpumetrics
from benchmarks import _harness
from gpumetrics import batched

SIZES = [10**5, 10**6]
CLASSES = [2, 10, 100]
SETS = 32


@pytest.fixture(scope="module", params=SIZES, ids=lambda n: f"n={n:.0e}")
def n_samples(request):
    return request.param


@pytest.fixture(params=CLASSES, ids=lambda c: f"C={c}")
def n_classes(request):
    return request.param


@pytest.fixture
def labels(n_samples, n_classes):
    y_true, y_pred = _harness.make_labels(n_samples, n_classes)
    _harness.read_floor(y_true, y_pred)  # compile (or load) before the first round
    return y_true, y_pred, n_classes


def _expected(y_true, y_pred, C):
    return np.bincount(y_true * C + y_pred, minlength=C * C).reshape(C, C)


@pytest.mark.benchmark(group="confusion")
@pytest.mark.parametrize("impl", ["floor", "kernel", "public_C", "public", "np_bincount"])
def test_confusion(benchmark, labels, impl):
    y_true, y_pred, C = labels
    calls = {
        "floor": lambda: _harness.read_floor(y_true, y_pred),
        "kernel": lambda: cpu.confusion(y_true[None], y_pred[None], C)[0, :C, :C],
        "public_C": lambda: gpumetrics.confusion_matrix(y_true, y_pred, num_classes=C),
        "public": lambda: gpumetrics.confusion_matrix(y_true, y_pred),
        "np_bincount": lambda: _expected(y_true, y_pred, C),
    }
    fn = calls[impl]
    fn()  # warm-up: compile the Numba functions outside the timed rounds
    result = benchmark(fn)
    if impl != "floor":
        np.testing.assert_array_equal(result, _expected(y_true, y_pred, C))


@pytest.mark.benchmark(group="accuracy")
@pytest.mark.parametrize("with_num_classes", [True, False], ids=["num_classes", "discover"])
def test_accuracy(benchmark, labels, with_num_classes):
    y_true, y_pred, C = labels
    kw = {"num_classes": C} if with_num_classes else {}
    gpumetrics.accuracy_score(y_true, y_pred, **kw)
    result = benchmark(gpumetrics.accuracy_score, y_true, y_pred, **kw)
    assert result == pytest.approx(np.mean(y_true == y_pred), rel=1e-12)


@pytest.mark.benchmark(group="f1_macro")
@pytest.mark.parametrize("with_num_classes", [True, False], ids=["num_classes", "discover"])
def test_f1_macro(benchmark, labels, with_num_classes):
    y_true, y_pred, C = labels
    kw = {"num_classes": C} if with_num_classes else {}
    expected = gpumetrics.f1_score(y_true, y_pred, average="macro", **kw)
    result = benchmark(gpumetrics.f1_score, y_true, y_pred, average="macro", **kw)
    assert result == expected and 0 < result <= 1


@pytest.fixture(params=[2, 10], ids=lambda c: f"C={c}")
def prediction_sets(request):
    C = request.param
    y_true, _ = _harness.make_labels(10**6, C)
    return y_true, _harness.make_prediction_sets(y_true, SETS, C), C


@pytest.mark.benchmark(group=f"batched_accuracy_K{SETS}_n1e6")
@pytest.mark.parametrize("impl", ["floor", "batched", "loop"])
def test_batched_accuracy(benchmark, prediction_sets, impl):
    y_true, y_sets, C = prediction_sets
    calls = {
        "floor": lambda: _harness.read_floor(y_true, y_sets),
        "batched": lambda: batched.accuracy_score(y_true, y_sets, num_classes=C),
        "loop": lambda: [gpumetrics.accuracy_score(y_true, y, num_classes=C) for y in y_sets],
    }
    fn = calls[impl]
    fn()
    result = benchmark(fn)
    if impl != "floor":
        np.testing.assert_allclose(result, (y_sets == y_true).mean(axis=1), rtol=1e-12)
