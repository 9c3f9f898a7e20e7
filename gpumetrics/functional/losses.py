"""Losses: scikit-learn's ``log_loss``, cross-entropy of logits, binary cross-entropy of
logits or probabilities, and the validation gap ``vgap``.

Logits are reduced row by row with log-sum-exp inside the ``loss_sums`` kernel: no softmax
or sigmoid copy of the input is made, and extreme logits (1e4) stay finite.
"""

from __future__ import annotations

import warnings

import numpy as np

from gpumetrics import _arrays, inputs
from gpumetrics._arrays import batch_result
from gpumetrics._warnings import undefined_metric
from gpumetrics.formulas import losses
from gpumetrics.functional._batching import batchable
from gpumetrics.functional._scores import Scores, check_scores, target_type, unique_labels


def _reduce(sums: np.ndarray, reduction: str, sc: Scores, batched: bool):
    return losses.reduce_sums(sums, reduction, sc.ctx, batched)


@batchable
def log_loss(
    y_true, y_proba=None, *, normalize=True, sample_weight=None, labels=None,
    y_pred="deprecated", backend=None, _batched,
):
    """Log loss (logistic loss, cross-entropy) of predicted probabilities, clipped to
    ``[eps, 1 - eps]`` with eps the machine epsilon of ``y_proba``'s dtype, and computed
    in that dtype as scikit-learn does (float64 through one kernel pass).

    ``y_proba`` is ``(n_samples, n_classes)`` with columns in the sorted order of the
    labels, or ``(n_samples,)``: the probability of the greater of two labels. ``y_true``
    may be a multilabel indicator matrix: then each sample's loss sums ``-log p`` over its
    labels. ``y_pred`` is the former name of ``y_proba`` (a FutureWarning).

    >>> round(log_loss(["spam", "ham", "ham", "spam"],
    ...                [[.1, .9], [.9, .1], [.8, .2], [.35, .65]]), 6)
    0.216162
    """
    y_proba = _renamed_y_pred(y_proba, y_pred, "log_loss")
    sc = _proba_inputs(y_true, y_proba, sample_weight, _batched, backend)
    return batch_result(_log_loss(sc, labels, normalize), sc.ctx, _batched)


def _proba_inputs(y_true, y_proba, sample_weight, batched: bool, backend) -> Scores:
    """The checked inputs of a function of class probabilities (string labels allowed)."""
    return check_scores(y_true, y_proba, sample_weight, batched=batched, backend=backend,
                        score_name="y_proba", strings=True)


def _log_loss(sc: Scores, labels, normalize: bool) -> np.ndarray:
    """Per set, the log loss (its weighted mean, or sum without ``normalize``), float64."""
    t, classes, scores = _checked_proba(sc, labels)
    if t.ndim == 2 or scores.dtype != np.float64:
        return _log_loss_in_dtype(t, classes, scores, sc, normalize)
    codes = inputs.encode(t, classes)  # on the inputs' device: every label is in classes
    eps = float(np.finfo(np.float64).eps)
    sums = _arrays.to_host(
        sc.kernels.loss_sums(codes[None], scores, "proba", sc.weights, eps=eps)
    )
    if sums[:, 3].any():
        _warn_not_normalised()
    return np.asarray(losses.reduce_sums(sums, "mean" if normalize else "sum", _arrays.HOST,
                                         True), np.float64)


def _renamed_y_pred(y_proba, y_pred, function: str):
    """``y_proba``, or the probabilities given by their former name ``y_pred`` (with
    scikit-learn's FutureWarning, pointing at the caller of ``function``)."""
    if not (isinstance(y_pred, str) and y_pred == "deprecated"):
        if y_proba is not None:
            raise ValueError("Cannot use both `y_pred` and `y_proba`. `y_pred` is deprecated, "
                             "use `y_proba` instead.")
        warnings.warn("`y_pred` was renamed to `y_proba` in version 1.9 and will be removed "
                      "in 1.11. Use `y_proba` instead.", FutureWarning, stacklevel=4)
        return y_pred
    if y_proba is None:
        raise TypeError(f"{function}() missing the probabilities: y_proba.")
    return y_proba


