"""The report's charts: matplotlib figures (the object API, never pyplot: no global state)
saved as SVG text ready to inline in one HTML page. matplotlib is imported inside these
functions, so that ``import gpumetrics`` never loads it.

Each chart is an SVG string whose ids all start with its ``slug`` (``roc``, ``loss``): the
page inlines several figures, and matplotlib reuses ``patch_1``, glyph and clip-path ids in
every one of them, which would make a browser resolve ``<use>`` and ``clip-path`` in one
figure to another figure's elements.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass

# Okabe-Ito: distinguishable under the common colour-vision deficiencies and in greyscale
# (their yellow is left out: too pale on white). One colour per highlighted run.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00")
OTHER = "#b8b8b8"  # every run past the highlighted ones
COUNTED = 25  # classes up to which the heatmap writes counts in its cells
CURVE_LIMITS = (-0.02, 1.02)  # ROC and PR axes: the curves' ends at 0 and 1 lie inside
INSTALL = "the report needs matplotlib: pip install 'gpumetrics[report]'"

_RC = {
    # Glyph outlines, not <text>: the legends and labels are laid out with DejaVu Sans
    # metrics when the figure is saved, and with outlines they are drawn with those
    # metrics in every browser. With "none" a browser substitutes its own font, whose
    # wider glyphs can spill past the legend and be cut off at the SVG's edge. The page's
    # tables carry every name as selectable text.
    "svg.fonttype": "path",
    "svg.hashsalt": "gpumetrics-report",  # clip-path ids from a fixed salt: same store, same page
    "path.simplify": False,  # every stored point of a curve is drawn, none merged away
    "font.family": "DejaVu Sans", "font.size": 9, "legend.fontsize": 8,
    "axes.titlesize": 10, "axes.titlelocation": "left", "axes.spines.top": False,
    "axes.spines.right": False, "axes.grid": True, "grid.color": "#e8e8e8",
    "axes.axisbelow": True, "legend.frameon": False,
}
_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}  # no URLs, no date
_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.S)
_STYLE = re.compile(r"\s*<defs>\s*<style[^>]*>[^<]*</style>\s*</defs>")
_REFERENCE = re.compile(r'(\bid="|href="#|url\(#)')


@dataclass(frozen=True)
class Trace:
    """How one run is drawn: its legend label, colour, and whether it is highlighted."""

    label: str
    colour: str
    highlighted: bool


@dataclass(frozen=True)
class Series:
    """One line of a chart: a run's values per epoch (NaN where none was logged)."""

    trace: Trace
    xs: list
    ys: list
    dashed: bool = False


def require_matplotlib() -> None:
    """Raise ImportError with the install line when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(INSTALL) from None


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    # no layout engine: the axes keep their size whatever the legend holds, and
    # bbox_inches="tight" grows the saved figure around the legend instead
    return Figure(figsize=(width, height))


def _svg(fig, slug: str, description: str) -> str:
    """The figure as inline SVG: no XML prolog, every id and reference prefixed by slug."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata=_METADATA)
    text = _PROLOG.sub("", buf.getvalue(), count=1)
    # matplotlib's one rule is `*{...}`: the page sets it once, scoped to its charts
    text = _STYLE.sub("", text, count=1)
    text = _REFERENCE.sub(lambda m: m.group(1) + slug + "-", text)
    label = (description.replace("&", "&amp;").replace('"', "&quot;")
             .replace("<", "&lt;"))
    return text.replace("<svg ", f'<svg id="{slug}" class="chart" role="img" '
                        f'aria-label="{label}" ', 1).strip()


def _rc():
    import matplotlib

    return matplotlib.rc_context(_RC)


def _legend(ax, handles: list, labels: list) -> None:
    """A legend right of the axes, inside the saved figure; labels are taken literally
    (no mathtext: a run named ``lr$1$`` stays as it is)."""
    legend = ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                       borderaxespad=0.0)
    legend.set_gid("legend")
    for text in legend.get_texts():
        text.set_parse_math(False)


def _plain(text) -> dict:
    return {"parse_math": False} if text is not None else {}


