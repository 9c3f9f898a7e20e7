"""One self-contained HTML page comparing the runs of a dataset: what they were ranked by,
the ranking with each run's score terms and findings, loss, vgap and cumulative emissions
per epoch, accuracy against emissions with the Pareto front, the best run's confusion
matrix and ROC / PR curves, and every run's parameters, FLOPs and energy with where the
figures come from. Charts are drawn by matplotlib (``gpumetrics.runs.charts``) and inlined
as SVG; the page has no script and loads nothing else, so it works offline.

The best runs of the ranking keep one colour on every chart and in the tables; the others
are drawn in grey behind them, so that the page reads the same at 2 runs and at 50.

    from gpumetrics.runs import RunStore
    from gpumetrics.runs.report import write_report

    with RunStore("runs.db") as store:
        write_report(store, "report.html", dataset="fraud", score="acc-gco2e")
"""

from __future__ import annotations

import html
import math
import os
from pathlib import Path

from gpumetrics._units import co2e_unit, energy_unit, flops_unit
from gpumetrics.runs import charts
from gpumetrics.runs.charts import OTHER, PALETTE, Series, Trace
from gpumetrics.runs.diagnosis import run_findings
from gpumetrics.runs.ranking_text import cost_unit
from gpumetrics.runs.scores import DEFAULT_ACCURACY, DEFAULT_WEIGHT

TOP = len(PALETTE)  # runs highlighted in colour; past five, colours stop telling runs apart

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1280px;
       padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { padding: 4px 9px; border-bottom: 1px solid #ddd; text-align: left;
         vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px;
          vertical-align: middle; }
