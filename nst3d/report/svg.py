"""Line charts as inline SVG, written here (no plotting library, no service): the report's loss curves.

One chart is a set of named series of (x, y) points on a log-scaled y axis (losses span decades), with
axes, tick labels, a legend, and a <title>/<desc> plus aria-label that say in words what the chart shows.
Each series is one <path class="curve">; points that a log scale cannot show (zero, negative, NaN) break
the line, and a series with no such point at all is named in the legend as not drawn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nst3d.report.html import escape

Series = Mapping[str, Sequence[tuple[float, float]]]
# Okabe-Ito colours (told apart with colour-blindness too), and a dash pattern each, for print in grey
COLORS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#999933")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4", "4 4", "3 1")
WIDTH, PLOT_HEIGHT, LEGEND_ROW = 480, 270, 22
LEFT, RIGHT, TOP, BOTTOM = 60, 14, 12, 44   # margins of the plot area inside the first PLOT_HEIGHT


@dataclass(frozen=True)
class Frame:
    """Where data lands in the picture: the x range, the log10 y range, and the plot box in pixels."""

    x0: float
    x1: float
    y0: float   # log10 of the lowest value shown
    y1: float

    def px(self, x: float) -> float:
        """The picture's x of a data x."""
        return LEFT + (x - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)

    def py(self, y: float) -> float:
        """The picture's y of a (positive) data y, on the log scale."""
        return TOP + (self.y1 - math.log10(y)) / (self.y1 - self.y0) * (PLOT_HEIGHT - TOP - BOTTOM)


def showable(y: float) -> bool:
    """Whether a log scale can show this value."""
    return math.isfinite(y) and y > 0


def fmt(value: float) -> str:
    """A short number for labels: 3 significant digits, plain between 0.01 and 10000 (1000, not 1e+03)."""
    if value == 0 or 1e-2 <= abs(value) < 1e4:
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def frame_for(series: Series) -> Frame:
    """The ranges that hold every showable point (padded when all values are equal)."""
    xs = [x for points in series.values() for x, _ in points]
    ys = [math.log10(y) for points in series.values() for _, y in points if showable(y)]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    y0, y1 = (min(ys), max(ys)) if ys else (0.0, 1.0)
    if x1 - x0 < 1e-12:
        x0, x1 = x0 - 0.5, x1 + 0.5
    pad = max(0.05 * (y1 - y0), 0.15 if y1 - y0 < 0.3 else 0.0)
    return Frame(x0, x1, y0 - pad, y1 + pad)


def nice_step(span: float, count: int = 5) -> float:
    """A step of 1, 2 or 5 times a power of ten that cuts `span` into about `count` parts."""
    raw = span / count
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def x_ticks(frame: Frame) -> list[float]:
    """Tick positions on the x axis (whole steps)."""
    step = max(1.0, nice_step(frame.x1 - frame.x0))
    first = math.ceil(frame.x0 / step) * step
    return [first + i * step for i in range(int((frame.x1 - first) / step) + 1)]


