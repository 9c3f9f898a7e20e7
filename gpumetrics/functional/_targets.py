"""From user inputs to counts: shape and dtype checks, label discovery, one kernel call.

Everything a classification metric needs is built here, once, for single and batched calls
alike (a single call is a batch of one), into the states of ``gpumetrics.formulas.counts``:

* ``ClassCounts`` - binary/multiclass confusion counts ``(K, C + 1, C + 1)`` over ``classes``,
  where row/column ``C`` collects labels outside ``classes`` (classes left out of
  ``labels=``);
* ``LabelCounts`` - multilabel-indicator counts ``(K, L, 2, 2)`` plus, on request, the
  per-sample counts that subset accuracy, the Hamming loss and ``average="samples"`` need.

Label discovery for integer labels is O(N): a min/max pass, then either one counting pass
over the whole range (small ranges) or a presence pass and a lookup table. Only string or
object labels, or integer labels spread over a huge range, fall back to a sort.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpumetrics import _arrays, dispatch, inputs
from gpumetrics.formulas.counts import ClassCounts, LabelCounts

# Integer label ranges up to this size are counted directly and compacted afterwards.
_DIRECT_RANGE = 256
# Ranges up to this size get a presence pass and a lookup table; wider ones are sorted.
_TABLE_RANGE = 1 << 24


@dataclass
class Targets:
    """Checked inputs of one call, before counting."""

    kind: str  # "multiclass" (binary included) or "multilabel"
    y_true: object  # kernel arrays with a leading batch axis
    y_pred: object
    weights: object
    ctx: _arrays.ArrayContext
    kernels: object
    # Labels given as codes of their position in ``string_classes`` (string or object
    # labels, and uint64 labels beyond the int64 range): sorted, then encoded on the host.
    labels_are_strings: bool = False
    string_classes: np.ndarray | None = None
    label_dtypes: tuple = ()  # dtypes of y_true and y_pred as given, before any encoding


def _shape_error(name, y, expected):
    return ValueError(f"{name} must be {expected}; got an array of shape {tuple(y.shape)}.")


def _as_batched(y_true, y_pred, batched: bool):
    """Give ``y_pred`` a leading batch axis and check ``y_true`` against one set."""
    if batched:
        if y_pred.ndim not in (2, 3):
            raise _shape_error(
                "y_pred", y_pred,
                "(n_sets, n_samples) or (n_sets, n_samples, n_labels) for batched metrics",
            )
        if y_pred.ndim == 3 and y_pred.shape[2] == 1:
            y_pred = y_pred[:, :, 0]
    else:
        if y_pred.ndim not in (1, 2):
            raise _shape_error("y_pred", y_pred, "1-D (n_samples,) or 2-D (n_samples, n_labels)")
        if y_pred.ndim == 2 and y_pred.shape[1] == 1:
            y_pred = y_pred[:, 0]
        y_pred = y_pred[None]
    if y_true.ndim not in (1, 2):
        raise _shape_error("y_true", y_true, "1-D (n_samples,) or 2-D (n_samples, n_labels)")
    if y_true.ndim == 2 and y_true.shape[1] == 1:
        y_true = y_true[:, 0]
    if y_true.shape[0] == 0 or y_pred.shape[1] == 0:
        raise ValueError("y_true and y_pred are empty: at least one sample is required.")
    inputs.check_length(y_true.shape[0], y_pred.shape[1], "y_pred")
    if y_true.ndim != y_pred.ndim - 1:
        kinds = {1: "class labels", 2: "multilabel indicators"}
        raise ValueError(
            "Classification metrics can't handle a mix of targets: y_true holds "
            f"{kinds[y_true.ndim]} but y_pred holds {kinds[y_pred.ndim - 1]}."
        )
    if y_true.ndim == 2 and y_true.shape[1] != y_pred.shape[2]:
        raise ValueError(
            f"y_true has {y_true.shape[1]} labels per sample but y_pred has {y_pred.shape[2]}."
        )
    return y_true[None], y_pred


def _integral(y, name: str):
    """Float labels must be finite and whole numbers; return them as int64."""
    if not np.isfinite(y).all():
        raise ValueError(f"{name} contains NaN or infinity; class labels must be finite.")
    as_int = y.astype(np.int64)
    if not (as_int == y).all():
        raise ValueError(
            f"{name} holds continuous values (e.g. {y[as_int != y].flat[0]!r}); "
            "classification metrics need class labels. Threshold scores first."
        )
    return as_int


def _label_kind(y, name: str) -> str:
    kind = y.dtype.kind
    if kind in "biu":
        return "int"
    if kind == "f":
        return "float"
    if kind in "USO":
        return "str"
    raise ValueError(f"{name} has unsupported dtype {y.dtype}; expected class labels.")


def check_targets(
    y_true, y_pred, sample_weight=None, *, batched=False, backend=None, labels=None
) -> Targets:
    """Check shapes and dtypes and bring the inputs to kernel arrays (zero-copy)."""
    ctx = _arrays.context_of(y_true=y_true, y_pred=y_pred, sample_weight=sample_weight)
    kernels = dispatch.kernels(backend, ctx.on_gpu)
    t = inputs.read(y_true, "y_true", ctx)
    p = inputs.read(y_pred, "y_pred", ctx)
    t, p = _as_batched(t, p, batched)
    w = inputs.weights(sample_weight, p.shape[1], ctx, n_sets=p.shape[0], batched=batched)

    kinds = (_label_kind(t, "y_true"), _label_kind(p, "y_pred"))
    label_dtypes = (t.dtype, p.dtype)
    if kinds[0] == "float":
        t = _integral(t, "y_true")
    if kinds[1] == "float":
        p = _integral(p, "y_pred")
    strings = "str" in kinds
    string_classes = None
    if strings:
        t, p, string_classes = _encode_strings(t, p, kinds)
    elif _beyond_int64(t) or _beyond_int64(p):
        t, p, string_classes = _encode_sorted(t, p)
        strings = True
    kind = "multilabel" if p.ndim == 3 else "multiclass"
    return Targets(kind, t, p, w, ctx, kernels, strings, string_classes, label_dtypes)


def _encode_strings(t, p, kinds):
    """Sort-based encoding of string/object labels into codes of the sorted union."""
    for y, name in ((t, "y_true"), (p, "y_pred")):
        inputs.label_values(y, name)
    t_host = np.asarray(_arrays.to_host(t))
    p_host = np.asarray(_arrays.to_host(p))
    values = np.concatenate([t_host.reshape(-1), p_host.reshape(-1)])
    types = {type(v) for v in values.tolist()}
    if any(issubclass(c, str) for c in types) and not all(issubclass(c, str) for c in types):
        raise ValueError("Mix of label input types (string and number) in y_true and y_pred.")
    if "int" in kinds or "float" in kinds:
        raise ValueError("Mix of label input types (string and number) in y_true and y_pred.")
    return _encode_sorted(t_host, p_host)


def _encode_sorted(t, p):
    """Codes of the labels' positions in their sorted union (which is returned too)."""
    t_host = np.asarray(_arrays.to_host(t))
    p_host = np.asarray(_arrays.to_host(p))
    classes = np.unique(np.concatenate([t_host.reshape(-1), p_host.reshape(-1)]))
    return (
        np.searchsorted(classes, t_host).astype(np.int64),
        np.searchsorted(classes, p_host).astype(np.int64),
        classes,
    )


