"""The kernel comparison suite: every backend that can run here against the NumPy
reference, with one set of tests.

The backends are ``cpu`` always and ``cuda`` where it can run: under the Numba CUDA
simulator (``NUMBA_ENABLE_CUDASIM=1 python -m pytest -m cudasim tests/cuda tests/kernels``,
its own process, where the simulator's slowness gets fewer examples) or on a GPU. The
``cuda`` cases carry the ``cudasim`` mark, which selects them in that process.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st

from gpumetrics import dispatch

reference = dispatch._load("reference")
SIMULATED = os.environ.get("NUMBA_ENABLE_CUDASIM") == "1"
BACKENDS = [
    pytest.param(name, marks=pytest.mark.cudasim) if name == "cuda" else name
    for name in dispatch.available() if name != "reference"
]


def examples(n: int, simulated: int | None = None):
    """Hypothesis settings for ``n`` examples (under the simulator ``simulated``, by
    default a quarter of them)."""
    under_simulator = max(4, n // 4) if simulated is None else simulated
    return settings(max_examples=under_simulator if SIMULATED else n, deadline=None)


def scaled(n: int) -> int:
    """A sample count for a test: ``n``, or a tenth of it under the simulator, which runs
    every GPU thread in Python."""
    return max(1, n // 10) if SIMULATED else n


def assert_same(actual, expected, rtol=1e-12, atol=0.0):
    """Same type, and for arrays the same dtype, shape and values (to ``rtol``)."""
    assert type(actual) is type(expected)
    if isinstance(expected, np.ndarray):
        assert actual.dtype == expected.dtype
        assert actual.shape == expected.shape
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)
    else:
        assert actual == expected


def draw_sizes(draw, max_n: int, max_width: int, min_n: int = 0):
    """``(K, N, width, rng)``: 1 to 3 prediction sets, ``min_n`` to ``max_n`` samples (a
    quarter as many under the simulator), 1 to ``max_width`` classes, labels or columns,
    and a seeded generator for the values."""
    K = draw(st.integers(1, 3))
    N = draw(st.integers(min_n, max(min_n, max_n // 4) if SIMULATED else max_n))
    width = draw(st.integers(1, max_width))
    return K, N, width, np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