def y_ticks(frame: Frame) -> list[float]:
    """Tick values on the log y axis: the powers of ten in range, with 2x and 5x when there are few."""
    decades = range(math.floor(frame.y0), math.ceil(frame.y1) + 1)
    for mantissas in ((1,), (1, 2, 5), (1, 1.5, 2, 3, 5, 7)):
        ticks = [m * 10.0 ** d for d in decades for m in mantissas if frame.y0 <= math.log10(m * 10.0 ** d)
                 <= frame.y1]
        if len(ticks) >= 3:
            return ticks[:: max(1, len(ticks) // 8)]
    return ticks


def axes(frame: Frame, x_label: str, y_label: str) -> str:
    """Grid lines, tick labels and axis names (lines and text only: paths are the curves)."""
    bottom, right = PLOT_HEIGHT - BOTTOM, WIDTH - RIGHT
    out = [f'<rect x="{LEFT}" y="{TOP}" width="{right - LEFT}" height="{bottom - TOP}" fill="#fff" '
           f'stroke="#888"/>']
    for x in x_ticks(frame):
        px = frame.px(x)
        out.append(f'<line x1="{px:.1f}" y1="{bottom}" x2="{px:.1f}" y2="{bottom + 4}" stroke="#888"/>'
                   f'<text x="{px:.1f}" y="{bottom + 18}" text-anchor="middle">{fmt(x)}</text>')
    for y in y_ticks(frame):
        py = frame.py(y)
        out.append(f'<line x1="{LEFT}" y1="{py:.1f}" x2="{right}" y2="{py:.1f}" stroke="#e4e4e4"/>'
                   f'<text x="{LEFT - 5}" y="{py + 4:.1f}" text-anchor="end">{fmt(y)}</text>')
    out.append(f'<text x="{(LEFT + right) / 2:.0f}" y="{PLOT_HEIGHT - 6}" text-anchor="middle">'
               f'{escape(x_label)}</text>'
               f'<text transform="translate(14 {(TOP + bottom) / 2:.0f}) rotate(-90)" text-anchor="middle">'
               f'{escape(y_label)}</text>')
    return "".join(out)


def path_data(points: Sequence[tuple[float, float]], frame: Frame) -> str:
    """SVG path commands through the points; unshowable values start a new piece."""
    commands, pen_down = [], False
    for x, y in points:
        if not showable(y):
            pen_down = False
            continue
        commands.append(f"{'L' if pen_down else 'M'}{frame.px(x):.1f} {frame.py(y):.1f}")
        pen_down = True
    return " ".join(commands)


def curve(name: str, points: Sequence[tuple[float, float]], frame: Frame, index: int) -> str:
    """One series: its <path> and a dot on its last showable point (so a single step still shows)."""
    color, dash = COLORS[index % len(COLORS)], DASHES[index % len(DASHES)]
    dashes = f' stroke-dasharray="{dash}"' if dash else ""
    last = [(x, y) for x, y in points if showable(y)][-1]
    return (f'<path class="curve" data-term="{escape(name)}" d="{path_data(points, frame)}" fill="none" '
            f'stroke="{color}" stroke-width="2"{dashes}><title>{escape(name)}</title></path>'
            f'<circle cx="{frame.px(last[0]):.1f}" cy="{frame.py(last[1]):.1f}" r="3" fill="{color}"/>')


def legend(series: Series, drawn: Sequence[str]) -> str:
    """Two entries a row under the plot: a line sample in the curve's style, the name, the last value."""
    out = []
    for i, name in enumerate(series):
        x, y = LEFT + (i % 2) * (WIDTH - LEFT) / 2, PLOT_HEIGHT + (i // 2) * LEGEND_ROW + 4
        values = [v for _, v in series[name] if math.isfinite(v)]
        last = fmt(values[-1]) if values else "none"
        if name in drawn:
            k = drawn.index(name)
            dash = f' stroke-dasharray="{DASHES[k % len(DASHES)]}"' if DASHES[k % len(DASHES)] else ""
            out.append(f'<line x1="{x:.0f}" y1="{y:.0f}" x2="{x + 24:.0f}" y2="{y:.0f}" stroke-width="2" '
                       f'stroke="{COLORS[k % len(COLORS)]}"{dash}/>')
            text = f"{name} (last {last})"
        else:
            text = f"{name}: not drawn ({last}, no value above 0)"
        out.append(f'<text x="{x + 30:.0f}" y="{y + 4:.0f}">{escape(text)}</text>')
    return "".join(out)


def describe(series: Series, x_label: str) -> str:
    """The chart in words, for screen readers and for the <desc>: each series' first and last value."""
    parts = []
    for name, points in series.items():
        values = [(x, y) for x, y in points if math.isfinite(y)]
        if values:
            parts.append(f"{name} from {fmt(values[0][1])} at {x_label} {fmt(values[0][0])} to "
                         f"{fmt(values[-1][1])} at {x_label} {fmt(values[-1][0])}")
    return "; ".join(parts) or "no values"


def line_chart(series: Series, title: str, x_label: str = "step", y_label: str = "value (log scale)") -> str:
    """An inline <svg> chart of the series on a log y axis, one <path class="curve"> per drawable series."""
    drawn = [name for name, points in series.items() if any(showable(y) for _, y in points)]
    frame = frame_for({name: series[name] for name in drawn})
    height = PLOT_HEIGHT + LEGEND_ROW * math.ceil(len(series) / 2) + 6
    words = f"{title}: {describe(series, x_label)}"
    body = [axes(frame, x_label, y_label), *(curve(n, series[n], frame, i) for i, n in enumerate(drawn)),
            legend(series, drawn)]
    return (f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(words)}" '
            f'font-family="system-ui, sans-serif" font-size="14" fill="#222">'
            f"<title>{escape(title)}</title><desc>{escape(words)}</desc>{''.join(body)}</svg>")
