"""Small SVG charts for the HTML report: line charts, a scatter with its Pareto front, and a
heatmap. Plain SVG text, no scripts, no external files: the report is one self-contained
page."""

from __future__ import annotations

import html
import math

WIDTH, HEIGHT = 520, 300
LEFT, RIGHT, TOP, BOTTOM = 62, 130, 30, 44
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
           "#e377c2", "#7f7f7f", "#bcbd22")


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high == low:
        return [low]
    step = 10 ** math.floor(math.log10((high - low) / count))
    for factor in (1, 2, 5, 10):
        if (high - low) / (step * factor) <= count:
            step *= factor
            break
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _count(v: float) -> str:
    """A cell's count: whole numbers in full (8,211), else 3 significant digits."""
    return f"{v:,.0f}" if float(v).is_integer() and abs(v) < 1e7 else _fmt(v)


class _Frame:
    def __init__(self, xs: list[float], ys: list[float], pad: float = 0.0):
        finite_x = [x for x in xs if math.isfinite(x)] or [0.0, 1.0]
        finite_y = [y for y in ys if math.isfinite(y)] or [0.0, 1.0]
        self.x0, self.x1 = min(finite_x), max(finite_x)
        self.y0, self.y1 = min(finite_y), max(finite_y)
        if self.x1 == self.x0:
            self.x0, self.x1 = self.x0 - 0.5, self.x1 + 0.5
        if self.y1 == self.y0:
            margin = abs(self.y0) * 0.1 or 0.5
            self.y0, self.y1 = self.y0 - margin, self.y1 + margin
        dx, dy = (self.x1 - self.x0) * pad, (self.y1 - self.y0) * pad
        self.x0, self.x1, self.y0, self.y1 = self.x0 - dx, self.x1 + dx, self.y0 - dy, self.y1 + dy

    def px(self, x: float) -> float:
        return LEFT + (x - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)

    def py(self, y: float) -> float:
        return HEIGHT - BOTTOM - (y - self.y0) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)

    def axes(self, title: str, xlabel: str, ylabel: str) -> list[str]:
        out = [f'<text x="{WIDTH / 2 - RIGHT / 2}" y="18" text-anchor="middle" '
               f'class="title">{html.escape(title)}</text>',
               f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" '
               f'y2="{HEIGHT - BOTTOM}" class="axis"/>',
               f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" class="axis"/>',
               f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 8}" text-anchor="middle">'
               f'{html.escape(xlabel)}</text>',
               f'<text x="14" y="{(TOP + HEIGHT - BOTTOM) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 14 {(TOP + HEIGHT - BOTTOM) / 2})">'
               f'{html.escape(ylabel)}</text>']
        for t in _ticks(self.x0, self.x1):
            x = self.px(t)
            out.append(f'<line x1="{x:.1f}" y1="{HEIGHT - BOTTOM}" x2="{x:.1f}" '
                       f'y2="{HEIGHT - BOTTOM + 4}" class="axis"/>'
                       f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                       f'class="tick">{_fmt(t)}</text>')
        for t in _ticks(self.y0, self.y1):
            y = self.py(t)
            out.append(f'<line x1="{LEFT - 4}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                       f'class="grid"/><text x="{LEFT - 6}" y="{y + 4:.1f}" '
                       f'text-anchor="end" class="tick">{_fmt(t)}</text>')
        return out


def _svg(parts: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{html.escape(label)}">'
            + "".join(parts) + "</svg>")


