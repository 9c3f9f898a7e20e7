"""Comparing gpumetrics with scikit-learn, the specification: values and result types,
warnings (category and message) and errors."""

from __future__ import annotations

import collections
import warnings

import numpy as np
import sklearn.metrics as skm

import gpumetrics as gm


def run(fn, *args, **kwargs):
    """Call ``fn``; return its result, the exception it raised and its user warnings."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result, error = fn(*args, **kwargs), None
        except Exception as exc:  # noqa: BLE001 - the exception is the result under test
            result, error = None, exc
    messages = collections.Counter(
        (w.category.__name__, str(w.message))
        for w in caught
        if issubclass(w.category, UserWarning)
    )
    return result, error, messages


def assert_same(expected, actual, where="result"):
    """scikit-learn's ``expected`` and gpumetrics' ``actual``: same type, shape and values."""
    if isinstance(expected, tuple | list):
        assert isinstance(actual, tuple | list), f"{where}: {actual!r} is not a sequence"
        assert len(actual) == len(expected), f"{where}: length {len(actual)} != {len(expected)}"
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            assert_same(e, a, f"{where}[{i}]")
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: {actual!r} is not a dict"
        assert list(actual) == list(expected), f"{where}: keys {list(actual)} != {list(expected)}"
        for key in expected:
            assert_same(expected[key], actual[key], f"{where}[{key!r}]")
    elif expected is None:
        assert actual is None, f"{where}: {actual!r} is not None"
    elif isinstance(expected, str):
        assert actual == expected, f"{where}:\n{actual}\n!=\n{expected}"
    elif isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray), f"{where}: {type(actual)} is not an ndarray"
        assert actual.shape == expected.shape, f"{where}: shape {actual.shape} != {expected.shape}"
        assert actual.dtype.kind == expected.dtype.kind, (
            f"{where}: dtype {actual.dtype} != {expected.dtype}"
        )
        np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12, equal_nan=True,
                                   err_msg=where)
    else:
        kind = float if isinstance(expected, float | np.floating) else type(expected)
        assert isinstance(actual, kind), (
            f"{where}: {type(actual).__name__} != {type(expected).__name__}"
        )
        np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12, equal_nan=True,
                                   err_msg=where)


def check_parity(name, backend, *args, fix_expected=None, **kwargs):
    """gpumetrics.<name> against sklearn.metrics.<name>: values, warnings and errors.

    ``fix_expected`` corrects a documented scikit-learn quirk in its result.
    """
    expected, sk_error, sk_warnings = run(getattr(skm, name), *args, **kwargs)
    actual, gm_error, gm_warnings = run(getattr(gm, name), *args, **kwargs, backend=backend)
    if sk_error is not None:
        wanted = ValueError if isinstance(sk_error, ValueError) else type(sk_error)
        assert isinstance(gm_error, wanted), (
            f"scikit-learn raised {sk_error!r}; gpumetrics "
            + (f"raised {gm_error!r}" if gm_error else f"returned {actual!r}")
        )
        return None
    if gm_error is not None:
        raise AssertionError(f"gpumetrics raised, scikit-learn returned {expected!r}") from (
            gm_error
        )
    if fix_expected is not None:
        expected = fix_expected(expected)
    assert_same(expected, actual)
    assert gm_warnings == sk_warnings, (
        f"warnings differ:\n gpumetrics: {dict(gm_warnings)}\n sklearn: {dict(sk_warnings)}"
    )
    return actual
