"""Early stopping, the optimal cycle, and findings about a run or a model's predictions:
overfitting, underfitting and plateaus, divergence, the accuracy paradox, and how a model
compares with the trivial baseline. Every finding carries its evidence (epochs, values)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

SEVERITIES = ("info", "warning", "critical")

# How serious each kind of finding is, unless the finding says otherwise (overfitting is
# critical once validation is 10% worse than its best).
SEVERITY = {"divergence": "critical", "accuracy-paradox": "critical",
            "below-baseline": "critical", "overfitting": "warning", "underfitting": "warning",
            "generalisation-gap": "info", "validation-plateau": "info", "plateau": "info"}


@dataclass(frozen=True)
class Finding:
    """One thing worth knowing about a run, with its evidence (epochs, values) and a
    severity: ``info`` (worth a look), ``warning`` (act on it), ``critical`` (the run or
    model should not be used as it is)."""

    kind: str  # divergence | overfitting | generalisation-gap | validation-plateau |
    # plateau | underfitting | accuracy-paradox | below-baseline
    message: str
    evidence: dict = field(default_factory=dict)
    severity: str = ""  # "" takes the kind's usual severity

    def __post_init__(self):
        if not self.severity:
            object.__setattr__(self, "severity", SEVERITY.get(self.kind, "warning"))
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}; got "
                             f"{self.severity!r}.")

    def __str__(self) -> str:
        return f"{self.kind} ({self.severity}): {self.message}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "severity": self.severity, "message": self.message,
                "evidence": self.evidence}

    @classmethod
    def from_stored(cls, item) -> Finding:
        """A finding kept by ``Run.finish(findings=...)``: a dict, or a ``"kind: message"``
        text."""
        if isinstance(item, dict):
            return cls(item["kind"], item["message"], item.get("evidence") or {},
                       item.get("severity", ""))
        kind, _, message = str(item).partition(": ")
        kind = kind.split(" (")[0]
        return cls(kind, message) if message else cls("note", kind, severity="info")


def by_severity(findings) -> list[Finding]:
    """Findings, the most serious first (a stable sort: ties keep their order)."""
    return sorted(findings, key=lambda f: -SEVERITIES.index(f.severity))


def worst_severity(findings) -> str | None:
    """The most serious severity among the findings (None when there is none)."""
    return max((f.severity for f in findings), key=SEVERITIES.index, default=None)


class EarlyStopping:
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs. ``mode`` is ``min``, ``max``, or ``auto`` (``max`` for names holding ``acc``,
    ``auc``, ``f1``, ``precision``, ``recall`` or ``score``, else ``min``).

    ``step(value)`` (or ``step(logs_dict)``) returns True when training should stop: at
    the ``patience``-th epoch in a row without improvement (as Keras counts; 0 stops at
    the first). ``best``, ``best_epoch`` and ``stopped_epoch`` say what happened. NaN never
    improves.
    """

    _MAX_HINTS = ("acc", "auc", "f1", "precision", "recall", "score", "r2", "mcc",
                  "matthews", "kappa", "jaccard", "iou", "explained_variance", "ap")

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto"):
        if isinstance(patience, bool) or int(patience) != patience or patience < 0:
            raise ValueError(f"patience must be a non-negative integer; got {patience!r}.")
        if not min_delta >= 0:
            raise ValueError(f"min_delta must be >= 0; got {min_delta!r}.")
        mode = _mode(monitor, mode)
        self.monitor, self.patience, self.min_delta, self.mode = (monitor, int(patience),
                                                                  float(min_delta), mode)
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self.wait = 0
        self.epoch = -1

    def improved(self, value: float) -> bool:
        if value is None or not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def step(self, value, epoch: int | None = None) -> bool:
        """Record the epoch's value (a number, or a dict holding ``monitor``)."""
        if isinstance(value, dict):
            if self.monitor not in value:
                raise ValueError(f"the logs have no {self.monitor!r}; they have "
                                 f"{', '.join(value)}.")
            value = value[self.monitor]
        self.epoch = self.epoch + 1 if epoch is None else int(epoch)
        value = None if value is None else float(value)
        if self.improved(value):
            self.best, self.best_epoch, self.wait = value, self.epoch, 0
        else:
            self.wait += 1
            if self.wait >= self.patience and self.stopped_epoch is None:
                self.stopped_epoch = self.epoch
        return self.stopped_epoch is not None

    @property
    def should_stop(self) -> bool:
        return self.stopped_epoch is not None


def _mode(monitor: str, mode: str) -> str:
    """``min`` or ``max`` for a monitored value (``auto``: losses and errors are minimised,
    scores such as accuracy, AUC, F1, MCC, kappa or R^2 maximised)."""
    mode = str(mode).lower()
    if mode == "auto":
        name = monitor.lower()
        if "loss" in name or "error" in name:
            return "min"
        return "max" if any(h in name for h in EarlyStopping._MAX_HINTS) else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min', 'max' or 'auto'; got {mode!r}.")
    return mode


