"""One self-contained HTML page comparing the runs of a dataset: the ranked table, loss
curves, vgap and cumulative gCO2e per epoch, the accuracy vs gCO2e Pareto front, the best
run's confusion matrix and ROC / PR curves (when its ``finish`` kept them), and every
run's diagnosis. Charts are inline SVG; the page loads nothing else."""

from __future__ import annotations

import datetime
import html
import math
import os
from pathlib import Path

from gpumetrics.runs import svg
from gpumetrics.runs.diagnosis import diagnose
from gpumetrics.runs.scores import SCORES

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; } td, th { padding: 3px 10px; border-bottom: 1px solid #ddd;
text-align: right; } th:first-child, td:first-child { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg { background: #fff; border: 1px solid #e4e4e4; }
svg text { font: 11px system-ui, sans-serif; fill: #222; } svg .title { font-size: 13px; }
svg .axis { stroke: #444; } svg .grid { stroke: #eee; }
.finding { margin: 2px 0; } .kind { font-weight: 600; } .none { color: #2a7; }
"""


def _series(runs, key):
    return {r.name: ([e.epoch for e in r.epochs], [_num(e.get(key)) for e in r.epochs])
            for r in runs}


def _num(v):
    return float("nan") if v is None else float(v)


def render(store, *, dataset: str | None = None, score: str = "acc-gco2e",
           accuracy: str = "train_accuracy", source: str | None = None) -> str:
    """The report's HTML text (``source``: how to name the store, its path by default)."""
    ranked = store.compare(dataset=dataset, score=score, accuracy=accuracy)
    runs = [r.run for r in ranked]
    dataset = runs[0].dataset
    best = runs[0]
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>gpumetrics report: {html.escape(dataset)}</title><style>{STYLE}</style>"
             "</head><body>",
             f"<h1>Runs on {html.escape(dataset)}</h1>",
             f"<p>{len(runs)} runs from {html.escape(source or str(store.path))}, "
             f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC. "
             f"Ranked by {html.escape(score)} = 0.8 &times; {html.escape(accuracy)} + 0.2 "
             f"&times; (1 &minus; minmax({SCORES[score.lower()]})) over these runs; "
             "1 is best.</p>",
             "<h2>Ranking</h2><table><tr><th>run</th><th>rank</th><th>score</th>"
             f"<th>{html.escape(accuracy)}</th><th>{SCORES[score.lower()]}</th>"
             "<th>epochs</th><th>final vgap</th><th>status</th></tr>"]
    for r in ranked:
        epochs = r.run.epochs
        gap = epochs[-1].vgap if epochs else None
        parts.append(f"<tr><td>{html.escape(r.run.name)}</td><td>{r.rank}</td>"
                     f"<td>{r.score:.4f}</td><td>{r.accuracy:.4f}</td><td>{r.cost:.4g}</td>"
                     f"<td>{len(epochs)}</td><td>{'' if gap is None else f'{gap:.4g}'}</td>"
                     f"<td>{html.escape(r.run.status)}</td></tr>")
    parts.append("</table>")
    if ranked.skipped:
        parts.append("<p>Not ranked: " + "; ".join(
            f"{html.escape(run.name)} ({html.escape(why)})" for run, why in ranked.skipped)
            + ".</p>")
    parts.append("<h2>Training</h2><div class='charts'>")
    losses, dashed = {}, {}
    for run in runs:
        xs = [e.epoch for e in run.epochs]
        losses[f"{run.name} train"] = (xs, [_num(e.train_loss) for e in run.epochs])
        losses[f"{run.name} val"] = (xs, [_num(e.val_loss) for e in run.epochs])
        dashed[f"{run.name} val"] = True
    parts.append(svg.line_chart(losses, title="train (solid) and validation (dashed) loss",
                                xlabel="epoch", ylabel="loss", dashed=dashed))
    parts.append(svg.line_chart(_series(runs, "vgap"), title="vgap = |train - val loss|",
                                xlabel="epoch", ylabel="vgap"))
    parts.append(svg.line_chart(_series(runs, "gco2e"), title="cumulative gCO2e",
                                xlabel="epoch", ylabel="gCO2e"))
    points = {r.run.name: (r.run.total("gco2e"), r.accuracy) for r in ranked}
    points = {n: p for n, p in points.items() if p[0] is not None and math.isfinite(p[0])}
    if points:  # runs without gCO2e are left off the chart rather than put at 0
        parts.append(svg.scatter_front(points, title=f"{accuracy} vs gCO2e (Pareto front "
                                       "dashed)", xlabel="gCO2e", ylabel=accuracy))
    parts.append("</div>")
    summary = best.summary
    best_charts = []
    if "confusion_matrix" in summary:
        matrix = summary["confusion_matrix"]
        labels = summary.get("labels") or list(range(len(matrix)))
        best_charts.append(svg.heatmap(matrix, [str(x) for x in labels],
                                       title=f"confusion matrix of {best.name}"))
    if "roc" in summary:
        fpr, tpr = summary["roc"]["fpr"], summary["roc"]["tpr"]
        best_charts.append(svg.line_chart({"ROC": (fpr, tpr), "chance": ([0, 1], [0, 1])},
                                          title=f"ROC of {best.name}",
                                          xlabel="false positive rate",
                                          ylabel="true positive rate"))
    if "pr" in summary:
        best_charts.append(svg.line_chart(
            {"PR": (summary["pr"]["recall"], summary["pr"]["precision"])},
            title=f"precision-recall of {best.name}", xlabel="recall", ylabel="precision"))
    if best_charts:
        parts.append(f"<h2>Best run: {html.escape(best.name)}</h2><div class='charts'>"
                     + "".join(best_charts) + "</div>")
    parts.append("<h2>Diagnosis</h2>")
    for run in runs:
        findings = diagnose(run) if run.epochs else []
        kept = run.summary.get("findings", [])  # e.g. diagnose_predictions at finish
        parts.append(f"<h3>{html.escape(run.name)}</h3>")
        if not findings and not kept:
            parts.append("<p class='none'>no finding</p>")
        for f in findings:
            epochs = f.evidence.get("epochs", f.evidence.get("epoch", ""))
            parts.append(f"<p class='finding'><span class='kind'>{html.escape(f.kind)}</span>: "
                         f"{html.escape(f.message)} <small>(epochs {html.escape(str(epochs))})"
                         "</small></p>")
        for text in kept:
            kind, _, message = str(text).partition(": ")
            parts.append(f"<p class='finding'><span class='kind'>{html.escape(kind)}</span>: "
                         f"{html.escape(message)} <small>(final predictions)</small></p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(store, path: str | os.PathLike, **kwargs) -> Path:
    """Write the report to ``path`` through a temporary file and a rename."""
    path = Path(path)
    text = render(store, **kwargs)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