def line_chart(slug: str, series: list[Series], *, title: str, xlabel: str, ylabel: str,
               styles: tuple[str, str] | None = None) -> str:
    """Lines per run: highlighted runs in colour over thin grey others (one legend entry
    for them); ``styles`` names the solid and dashed lines when both are drawn."""
    from matplotlib.lines import Line2D

    with _rc():
        fig = _figure(6.4, 3.3)
        ax = fig.subplots()
        ax.patch.set_gid("axes")
        # grey first and thin, so the highlighted runs stay on top whatever their number;
        # the best run is drawn last
        order = [s for s in series if not s.trace.highlighted] + [
            s for s in reversed(series) if s.trace.highlighted]
        for s in order:
            ax.plot(s.xs, s.ys, color=s.trace.colour,
                    linestyle="--" if s.dashed else "-",
                    linewidth=1.9 if s.trace.highlighted else 0.8,
                    alpha=1.0 if s.trace.highlighted else 0.7,
                    zorder=3 if s.trace.highlighted else 2,
                    marker="o" if s.trace.highlighted and len(s.xs) == 1 else None)
        drawn = [s for s in series if any(_finite(y) for y in s.ys)]
        handles, labels = _run_entries(drawn, Line2D)
        if styles and {s.dashed for s in drawn} == {False, True}:
            handles += [Line2D([], [], color="#333333"),
                        Line2D([], [], color="#333333", linestyle="--")]
            labels += list(styles)
        if handles:
            _legend(ax, handles, labels)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        if all(float(x).is_integer() for s in series for x in s.xs):
            ax.xaxis.get_major_locator().set_params(integer=True)
        return _svg(fig, slug, title)


def _run_entries(series, Line2D) -> tuple[list, list]:
    """One legend entry per highlighted run, in order, then one for all the others."""
    seen, handles, labels, others = set(), [], [], set()
    for s in series:
        if not s.trace.highlighted:
            others.add(s.trace.label)
        elif s.trace.label not in seen:
            seen.add(s.trace.label)
            handles.append(Line2D([], [], color=s.trace.colour, linewidth=1.9))
            labels.append(s.trace.label)
    if others:
        handles.append(Line2D([], [], color=OTHER, linewidth=0.8))
        labels.append(f"other runs ({len(others)})")
    return handles, labels


def _finite(v) -> bool:
    return v is not None and math.isfinite(v)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both lower cost and higher accuracy,
    by increasing cost."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def scatter_front(slug: str, points: list[tuple[Trace, float, float, str]], *, title: str,
                  xlabel: str, ylabel: str) -> str:
    """Accuracy against cost, every run a point (``(trace, cost, accuracy, mark)``, mark
    written beside highlighted points), with the Pareto front as a dashed staircase."""
    from matplotlib.lines import Line2D

    with _rc():
        fig = _figure(6.4, 3.6)
        ax = fig.subplots()
        ax.patch.set_gid("axes")
        front = pareto_front([(c, a) for _, c, a, _ in points])
        xs, ys = [points[i][1] for i in front], [points[i][2] for i in front]
        if len(front) > 1:
            ax.step(xs, ys, where="post", color="#444444", linestyle="--", linewidth=1.0,
                    zorder=2)
        ax.scatter(xs, ys, s=110, facecolors="none", edgecolors="#444444", linewidths=1.0,
                   zorder=2)
        for trace, cost, acc, mark in sorted(points, key=lambda p: p[0].highlighted):
            ax.scatter([cost], [acc], s=42 if trace.highlighted else 16, color=trace.colour,
                       zorder=4 if trace.highlighted else 3, linewidths=0)
            if trace.highlighted:
                ax.annotate(mark, (cost, acc), xytext=(5, 4), textcoords="offset points",
                            fontsize=8, color=trace.colour, annotation_clip=False,
                            **_plain(mark))
        handles, labels = [], []
        others = sum(1 for t, *_ in points if not t.highlighted)
        for trace, *_ in points:
            if trace.highlighted:
                handles.append(Line2D([], [], color=trace.colour, marker="o", linestyle=""))
                labels.append(trace.label)
        if others:
            handles.append(Line2D([], [], color=OTHER, marker="o", markersize=4,
                                  linestyle=""))
            labels.append(f"other runs ({others})")
        handles.append(Line2D([], [], color="#444444", linestyle="--", marker="o",
                              markerfacecolor="none"))
        labels.append(f"Pareto front ({len(front)} run{'s' * (len(front) != 1)})")
        _legend(ax, handles, labels)
        ax.margins(0.12)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        return _svg(fig, slug, title)