def _epochs(run) -> list:
    epochs = run.epochs if hasattr(run, "epochs") else list(run)
    if not epochs:
        raise ValueError("the run has no epochs to diagnose.")
    return epochs


def _series(epochs, key) -> tuple[list[int], list[float]]:
    pairs = [(e.epoch, e.get(key)) for e in epochs if e.get(key) is not None]
    return [p[0] for p in pairs], [float(p[1]) for p in pairs]


def _finite_segments(epochs: list[int], values: list[float]):
    """The stretches of finite values (a NaN or infinite value ends a stretch)."""
    segment: tuple[list, list] = ([], [])
    for e, v in zip(epochs, values, strict=True):
        if math.isfinite(v):
            segment[0].append(e)
            segment[1].append(v)
        elif segment[0]:
            yield segment
            segment = ([], [])
    if segment[0]:
        yield segment


def _runs_of(values: list[float], k: int, rising: bool) -> list[tuple[int, int]]:
    """Index ranges ``[a, b]`` where ``values`` moves the same way for at least k steps."""
    out, start = [], None
    for i in range(1, len(values)):
        moving = values[i] > values[i - 1] if rising else values[i] < values[i - 1]
        if moving:
            start = i - 1 if start is None else start
        else:
            if start is not None and i - 1 - start >= k:
                out.append((start, i - 1))
            start = None
    if start is not None and len(values) - 1 - start >= k:
        out.append((start, len(values) - 1))
    return out


def _training_twin(monitor: str) -> str:
    """The training counterpart of a validation quantity: ``val_loss`` -> ``train_loss``,
    ``val_accuracy`` -> ``train_accuracy``."""
    for prefix in ("val_", "validation_"):
        if monitor.startswith(prefix):
            return "train_" + monitor[len(prefix):]
    return "train_loss"


def _divergence(epochs, k: int) -> list[Finding]:
    findings = []
    for key in ("train_loss", "val_loss"):
        bad = [(e.epoch, e.get(key)) for e in epochs
               if e.get(key) is not None and not math.isfinite(e.get(key))]
        if bad:
            findings.append(Finding("divergence", f"{key} is {bad[0][1]} from epoch {bad[0][0]}",
                                    {"epochs": [b[0] for b in bad], "key": key}))
    t_epochs, train = _series(epochs, "train_loss")
    for seg_epochs, seg in _finite_segments(t_epochs, train):
        for a, b in _runs_of(seg, k, rising=True):
            findings.append(Finding(
                "divergence", f"training loss rose for {b - a} epochs ({seg[a]:.4g} at epoch "
                f"{seg_epochs[a]} to {seg[b]:.4g} at {seg_epochs[b]})",
                {"epochs": seg_epochs[a:b + 1], "train_loss": seg[a:b + 1]}))
    return findings


def _validation_turn(epochs, monitor: str, mode: str, k: int, min_rise: float,
                     critical_rise: float) -> list[Finding]:
    """Overfitting (validation worse than its best over the last ``k`` epochs, by more than
    ``min_rise`` of the best, while training kept improving), or a validation plateau
    (no better than its best for ``k`` epochs, not worse, while training improved)."""
    twin = _training_twin(monitor)
    rows = [e for e in epochs if e.get(monitor) is not None and math.isfinite(e.get(monitor))
            and e.get(twin) is not None and math.isfinite(e.get(twin))]
    if len(rows) <= k:
        return []
    val = [e.get(monitor) for e in rows]
    train = [e.get(twin) for e in rows]
    sign = 1.0 if mode == "min" else -1.0  # worse = larger for "min", smaller for "max"
    twin_sign = sign if _mode(twin, "auto") == mode else -sign
    b = min(range(len(val)), key=lambda i: sign * val[i])  # the first best epoch
    after = len(val) - 1 - b
    if after < k or not twin_sign * (train[-1] - train[b]) < 0:
        return []  # validation improved recently, or training stopped improving too
    scale = abs(val[b]) or 1.0
    rises = [sign * (v - val[b]) / scale for v in val[-k:]]
    evidence = {"epochs": [e.epoch for e in rows[b:]], monitor: val[b:], twin: train[b:],
                "best_epoch": rows[b].epoch}
    if min(rises) > min_rise:
        severity = "critical" if rises[-1] >= critical_rise else "warning"
        return [Finding(
            "overfitting", f"{monitor} got worse after its best at epoch {rows[b].epoch} "
            f"({val[b]:.4g} to {val[-1]:.4g}, {rises[-1]:+.1%}) while {twin} kept improving "
            f"({train[b]:.4g} to {train[-1]:.4g}); epoch {rows[b].epoch} is the one to keep",
            evidence, severity)]
    return [Finding(
        "validation-plateau", f"{monitor} has not improved on its best ({val[b]:.4g} at epoch "
        f"{rows[b].epoch}) for {after} epochs while {twin} kept improving: the later epochs "
        "cost compute without a better model", evidence)]


