"""Clustering scores from labels, as ``sklearn.metrics.cluster`` defines them.

Each side's labels are discovered on their own (true classes, predicted clusters: two label
sets), and the pairs are counted once into a contingency table, dense by the
``contingency`` kernel (a table per side maps raw labels to rows and columns) while
classes x clusters stays small, else by sorting the pairs' codes. Every score is a formula
on that table (``gpumetrics.formulas.contingency``). Labels on a GPU are scored on the
host: the table is computed there.
"""

from __future__ import annotations

import warnings

import numpy as np

from gpumetrics import _arrays, dispatch, inputs
from gpumetrics.formulas import contingency as T
from gpumetrics.functional import _scores
from gpumetrics.functional._batching import batchable

_DENSE_CELLS = 1 << 24  # cells of all sets' tables counted densely at most
_DIRECT_SPAN = 1 << 24  # integer labels spanning fewer values are encoded by a table


def _read(y, name: str, ctx):
    y = inputs.read(y, name, ctx)
    y = np.asarray(_arrays.to_host(y)) if y is not None else None
    if y is None:
        raise ValueError(f"{name} must be an array of labels; got None.")
    if y.dtype.kind == "f" and y.size and not np.isfinite(y).all():
        raise ValueError(f"{name} contains NaN or infinity; labels must be finite.")
    return y


def _kind(y) -> str:
    """scikit-learn's ``type_of_target`` for the kinds its clustering check reports."""
    if y.dtype.kind == "f" and y.size and (y != np.round(y)).any():
        return "continuous"
    return "binary" if np.unique(y).shape[0] <= 2 else "multiclass"


def _check(labels_true, labels_pred, batched: bool, warn: bool = True):
    ctx = _arrays.context_of(labels_true=labels_true, labels_pred=labels_pred)
    t = _read(labels_true, "labels_true", ctx)
    p = _read(labels_pred, "labels_pred", ctx)
    if t.ndim != 1:
        raise ValueError(f"labels_true must be 1D: shape is {t.shape!r}")
    if batched and p.ndim != 2:
        raise ValueError("labels_pred must be 2-D (n_sets, n_samples) for batched scores: "
                         f"shape is {p.shape!r}")
    if not batched and p.ndim != 1:
        raise ValueError(f"labels_pred must be 1D: shape is {p.shape!r}")
    p = p[None] if p.ndim == 1 else p
    if warn and "f" in (t.dtype.kind, p.dtype.kind):
        kinds = (_kind(t), _kind(p))
        if "continuous" in kinds:
            warnings.warn("Clustering metrics expects discrete values but received "
                          f"{kinds[0]} values for label, and {kinds[1]} values for target",
                          UserWarning, stacklevel=3)
    inputs.check_length(t.shape[0], p.shape[1], "labels_pred", "labels_true")
    return t, p, ctx


def _dense(cells: int, shape: tuple) -> bool:
    """Whether K sets of ``cells`` counts are worth a dense table: within the memory cap,
    and not many more cells than samples (a few samples over wide labels are sorted)."""
    K, N = shape
    return K * cells <= min(_DENSE_CELLS, 8 * K * N + (1 << 16))


def _encode(y, kernels):
    """``(classes, labels, lut, offset)``: the sorted distinct labels of ``y``, and integer
    labels for the kernels with the table that maps ``label - offset`` to a class index:
    the labels themselves when their span is small, else their codes (identity table)."""
    ints = _kernel_labels(y)
    if ints is not None and ints.size:
        y = ints
        classes = _scores.unique_labels(y.reshape(-1), kernels)
        lo, hi = int(classes[0]), int(classes[-1])
        if hi - lo < _DIRECT_SPAN:
            lut = np.zeros(hi - lo + 1, np.int64)
            lut[classes.astype(np.int64) - lo] = np.arange(classes.shape[0])
            return classes, y, lut, lo
    classes, codes = np.unique(y.reshape(-1), return_inverse=True)
    return classes, codes.astype(np.int64).reshape(y.shape), None, 0


def _codes(labels, lut, offset):
    return labels.astype(np.int64) if lut is None else lut[labels.astype(np.int64) - offset]


