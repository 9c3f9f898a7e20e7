"""The checks every entry point applies to its inputs, written once: reading an argument
as a kernel array, lengths, sample weights, class labels and numbers.

The metric functions (``gpumetrics.functional``) and the streaming metrics
(``gpumetrics.metrics``) read ``y_true``, ``y_pred``/``y_score`` and ``sample_weight``
through these functions, so that an input is accepted or refused with the same words
wherever it is given. Where the two entry points differ on purpose, the difference is a
parameter here:

* ``weights(..., on_device=...)``: a function brings weights to the host (its counts come
  back there anyway); a metric keeps them on the inputs' device, where its states live;
* ``weights(..., validate=...)``: a metric reads no value back from the device unless it
  was built with ``validate=True`` (reading one synchronises with the device);
* ``non_negative(w)``: scikit-learn accepts negative weights wherever the result stays
  defined; binned ranking refuses them, because its bound assumes none.
"""

from __future__ import annotations

import numbers

import numpy as np

from gpumetrics import _arrays

# scikit-learn's words for the legacy multilabel format it no longer reads.
LEGACY_MULTILABEL = (
    "You appear to be using a legacy multi-label data representation. Sequence of sequences "
    "are no longer supported; use a binary array or sparse matrix instead - the "
    "MultiLabelBinarizer transformer can convert to this format."
)
BYTES_LABELS = (
    "Support for labels represented as bytes is not supported. Convert the labels to a "
    "string or integer format."
)


def read(x, name: str, ctx: _arrays.ArrayContext = _arrays.HOST):
    """``x`` as a kernel array (NumPy on the host, CuPy on a GPU), zero-copy where the
    library allows: see ``_arrays.to_kernel``. ``None`` stays ``None``."""
    return _arrays.to_kernel(x, name, ctx)


def check_length(n_true: int, n_other: int, other: str, true: str = "y_true") -> None:
    """The one error for arguments of different lengths."""
    if n_true != n_other:
        raise ValueError(
            f"{true} has {n_true} samples but {other} has {n_other}; they must have the same "
            "length."
        )


def numbers_of(y, name: str, *, strings: bool = False):
    """A host array of numbers from an object array of numbers (``strings=True``: numeric
    strings too, as scikit-learn's ``check_array`` converts them for regression); other
    arrays are returned as they are. Raises a ValueError naming ``name`` otherwise."""
    if not isinstance(y, np.ndarray) or y.dtype.kind not in ("OUS" if strings else "O"):
        return y
    if y.dtype.kind == "O" and not strings and not all(
            isinstance(v, numbers.Real) for v in y.flat):
        raise ValueError(f"{name} must hold numbers; got dtype object with "
                         f"{_first_not_number(y)!r} in it.")
    try:
        return y.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must hold numbers; got dtype {y.dtype} with "
                         f"{_first_not_number(y)!r} in it.") from None


def _first_not_number(y):
    for v in y.flat:
        if not isinstance(v, numbers.Real):
            try:
                float(v)
            except (TypeError, ValueError):
                return v
    return next(iter(y.flat), None)


def weights(sample_weight, n_samples: int, ctx: _arrays.ArrayContext = _arrays.HOST, *,
            n_sets: int = 1, batched: bool = False, column: bool = False,
            on_device: bool = False, validate: bool = True, nonzero: bool = True):
    """``sample_weight`` as a ``(1 or K, N)`` array, or ``None``.

    Read like every other input (torch tensors that require grad, pandas Series, object
    arrays of numbers). ``batched``: a ``(K, N)`` array gives one row of weights per
    prediction set. ``column``: an ``(N, 1)`` column is read as ``(N,)`` (scikit-learn's
    ranking functions accept one). ``on_device``: left on the inputs' device, else brought
    to the host; either way in the weights' own numeric dtype. ``validate``: check the
    values (finite; not all zero where ``nonzero``).
    """
    if sample_weight is None:
        return None
    w = numbers_of(read(sample_weight, "sample_weight", ctx), "sample_weight")
    if w.dtype.kind not in "biuf":
        raise ValueError(f"sample_weight must be numeric; got dtype {w.dtype}.")
    if column and w.ndim == 2 and w.shape[1] == 1 and not batched:
        w = w[:, 0]
    if w.ndim == 1:
        w = w[None]
    elif not (batched and w.ndim == 2 and w.shape[0] == n_sets):
        expected = f"1-D ({n_samples},)" + (f" or ({n_sets}, {n_samples})" if batched else "")
        raise ValueError(f"sample_weight must be {expected}; got an array of shape "
                         f"{tuple(w.shape)}.")
    if w.shape[1] != n_samples:
        raise ValueError(
            f"sample_weight has {w.shape[1]} entries but there are {n_samples} samples.")
    if not on_device:
        w = np.asarray(_arrays.to_host(w))
    if validate:
        _check_weight_values(w, nonzero)
    return w


def _check_weight_values(w, nonzero: bool) -> None:
    xp = np if isinstance(w, np.ndarray) else _arrays._cupy()
    if w.dtype.kind == "f" and not bool(xp.isfinite(w).all()):
        raise ValueError("sample_weight contains NaN or infinity.")
    if nonzero and not bool(w.any(axis=1).all()):
        raise ValueError("sample_weight must contain at least one non-zero number.")


def non_negative(w) -> None:
    """Binned ranking bounds its error for non-negative weights only: refuse others."""
    if w is not None and bool((w < 0).any()):
        raise ValueError("sample_weight must not be negative with thresholds= (binned "
                         "curves bound their error for non-negative weights only); leave "
                         "thresholds=None for the exact value.")


def label_values(y, name: str) -> None:
    """Refuse what scikit-learn refuses as class labels: bytes (a TypeError), sequences and
    sets in an object array (its legacy multilabel format), and values that cannot be
    ordered (None, or numbers mixed with strings)."""
    if y.dtype.kind == "S":
        raise TypeError(BYTES_LABELS)
    if y.dtype.kind != "O":
        return
    kinds = set()
    for v in y.flat:
        if isinstance(v, bytes):
            raise TypeError(BYTES_LABELS)
        if isinstance(v, str):
            kinds.add("str")
        elif isinstance(v, numbers.Real | np.bool_):
            kinds.add("number")
        elif isinstance(v, list | tuple | set | frozenset | dict | np.ndarray):
            raise ValueError(LEGACY_MULTILABEL)
        else:
            raise ValueError(f"{name} holds {v!r}, which is not a class label: labels must be "
                             "numbers or strings.")
    if len(kinds) > 1:
        raise ValueError(f"Mix of label input types (string and number) in {name}.")


def labels_array(labels) -> np.ndarray:
    classes = np.asarray(_arrays.to_host(read(labels, "labels")))
    if classes.ndim != 1:
        raise ValueError(f"labels must be 1-D; got shape {classes.shape}.")
    if classes.shape[0] == 0:
        raise ValueError("'labels' should contain at least one label.")
    return classes


def label_columns(labels, n_labels: int) -> np.ndarray:
    """The multilabel columns that ``labels`` selects (all of them for None)."""
    if labels is None:
        return np.arange(n_labels)
    columns = labels_array(labels)
    if columns.dtype.kind not in "iu":
        raise ValueError(f"labels for multilabel targets must be column indices; got {labels}.")
    if columns.max() >= n_labels:
        raise ValueError(
            "All labels must be in [0, n labels) for multilabel targets. "
            f"Got {columns.max()} > {n_labels - 1}"
        )
    if columns.min() < 0:
        raise ValueError(
            "All labels must be in [0, n labels) for multilabel targets. "
            f"Got {columns.min()} < 0"
        )
    return columns