def _legend(names: list[str], dashed: list[bool] | None = None) -> list[str]:
    out = []
    for i, name in enumerate(names):
        y = TOP + 14 * i
        dash = ' stroke-dasharray="4 3"' if dashed and dashed[i] else ""
        colour = COLOURS[i % len(COLOURS)] if not dashed else COLOURS[(i // 2) % len(COLOURS)]
        out.append(f'<line x1="{WIDTH - RIGHT + 8}" y1="{y}" x2="{WIDTH - RIGHT + 26}" y2="{y}" '
                   f'stroke="{colour}" stroke-width="2"{dash}/>'
                   f'<text x="{WIDTH - RIGHT + 30}" y="{y + 4}" class="tick">'
                   f'{html.escape(name[:18])}</text>')
    return out


def line_chart(series: dict[str, tuple[list[float], list[float]]], *, title: str,
               xlabel: str, ylabel: str, dashed: dict[str, bool] | None = None) -> str:
    """Lines named by ``series`` (name -> (xs, ys)); non-finite points break a line."""
    xs = [x for s in series.values() for x in s[0]]
    ys = [y for s in series.values() for y in s[1]]
    frame = _Frame(xs, ys)
    parts = frame.axes(title, xlabel, ylabel)
    names = list(series)
    for i, name in enumerate(names):
        colour_index = i // 2 if dashed is not None else i
        colour = COLOURS[colour_index % len(COLOURS)]
        dash = ' stroke-dasharray="4 3"' if dashed and dashed.get(name) else ""
        segment: list[str] = []
        segments = []
        for x, y in zip(*series[name], strict=True):
            if math.isfinite(x) and math.isfinite(y):
                segment.append(f"{frame.px(x):.1f},{frame.py(y):.1f}")
            elif segment:
                segments.append(segment)
                segment = []
        if segment:
            segments.append(segment)
        for seg in segments:
            parts.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="{colour}" '
                         f'stroke-width="2"{dash}/>')
            if len(seg) == 1:
                x, y = seg[0].split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}"/>')
    parts += _legend(names, [bool(dashed and dashed.get(n)) for n in names]
                     if dashed is not None else None)
    return _svg(parts, title)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (x lower, y higher are
    better), sorted by x."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best_y = [], -math.inf
    for i in order:
        if points[i][1] > best_y:
            front.append(i)
            best_y = points[i][1]
    return front


def scatter_front(points: dict[str, tuple[float, float]], *, title: str, xlabel: str,
                  ylabel: str) -> str:
    """Named points (x lower is better, y higher is better) with their Pareto front."""
    names = list(points)
    values = [points[n] for n in names]
    frame = _Frame([v[0] for v in values], [v[1] for v in values], pad=0.08)
    parts = frame.axes(title, xlabel, ylabel)
    front = pareto_front(values)
    line = " ".join(f"{frame.px(values[i][0]):.1f},{frame.py(values[i][1]):.1f}"
                    for i in front)
    parts.append(f'<polyline points="{line}" fill="none" stroke="#999" stroke-width="1.5" '
                 'stroke-dasharray="5 3"/>')
    for i, name in enumerate(names):
        x, y = frame.px(values[i][0]), frame.py(values[i][1])
        on_front = i in front
        stroke = ' stroke="#000"' if on_front else ""
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{5 if on_front else 4}" '
                     f'fill="{COLOURS[i % len(COLOURS)]}"{stroke}>'
                     f'<title>{html.escape(name)}: {_fmt(values[i][0])}, '
                     f'{_fmt(values[i][1])}</title></circle>')
    parts += _legend(names)
    return _svg(parts, title)


def heatmap(matrix: list[list[float]], labels: list[str], *, title: str) -> str:
    """A confusion matrix: rows true, columns predicted, counts written in the cells."""
    n = len(matrix)
    size = min(64, (HEIGHT - TOP - BOTTOM - 30) // max(n, 1))
    peak = max((v for row in matrix for v in row), default=0) or 1
    parts = [f'<text x="{WIDTH / 2 - RIGHT / 2}" y="18" text-anchor="middle" class="title">'
             f'{html.escape(title)}</text>']
    x0, y0 = LEFT + 30, TOP + 10
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            shade = int(255 - 200 * (v / peak))
            text = "#fff" if shade < 140 else "#000"
            parts.append(f'<rect x="{x0 + j * size}" y="{y0 + i * size}" width="{size}" '
                         f'height="{size}" fill="rgb({shade},{shade},255)"/>'
                         f'<text x="{x0 + j * size + size / 2}" '
                         f'y="{y0 + i * size + size / 2 + 4}" text-anchor="middle" '
                         f'class="tick" style="fill:{text}">{_count(v)}</text>')
        parts.append(f'<text x="{x0 - 4}" y="{y0 + i * size + size / 2 + 4}" text-anchor="end"'
                     f' class="tick">{html.escape(str(labels[i]))}</text>')
    for j, lab in enumerate(labels):
        parts.append(f'<text x="{x0 + j * size + size / 2}" y="{y0 + n * size + 14}" '
                     f'text-anchor="middle" class="tick">{html.escape(str(lab))}</text>')
    parts.append(f'<text x="{x0 + n * size / 2}" y="{y0 + n * size + 30}" '
                 'text-anchor="middle">predicted</text>'
                 f'<text x="{x0 - 28}" y="{y0 - 2}" text-anchor="middle">true</text>')
    return _svg(parts, title)