def _checked_proba(sc: Scores, labels):
    """scikit-learn's checks of class probabilities against labels (``log_loss``'s and
    the multiclass ``brier_score_loss``'s): ``(y_true, classes, probabilities (K, N,
    C))``, a one-column form kept as it is."""
    rng = sc.score_range()
    if rng[..., 2].any():
        raise ValueError("y_proba contains NaN or infinity.")
    if rng[..., 1].max() > 1:
        raise ValueError(f"y_prob contains values greater than 1: {rng[..., 1].max()}")
    if rng[..., 0].min() < 0:
        raise ValueError(f"y_prob contains values lower than 0: {rng[..., 0].min()}")
    t = sc.y_true
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim == 2:
        if target_type(t, sc.kernels)[0] != "multilabel-indicator":
            raise ValueError("Multioutput target data is not supported with label binarization")
        present = np.arange(t.shape[1])
    else:
        present = unique_labels(t, sc.kernels)
    if labels is not None:
        given = np.asarray(_arrays.to_host(_arrays.to_kernel(labels, "labels")))
        classes = np.unique(given)
        if classes.shape != given.shape or not (classes == given).all():
            warnings.warn(
                f"Labels passed were {labels}. But this function assumes labels are ordered "
                f"lexicographically. Pass the ordered labels={classes.tolist()} and ensure "
                "that the columns of y_prob correspond to this ordering.", UserWarning,
                stacklevel=5)
        missing = np.setdiff1d(present, classes)
        if missing.shape[0]:
            raise ValueError(
                f"y_true contains values {set(missing.tolist())} not belonging to the passed "
                f"labels {labels}."
            )
    else:
        classes = present
    if classes.shape[0] == 1:
        if labels is None:
            raise ValueError(
                f"y_true contains only one label ({classes[0]}). Please provide the list of "
                "all expected class labels explicitly through the labels argument."
            )
        raise ValueError(f"The labels array needs to contain at least two labels, got {classes}.")
    s = sc.y_score
    n_cols = 2 if (s.ndim == 2 or s.shape[2] == 1) else s.shape[2]
    if classes.shape[0] != n_cols:
        if labels is None:
            raise ValueError(
                f"y_true and y_prob contain different number of classes: {classes.shape[0]} "
                f"vs {n_cols}. Please provide the true labels explicitly through the labels "
                f"argument. Classes found in y_true: {classes}"
            )
        raise ValueError(
            "The number of classes in labels is different from that in y_prob. Classes found "
            f"in labels: {classes}"
        )
    scores = s[:, :, None] if s.ndim == 2 else s
    return t, classes, scores


def _warn_not_normalised(stacklevel: int = 5):
    """scikit-learn's warning, pointing at the caller of the public function (three
    frames above the one that calls this, unless ``stacklevel`` says otherwise)."""
    warnings.warn("The y_prob values do not sum to one. Make sure to pass probabilities.",
                  UserWarning, stacklevel=stacklevel)


