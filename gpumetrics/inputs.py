"""The checks every entry point applies to its inputs, written once: reading an argument
as a kernel array, lengths, sample weights, class labels and numbers; and
``UpdateInputs``, the views of one streaming ``update()`` that its states read.

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
from gpumetrics.kernels import _common

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
    elif ctx.on_gpu and isinstance(w, np.ndarray):  # host weights (a list) for device inputs
        w = _arrays._cupy().asarray(w)
    if validate:
        _check_weight_values(w, nonzero)
    return w


def _check_weight_values(w, nonzero: bool) -> None:
    xp = _arrays.namespace(w)
    if w.dtype.kind == "f" and not bool(xp.isfinite(w).all()):
        raise ValueError("sample_weight contains NaN or infinity.")
    if nonzero and not bool(w.any(axis=1).all()):
        raise ValueError("sample_weight must contain at least one non-zero number.")


def encode(y, classes: np.ndarray):
    """Positions of the labels ``y`` in the sorted host array ``classes``, -1 where absent,
    as int64 on ``y``'s device: only the small ``classes`` cross to it (string and object
    labels live on the host anyway)."""
    numeric = y.dtype.kind in "biuf" and classes.dtype.kind in "biuf"
    xp = _arrays.namespace(y) if numeric else np
    y = y if numeric else np.asarray(_arrays.to_host(y))
    table = xp.asarray(classes)
    at = xp.minimum(xp.searchsorted(table, y), classes.shape[0] - 1)
    return xp.where(table[at] == y, at, -1).astype(xp.int64)


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


class UpdateInputs:
    """The inputs of one ``update()``, as kernel arrays, and the views states read.

    Views are built once per update and shared by every state that reads them (a set of
    F1, MCC and kappa thresholds scores once). Shape and dtype checks read metadata only;
    value checks (labels in range, finite scores) run only with ``validate=True``, since
    reading a value back synchronises with the device.
    """

    def __init__(self, y_true, y_pred, sample_weight, *, kernels, ctx, validate: bool,
                 threshold: float = 0.5):
        self.ctx = ctx
        self.kernels = kernels
        self.validate = validate
        self.threshold = threshold
        self.y_true = read(y_true, "y_true", ctx)
        self.y_pred = read(y_pred, "y_pred", ctx)
        if self.y_pred.ndim == 0 or self.y_true.ndim == 0:
            raise ValueError("y_true and y_pred must be arrays of samples, not scalars.")
        n = self.y_pred.shape[0]
        check_length(self.y_true.shape[0], n, "y_pred")
        self.n_samples = n
        # On the inputs' device; an update may hold only zero weights (a stream's total is
        # what counts), so only their being finite is checked, when validating.
        w = weights(sample_weight, n, ctx, on_device=True, validate=validate,
                           nonzero=False)
        self.weight_dtype = None if w is None else w.dtype
        self.weights = None if w is None else w.astype(_arrays.namespace(w).float64)
        self._cache: dict = {}

    def _cached(self, key, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def device_array(self, host) -> object:
        """A float64 constant on the inputs' device (no copy when it is there already)."""
        xp = _arrays.namespace(self.y_pred)
        return xp.asarray(host, dtype=xp.float64)

    # --- labels ----------------------------------------------------------------------

    def _labels(self, y, name: str, ndim: int, scores: bool):
        """Integer labels. Integer and bool arrays are labels. Float arrays are labels too
        (checked integral when validating), except predictions given as scores
        (``scores=True``): one score per label is thresholded (``>= threshold``), a score
        per class is reduced with argmax."""
        xp = _arrays.namespace(y)
        if y.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold integer labels or float scores; got {y.dtype}.")
        if y.dtype.kind == "f" and scores:
            if y.ndim == ndim:
                return (y >= self.threshold).view(xp.uint8)
            if y.ndim == ndim + 1 and ndim == 1:
                return y.argmax(axis=1)
        if y.ndim != ndim:
            raise ValueError(f"{name} must be {ndim}-D labels; got shape {tuple(y.shape)}.")
        if y.dtype.kind == "f":
            if self.validate and not bool((y == xp.floor(y)).all()):
                hint = f" ({SWAPPED})" if (
                    name == "y_true" and self.y_pred.dtype.kind in "iu") else ""
                raise ValueError(
                    f"{name} holds non-integer values; labels must be integers{hint}.")
            return y.astype(xp.int64)
        return y

    def class_labels(self, num_classes: int):
        """``(1, N)`` true and predicted class labels. Float predictions are scores when
        there are two classes (thresholded) or one column per class (argmax); a 1-D float
        array for more classes holds labels."""
        def build():
            _check_order(self.y_true, self.y_pred)
            if self.y_pred.ndim == 2 and self.y_pred.shape[1] != num_classes:
                raise ValueError(
                    f"y_pred holds scores for {self.y_pred.shape[1]} classes; "
                    f"num_classes is {num_classes}."
                )
            t = self._labels(self.y_true, "y_true", 1, scores=False)
            p = self._labels(self.y_pred, "y_pred", 1,
                             scores=num_classes == 2 or self.y_pred.ndim == 2)
            # (the range is checked by the confusion state from its own counts)
            return t[None], p[None]
        return self._cached(("class_labels", num_classes), build)

    def _indicators(self, y, name: str, num_labels: int, scores: bool):
        """``(1, N, L)`` 0/1 indicators of ``y`` (scores thresholded when ``scores``)."""
        if y.ndim != 2 or y.shape[1] != num_labels:
            what = "label indicators or scores" if scores else "label indicators"
            raise ValueError(
                f"{name} must be (n_samples, {num_labels}) {what}; got shape {tuple(y.shape)}."
            )
        y = self._labels(y, name, 2, scores=scores)
        if self.validate:
            _check_range(self.kernels, y, name, 2, "label indicators must be 0 or 1")
        return y[None]

    def indicator_targets(self, num_labels: int):
        """``(1, N, L)`` multilabel indicators of y_true, checked to be 0 or 1."""
        return self._cached(("indicator_targets", num_labels),
                            lambda: self._indicators(self.y_true, "y_true", num_labels, False))

    def indicator_labels(self, num_labels: int):
        """``(1, N, L)`` true and predicted multilabel indicators (scores thresholded)."""
        return self._cached(("indicators", num_labels), lambda: (
            self.indicator_targets(num_labels),
            self._indicators(self.y_pred, "y_pred", num_labels, True)))

    # --- scores ----------------------------------------------------------------------

    def class_scores(self, num_classes: int):
        """``(1, N, C)`` float scores of every class."""
        def build():
            s = self.y_pred
            if s.ndim != 2 or s.shape[1] != num_classes:
                raise ValueError(
                    f"y_pred must be (n_samples, {num_classes}) class scores; got shape "
                    f"{tuple(s.shape)}."
                )
            s = _common.as_score_array(s, "y_pred", _arrays.namespace(s))
            self._check_finite(s[None])
            return s[None]
        return self._cached(("class_scores", num_classes), build)

    def class_targets(self, num_classes: int, ignore_index=None):
        """``(1, N)`` integer class indices of y_true (``ignore_index`` allowed too)."""
        def build():
            _check_order(self.y_true, self.y_pred)
            t = self._labels(self.y_true, "y_true", 1, scores=False)
            if self.validate:
                kept = t if ignore_index is None else t[t != ignore_index]
                _check_range(self.kernels, kept, "y_true", num_classes)
            return t[None]
        return self._cached(("class_targets", num_classes, ignore_index), build)

    def score_columns(self, target: str, num_columns: int):
        """``(y_pos, scores)`` for the score kernels: binary ``(1, N, 1)`` 0/1 targets (not
        validated: non-zero is positive); multiclass ``(1, N)`` class indices; multilabel
        ``(1, N, L)`` indicators."""
        def build():
            s = self.y_pred
            if s.dtype.kind not in "biuf":
                raise ValueError(f"y_pred must hold scores; got dtype {s.dtype}.")
            if target == "binary":
                if s.ndim == 2 and s.shape[1] == 1:
                    s = s[:, 0]
                if s.ndim != 1:
                    raise ValueError(
                        f"y_pred must be 1-D scores for binary targets; got shape "
                        f"{tuple(s.shape)}."
                    )
                t = self._labels(self.y_true, "y_true", 1, scores=False)
                if self.validate:
                    _check_range(self.kernels, t, "y_true", 2,
                                 "binary targets must be 0 (negative) or 1 (positive)")
                y_pos = t[None, :, None]  # 0/1 (checked when validating): non-zero is positive
                s = s[None, :, None]
            elif target == "multiclass":
                s = self.class_scores(num_columns)[0][None]
                y_pos = self.class_targets(num_columns)
            else:
                y_pos = self.indicator_targets(num_columns)
                if s.ndim != 2 or s.shape[1] != num_columns:
                    raise ValueError(
                        f"y_pred must be (n_samples, {num_columns}) scores; got shape "
                        f"{tuple(s.shape)}."
                    )
                s = s[None]
            s = _common.as_score_array(s, "y_pred", _arrays.namespace(s))
            self._check_finite(s)
            return y_pos, s
        return self._cached(("score_columns", target, num_columns), build)

    def score_range(self, target: str, num_columns: int):
        _, s = self.score_columns(target, num_columns)
        return self._cached(("range", target, num_columns), lambda: self.kernels.score_range(s))

    def _check_finite(self, s):
        if self.validate:
            rng = _arrays.to_host(self.kernels.score_range(s))
            if rng[..., 2].any():
                raise ValueError("y_pred contains NaN or infinity; scores must be finite.")

    def raw_scores(self, task: str, num_columns: int):
        """``(y_true, y_score)`` as given, shape-checked, for the exact-mode buffers."""
        self.score_columns(task, num_columns)  # checks shapes (and values when validating)
        s = self.y_pred
        if task == "binary" and s.ndim == 2:
            s = s[:, 0]
        return self.y_true, s

    # --- regression and losses ---------------------------------------------------------

    def regression(self, num_outputs: int):
        """``(1, N, L)`` float targets and predictions."""
        def build():
            out = []
            for name, y in (("y_true", self.y_true), ("y_pred", self.y_pred)):
                if y.dtype.kind not in "biuf":
                    raise ValueError(f"{name} must hold numbers; got dtype {y.dtype}.")
                y2 = y[:, None] if y.ndim == 1 else y
                if y2.ndim != 2 or y2.shape[1] != num_outputs:
                    raise ValueError(
                        f"{name} must be (n_samples,) or (n_samples, {num_outputs}) for "
                        f"num_outputs={num_outputs}; got shape {tuple(y.shape)}."
                    )
                out.append(_common.as_score_array(y2, name, _arrays.namespace(y2))[None])
            return tuple(out)
        return self._cached(("regression", num_outputs), build)

    def loss_inputs(self, kind: str, num_classes: int, ignore_index=None):
        """``(y_true, y_score)`` for ``loss_sums``."""
        def build():
            s = self.y_pred
            if kind in ("softmax", "proba"):
                t = self.class_targets(num_classes, ignore_index)
                if kind == "proba" and num_classes == 2 and s.ndim == 1:
                    s = s[:, None]
                elif s.ndim != 2 or s.shape[1] != num_classes:
                    raise ValueError(
                        f"y_pred must be (n_samples, {num_classes}) "
                        f"{'logits' if kind == 'softmax' else 'probabilities'}; got shape "
                        f"{tuple(s.shape)}."
                    )
            else:
                if s.ndim == 1:
                    s = s[:, None]
                t = self.y_true[:, None] if self.y_true.ndim == 1 else self.y_true
                if t.shape != s.shape:
                    raise ValueError(
                        f"y_true has shape {tuple(self.y_true.shape)} but y_pred has "
                        f"{tuple(self.y_pred.shape)}."
                    )
                t = _common.as_score_array(t, "y_true", _arrays.namespace(t))[None]
                if self.validate:
                    rng = _arrays.to_host(self.kernels.score_range(t))
                    if rng[..., 2].any() or rng[..., 0].min() < 0 or rng[..., 1].max() > 1:
                        raise ValueError("y_true must hold finite targets in [0, 1].")
            s = _common.as_score_array(s, "y_pred", _arrays.namespace(s))[None]
            self._check_finite(s)
            if self.validate and kind in ("proba", "binary_proba"):
                rng = _arrays.to_host(self.kernels.score_range(s))
                if rng[..., 0].min() < 0 or rng[..., 1].max() > 1:
                    raise ValueError("y_pred must hold probabilities in [0, 1].")
            return t, s
        return self._cached(("loss", kind, num_classes, ignore_index), build)


SWAPPED = ("arguments follow scikit-learn's order: y_true (the labels) first, then y_pred "
           "(labels or scores); torchmetrics puts predictions first")


def _check_order(y_true, y_pred) -> None:
    """Class scores in y_true beside integer labels in y_pred, where a label metric reads
    class labels from y_true: the arguments are swapped."""
    if y_true.dtype.kind == "f" and y_pred.dtype.kind in "iu" and y_true.ndim == 2 == (
            y_pred.ndim + 1):
        raise ValueError(
            f"y_true holds float values of shape {tuple(y_true.shape)} and y_pred integer "
            f"labels of shape {tuple(y_pred.shape)}: {SWAPPED}."
        )


def _check_range(kernels, y, name: str, size: int, what: str | None = None):
    if y.shape[0] == 0:
        return
    lo, hi = kernels.label_range(y)
    if lo < 0 or hi >= size:
        raise ValueError(
            f"{name} has labels outside [0, {size}): "
            + (what or f"class labels must be integers 0..{size - 1}") + f"; got {lo}..{hi}."
        )