def _cells(labels_true, labels_pred, batched: bool, backend, warn: bool = True):
    """Per prediction set, the non-zero cells ``(rows, cols, counts)`` of its contingency
    table over all classes and the union of every set's clusters; with those labels.
    ``warn``: scikit-learn's warning for continuous labels (not from its
    ``contingency_matrix``)."""
    t, p, ctx = _check(labels_true, labels_pred, batched, warn)
    kernels = dispatch.kernels(backend)
    if p.shape[1] == 0:
        empty = np.zeros(0, np.int64)
        return [(empty, empty, empty)] * p.shape[0], t[:0], p.reshape(-1)[:0], ctx
    spans = [_span(y, kernels) for y in (t, p)]
    if None not in spans and _dense(spans[0][1] * spans[1][1], p.shape):
        return (*_spanned_cells(t, p, spans, kernels), ctx)
    classes, t_labels, t_lut, t_off = _encode(t, kernels)
    clusters, p_labels, p_lut, p_off = _encode(p, kernels)
    R, C = classes.shape[0], clusters.shape[0]
    if _dense(R * C, p.shape):  # one pass of the contingency kernel over every set
        tables = [R, C, t_lut, t_off, p_lut, p_off]
        counts = _arrays.to_host(kernels.contingency(t_labels[None], p_labels, *tables))
        # (every label is in its table: the overflow row and column are empty)
        return _nonzero_cells(counts[:, :R, :C]), classes, clusters, ctx
    rows = _codes(t_labels, t_lut, t_off)
    cells = []
    for k in range(p.shape[0]):  # too many cells for a dense table: sort the pairs' codes
        code, counts = np.unique(rows * C + _codes(p_labels[k], p_lut, p_off),
                                 return_counts=True)
        cells.append((code // C, code % C, counts.astype(np.int64)))
    return cells, classes, clusters, ctx


def _kernel_labels(y):
    """``y`` as labels the kernels read (uint64 as int64), or None for other labels
    (strings, floats, uint64 beyond the int64 range)."""
    if y.dtype.kind not in "biu":
        return None
    if y.dtype == np.uint64:
        return None if y.size and y.max() > np.iinfo(np.int64).max else y.astype(np.int64)
    return y


def _span(y, kernels):
    """``(lowest label, span)`` of integer labels the kernels read, else None."""
    y = _kernel_labels(y)
    if y is None:
        return None
    lo, hi = kernels.label_range(y.reshape(-1))
    return (lo, hi - lo + 1) if hi - lo < _DIRECT_SPAN else None


def _spanned_cells(t, p, spans, kernels):
    """Integer labels whose spans multiply to a dense table: one pass of the contingency
    kernel over the spans (identity tables at the lowest labels) counts the pairs and, by
    its non-empty rows and columns, discovers both label sets."""
    (lo_t, R0), (lo_p, C0) = spans
    identity = [np.arange(R0, dtype=np.int64), lo_t, np.arange(C0, dtype=np.int64), lo_p]
    counts = _arrays.to_host(kernels.contingency(_kernel_labels(t)[None], _kernel_labels(p),
                                                 R0, C0, *identity))[:, :R0, :C0]
    rows_used = np.flatnonzero(counts.any(axis=(0, 2)))
    cols_used = np.flatnonzero(counts.any(axis=(0, 1)))
    cells = _nonzero_cells(counts[:, rows_used][:, :, cols_used])
    return (cells, (lo_t + rows_used).astype(t.dtype), (lo_p + cols_used).astype(p.dtype))


def _nonzero_cells(counts) -> list:
    """Per set, ``(rows, cols, counts)`` of the non-zero cells of dense ``(K, R, C)``
    counts."""
    counts = np.ascontiguousarray(counts)
    width = counts.shape[2]
    cells = []
    for table in counts:
        flat = table.reshape(-1)
        code = np.flatnonzero(flat)
        cells.append((code // width, code % width, flat[code]))
    return cells


def _table(rows, cols, counts, R: int, C: int) -> T.Table:
    """The table of one set's cells, its rows and columns renumbered over the labels it
    uses (another set's clusters leave no empty column)."""
    row_sums = np.bincount(rows, counts, R).astype(np.int64)
    col_sums = np.bincount(cols, counts, C).astype(np.int64)

    def renumbered(index, sums):
        used = sums > 0
        if used.all():
            return index, sums
        return (np.cumsum(used) - 1)[index], sums[used]

    rows, row_sums = renumbered(rows, row_sums)
    cols, col_sums = renumbered(cols, col_sums)
    return T.Table(rows, cols, counts, row_sums, col_sums)


def _scores_of(labels_true, labels_pred, batched, backend, score):
    cells, classes, clusters, ctx = _cells(labels_true, labels_pred, batched, backend)
    R, C = classes.shape[0], clusters.shape[0]
    values = [score(_table(*c, R, C)) for c in cells]
    return _arrays.batch_result(np.array(values, np.float64), ctx, batched)


@batchable
def contingency_matrix(labels_true, labels_pred, *, eps=None, sparse=False, dtype=np.int64,
                       backend=None, _batched):
    """Counts of samples by true class (rows) and predicted cluster (columns), both
    sorted. ``eps`` is added to every cell (a float table); ``sparse=True`` returns a
    SciPy CSR matrix, as scikit-learn does (SciPy is imported then).

    >>> contingency_matrix([0, 0, 1, 1, 2, 2], [1, 0, 2, 1, 0, 2])
    array([[1, 1, 0],
           [0, 1, 1],
           [1, 0, 1]])
    """
    if eps is not None and sparse:
        raise ValueError("Cannot set 'eps' when sparse=True")
    if eps is not None and not (isinstance(eps, int | float | np.number) and eps >= 0):
        raise ValueError(f"eps must be a non-negative number or None; got {eps!r}.")
    if sparse and _batched:
        raise ValueError("sparse=True gives one matrix; call contingency_matrix per set.")
    cells, classes, clusters, _ = _cells(labels_true, labels_pred, _batched, backend,
                                         warn=False)
    R, C = classes.shape[0], clusters.shape[0]
    if sparse:
        from scipy import sparse as sp

        rows, cols, counts = cells[0]
        return sp.csr_matrix((counts.astype(dtype), (rows, cols)), shape=(R, C))
    out = np.zeros((len(cells), R, C), dtype)
    for k, (rows, cols, counts) in enumerate(cells):
        out[k, rows, cols] = counts
    if eps is not None:
        out = out + eps
    return out if _batched else out[0]


@batchable
def pair_confusion_matrix(labels_true, labels_pred, *, backend=None, _batched):
    """Counts of ordered pairs of samples, ``[[tn, fp], [fn, tp]]``: a pair is positive
    when its samples share a cluster, true when they share a class.

    >>> pair_confusion_matrix([0, 0, 1, 1], [1, 1, 0, 0])
    array([[8, 0],
           [0, 4]])
    """
    cells, classes, clusters, ctx = _cells(labels_true, labels_pred, _batched, backend)
    R, C = classes.shape[0], clusters.shape[0]
    out = np.stack([T.pair_confusion(_table(*c, R, C)) for c in cells])
    return out if _batched else out[0]


@batchable
def rand_score(labels_true, labels_pred, *, backend=None, _batched):
    """Share of pairs of samples on which the two labellings agree (same or different
    group in both).

    >>> rand_score([0, 0, 1, 2], [0, 0, 1, 1])
    0.8333333333333334
    """
    return _scores_of(labels_true, labels_pred, _batched, backend, T.rand)


@batchable
def adjusted_rand_score(labels_true, labels_pred, *, backend=None, _batched):
    """Rand index adjusted for chance: 0 for random labellings, 1 for equal ones (up to
    the names of the groups), negative below chance.

    >>> adjusted_rand_score([0, 0, 1, 1], [0, 1, 0, 1])
    -0.5
    """
    return _scores_of(labels_true, labels_pred, _batched, backend, T.adjusted_rand)


@batchable
def mutual_info_score(labels_true, labels_pred, *, contingency=None, backend=None, _batched):
    """Mutual information of two labellings (natural logarithm). With ``contingency`` (a
    dense array, or a SciPy sparse one; ``(K, R, C)`` when batched) the labels are not
    read.

    >>> round(mutual_info_score([0, 0, 1, 1], [0, 0, 1, 1]), 6)
    0.693147
    """
    if contingency is None:
        return _scores_of(labels_true, labels_pred, _batched, backend, T.mutual_info)
    tables = [_table_of(c) for c in (contingency if _batched else [contingency])]
    values = np.array([T.mutual_info(t) for t in tables], np.float64)
    return values if _batched else float(values[0])


def _table_of(contingency) -> T.Table:
    """The table of a contingency given by the caller (dense or SciPy sparse)."""
    if hasattr(contingency, "tocoo"):
        coo = contingency.tocoo()
        rows, cols, counts = coo.row, coo.col, coo.data
        R, C = coo.shape
    else:
        dense = np.asarray(_arrays.to_host(contingency))
        if dense.ndim != 2:
            raise ValueError(f"contingency must be 2-D (classes, clusters); got shape "
                             f"{dense.shape}.")
        rows, cols = np.nonzero(dense)
        counts, (R, C) = dense[rows, cols], dense.shape
    if R == 0 or C == 0:
        raise ValueError(f"contingency must have at least one row and one column; got shape "
                         f"({R}, {C}).")
    keep = counts != 0
    return _table(rows[keep].astype(np.int64), cols[keep].astype(np.int64),
                  np.asarray(counts[keep]).astype(np.int64), R, C)


@batchable
def normalized_mutual_info_score(labels_true, labels_pred, *, average_method="arithmetic",
                                 backend=None, _batched):
    """Mutual information divided by a mean (``average_method``) of the two entropies.

    >>> normalized_mutual_info_score([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    method = T.check_average_method(average_method)
    return _scores_of(labels_true, labels_pred, _batched, backend,
                      lambda t: T.normalized_mutual_info(t, method))


@batchable
def adjusted_mutual_info_score(labels_true, labels_pred, *, average_method="arithmetic",
                               backend=None, _batched):
    """Mutual information adjusted for chance: ``(MI - E[MI]) / (mean(H) - E[MI])``, with
    the expectation under random permutation (hypergeometric model).

    >>> adjusted_mutual_info_score([0, 0, 0, 0], [0, 1, 2, 3])
    0.0
    """
    method = T.check_average_method(average_method)
    return _scores_of(labels_true, labels_pred, _batched, backend,
                      lambda t: T.adjusted_mutual_info(t, method))


@batchable
def homogeneity_completeness_v_measure(labels_true, labels_pred, *, beta=1.0, backend=None,
                                       _batched):
    """Homogeneity (each cluster holds one class), completeness (each class sits in one
    cluster) and their weighted harmonic mean, the V-measure (``beta`` weighs
    completeness).

    >>> [round(x, 4) for x in homogeneity_completeness_v_measure([0, 0, 1, 1, 2, 2],
    ...                                                          [0, 0, 1, 2, 2, 2])]
    [0.7103, 0.7716, 0.7397]
    """
    b = T.check_beta(beta)
    cells, classes, clusters, ctx = _cells(labels_true, labels_pred, _batched, backend)
    R, C = classes.shape[0], clusters.shape[0]
    values = np.array([T.homogeneity_completeness_v(_table(*c, R, C), b) for c in cells])
    return tuple(_arrays.batch_result(values[:, i], ctx, _batched) for i in range(3))


@batchable
def homogeneity_score(labels_true, labels_pred, *, backend=None, _batched):
    """1 when every cluster holds samples of a single class.

    >>> round(homogeneity_score([0, 0, 1, 1], [0, 0, 1, 2]), 12)
    1.0
    """
    return homogeneity_completeness_v_measure.__wrapped__(
        labels_true, labels_pred, backend=backend, _batched=_batched)[0]


@batchable
def completeness_score(labels_true, labels_pred, *, backend=None, _batched):
    """1 when all samples of a class sit in a single cluster.

    >>> completeness_score([0, 0, 1, 1], [0, 0, 0, 0])
    1.0
    """
    return homogeneity_completeness_v_measure.__wrapped__(
        labels_true, labels_pred, backend=backend, _batched=_batched)[1]


@batchable
def v_measure_score(labels_true, labels_pred, *, beta=1.0, backend=None, _batched):
    """Weighted harmonic mean of homogeneity and completeness (``beta`` weighs
    completeness); equal to the mutual information normalised by the arithmetic mean of
    the entropies when ``beta=1``.

    >>> v_measure_score([0, 0, 1, 1], [1, 1, 0, 0])
    1.0
    """
    return homogeneity_completeness_v_measure.__wrapped__(
        labels_true, labels_pred, beta=beta, backend=backend, _batched=_batched)[2]


@batchable
def fowlkes_mallows_score(labels_true, labels_pred, *, backend=None, _batched):
    """Geometric mean of the pairwise precision and recall: pairs in one cluster that
    share a class, over pairs in one cluster and over pairs of one class.

    >>> fowlkes_mallows_score([0, 0, 0, 0], [0, 1, 2, 3])
    0.0
    """
    return _scores_of(labels_true, labels_pred, _batched, backend, T.fowlkes_mallows)