.charts { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
figure { margin: 0; max-width: 100%; }
figcaption { font-size: 12px; color: #555; max-width: 640px; }
svg.chart { display: block; max-width: 100%; height: auto; }
svg.chart * { stroke-linejoin: round; stroke-linecap: butt; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 11px;
         font-weight: 600; text-transform: uppercase; letter-spacing: .03em; }
.critical { background: #b2182b; color: #fff; } .warning { background: #f4a582; color: #222; }
.info { background: #d1e5f0; color: #222; }
.finding { margin: 1px 0 4px; font-size: 12.5px; } .none { color: #1b7837; }
.note { background: #f6f6f6; border-left: 4px solid #999; padding: 6px 10px; }
.flag { background: #fdf0e6; border-left: 4px solid #d55e00; padding: 6px 10px; }
small, .muted { color: #666; }
"""

_SCOPES = {"process": "the profiled process tree", "machine": "the whole machine"}


def render(store, *, dataset: str | None = None, score: str = "acc-gco2e",
           accuracy: str = DEFAULT_ACCURACY, weight: float = DEFAULT_WEIGHT,
           source: str | None = None) -> str:
    """The report's HTML text (``source``: how to name the store, its path by default)."""
    charts.require_matplotlib()
    import matplotlib

    import gpumetrics

    ranking = store.compare(dataset=dataset, score=score, accuracy=accuracy, weight=weight)
    runs = [r.run for r in ranking] + [run for run, _ in ranking.skipped]
    shown = _shown_names(runs)
    traces = _traces(ranking, shown)
    epochs = {run.id: run.epochs for run in runs}  # each .epochs is a query
    findings = {run.id: run_findings(run) for run in runs}
    co2e = co2e_unit([r.run.total("gco2e") for r in ranking])  # = the console's cost unit
    best = ranking[0].run
    dataset = best.dataset
    times = [t for run in runs for t in (run.finished_at, run.started_at) if t]
    # the store's own latest time, not the clock: the same store renders the same page
    parts = [
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>gpumetrics report: {_e(dataset)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Runs on {_e(dataset)}</h1>",
        f"<p>{len(runs)} run{'s' * (len(runs) != 1)} from {_e(source or str(store.path))}"
        + (f", last activity {_e(max(times))}" if times else "") + ".</p>",
        _energy_note(best, runs),
        _ranking_section(ranking, traces, findings, shown),
        "<h2>Training</h2><div class='charts'>",
        *_epoch_charts(ranking, runs, traces, epochs, co2e),
        "</div>",
        _best_section(best, shown[best.id], traces[best.id], findings[best.id]),
        _details_section(runs, traces, epochs, co2e),
        f"<p class='muted'>gpumetrics {_e(gpumetrics.__version__)}; charts by matplotlib "
        f"{_e(matplotlib.__version__)}.</p></body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


def write_report(store, path: str | os.PathLike, **kwargs) -> Path:
    """Write the report to ``path`` through a temporary file and a rename (a reader never
    sees half a page; on error no temporary file is left)."""
    charts.require_matplotlib()
    path = Path(path)
    text = render(store, **kwargs)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _e(value) -> str:
    return html.escape(str(value))


def _traces(ranking, shown: dict) -> dict:
    """Each run's legend label and colour, by run id: the top runs in the palette's
    colours by rank, the ranked others and the unranked runs in grey."""
    traces = {}
    for i, r in enumerate(ranking):
        top = i < TOP
        traces[r.run.id] = Trace(f"#{r.rank} {shown[r.run.id]}",
                                 PALETTE[i] if top else OTHER, top)
    for run, _ in ranking.skipped:
        traces[run.id] = Trace(f"{shown[run.id]} (not ranked)", OTHER, False)
    return traces


def _shown_names(runs) -> dict:
    """Each run's name by id, with its experiment where two runs share a name (names are
    unique within an experiment only)."""
    names = [run.name for run in runs]
    return {run.id: run.name if names.count(run.name) == 1 else
            f"{run.name} ({run.experiment})" for run in runs}


def _swatch(trace: Trace) -> str:
    return f"<span class='swatch' style='background:{trace.colour}'></span>"


def _findings_html(found) -> str:
    if not found:
        return "<span class='none'>no finding</span>"
    return "".join(
        f"<div class='finding'><span class='badge {_e(f.severity)}'>{_e(f.severity)}</span> "
        f"<b>{_e(f.kind)}</b>: {_e(f.message)}</div>" for f in found)


def _provenance(run) -> tuple | None:
    """What a run's emissions rest on: (method, scope, intensity, PUE); None without an
    energy report (its gCO2e is as logged)."""
    energy = run.summary.get("energy")
    if not isinstance(energy, dict):
        return None
    return (energy.get("method") or "unknown", energy.get("scope") or "machine",
            energy.get("carbon_intensity_g_per_kwh"), energy.get("pue"))


def _provenance_text(key: tuple | None, energy: dict | None = None) -> str:
    if key is None:
        return "no energy report: gCO2e as logged per epoch"
    method, scope, intensity, pue = key
    text = f"{method}, scope: {_SCOPES.get(scope, scope)}"
    if intensity is not None:
        source = (energy or {}).get("carbon_intensity_source")
        text += f", {_g(intensity)} gCO2e/kWh" + (f" ({source})" if source else "")
    if pue is not None:
        text += f", PUE {_g(pue)}"
    return text


def _g(value) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _notes(run) -> list[str]:
    """An energy report's notes, less the one naming the scope (shown as the scope)."""
    energy = run.summary.get("energy")
    notes = energy.get("notes") if isinstance(energy, dict) else None
    return [n for n in notes or [] if not str(n).startswith("scope:")]


def _shared_notes(runs) -> list[str]:
    """The notes every run's energy report carries: said once, above."""
    reported = [_notes(run) for run in runs if isinstance(run.summary.get("energy"), dict)]
    return [n for n in reported[0] if all(n in notes for notes in reported)] if reported else []


def _energy_note(best, runs) -> str:
    """Where the emissions come from (the best run's report) and the notes every report
    shares, and a flag when the runs' figures rest on different methods, scopes or
    intensities."""
    key = _provenance(best)
    parts = [f"<p class='note'><b>Energy and emissions</b> of the best run, "
             f"{_e(best.name)}: {_e(_provenance_text(key, best.summary.get('energy')))}."]
    shared = _shared_notes(runs)
    if shared:
        parts.append("<br><small>For every run: " + "; ".join(_e(n) for n in shared)
                     + ".</small>")
    groups: dict = {}
    for run in runs:
        groups.setdefault(_provenance(run), []).append(run.name)
    if len(groups) > 1:
        listed = "; ".join(f"{_e(_provenance_text(k))}: {len(v)} run{'s' * (len(v) != 1)}"
                           for k, v in groups.items())
        parts.append(f"</p><p class='flag'><b>Not like for like:</b> the runs' emissions "
                     f"were obtained differently ({listed}). Compare their gCO2e with care.")
    return "".join(parts) + "</p>"


def _ranking_section(ranking, traces, findings, shown) -> str:
    unit = cost_unit(ranking)
    cost_head = f"{ranking.cost_name} ({unit.name})" if unit.name else ranking.cost_name
    rows = [
        "<h2>Ranking</h2>",
        f"<p>Ranked by <code>{_e(ranking.formula())}</code>: {_e(ranking.accuracy)} is the "
        f"last epoch's value, and minmax scales {_e(ranking.cost_name)} over these "
        f"{len(ranking)} ranked runs to [0, 1] (lower is better), so 1 is the best score. "
        f"The top {min(TOP, len(ranking))} keep their colour on every chart.</p>",
        "<table><tr><th class='num'>rank</th><th></th><th>run</th>"
        "<th class='num'>score</th>"
        f"<th class='num'>= {ranking.weight:g} &times; acc</th>"
        f"<th class='num'>+ cost term</th><th class='num'>{_e(ranking.accuracy)}</th>"
        f"<th class='num'>{_e(cost_head)}</th><th>findings</th></tr>"]
    for r in ranking:
        rows.append(
            f"<tr><td class='num'>{r.rank}</td><td>{_swatch(traces[r.run.id])}</td>"
            f"<td>{_e(shown[r.run.id])}</td><td class='num'>{r.score:.4f}</td>"
            f"<td class='num'>{r.accuracy_term:.4f}</td><td class='num'>{r.cost_term:.4f}"
            f"</td><td class='num'>{r.accuracy:.4f}</td><td class='num'>{unit(r.cost):.4g}"
            f"</td><td>{_findings_html(findings[r.run.id])}</td></tr>")
    rows.append("</table>")
    if ranking.skipped:
        rows.append("<p>Not ranked:</p><ul>" + "".join(
            f"<li>{_e(shown[run.id])}: {_e(why)} {_findings_html(findings[run.id])}</li>"
            for run, why in ranking.skipped) + "</ul>")
    return "\n".join(rows)


def _num(value) -> float:
    return math.nan if value is None else float(value)


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{caption}</figcaption></figure>"


def _epoch_charts(ranking, runs, traces, epochs, co2e) -> list[str]:
    """Loss, vgap and cumulative emissions per epoch, and accuracy against emissions."""
    greys = any(not traces[run.id].highlighted for run in runs)
    legend = (f"Colour: the top {min(TOP, len(ranking))} of the ranking; grey: the others."
              if greys else "")
    out = []

    def series(key, convert=float, dashed=False):
        # a NaN or infinite loss (a diverged run) is a gap in its line, not an axis to inf
        return [Series(traces[run.id], [e.epoch for e in epochs[run.id]],
                       [convert(e.get(key)) if _finite(e.get(key)) else math.nan
                        for e in epochs[run.id]], dashed) for run in runs]

    def logged(lines):
        return any(math.isfinite(y) for s in lines for y in s.ys)

    losses = series("train_loss") + series("val_loss", dashed=True)
    if logged(losses):
        out.append(_figure(charts.line_chart(
            "loss", losses, title="loss per epoch", xlabel="epoch", ylabel="loss",
            styles=("train loss (solid)", "validation loss (dashed)")),
            f"Training (solid) and validation (dashed) loss. {legend}"))
    gaps = series("vgap")
    if logged(gaps):
        out.append(_figure(charts.line_chart(
            "vgap", gaps, title="vgap per epoch", xlabel="epoch",
            ylabel="vgap = |train - validation loss|"),
            f"A gap that keeps widening while training improves points to overfitting. "
            f"{legend}"))
    emitted = series("gco2e", co2e)
    if logged(emitted):
        out.append(_figure(charts.line_chart(
            "co2e", emitted, title="cumulative emissions per epoch", xlabel="epoch",
            ylabel=f"cumulative emissions ({co2e.name})"),
            f"Emissions up to the end of each epoch, as logged, in {co2e.name}. {legend}"))
    points = [(traces[r.run.id], co2e(r.run.total("gco2e")), r.accuracy, f"#{r.rank}")
              for r in ranking if _finite(r.run.total("gco2e"))]
    if points:
        left_out = len(ranking) - len(points)
        out.append(_figure(charts.scatter_front(
            "pareto", points, title=f"{ranking.accuracy} against emissions",
            xlabel=f"emissions ({co2e.name})", ylabel=f"{ranking.accuracy} (last epoch)"),
            "Every ranked run; up and to the left is better. The dashed staircase is the "
            "Pareto front: no run beats its runs on both accuracy and emissions."
            + (f" {left_out} ranked run(s) without gCO2e are not shown." if left_out else "")))
    else:
        out.append("<p class='muted'>No run logged gCO2e: no emissions charts.</p>")
    return out


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


def _curve(summary, key, names) -> tuple[list, list] | None:
    """A stored curve's two coordinate lists, or None when absent or malformed."""
    curve = summary.get(key)
    if not isinstance(curve, dict) or not all(isinstance(curve.get(n), list) for n in names):
        return None
    xs, ys = ([_num(v) for v in curve[n]] for n in names)
    return (xs, ys) if len(xs) == len(ys) and len(xs) >= 2 else None


def _best_section(best, name: str, trace, found) -> str:
    """The best run's confusion matrix, ROC and PR curves (those its finish kept)."""
    summary = best.summary
    figures = []
    matrix = summary.get("confusion_matrix")
    if (isinstance(matrix, list) and matrix and all(isinstance(row, list) for row in matrix)
            and {len(row) for row in matrix} == {len(matrix)}):
        labels = summary.get("labels")
        if not isinstance(labels, list) or len(labels) != len(matrix):
            labels = list(range(len(matrix)))
        figures.append(_figure(charts.confusion_heatmap(
            "confusion", matrix, [str(x) for x in labels],
            title=f"confusion matrix of {name}"),
            "Rows: the true class; columns: the predicted class"
            + ("; counts in the cells." if len(matrix) <= charts.COUNTED else ".")))
    for key, names, kind, stored_key in (("roc", ("fpr", "tpr"), "ROC", "roc_auc"),
                                         ("pr", ("recall", "precision"), "PR",
                                          "average_precision")):
        curve = _curve(summary, key, names)
        if curve is None:
            continue
        stored = summary.get(stored_key)
        from_store = isinstance(stored, int | float) and math.isfinite(stored)
        area = (float(stored) if from_store else
                charts.trapezoid_area(*curve) if kind == "ROC" else
                charts.stepwise_average_precision(*curve))
        figures.append(_figure(charts.curve_chart(
            key, *curve, kind=kind, area=area, stored=from_store, colour=trace.colour,
            title=f"{'ROC' if kind == 'ROC' else 'precision-recall'} of {name}"),
            f"All {len(curve[0])} stored points."))
    if not figures:
        return ""
    return (f"<h2>Best run: {_swatch(trace)} {_e(name)}</h2>{_findings_html(found)}"
            f"<div class='charts'>{''.join(figures)}</div>")


def _details_section(runs, traces, epochs, co2e) -> str:
    """Every run's parameters, status, FLOPs, energy and emissions with their provenance."""
    shared = set(_shared_notes(runs))
    kwh = energy_unit([run.total("energy_kwh") for run in runs])
    flops = flops_unit([run.total("flops") for run in runs])
    rows = ["<h2>Runs</h2><table><tr><th></th><th>run</th><th>status</th>"
            "<th class='num'>epochs</th><th>params</th>"
            f"<th class='num'>{_e(flops.name)}</th><th class='num'>energy ({_e(kwh.name)})</th>"
            f"<th class='num'>emissions ({_e(co2e.name)})</th><th>provenance</th></tr>"]
    for run in runs:
        summary = run.summary
        energy = summary.get("energy") if isinstance(summary.get("energy"), dict) else None
        params = ", ".join(f"{k}={_g(v) if isinstance(v, float) else v}"
                           for k, v in sorted(run.params.items())) or "none"
        total_flops = run.total("flops")
        convention = summary.get("flops_convention") or (
            "as logged per epoch" if total_flops is not None else "")
        run_kwh = run.total("energy_kwh")
        rows.append(
            f"<tr><td>{_swatch(traces[run.id])}</td><td>{_e(run.name)}<br>"
            f"<small>{_e(run.experiment)}</small></td><td>{_e(run.status)}</td>"
            f"<td class='num'>{len(epochs[run.id])}</td><td>{_e(params)}</td>"
            f"<td class='num'>{_value(flops, total_flops)}<br><small>{_e(convention)}"
            f"</small></td><td class='num'>{_value(kwh, run_kwh)}</td>"
            f"<td class='num'>{_value(co2e, run.total('gco2e'))}"
            f"{'' if energy else '<br><small>as logged</small>'}</td>"
            f"<td>{_energy_details(run, energy, shared)}</td></tr>")
    rows.append("</table>")
    return "\n".join(rows)


def _value(unit, value) -> str:
    return f"{unit(value):.4g}" if _finite(value) else "n/a"


def _energy_details(run, energy: dict | None, shared: set) -> str:
    """An energy report's method, scope, intensity, components, the CPU time it did not
    charge, and its notes but those every run shares, short."""
    if energy is None:
        return "<small>no energy report; emissions as logged per epoch</small>"
    lines = [_e(_provenance_text(_provenance(run), energy))]
    components = energy.get("components") or {}
    if components:
        unit = energy_unit([c.get("energy_kwh") for c in components.values()
                            if isinstance(c, dict)])
        lines.append("; ".join(
            f"{_e(name)}: {_e(unit.format(c.get('energy_kwh')))} ({_e(c.get('method', '?'))})"
            for name, c in components.items() if isinstance(c, dict)))
    spent = {k: v for k, v in (energy.get("excluded_cpu_s") or {}).items() if v}
    if spent:
        lines.append("not charged: " + ", ".join(
            f"{v:.3g} CPU-s of {_e(k.replace('_', ' '))}" for k, v in spent.items()))
    lines += [f"note: {_e(n)}" for n in _notes(run) if n not in shared]
    return "<small>" + "<br>".join(lines) + "</small>"