def _beyond_int64(y) -> bool:
    """uint64 labels from 2**63 on, which the kernels' int64 labels cannot hold."""
    return y.dtype == np.uint64 and y.size and int(y.max()) >= 1 << 63


def _label_table(values: np.ndarray, n_classes: int):
    """A lookup table mapping ``value - offset`` to the value's position; gaps map to C."""
    offset = int(values.min())
    lut = np.full(int(values.max()) - offset + 1, n_classes, dtype=np.int64)
    lut[values - offset] = np.arange(values.shape[0])
    return lut, offset


def _label_span(targets: Targets) -> tuple[int, int]:
    """Smallest label and the size of the range the labels of y_true and y_pred span."""
    k = targets.kernels
    lo_t, hi_t = k.label_range(targets.y_true)
    lo_p, hi_p = k.label_range(targets.y_pred)
    lo = min(lo_t, lo_p)
    return lo, max(hi_t, hi_p) - lo + 1


_PREFIX = 4096  # samples read on the host to guess the label range


def _prefix_window(targets: Targets) -> tuple[int, int] | None:
    """A label range guessed from the first samples, when it is small enough to count."""
    head_t = np.asarray(_arrays.to_host(targets.y_true[0, :_PREFIX]))
    head_p = np.asarray(_arrays.to_host(targets.y_pred[:, :_PREFIX]))
    lo = int(min(head_t.min(), head_p.min()))
    size = int(max(head_t.max(), head_p.max())) - lo + 1
    if size > _DIRECT_RANGE:
        return None
    if size <= 2:
        return lo, size  # binary labels: keep the window at two, for the two-class kernel
    # Classes missing from the prefix are usually rare high ones: leave them some room.
    return lo, min(size + size // 4 + 2, _DIRECT_RANGE)


def _present_codes(targets: Targets, lo: int, size: int) -> np.ndarray:
    """The sorted integer labels occurring in y_true or y_pred (presence pass, or a sort)."""
    k = targets.kernels
    if size <= _TABLE_RANGE:
        seen = k.bincount(targets.y_true, lo, size)
        k.bincount(targets.y_pred, lo, size, out=seen)
        return lo + np.flatnonzero(_arrays.to_host(seen))
    return np.unique(
        np.concatenate([_arrays.to_host(targets.y_true).ravel(),
                        _arrays.to_host(targets.y_pred).ravel()])
    )


def count_classes(
    targets: Targets, *, labels=None, num_classes=None, ignore_index=None, validate=True
) -> ClassCounts:
    """Confusion counts for binary/multiclass targets.

    ``num_classes=C``: labels are 0..C-1 and anything else is an error (checked from the
    overflow bin of the same pass). ``labels=``: counts over the given labels in their
    order; other labels go to the overflow bin, as scikit-learn's ``labels`` semantics need.
    Neither: the labels present are discovered in O(N).
    """
    weighted = targets.weights is not None
    w = targets.weights
    integer_weights = weighted and w.dtype.kind in "biu"
    hiding = weighted and not (w > 0).all()
    if weighted:
        w = w.astype(np.float64)
    if ignore_index is not None and targets.labels_are_strings:
        code = np.searchsorted(targets.string_classes, ignore_index)
        found = code < len(targets.string_classes) and (
            targets.string_classes[code] == ignore_index
        )
        ignore_index = int(code) if found else None

    def count(n_classes, y_true=targets.y_true, y_pred=targets.y_pred, ignore=ignore_index,
              **table):
        """Weighted counts, and unweighted ones too where weights could hide a label."""
        def one_pass(weights):
            return _arrays.to_host(targets.kernels.confusion(
                y_true, y_pred, n_classes, sample_weight=weights, ignore_index=ignore, **table,
            ))
        return one_pass(w), (one_pass(None) if hiding else None)

    def count_window(lo, size, strict):
        """Count labels lo..lo+size-1 directly, then drop those never seen. ``strict``:
        return None when some label falls outside the window."""
        cm, occurrences = count(size, lut=np.arange(size, dtype=np.int64), offset=lo)
        occurs = cm if occurrences is None else occurrences
        if strict and (occurs[:, size, :].any() or occurs[:, :, size].any()):
            return None
        seen = (occurs[:, :size, :].sum(axis=(0, 2))
                + occurs[:, :, :size].sum(axis=(0, 1))) != 0
        keep = np.append(np.flatnonzero(seen), size)
        codes = lo + keep[:-1]

        def compact(a):
            return None if a is None else np.ascontiguousarray(a[:, keep][:, :, keep])

        return _typed_as_given(ClassCounts(
            compact(cm), _class_values(codes, targets), weighted, integer_weights,
            compact(occurrences),
        ), targets)

    if num_classes is not None:
        C = _check_num_classes(num_classes)
        cm, occurrences = count(C)
        classes = np.arange(C)
        if validate:
            occurs = cm if occurrences is None else occurrences
            for name, bad in (("y_true", occurs[:, C, :]), ("y_pred", occurs[:, :, C])):
                if bad.any():
                    raise ValueError(
                        f"{name} has labels outside [0, num_classes={C}); "
                        "class labels must be integers 0..num_classes-1."
                    )
        return ClassCounts(cm, classes, weighted, integer_weights, occurrences)

    if labels is not None:
        classes = inputs.labels_array(labels)
        codes = _label_codes(classes, targets)
    else:
        # Most label sets are small and dense: guess their range from a prefix and count it
        # in one pass; the overflow bin proves the guess (or sends us to the full search).
        window = _prefix_window(targets)
        if window is not None:
            counts = count_window(*window, strict=True)
            if counts is not None:
                return counts
        lo, size = _label_span(targets)
        if size <= _DIRECT_RANGE:
            return count_window(lo, size, strict=False)
        codes = _present_codes(targets, lo, size)
        classes = _class_values(codes, targets)
    C = codes.shape[0]
    if int(codes.max()) - int(codes.min()) < _TABLE_RANGE:
        lut, offset = _label_table(codes, C)
        cm, occurrences = count(C, lut=lut, offset=offset)
    else:
        cm, occurrences = count(C, *_rank_labels(targets, codes, ignore_index))
    counts = ClassCounts(cm, classes, weighted, integer_weights, occurrences)
    return counts if labels is not None else _typed_as_given(counts, targets)


def _rank_labels(targets: Targets, codes: np.ndarray, ignore_index):
    """y_true, y_pred and ignore_index with each label replaced by its position in
    ``codes`` (C where absent): for labels spread too widely for a lookup table, one sort
    of the C codes and a binary search per sample instead."""
    order = np.argsort(codes, kind="stable")
    C = codes.shape[0]

    def rank(y):
        xp = _arrays.namespace(y)
        ranked, positions = xp.asarray(codes[order]), xp.asarray(order)
        y = y.astype(xp.int64)
        at = xp.minimum(xp.searchsorted(ranked, y), C - 1)
        return xp.where(ranked[at] == y, positions[at], C)

    y_true = rank(targets.y_true)
    if ignore_index is not None:  # ranks are >= 0: -1 marks the samples to skip
        y_true[targets.y_true == ignore_index] = -1
        ignore_index = -1
    return y_true, rank(targets.y_pred), ignore_index


def _typed_as_given(counts: ClassCounts, targets: Targets) -> ClassCounts:
    """Give discovered labels the type scikit-learn's ``unique_labels`` gives them (reports
    print ``0.0`` for float labels, ``True`` for bool ones): y_true's dtype, promoted with
    y_pred's when some label occurs only in y_pred."""
    if targets.labels_are_strings:
        return counts
    dtypes = [targets.label_dtypes[0]]
    if (counts.present & ~counts.in_true).any():
        dtypes.append(targets.label_dtypes[1])
    counts.classes = counts.classes.astype(np.result_type(*dtypes))
    return counts


def _class_values(codes: np.ndarray, targets: Targets) -> np.ndarray:
    return targets.string_classes[codes] if targets.labels_are_strings else codes


def _check_num_classes(num_classes) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer):
        raise ValueError(f"num_classes must be a positive integer; got {num_classes!r}.")
    if num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer; got {num_classes}.")
    return int(num_classes)


