"""The contenders of each benchmark case, as zero-argument callables.

Every callable returns something comparable (a ``(C, C)`` count matrix or a float) so the
runner can check that all contenders agree before it reports their times. Peers that are
not installed are simply left out.
"""

from __future__ import annotations

import numpy as np
from gpumetrics.kernels import cpu

import gpumetrics
from benchmarks._harness import read_floor
from gpumetrics import batched

try:
    import torch
    from torchmetrics.functional import classification as tmc
except ImportError:  # torchmetrics is an optional peer
    torch = None
try:
    from sklearn import metrics as skm
except ImportError:  # so is scikit-learn
    skm = None


def _tensor(y):
    return torch.from_numpy(y)  # zero-copy view of the same labels


def confusion(y_true, y_pred, C: int) -> dict:
    """Confusion counts ``[true, pred]`` over classes 0..C-1."""
    cases = {
        "floor": lambda: read_floor(y_true, y_pred),
        "gm_kernel": lambda: cpu.confusion(y_true[None], y_pred[None], C)[0, :C, :C],
        "gm_public_C": lambda: gpumetrics.confusion_matrix(y_true, y_pred, num_classes=C),
        "gm_public": lambda: gpumetrics.confusion_matrix(y_true, y_pred),
        "np_bincount": lambda: np.bincount(y_true * C + y_pred, minlength=C * C).reshape(C, C),
    }
    if skm is not None:
        cases["sklearn"] = lambda: skm.confusion_matrix(y_true, y_pred)
    if torch is not None:
        pt, tt = _tensor(y_pred), _tensor(y_true)
        for name, validate in (("tm_default", True), ("tm_novalidate", False)):
            if C == 2:
                cases[name] = (
                    lambda v: lambda: tmc.binary_confusion_matrix(pt, tt, validate_args=v)
                )(validate)
            else:
                cases[name] = (
                    lambda v: lambda: tmc.multiclass_confusion_matrix(pt, tt, C, validate_args=v)
                )(validate)
    return cases


def confusion_int32(y_true, y_pred, C: int) -> dict:
    """The gpumetrics contenders only, for narrower labels (peers cast or reject them)."""
    return {
        "floor": lambda: read_floor(y_true, y_pred),
        "gm_kernel": lambda: cpu.confusion(y_true[None], y_pred[None], C)[0, :C, :C],
        "gm_public_C": lambda: gpumetrics.confusion_matrix(y_true, y_pred, num_classes=C),
    }


def headline(metric: str, y_true, y_pred, C: int) -> dict:
    """``accuracy`` (fraction correct) or ``f1_macro`` (unweighted mean of per-class F1)."""
    if metric == "accuracy":

        def gm(**kw):
            return gpumetrics.accuracy_score(y_true, y_pred, **kw)

        def sk():
            return skm.accuracy_score(y_true, y_pred)

        def tm(validate):
            if C == 2:
                return tmc.binary_accuracy(pt, tt, validate_args=validate)
            return tmc.multiclass_accuracy(pt, tt, C, average="micro", validate_args=validate)
    elif metric == "f1_macro":

        def gm(**kw):
            return gpumetrics.f1_score(y_true, y_pred, average="macro", **kw)

        def sk():
            return skm.f1_score(y_true, y_pred, average="macro")

        def tm(validate):
            # binary_f1_score is the positive class only; macro F1 needs the multiclass form.
            return tmc.multiclass_f1_score(pt, tt, C, average="macro", validate_args=validate)
    else:
        raise ValueError(f"unknown metric {metric!r}")
    cases = {
        "gm_public_C": lambda: float(gm(num_classes=C)),
        "gm_public": lambda: float(gm()),
    }
    if skm is not None:
        cases["sklearn"] = lambda: float(sk())
    if torch is not None:
        pt, tt = _tensor(y_pred), _tensor(y_true)
        cases["tm_default"] = lambda: float(tm(True))
        cases["tm_novalidate"] = lambda: float(tm(False))
    return cases


def batched_accuracy(y_true, y_sets, C: int) -> dict:
    """K prediction sets scored against one ``y_true``: one batched call vs K single calls."""

    def loop(**kw):
        return np.array([gpumetrics.accuracy_score(y_true, y, **kw) for y in y_sets])

    return {
        "floor": lambda: read_floor(y_true, y_sets),
        "gm_batched_C": lambda: np.asarray(batched.accuracy_score(y_true, y_sets, num_classes=C)),
        "gm_loop_C": lambda: loop(num_classes=C),
        "gm_batched": lambda: np.asarray(batched.accuracy_score(y_true, y_sets)),
        "gm_loop": lambda: loop(),
    }


def as_matrix(result) -> np.ndarray:
    """A count matrix from any contender, as int64 NumPy."""
    if torch is not None and isinstance(result, torch.Tensor):
        result = result.numpy()
    return np.asarray(result, dtype=np.int64)