def _generalisation_gap(epochs, k: int, vgap_tol: float,
                        accuracy_gap: float) -> list[Finding]:
    """The validation-over-training loss gap widening while validation still improves,
    and a large final gap between training and validation accuracy."""
    findings = []
    both = [e for e in epochs if e.vgap is not None and math.isfinite(e.vgap)]
    if len(both) > k:
        window = both[-1 - k:]
        tr = [e.train_loss for e in window]
        va = [e.val_loss for e in window]
        gaps = [v - t for t, v in zip(tr, va, strict=True)]
        # validation above training and pulling away (training above validation, as under
        # dropout, is not a generalisation gap)
        widening = all(b > a for a, b in itertools.pairwise(gaps))
        if (widening and gaps[-1] > 0 and gaps[-1] - gaps[0] > vgap_tol * abs(va[-1])
                and va[-1] <= va[0]):
            findings.append(Finding(
                "generalisation-gap", f"the gap between validation and training loss widened "
                f"from {gaps[0]:.4g} to {gaps[-1]:.4g} over the last {k} epochs while "
                f"validation loss still improved ({va[0]:.4g} to {va[-1]:.4g}): not "
                "overfitting yet, but training learns more than generalises",
                {"epochs": [e.epoch for e in window], "train_loss": tr, "val_loss": va,
                 "gap": gaps}))
    last = epochs[-1]
    ta, va_ = last.get("train_accuracy"), last.get("val_accuracy")
    if (ta is not None and va_ is not None and math.isfinite(ta) and math.isfinite(va_)
            and ta - va_ > accuracy_gap):
        findings.append(Finding(
            "generalisation-gap", f"training accuracy {ta:.2%} against validation accuracy "
            f"{va_:.2%} at epoch {last.epoch}: the model does much better on data it has seen",
            {"epoch": last.epoch, "train_accuracy": ta, "val_accuracy": va_},
            "warning"))
    return findings


def diagnose(run, *, k: int = 3, monitor: str = "val_loss", mode: str = "auto",
             min_rise: float = 0.01, critical_rise: float = 0.1, plateau_tol: float = 0.01,
             vgap_tol: float = 0.05, accuracy_gap: float = 0.1,
             baseline_loss: float | None = None) -> list[Finding]:
    """Findings about a run's epochs (a ``Run`` or a list of ``Epoch``), most serious first:

    * divergence (critical): a NaN or infinite loss, or the training loss rising for ``k``
      epochs in a row;
    * overfitting (warning; critical once ``critical_rise`` worse): the validation
      ``monitor`` (``val_loss``, or a validation metric such as ``val_accuracy``) worse
      than its best by more than ``min_rise`` (relative) at each of the last ``k`` epochs
      while its training twin (``train_loss``, ``train_accuracy``) kept improving. A
      widening train/validation gap alone is not overfitting;
    * validation-plateau (info): the monitor no better than its best for ``k`` epochs,
      while training still improved;
    * generalisation-gap: the validation-over-training loss gap growing at each of the
      last ``k`` epochs, by more than ``vgap_tol`` of the validation loss in all, while
      validation still improves (info), or training accuracy above validation accuracy by more than
      ``accuracy_gap`` at the last epoch (warning);
    * plateau (info): the training loss changing by less than ``plateau_tol`` (relative)
      over the last ``k`` epochs: converged, or stalled;
    * underfitting (warning): the final training loss within 10% of ``baseline_loss``
      (the trivial predictor's loss, e.g. the entropy of the class priors), when given.
    """
    epochs = _epochs(run)
    mode = _mode(monitor, mode)
    findings = _divergence(epochs, k)
    findings += _validation_turn(epochs, monitor, mode, k, min_rise, critical_rise)
    findings += _generalisation_gap(epochs, k, vgap_tol, accuracy_gap)
    t_epochs, train = _series(epochs, "train_loss")
    finite = [(e, v) for e, v in zip(t_epochs, train, strict=True) if math.isfinite(v)]
    f_epochs, f_train = [e for e, _ in finite], [v for _, v in finite]
    if len(f_train) > k:
        last, before = f_train[-1], f_train[-1 - k]
        if before > 0 and abs(before - last) / before < plateau_tol:
            findings.append(Finding(
                "plateau", f"training loss changed by {(last - before) / before:+.2%} over "
                f"the last {k} epochs: converged, or learning has stalled",
                {"epochs": f_epochs[-1 - k:], "train_loss": f_train[-1 - k:]}))
    if baseline_loss is not None and f_train and f_train[-1] >= 0.9 * baseline_loss:
        findings.append(Finding(
            "underfitting", f"final training loss {f_train[-1]:.4g} is within 10% of the "
            f"trivial predictor's {baseline_loss:.4g}",
            {"epoch": f_epochs[-1], "train_loss": f_train[-1], "baseline_loss": baseline_loss}))
    return by_severity(findings)