def _label_codes(classes: np.ndarray, targets: Targets) -> np.ndarray:
    """Integer codes of the requested labels as they appear in the kernel arrays.

    Labels that cannot occur in the data get distinct codes below every real one, so they
    keep a row and column of zeros.
    """
    n = classes.shape[0]
    if targets.labels_are_strings:
        known = targets.string_classes
        pos = np.searchsorted(known, classes.astype(known.dtype, copy=False))
        pos = np.minimum(pos, len(known) - 1)
        hit = known[pos] == classes
        return np.where(hit, pos, -1 - np.arange(n)).astype(np.int64)
    if classes.dtype.kind == "f":
        classes = _integral(classes, "labels")
    elif classes.dtype.kind not in "biu":
        # String labels for integer data can never match: all-zero rows.
        return -1 - np.arange(n, dtype=np.int64) - (1 << 40)
    codes = classes.astype(np.int64)
    if np.unique(codes).shape[0] != n:
        raise ValueError("labels must not contain duplicates.")
    return codes


def count_labels(targets: Targets, *, validate=True) -> LabelCounts:
    """Per-label counts for multilabel-indicator targets."""
    k = targets.kernels
    if validate:
        for name, y in (("y_true", targets.y_true), ("y_pred", targets.y_pred)):
            lo, hi = k.label_range(y)
            if hi - lo > 1 and np.unique(_arrays.to_host(y)).shape[0] > 2:
                raise ValueError(
                    f"{name} is 2-D but not a multilabel indicator matrix (it holds more "
                    "than two distinct values); multiclass-multioutput is not supported."
                )
    w = None if targets.weights is None else targets.weights.astype(np.float64)
    counts = _arrays.to_host(k.label_counts(targets.y_true, targets.y_pred, sample_weight=w))
    return LabelCounts(
        counts, targets.y_pred.shape[1], w, targets.y_true, targets.y_pred, k
    )