def confusion_heatmap(slug: str, matrix: list[list[float]], labels: list[str], *,
                      title: str) -> str:
    """A confusion matrix (rows: true class, columns: predicted) with its counts."""
    import numpy as np

    values = np.asarray(matrix, dtype=float)
    n = len(values)
    side = min(max(3.2, 0.3 * n + 2.2), 9.0)
    with _rc():
        fig = _figure(side + 0.9, side)
        ax = fig.subplots()
        ax.grid(False)
        image = ax.imshow(values, cmap="Blues", interpolation="nearest", vmin=0)
        fig.colorbar(image, ax=ax, shrink=0.8, label="count")
        ticks = list(range(n))
        rotate = n > 3 and max(len(x) for x in labels) > 4
        ax.set_xticks(ticks, labels, rotation=45 if rotate else 0,
                      ha="right" if rotate else "center", parse_math=False)
        ax.set_yticks(ticks, labels, parse_math=False)
        if n <= COUNTED:  # past that the numbers no longer fit their cells
            top = values.max() if values.size else 0.0
            whole = bool(np.all(values == np.round(values)))
            for (i, j), v in np.ndenumerate(values):
                ax.text(j, i, f"{int(v)}" if whole else f"{v:.3g}", ha="center",
                        va="center", fontsize=8 if n > 8 else 10,
                        color="white" if top and v > 0.6 * top else "#222222")
        ax.set_title(title, parse_math=False)
        ax.set(xlabel="predicted", ylabel="true")
        return _svg(fig, slug, title)


def trapezoid_area(xs: list[float], ys: list[float]) -> float:
    """The area under a curve by the trapezoid rule (the stored points' order either way)."""
    area = sum((xs[i + 1] - xs[i]) * (ys[i] + ys[i + 1]) / 2 for i in range(len(xs) - 1))
    return abs(area)


def stepwise_average_precision(recall: list[float], precision: list[float]) -> float:
    """``sum (r[i] - r[i+1]) x p[i]`` over the curve with recall falling (as
    ``precision_recall_curve`` returns it; a rising one is read backwards)."""
    if len(recall) > 1 and recall[0] < recall[-1]:
        recall, precision = recall[::-1], precision[::-1]
    return sum((recall[i] - recall[i + 1]) * precision[i] for i in range(len(recall) - 1))


def curve_chart(slug: str, xs: list[float], ys: list[float], *, kind: str, area: float,
                stored: bool, title: str, colour: str) -> str:
    """The best run's ROC (``kind="ROC"``, with the chance diagonal) or precision-recall
    curve (``kind="PR"``), every stored point drawn, its AUC / AP in the legend."""
    from matplotlib.lines import Line2D

    name = "AUC" if kind == "ROC" else "AP"
    label = f"{kind} curve, {name} = {area:.4f}" + ("" if stored else
                                                   " (from the stored curve)")
    with _rc():
        fig = _figure(4.2, 3.6)
        ax = fig.subplots()
        ax.patch.set_gid("axes")
        handles = []
        if kind == "ROC":
            chance, = ax.plot([0, 1], [0, 1], color="#999999", linestyle=":",
                              linewidth=1.0)
            chance.set_gid("chance")
        line, = ax.plot(xs, ys, color=colour, linewidth=1.8,
                        drawstyle="default" if kind == "ROC" else "steps-post")
        line.set_gid("curve")
        handles.append(Line2D([], [], color=colour, linewidth=1.8))
        labels = [label]
        if kind == "ROC":
            handles.append(Line2D([], [], color="#999999", linestyle=":"))
            labels.append("chance")
        _legend(ax, handles, labels)
        ax.set(xlim=CURVE_LIMITS, ylim=CURVE_LIMITS, aspect="equal")
        ax.set_title(title, parse_math=False)
        if kind == "ROC":
            ax.set(xlabel="false positive rate", ylabel="true positive rate")
        else:
            ax.set(xlabel="recall", ylabel="precision")
        return _svg(fig, slug, f"{title}: {label}")
