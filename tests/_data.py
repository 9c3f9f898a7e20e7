"""Random inputs shared by the tests."""

from __future__ import annotations

import numpy as np


def multiclass(n: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(labels, probabilities, weights)``: n labels in 0..n_classes-1, rows of class
    probabilities that sum to one, and weights in [0, 1)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    proba = rng.random((n, n_classes))
    proba /= proba.sum(axis=1, keepdims=True)
    return labels, proba, rng.random(n)
