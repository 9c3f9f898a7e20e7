"""``Metric.plot()`` and ``MetricSet.plot()``: a metric's value drawn with matplotlib (the
library the HTML report uses), as torchmetrics' ``plot`` does.

What is drawn follows the value: a curve (``ROCCurve``, ``PRCurve``) as a line with its
axes named; a matrix (``ConfusionMatrix``) as a heatmap with its counts; per-class values as
bars; a list of numbers (one per step or epoch) as a line; one value as a bar, a binned value
with its error bound as the bar's whisker. matplotlib is imported when a plot is asked for,
through its object API (no pyplot, no global figure state), so ``import gpumetrics`` never
loads it. Returns ``(figure, axes)``.
"""

from __future__ import annotations

import numpy as np

from gpumetrics import _arrays

INSTALL = "plot() needs matplotlib: pip install 'gpumetrics[report]'"
COLOUR = "#0072B2"  # the report's first colour (Okabe-Ito blue)
CELL_COUNTS = 25  # classes up to which a heatmap writes its counts in the cells


def _axes(ax):
    """``(figure, axes)``: the given axes and its figure, or a new figure."""
    if ax is not None:
        return ax.figure, ax
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(INSTALL) from None
    figure = Figure(figsize=(4.8, 3.6), layout="constrained")
    return figure, figure.add_subplot()


def _host(value) -> np.ndarray:
    """A NumPy copy of a value in any array library (torch, CuPy, JAX, NumPy, Python)."""
    if hasattr(value, "detach"):  # torch
        value = value.detach().cpu()
    return np.asarray(_arrays.to_host(value), float)


def plot_value(value, *, name: str, curve: str | None = None, ax=None):
    """Draw ``value`` (see the module's docstring); ``curve`` is ``"roc"`` or ``"pr"`` for
    the curve metrics' ``(x, y, thresholds)``."""
    steps = isinstance(value, list)  # one value per step (a curve is a tuple)
    if steps:
        values = [getattr(v, "value", v) for v in value]
        if curve is not None or any(np.ndim(_host(v)) != 0 for v in values):
            raise ValueError(f"value: a list is one {name} per step, each a number; plot "
                             "curves, matrices and per-class values one at a time.")
    figure, ax = _axes(ax)
    if steps:
        ax.plot(np.arange(len(values)), [float(_host(v)) for v in values], color=COLOUR,
                marker="o", markersize=3)
        ax.set(xlabel="step", ylabel=name)
    elif curve is not None:
        first, second = _host(value[0]), _host(value[1])
        if curve == "roc":
            x, y, xlabel, ylabel = first, second, "false positive rate", "true positive rate"
            ax.plot([0, 1], [0, 1], color="#b8b8b8", linewidth=0.8, linestyle="--",
                    label="chance")
        else:  # precision_recall_curve gives (precision, recall, thresholds)
            x, y, xlabel, ylabel = second, first, "recall", "precision"
        ax.plot(x, y, color=COLOUR, drawstyle="steps-post" if curve == "pr" else "default",
                label=name)
        ax.set(xlabel=xlabel, ylabel=ylabel, xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
        ax.legend(loc="lower right" if curve == "roc" else "lower left")
    elif hasattr(value, "value") and hasattr(value, "bound"):  # binned: value and bound
        _bars(ax, _host(value.value), name, _host(value.bound))
    else:
        array = _host(value)
        if array.ndim == 2:
            _heatmap(figure, ax, array, name)
        else:
            _bars(ax, array, name)
    ax.set_title(name)
    return figure, ax


def _bars(ax, values: np.ndarray, name: str, bounds: np.ndarray | None = None):
    """One bar, or one per class; a binned value's bound as a whisker."""
    values = np.atleast_1d(values)
    positions = np.arange(values.shape[0])
    errors = None if bounds is None else np.atleast_1d(bounds)
    ax.bar(positions, values, color=COLOUR, yerr=errors, capsize=3 if errors is not None else 0)
    if values.shape[0] == 1:
        ax.set_xticks([0], [name])
        ax.annotate(f"{values[0]:.4g}", (0, values[0]), ha="center", va="bottom",
                    textcoords="offset points", xytext=(0, 3))
    else:
        ax.set(xlabel="class", xticks=positions)
    ax.set_ylabel(name)


def _heatmap(figure, ax, matrix: np.ndarray, name: str):
    """A confusion matrix: true classes down, predicted across, counts in the cells."""
    image = ax.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=ax, shrink=0.8)
    ticks = np.arange(matrix.shape[0])
    ax.set(xlabel="predicted class", ylabel="true class", xticks=ticks, yticks=ticks)
    ax.grid(False)
    if matrix.shape[0] <= CELL_COUNTS:
        threshold = matrix.max() / 2 if matrix.size else 0
        for (i, j), v in np.ndenumerate(matrix):
            text = f"{int(v)}" if float(v).is_integer() else f"{v:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if v > threshold else "black")


def plot_values(values: dict, ax=None):
    """A ``MetricSet``'s scalar values as one bar each (curves and matrices left out: plot
    those metrics on their own)."""
    if not isinstance(values, dict):
        raise ValueError(f"values must be a dict of name -> value, as compute() returns; "
                         f"got {type(values).__name__}.")
    figure, ax = _axes(ax)
    names, heights, bounds = [], [], []
    for name, value in values.items():
        bound = getattr(value, "bound", None)
        array = _host(getattr(value, "value", value))
        if array.ndim == 0:
            names.append(name)
            heights.append(float(array))
            bounds.append(0.0 if bound is None else float(_host(bound)))
    if not names:
        raise ValueError("this set holds no scalar metric to plot; plot its metrics one by "
                         "one (metrics[name].plot()).")
    positions = np.arange(len(names))
    ax.bar(positions, heights, color=COLOUR)
    binned = [i for i, b in enumerate(bounds) if b > 0]  # whiskers where a bound is known
    if binned:
        ax.errorbar(positions[binned], np.take(heights, binned), yerr=np.take(bounds, binned),
                    fmt="none", ecolor="black", capsize=3)
    ax.set_xticks(positions, names, rotation=30, ha="right")
    ax.set_title("metrics")
    return figure, ax
