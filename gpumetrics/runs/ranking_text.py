"""A ranking as the console shows it (``gpumetrics compare``, the demo) and as JSON rows:
what it ranked by, each run's score with its two terms, the cost in one auto-scaled unit
(the report uses the same), and each run's findings beside it."""

from __future__ import annotations

from gpumetrics._units import Unit, co2e_unit, flops_unit
from gpumetrics.runs.diagnosis import run_findings, worst_severity


def cost_unit(ranking) -> Unit:
    """The unit the ranking's cost is shown in, chosen over all its runs."""
    costs = [r.cost for r in ranking]
    if ranking.cost_name == "gco2e":
        return co2e_unit(costs)
    if ranking.cost_name == "flops":
        return flops_unit(costs)
    return Unit("", 1.0)


def ranking_rows(ranking) -> list[dict]:
    """One JSON-ready dict per ranked run (cost in its base unit: grams, FLOPs)."""
    rows = []
    for r in ranking:
        findings = run_findings(r.run)
        rows.append({
            "rank": r.rank, "run": r.run.name, "experiment": r.run.experiment,
            "score": r.score, "accuracy_term": r.accuracy_term, "cost_term": r.cost_term,
            ranking.accuracy: r.accuracy, ranking.cost_name: r.cost,
            "epochs": len(r.run.epochs), "status": r.run.status,
            "severity": worst_severity(findings),
            "findings": [f.to_dict() for f in findings]})
    return rows


def findings_line(findings) -> str:
    """``critical: accuracy-paradox; warning: overfitting`` (most serious first)."""
    return "; ".join(f"{f.severity}: {f.kind}" for f in findings) or "no finding"


def ranking_table(ranking) -> str:
    """The ranking as text: a header naming the score, accuracy, weight and dataset, then
    one line per run (names in full), then the runs that could not be ranked."""
    unit = cost_unit(ranking)
    width = max([8] + [len(r.run.name) for r in ranking])
    cost_head = f"{ranking.cost_name} ({unit.name})" if unit.name else ranking.cost_name
    dataset = ranking[0].run.dataset if ranking else "?"
    lines = [f"{ranking.formula()}, dataset {dataset}, {len(ranking)} runs",
             f"{'rank':>4}  {'run':<{width}} {'score':>7} {'= acc term':>10} "
             f"{'+ cost term':>11} {ranking.accuracy:>14} {cost_head:>16}  findings"]
    for r in ranking:
        lines.append(f"{r.rank:>4}  {r.run.name:<{width}} {r.score:7.4f} {r.accuracy_term:10.4f} "
                     f"{r.cost_term:11.4f} {r.accuracy:14.4f} {unit(r.cost):16.4g}  "
                     f"{findings_line(run_findings(r.run))}")
    for run, why in ranking.skipped:
        lines.append(f"{'-':>4}  {run.name:<{width}} not ranked: {why}")
    return "\n".join(lines)