def run_findings(run, **kwargs) -> list[Finding]:
    """Everything known about a stored run, most serious first: ``diagnose`` over its
    epochs and the findings its ``finish`` kept (e.g. ``diagnose_predictions``)."""
    found = diagnose(run, **kwargs) if run.epochs else []
    found += [Finding.from_stored(item) for item in run.summary.get("findings", [])]
    return by_severity(found)


def diagnose_predictions(y_true, y_pred, *, minority_recall: float = 0.5,
                         margin: float = 0.02, task: str | None = None) -> list[Finding]:
    """Findings about a model's predictions against the trivial baseline.

    Classification (integer labels): the accuracy paradox (accuracy within ``margin`` of
    always predicting the majority class, or a minority class's recall below
    ``minority_recall`` behind a high accuracy, e.g. 98% accuracy with 12% fraud recall)
    and a model no better than the majority class. Regression (float targets): R^2 <= 0,
    a model no better than predicting the mean.
    """
    import gpumetrics as gm

    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    if t.shape != p.shape or t.ndim != 1 or t.size == 0:
        raise ValueError(f"y_true and y_pred must be non-empty 1-D arrays of one length; got "
                         f"shapes {t.shape} and {p.shape}.")
    if task is None:
        task = "classification" if t.dtype.kind in "biuO" or t.dtype.kind == "U" else \
            "regression"
    findings: list[Finding] = []
    if task == "regression":
        r2 = gm.r2_score(t, p)
        if r2 <= 0:
            findings.append(Finding("below-baseline", f"R^2 = {r2:.4g}: no better than "
                                    "predicting the mean", {"r2": r2}))
        return findings
    labels, counts = np.unique(t, return_counts=True)
    majority = counts.max() / counts.sum()
    accuracy = gm.accuracy_score(t, p)
    recalls = gm.recall_score(t, p, labels=labels, average=None, zero_division=0.0)
    evidence = {"accuracy": accuracy, "majority_baseline": float(majority),
                "recall": dict(zip(labels.tolist(), np.asarray(recalls).tolist(),
                                   strict=True))}
    if accuracy <= majority + margin:
        kind = "below-baseline" if accuracy < majority else "accuracy-paradox"
        findings.append(Finding(kind, f"accuracy {accuracy:.2%} is no better than always "
                                f"predicting the majority class ({majority:.2%})", evidence))
    minority = [(lab, r) for lab, c, r in zip(labels, counts, recalls, strict=True)
                if c < counts.max() and r < minority_recall]
    if minority:  # whatever the accuracy, a minority class the model mostly misses
        lab, r = min(minority, key=lambda x: x[1])
        lab = lab.item() if hasattr(lab, "item") else lab
        findings.append(Finding(
            "accuracy-paradox", f"accuracy {accuracy:.2%} hides a recall of {r:.2%} on "
            f"minority class {lab!r}", evidence))
    return findings


def optimal_epoch(run, *, monitor: str = "val_loss", mode: str = "auto",
                  sustainability_weight: float | None = None):
    """The best epoch of a run by ``monitor``; with ``sustainability_weight`` w, by
    ``(1 - w) x normalised monitor + w x (1 - minmax(cumulative gCO2e))`` instead (the
    monitor min-max scaled so that 1 is best), which favours earlier, cheaper epochs."""
    from gpumetrics.runs.scores import minmax

    epochs = [e for e in _epochs(run) if e.get(monitor) is not None
              and math.isfinite(e.get(monitor))]
    if not epochs:
        raise ValueError(f"no epoch has a finite {monitor!r}.")
    mode = _mode(monitor, mode)
    values = [e.get(monitor) for e in epochs]
    if sustainability_weight is None:
        best = (min if mode == "min" else max)(range(len(values)), key=values.__getitem__)
        return epochs[best]
    if not 0.0 <= float(sustainability_weight) <= 1.0:
        raise ValueError("sustainability_weight must be in [0, 1]; got "
                         f"{sustainability_weight!r}.")
    if any(e.gco2e is None for e in epochs):
        raise ValueError("a sustainability-aware optimum needs gco2e logged at every epoch.")
    scaled = minmax(values)
    quality = [1 - s for s in scaled] if mode == "min" else scaled
    cost = minmax([e.gco2e for e in epochs])
    w = float(sustainability_weight)
    scores = [(1 - w) * q + w * (1 - c) for q, c in zip(quality, cost, strict=True)]
    return epochs[max(range(len(scores)), key=scores.__getitem__)]
