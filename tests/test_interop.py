"""Array interop and backend dispatch."""

import os
import subprocess
import sys

import numpy as np
import pytest

import gpumetrics
from gpumetrics import _arrays, dispatch

torch = pytest.importorskip("torch")


def test_import_is_light_and_fast():
    code = (
        "import sys, time; t = time.perf_counter(); import gpumetrics; "
        "dt = time.perf_counter() - t; "
        "heavy = [m for m in ('cupy', 'torch', 'jax', 'numba.cuda', 'numba', 'sklearn') "
        "if m in sys.modules]; print(heavy, dt)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split(maxsplit=1)
    heavy, seconds = eval(out[0]), float(out[1])  # noqa: S307 - our own output
    assert heavy == []
    assert seconds < 5  # generous: a loaded CI machine; typically ~0.1 s


def test_torch_in_torch_out_zero_copy():
    y_true = torch.tensor([0, 1, 2, 2, 1])
    y_pred = torch.tensor([0, 2, 2, 2, 1])
    view = _arrays.to_kernel(y_true, "y_true", _arrays.context_of(y_true=y_true))
    assert isinstance(view, np.ndarray)
    assert view.ctypes.data == y_true.data_ptr()
    cm = gpumetrics.confusion_matrix(y_true, y_pred)
    assert isinstance(cm, torch.Tensor) and cm.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 2]]
    acc = gpumetrics.accuracy_score(y_true, y_pred)
    assert isinstance(acc, torch.Tensor) and acc.ndim == 0 and float(acc) == 0.8


def test_lists_take_the_other_inputs_library():
    acc = gpumetrics.accuracy_score([0, 1, 1], torch.tensor([0, 1, 0]))
    assert isinstance(acc, torch.Tensor)
    assert isinstance(gpumetrics.accuracy_score([0, 1, 1], [0, 1, 0]), float)


def test_mixed_libraries_are_rejected():
    with pytest.raises(ValueError, match="y_true is numpy.*y_pred is torch"):
        gpumetrics.accuracy_score(np.array([0, 1]), torch.tensor([0, 1]))


def test_jax_arrays_if_installed():
    jnp = pytest.importorskip("jax.numpy")
    out = gpumetrics.confusion_matrix(jnp.array([0, 1, 1]), jnp.array([0, 1, 0]))
    assert type(out).__module__.startswith("jax")
    assert np.asarray(out).tolist() == [[1, 0], [1, 1]]


def test_backend_override_and_env(monkeypatch):
    assert dispatch.resolve("reference") == "reference"
    assert dispatch.resolve(None) in ("cpu", "reference")
    monkeypatch.setenv(dispatch.ENV_VAR, "reference")
    assert dispatch.resolve(None) == "reference"
    monkeypatch.setenv(dispatch.ENV_VAR, "tpu")
    with pytest.raises(ValueError, match="GPUMETRICS_BACKEND"):
        dispatch.resolve(None)
    with pytest.raises(ValueError, match="backend must be one of"):
        gpumetrics.accuracy_score([0], [0], backend="fast")


@pytest.mark.skipif("cuda" in dispatch.available(), reason="a GPU is present")
def test_cuda_backend_without_gpu_is_a_clear_error():
    with pytest.raises(dispatch.BackendUnavailableError, match="'cuda' backend cannot run"):
        gpumetrics.accuracy_score([0, 1], [0, 1], backend="cuda")


def test_cupy_without_driver_does_not_break_import():
    code = (
        "import gpumetrics, sys\n"
        "try:\n    import cupy\nexcept Exception:\n    pass\n"
        "print(gpumetrics.accuracy_score([0, 1], [0, 0]))\n"
        "print(sorted(__import__('gpumetrics.dispatch').dispatch.available()))"
    )
    env = dict(os.environ)
    env.pop(dispatch.ENV_VAR, None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True).stdout
    assert out.splitlines()[0] == "0.5"


@pytest.mark.parametrize("backend", dispatch.available()[:2])
def test_results_do_not_depend_on_backend(backend):
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 5, 10_000)
    y_pred = rng.integers(0, 5, 10_000)
    expected = gpumetrics.confusion_matrix(y_true, y_pred, backend="reference")
    np.testing.assert_array_equal(
        gpumetrics.confusion_matrix(y_true, y_pred, backend=backend), expected
    )


def test_large_int8_input_with_num_classes():
    y = np.zeros(1_000_000, np.int8)
    y[::3] = 1
    assert gpumetrics.accuracy_score(y, y, num_classes=2) == 1.0
    assert gpumetrics.confusion_matrix(y, y, num_classes=2).tolist() == [
        [666_666, 0], [0, 333_334]
    ]
