"""``classification_report``: per-label precision, recall, F1 and support, plus averages,
as text or a dict - all from one counting pass."""

from __future__ import annotations

import warnings

import numpy as np

from gpumetrics.formulas import division as F
from gpumetrics.formulas import setwise
from gpumetrics.functional import _setwise, _targets

_HEADERS = ["precision", "recall", "f1-score", "support"]


def classification_report(
    y_true, y_pred, *, labels=None, target_names=None, sample_weight=None, digits=2,
    output_dict=False, zero_division="warn", num_classes=None, backend=None,
):
    """Text (or dict) report of the main classification metrics, per label and averaged.

    >>> print(classification_report([0, 1, 2, 2, 2], [0, 0, 2, 2, 1]))
                  precision    recall  f1-score   support
    <BLANKLINE>
               0       0.50      1.00      0.67         1
               1       0.00      0.00      0.00         1
               2       1.00      0.67      0.80         3
    <BLANKLINE>
        accuracy                           0.60         5
       macro avg       0.50      0.56      0.49         5
    weighted avg       0.70      0.60      0.61         5
    <BLANKLINE>
    """
    F.check_zero_division(zero_division)
    targets = _targets.check_targets(y_true, y_pred, sample_weight, backend=backend)
    multilabel = targets.kind == "multilabel"
    if multilabel:
        counts = _setwise._multilabel(targets, labels, None)
    else:
        counts = _setwise.multiclass_counts(targets, labels, num_classes)
        if labels is None:
            keep = counts.mask[0]
            counts = setwise.SetwiseCounts(
                counts.tp[:, keep], counts.pred[:, keep], counts.true[:, keep], counts.total,
                counts.mask[:, keep], counts.labels[keep], micro_is_accuracy=True,
            )
    label_values = counts.labels
    micro_is_accuracy = not multilabel and counts.micro_is_accuracy
    if target_names is not None and len(label_values) != len(target_names):
        if labels is not None:
            warnings.warn(
                f"labels size, {len(label_values)}, does not match size of target_names, "
                f"{len(target_names)}",
                stacklevel=2,
            )
        else:
            raise ValueError(
                f"Number of classes, {len(label_values)}, does not match size of "
                f"target_names, {len(target_names)}. Try specifying the labels parameter"
            )
    if target_names is None:
        target_names = [f"{label}" for label in label_values]

    warn_for = ("precision", "recall", "f-score")
    _, p, r, f1 = setwise.prf(counts, 1.0, None, warn_for, zero_division)
    support = counts.true[0]
    rows = list(zip(target_names, p[0], r[0], f1[0], support, strict=False))
    averages = ("micro", "macro", "weighted") + (("samples",) if multilabel else ())
    summary = {}
    for average in averages:
        if average == "samples":
            s = _setwise._multilabel(targets, labels, "samples")
        else:
            s = counts
        s2, ap, ar, af = setwise.prf(s, 1.0, average, warn_for, zero_division)
        values = [setwise.reduce_labels(v, s2, average)[0] for v in (ap, ar, af)]
        heading = "accuracy" if average == "micro" and micro_is_accuracy else f"{average} avg"
        summary[heading] = [*values, np.sum(support)]

    if output_dict:
        report = {name: dict(zip(_HEADERS, map(float, row), strict=True))
                  for name, *row in rows}
        for heading, values in summary.items():
            report[heading] = dict(zip(_HEADERS, map(float, values), strict=True))
        if "accuracy" in report:
            report["accuracy"] = report["accuracy"]["precision"]
        return report

    width = max(max(len(name) for name in target_names), len("weighted avg"), digits)
    text = ("{:>{width}s} " + " {:>9}" * 4).format("", *_HEADERS, width=width) + "\n\n"
    row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
    for row in rows:
        text += row_fmt.format(*row, width=width, digits=digits)
    text += "\n"
    for heading, values in summary.items():
        if heading == "accuracy":
            fmt = "{:>{width}s} " + " {:>9.{digits}}" * 2 + " {:>9.{digits}f}" + " {:>9}\n"
            text += fmt.format(heading, "", "", *values[2:], width=width, digits=digits)
        else:
            text += row_fmt.format(heading, *values, width=width, digits=digits)
    return text
