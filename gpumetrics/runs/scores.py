"""Mixed scores: accuracy weighed against a cost over the runs of one dataset.

``acc-gco2e``, ``acc-flops`` and ``acc-vgap`` are ``w x accuracy + (1 - w) x (1 -
minmax(x))`` with ``w = 0.8``, where ``x`` is the run's total gCO2e, total FLOPs or final
vgap, and ``minmax`` scales x over all the runs compared to [0, 1] (lower x is better), so
1 is the best score. When every run has the same x (or there is one run), ``minmax(x)`` is
0 for all of them: the cost does not separate them, and they are ranked by accuracy alone.
Ties in the score keep the runs' order (oldest first).

The accuracy is the last epoch's **validation** accuracy (``val_accuracy``) by default:
a ranking chooses the model to keep, and training accuracy rewards a model that learns its
training set by heart. The definition these scores come from uses training accuracy;
``accuracy="train_accuracy"`` gives it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SCORES = {"acc-gco2e": "gco2e", "acc-flops": "flops", "acc-vgap": "vgap"}
DEFAULT_ACCURACY = "val_accuracy"
DEFAULT_WEIGHT = 0.8


def minmax(values: list[float]) -> list[float]:
    """``(x - min) / (max - min)``, or zeros when every value is the same."""
    low, high = min(values), max(values)
    if high == low:
        return [0.0] * len(values)
    return [(v - low) / (high - low) for v in values]


def mixed_scores(accuracy: list[float], cost: list[float], weight: float = 0.8) -> list[float]:
    """``weight x accuracy + (1 - weight) x (1 - minmax(cost))`` for each run."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1]; got {weight!r}.")
    if len(accuracy) != len(cost) or not accuracy:
        raise ValueError("accuracy and cost must be non-empty and of one length.")
    for name, values in (("accuracy", accuracy), ("cost", cost)):
        bad = [v for v in values if v is None or not math.isfinite(v)]
        if bad:
            raise ValueError(f"every {name} must be a finite number; got {bad[0]!r}.")
    return [weight * a + (1.0 - weight) * (1.0 - m)
            for a, m in zip(accuracy, minmax(cost), strict=True)]


class Ranking(list):
    """Ranked runs, best first, and how they were ranked: ``score`` (``acc-gco2e``, ...),
    ``accuracy`` (the logged metric used), ``weight`` (of the accuracy) and ``cost_name``;
    ``skipped`` holds ``(run, reason)`` for runs that could not be scored (no epochs yet,
    a NaN accuracy, no gCO2e logged)."""

    score: str
    accuracy: str
    weight: float
    cost_name: str
    skipped: list

    def formula(self) -> str:
        """The score as a formula, e.g. ``acc-gco2e = 0.8 x val_accuracy + 0.2 x (1 -
        minmax(gco2e))``: every printed ranking says what it ranked by."""
        return (f"{self.score} = {self.weight:g} x {self.accuracy} + {1 - self.weight:g} x "
                f"(1 - minmax({self.cost_name}))")


@dataclass(frozen=True)
class Ranked:
    """One ranked run: its score and the two terms that make it up (``accuracy_term`` =
    w x accuracy, ``cost_term`` = (1 - w) x (1 - minmax(cost)))."""

    rank: int
    run: object
    score: float
    accuracy: float
    cost: float
    cost_name: str
    accuracy_term: float
    cost_term: float


def rank_runs(runs: list, *, score: str = "acc-gco2e", accuracy: str = DEFAULT_ACCURACY,
              weight: float = DEFAULT_WEIGHT) -> Ranking:
    """Runs ranked by a mixed score, best first. ``accuracy`` names the logged metric
    (``val_accuracy`` by default; ``train_accuracy`` as in the scores' definition)."""
    key = score.lower()
    if key not in SCORES:
        raise ValueError(f"score must be one of {', '.join(SCORES)}; got {score!r}.")
    if not runs:
        raise ValueError("there are no runs to rank.")
    cost_name = SCORES[key]
    usable, accs, costs, skipped = [], [], [], []
    for run in runs:
        a, c = run.total(accuracy), run.total(cost_name)
        reason = None
        for value, what in ((a, accuracy), (c, cost_name)):
            if reason is None and (value is None or not math.isfinite(value)):
                reason = f"no finite {what} ({value!r})"
        if reason is None and not 0.0 <= a <= 1.0:
            reason = f"{accuracy} {a!r} is not a fraction in [0, 1]"
        if reason is not None:
            skipped.append((run, reason))
            continue
        usable.append(run)
        accs.append(a)
        costs.append(c)
    if not usable:
        reasons = "; ".join(f"{run.name}: {why}" for run, why in skipped)
        raise ValueError(f"no run can be ranked by {score} ({reasons}); log {accuracy} and "
                         f"{cost_name} with log_epoch.")
    values = mixed_scores(accs, costs, weight)
    scaled = minmax(costs)
    order = sorted(range(len(usable)), key=lambda i: -values[i])
    ranking = Ranking(Ranked(r + 1, usable[i], values[i], accs[i], costs[i], cost_name,
                             weight * accs[i], (1.0 - weight) * (1.0 - scaled[i]))
                      for r, i in enumerate(order))
    ranking.score, ranking.accuracy, ranking.weight = key, accuracy, float(weight)
    ranking.cost_name, ranking.skipped = cost_name, skipped
    return ranking