def _log_loss_in_dtype(t, classes, scores, sc: Scores, normalize: bool) -> np.ndarray:
    """scikit-learn's log loss step by step in the probabilities' own dtype (float16,
    float32, or integers read as float64), and for multilabel targets: one-hot targets,
    clipped probabilities, ``-sum(xlogy(t, p))`` per sample, then the (weighted) mean."""
    onehot, scores = _one_hot_proba(t, classes, scores, stacklevel=7)
    xp = _arrays.namespace(scores)
    eps = np.finfo(scores.dtype).eps
    p = xp.clip(scores, eps, 1 - eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = onehot * xp.log(p)
    loss = -xp.where(onehot == 0, xp.asarray(0, dtype=terms.dtype), terms).sum(axis=2)
    return _weighted_average(loss, sc, normalize)


def _one_hot_proba(t, classes, scores, stacklevel: int):
    """One-hot targets ``(1, N, C)`` and the probabilities ``(K, N, C)`` in their float
    dtype (one column: that of class 1, beside its complement), with scikit-learn's
    warning for rows that do not sum to one."""
    xp = _arrays.namespace(scores)
    if scores.dtype.kind != "f":
        scores = scores.astype(xp.float64)
    if scores.shape[2] == 1:
        scores = xp.concatenate([1 - scores, scores], axis=2)
    if t.ndim == 2:
        onehot = xp.asarray(t).astype(scores.dtype)[None]
    else:
        codes = xp.asarray(inputs.encode(t, classes))
        onehot = (codes[:, None] == xp.arange(classes.shape[0])).astype(scores.dtype)[None]
    eps = np.finfo(scores.dtype).eps
    if not bool(xp.isclose(scores.sum(axis=2), xp.asarray(1, dtype=scores.dtype),
                           rtol=float(np.sqrt(eps))).all()):
        _warn_not_normalised(stacklevel=stacklevel)
    return onehot, scores


def _weighted_average(values, sc: Scores, normalize: bool = True) -> np.ndarray:
    """Per set, the mean of per-sample values ``(K, N)`` weighted by the samples' weights
    (their weighted sum without ``normalize``), as float64 on the host."""
    xp = _arrays.namespace(values)
    if sc.weights is None:
        out = values.mean(axis=1) if normalize else values.sum(axis=1)
    else:
        w = xp.asarray(sc.weights)
        out = (values * w).sum(axis=1)
        if normalize:
            total = w.sum(axis=1)
            if bool((total == 0).any()):
                raise ZeroDivisionError("Weights sum to zero, can't be normalized")
            out = out / total
    return np.asarray(_arrays.to_host(out), np.float64)


@batchable
def cross_entropy(
    y_true, logits, *, sample_weight=None, ignore_index=None, reduction="mean", backend=None,
    _batched,
):
    """Cross-entropy of class logits ``(n_samples, n_classes)`` against class indices
    ``0..C-1``: ``logsumexp(logits) - logits[y]``, computed without a softmax copy.
    Samples whose label equals ``ignore_index`` are left out, as in PyTorch.

    >>> round(cross_entropy([0, 2], [[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]]), 6)
    0.175456
    """
    losses.check_reduction(reduction)
    sc = check_scores(y_true, logits, sample_weight, batched=_batched, backend=backend,
                      score_name="logits")
    sc.check_finite("logits")
    if sc.y_score.ndim != 3:
        raise ValueError("logits must have shape (n_samples, n_classes).")
    t = sc.y_true
    if t.ndim != 1 or t.dtype.kind not in "biu":
        raise ValueError("y_true must be a 1-D array of integer class indices.")
    sums = _arrays.to_host(sc.kernels.loss_sums(t[None], sc.y_score, "softmax", sc.weights,
                                                ignore_index=ignore_index))
    if sums[:, 2].any():
        raise ValueError(
            f"y_true holds class indices outside [0, {sc.y_score.shape[2]}) (the columns of "
            "logits)."
        )
    return _reduce(sums, reduction, sc, _batched)


@batchable
def binary_cross_entropy(
    y_true, y_score, *, from_logits=False, sample_weight=None, reduction="mean", backend=None,
    _batched,
):
    """Binary cross-entropy of probabilities, or of logits with ``from_logits=True``
    (computed as ``max(x, 0) - x * y + log1p(exp(-|x|))``, stable for any logit). Targets
    are in ``[0, 1]`` (soft labels allowed), one per score; log-probabilities are clamped
    at -100 as in PyTorch.

    >>> round(binary_cross_entropy([0, 1, 1], [0.1, 0.8, 0.6]), 6)
    0.279777
    >>> round(binary_cross_entropy([0, 1], [-1e4, 1e4], from_logits=True), 6)
    0.0
    """
    losses.check_reduction(reduction)
    sc = check_scores(y_true, y_score, sample_weight, batched=_batched, backend=backend)
    rng = sc.score_range()
    if rng[..., 2].any():
        raise ValueError("y_score contains NaN or infinity.")
    if not from_logits and (rng[..., 0].min() < 0 or rng[..., 1].max() > 1):
        raise ValueError(
            "y_score must hold probabilities in [0, 1]; pass from_logits=True for logits."
        )
    t = sc.y_true
    s = sc.y_score[:, :, None] if sc.y_score.ndim == 2 else sc.y_score
    t3 = (t[:, None] if t.ndim == 1 else t)[None]
    if t3.shape[1:] != s.shape[1:]:
        raise ValueError(
            f"y_true has shape {tuple(t.shape)} but y_score has {tuple(sc.y_score.shape[1:])}."
        )
    if t.dtype.kind not in "biuf":
        raise ValueError(f"y_true must hold targets in [0, 1]; got dtype {t.dtype}.")
    t_rng = sc.kernels.score_range(t3)
    if t_rng[..., 2].any() or t_rng[..., 0].min() < 0 or t_rng[..., 1].max() > 1:
        raise ValueError("y_true must hold finite targets in [0, 1].")
    kind = "sigmoid" if from_logits else "binary_proba"
    sums = _arrays.to_host(sc.kernels.loss_sums(t3, s, kind, sc.weights))
    return _reduce(sums, reduction, sc, _batched)


def vgap(train_loss, val_loss):
    """Validation gap ``|train_loss - val_loss|``, per epoch when given sequences.

    >>> vgap(0.21, 0.35)
    0.13999999999999999
    >>> vgap([0.9, 0.5, 0.3], [1.0, 0.6, 0.5]).round(3).tolist()
    [0.1, 0.1, 0.2]
    """
    ctx = _arrays.context_of(train_loss=train_loss, val_loss=val_loss)
    train = np.asarray(_arrays.to_host(_arrays.to_kernel(train_loss, "train_loss", ctx)),
                       dtype=np.float64)
    val = np.asarray(_arrays.to_host(_arrays.to_kernel(val_loss, "val_loss", ctx)),
                     dtype=np.float64)
    if train.shape != val.shape:
        raise ValueError(
            f"train_loss and val_loss must have one shape; got {train.shape} and {val.shape}."
        )
    gap = np.abs(train - val)
    return _arrays.wrap(gap if gap.ndim else float(gap), ctx)


@batchable
def d2_log_loss_score(y_true, y_proba=None, *, sample_weight=None, labels=None,
                      y_pred="deprecated", backend=None, _batched):
    """Fraction of the log loss explained: ``1 - log_loss(model) / log_loss(null)``, the
    null model predicting the (weighted) class frequencies of ``y_true`` for every sample.
    NaN, with a warning, for fewer than two samples.

    >>> round(d2_log_loss_score([0, 1, 1, 0], [[.9, .1], [.2, .8], [.3, .7], [.6, .4]]), 6)
    0.568633
    """
    y_proba = _renamed_y_pred(y_proba, y_pred, "d2_log_loss_score")
    sc = _proba_inputs(y_true, y_proba, sample_weight, _batched, backend)
    if sc.n_samples < 2:
        return _undefined_d2(sc, _batched)
    fitted = _log_loss(sc, labels, normalize=False)
    total = float(sc.n_samples if sc.weights is None else _arrays.to_host(sc.weights)[0].sum())
    null = losses.null_log_loss(_class_weights(sc, labels), total)
    return batch_result(1 - fitted / null, sc.ctx, _batched)


def _undefined_d2(sc: Scores, batched: bool):
    """scikit-learn's D^2 of fewer than two samples: NaN, with its warning (pointing at the
    caller of the D^2 function)."""
    warnings.warn("D^2 score is not well-defined with less than two samples.",
                  undefined_metric(), stacklevel=4)
    return batch_result(np.full(sc.y_score.shape[0], np.nan), sc.ctx, batched)


def _class_weights(sc: Scores, labels) -> np.ndarray:
    """Total weight of each class of ``y_true`` (each label column of an indicator
    matrix), over the sorted classes of ``labels`` when given."""
    t = np.asarray(_arrays.to_host(sc.y_true))
    w = None if sc.weights is None else np.asarray(_arrays.to_host(sc.weights))[0]
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim == 2:  # multilabel indicators (log_loss has checked them)
        return (t if w is None else t * w[:, None]).sum(axis=0).astype(np.float64)
    classes = unique_labels(t, sc.kernels) if labels is None else np.unique(
        np.asarray(_arrays.to_host(_arrays.to_kernel(labels, "labels"))))
    return np.bincount(np.searchsorted(classes, t), weights=w,
                       minlength=classes.shape[0]).astype(np.float64)


def _brier_inputs(sc: Scores, pos_label, labels):
    """One-hot targets ``(1, N, C)`` and probabilities ``(K, N, C)`` in the probabilities'
    float dtype, checked as scikit-learn checks them: one column (or a 1-D array) is the
    probability of ``pos_label`` in a binary problem, more go through ``log_loss``'s
    checks."""
    s = sc.y_score
    if s.ndim == 3 and s.shape[2] > 1:
        t, classes, scores = _checked_proba(sc, labels)
        return _one_hot_proba(t, classes, scores, stacklevel=6)
    if sc.score_range()[..., 2].any():
        raise ValueError("y_proba contains NaN or infinity.")
    t = sc.y_true[:, 0] if sc.y_true.ndim == 2 and sc.y_true.shape[1] == 1 else sc.y_true
    kind, classes = target_type(t, sc.kernels)
    if kind != "binary":
        raise ValueError(f"The type of the target inferred from y_true is {kind} but should be "
                         "binary according to the shape of y_prob.")
    rng = sc.score_range()
    if rng[..., 1].max() > 1:
        raise ValueError(f"y_prob contains values greater than 1: {rng[..., 1].max()}")
    if rng[..., 0].min() < 0:
        raise ValueError(f"y_prob contains values less than 0: {rng[..., 0].min()}")
    pos = _brier_pos_label(classes, pos_label)
    xp = _arrays.namespace(s)
    p = (s[:, :, 0] if s.ndim == 3 else s)
    p = p if p.dtype.kind == "f" else p.astype(xp.float64)
    positive = xp.asarray(np.asarray(_arrays.to_host(t)) == pos).astype(p.dtype)
    onehot = xp.stack([1 - positive, positive], axis=1)[None]
    return onehot, xp.stack([1 - p, p], axis=2)


def _brier_pos_label(classes: np.ndarray, pos_label):
    """scikit-learn's positive label of a binary Brier score: the check of ``roc_curve``,
    else, for labels that are not strings, the greater label."""
    from gpumetrics.functional.ranking import _pos_label

    try:
        return _pos_label(classes, pos_label)
    except ValueError:
        if classes.dtype.kind in "OUS":
            raise
        return classes[-1]


@batchable
def brier_score_loss(y_true, y_proba, *, sample_weight=None, pos_label=None, labels=None,
                     scale_by_half="auto", backend=None, _batched):
    """Mean squared distance between the predicted probabilities and the one-hot targets,
    summed over the classes; halved (``scale_by_half="auto"``) for binary input, so that it
    is the mean squared error of the positive class's probability. A 1-D ``y_proba`` (or
    one column) is the probability of ``pos_label``; more columns follow ``labels``.

    >>> round(brier_score_loss([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3]), 6)
    0.0375
    """
    if not (isinstance(scale_by_half, bool) or scale_by_half == "auto"):
        raise ValueError(f"scale_by_half must be 'auto' or a bool; got {scale_by_half!r}.")
    sc = _proba_inputs(y_true, y_proba, sample_weight, _batched, backend)
    onehot, scores = _brier_inputs(sc, pos_label, labels)
    values = _weighted_average(((onehot - scores) ** 2).sum(axis=2), sc)
    if scale_by_half == "auto":
        raw = sc.y_score
        scale_by_half = raw.ndim == 2 or raw.shape[2] < 3
    return batch_result(values * 0.5 if scale_by_half else values, sc.ctx, _batched)


@batchable
def d2_brier_score(y_true, y_proba, *, sample_weight=None, pos_label=None, labels=None,
                   backend=None, _batched):
    """Fraction of the Brier score explained: ``1 - brier(model) / brier(null)``, the null
    model predicting the (weighted) class frequencies. NaN, with a warning, for fewer
    than two samples.

    >>> round(d2_brier_score([0, 1, 1, 0], [0.1, 0.9, 0.8, 0.3]), 6)
    0.85
    """
    sc = _proba_inputs(y_true, y_proba, sample_weight, _batched, backend)
    if sc.n_samples < 2:
        return _undefined_d2(sc, _batched)
    onehot, scores = _brier_inputs(sc, pos_label, labels)
    xp = _arrays.namespace(scores)
    if sc.weights is None:
        null = onehot.mean(axis=1, keepdims=True)
    else:
        w = xp.asarray(sc.weights)[0][None, :, None].astype(onehot.dtype)
        null = (onehot * w).sum(axis=1, keepdims=True) / w.sum()
    fitted = _weighted_average(((onehot - scores) ** 2).sum(axis=2), sc)
    baseline = _weighted_average(((onehot - null) ** 2).sum(axis=2), sc)
    return batch_result(1 - fitted / baseline, sc.ctx, _batched)


@batchable
def hinge_loss(y_true, pred_decision, *, labels=None, sample_weight=None, backend=None,
               _batched):
    """Mean hinge loss ``max(0, 1 - margin)``: binary, the margin is ``y * decision`` with
    ``y`` in {-1, +1} (the greater label positive); multiclass (Crammer-Singer), the true
    class's decision minus the largest other one, over the classes of ``labels`` (else of
    ``y_true``) in sorted order.

    >>> hinge_loss([-1, 1, 1], [-2.2, 1.3, 0.5])
    0.16666666666666666
    """
    ctx = _arrays.context_of(y_true=y_true, pred_decision=pred_decision,
                             sample_weight=sample_weight)
    t = np.asarray(_arrays.to_host(inputs.read(y_true, "y_true", ctx)))
    d = np.asarray(_arrays.to_host(inputs.read(pred_decision, "pred_decision", ctx)))
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 1:
        raise ValueError(f"y_true must be 1-D (n_samples,); got shape {t.shape}.")
    sets = d if _batched else d[None]
    if d.dtype.kind not in "biuf":
        raise ValueError(f"pred_decision must hold numbers; got dtype {d.dtype}.")
    w = None if sample_weight is None else inputs.weights(sample_weight, t.shape[0], ctx,
                                                          nonzero=False)[0]
    inputs.check_length(t.shape[0], sets.shape[1], "pred_decision")
    classes = np.unique(t if labels is None else inputs.labels_array(labels))
    values = []
    for decision in sets:
        if classes.shape[0] > 2:
            margin = _multiclass_margin(t, decision, classes, labels)
        else:
            margin = _binary_margin(t, decision)
        values.append(np.average(np.clip(1 - margin, 0, None), weights=w))
    return batch_result(np.asarray(values, np.float64), ctx, _batched)


def _binary_margin(t, decision):
    if decision.ndim == 2 and decision.shape[1] == 1:
        decision = decision[:, 0]
    if decision.ndim != 1:
        raise ValueError(f"pred_decision must be 1-D (n_samples,) for a binary target; got "
                         f"shape {decision.shape}.")
    # scikit-learn's LabelBinarizer(neg_label=-1) fitted on y_true, first column: one class
    # gives -1 everywhere, two the greater one +1, more (labels= named two) the least +1
    present = np.unique(t)
    if present.shape[0] == 1:
        y = np.full(t.shape[0], -1.0)
    else:
        y = np.where(t == present[1 if present.shape[0] == 2 else 0], 1.0, -1.0)
    return y * decision


def _multiclass_margin(t, decision, classes, labels):
    n, C = t.shape[0], classes.shape[0]
    if decision.ndim != 2:
        raise ValueError("The shape of pred_decision cannot be 1d arraywith a multiclass "
                         "target. pred_decision shape must be (n_samples, n_classes), that is "
                         f"({n}, {C}). Got: {decision.shape}")
    if decision.shape[1] != C:
        if labels is None:
            raise ValueError("Please include all labels in y_true or pass labels as third "
                             "argument")
        raise ValueError("The shape of pred_decision is not consistent with the number of "
                         "classes. With a multiclass target, pred_decision shape must be "
                         f"(n_samples, n_classes), that is ({n}, {C}). Got: {decision.shape}")
    codes = np.searchsorted(classes, t)
    unseen = (codes >= C) | (classes[np.minimum(codes, C - 1)] != t)
    if unseen.any():
        raise ValueError(f"y_true contains previously unseen labels: "
                         f"{np.unique(t[unseen]).tolist()}")
    rows = np.arange(n)
    true_score = decision[rows, codes].astype(np.float64)
    others = decision.astype(np.float64)
    others[rows, codes] = -np.inf
    return true_score - others.max(axis=1)
