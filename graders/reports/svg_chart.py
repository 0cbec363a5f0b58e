"""The loss curve as an inline SVG line chart, drawn in pure Python (issue #14).

matplotlib drew it as a PNG, and importing matplotlib cost the `grade submission` client 0.5 s of CPU on a
machine whose cores the grading workers already use; the chart is text instead, a few kilobytes. It reads without
colour (every series has a dash pattern of its own, and short runs a marker per point), scales with the page (a
viewBox) and tells screen readers what it shows (<title>, and a <desc> with each series' first and last loss).

Every label goes through html.escape; coordinates and numbers are written with fixed precision, so one artifact
always gives the same bytes. Values that are not finite (a diverged run's nan or inf) are left out of the lines
and counted in the <desc>; data with nothing to draw raise ValueError or TypeError, which render_artifacts
turns into "could not be drawn".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from itertools import pairwise
from typing import Any

# What one x step of a loss curve is (the artifact's "x"): topics 1-3 record train()'s loss per epoch, topics 4-6
# the loss of every criterion call, one per batch (issue #13: a per-batch curve labelled "epoch" misled).
X_LABELS = {"epoch": "epoch", "batch": "batch (one optimizer step each; not epochs)"}
UNKNOWN_X = "recorded point (epoch or batch: not recorded)"  # results written before "x" existed
_UNITS = {"epoch": ("epoch", "epochs"), "batch": ("batch", "batches")}
_UNKNOWN_UNITS = ("recorded point", "recorded points")

TITLE = "Training loss: yours vs reference"
WIDTH, HEIGHT = 480, 280  # the viewBox; the page's stylesheet scales it to its column
TOP, RIGHT, BOTTOM = 28.0, 14.0, 42.0  # margins of the plot area: the title; the last x label; x labels and axis
MAX_POINTS = 500  # per line: the plugin keeps up to 2000 per series, more than 400 px of width can show
MAX_SERIES = 12  # a hand-edited result.json with a thousand models gets a chart, not a wall of legend
MARKED = 30  # lines of up to this many points get a marker per point: single steps show, and one point at all
LEGEND_CHARS = 30  # longer labels are cut in the legend (the <desc> keeps them whole)
CHAR_WIDTH = 6.2  # of an 11 px system-ui character, on average: to make room for labels

# One hue per model (matplotlib's tab10, as the PNG had): the student's run in it, the reference's in a darker
# shade of it. And one dash pattern per line, so that the lines stay apart printed in greyscale.
PALETTE = (("#1f77b4", "#0b3d66"), ("#ff7f0e", "#8c4300"), ("#2ca02c", "#145214"), ("#d62728", "#7a1516"),
           ("#9467bd", "#4f3473"), ("#8c564b", "#4a2c26"))
DASHES = ("", "7 4", "2 3", "9 3 2 3", "4 2", "12 3 2 3 2 3")


@dataclass(frozen=True)
class Series:
    label: str
    values: list[float]
    colour: str
    dash: str  # an SVG stroke-dasharray, "" for a solid line
    marker: str  # "circle" for the student's run, "square" for the reference's


def loss_series(data: dict[str, Any]) -> tuple[str, list[Series]]:
    """The x axis label and one labelled series per model and side: {"student", "reference"} for one model, or
    {"models": {name: {"student", "reference"}}} for several, each with an optional "x" ("epoch" or "batch")."""
    models = data.get("models") or {"": data}
    series: list[Series] = []
    for number, (model, sides) in enumerate(models.items()):
        for side, label, marker in (("student", "yours", "circle"), ("reference", "reference", "square")):
            values = [float(v) for v in sides.get(side) or []]
            if values:
                shown = f"{model}, {label}" if len(models) > 1 or model else label
                colour = PALETTE[number % len(PALETTE)][side == "reference"]
                series.append(Series(shown, values, colour, DASHES[len(series) % len(DASHES)], marker))
    return X_LABELS.get(data.get("x", ""), UNKNOWN_X), series


def loss_curve_svg(data: dict[str, Any]) -> str:
    """The loss curve artifact as one <svg> element: a line per series on linear axes, a legend, and the text a
    screen reader gives for it."""
    xlabel, series = loss_series(data)
    if not series:
        raise ValueError("loss_curve has neither 'student' nor 'reference' values")
    left_out, series = len(series[MAX_SERIES:]), series[:MAX_SERIES]
    lines = [thinned(line.values) for line in series]
    drawn = [value for points in lines for _, value in points]
    if not drawn:
        raise ValueError("loss_curve has no finite values")
    yticks, step = nice_ticks(min(drawn), max(drawn))
    ylabels = tick_labels(yticks, step)
    count = max(len(line.values) for line in series)
    margin = 0.5 if count == 1 else (count - 1) * 0.02
    left = 22 + CHAR_WIDTH * max(map(len, ylabels)) + 8  # the y axis label, then the widest tick label
    plane = _Plane(left, 1 - margin, count + margin, yticks[0], yticks[-1])
    units = _UNITS.get(data.get("x", ""), _UNKNOWN_UNITS)
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" font-family="system-ui, sans-serif" font-size="11">',
        f"<title>{escape(TITLE)}</title>",
        f"<desc>{escape(describe(series, units, left_out))}</desc>",
        *_frame(plane, xlabel, integer_ticks(count), list(zip(yticks, ylabels, strict=True))),
        *(line for s, points in zip(series, lines, strict=True) for line in _line(s, points, plane)),
        *_legend(series, [[(plane.x(x), plane.y(y)) for x, y in points] for points in lines], plane),
        "</svg>",
    ])


def thinned(values: Sequence[float], most: int = MAX_POINTS) -> list[tuple[int, float]]:
    """The finite values as (x, value), x counted from 1 over all values; beyond `most` of them, the lowest and
    the highest of each of most // 2 runs of neighbours, in order, so that a spike survives the thinning."""
    points = [(x, value) for x, value in enumerate(values, start=1) if math.isfinite(value)]
    if len(points) <= most:
        return points
    runs, kept = most // 2, []
    for run in range(runs):
        chunk = points[run * len(points) // runs:(run + 1) * len(points) // runs]
        low, high = min(chunk, key=lambda point: point[1]), max(chunk, key=lambda point: point[1])
        if low is high:  # a flat run: its two ends
            low, high = chunk[0], chunk[-1]
        kept += sorted((low, high))
    return kept


def nice_ticks(low: float, high: float) -> tuple[list[float], float]:
    """4 to 6 ticks 1, 2 or 5 times a power of ten apart, from at or below `low` to at or above `high` (the
    tightest such), and their step. The rare range that no step splits into 4 to 6 gets the next wider step's 3,
    and one more above. A constant (or all but constant) range is widened by a tenth of its value around it."""
    if abs(high - low) <= max(abs(low), abs(high)) * 1e-9:
        pad = abs(high) * 0.1 or 1.0
        low, high = low - pad, high + pad
    span = high - low
    if not 1e-200 < span < 1e200:  # float steps and ticks stay exact enough, and finite, well inside these
        raise ValueError(f"loss values from {low:g} to {high:g} cannot be drawn on a linear axis")
    power = math.floor(math.log10(span))
    fits = []  # (first, last, factor, exponent): ticks first..last times the step factor * 10**exponent
    for factor, exponent in ((f, p) for p in range(power - 2, power + 2) for f in (1, 2, 5)):
        step = _times(1, factor, exponent)
        fits.append((math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9), factor, exponent))
    good = [fit for fit in fits if 3 <= fit[1] - fit[0] <= 5]
    if good:  # the tightest axis; of equally tight ones, the fewer ticks
        first, last, factor, exponent = min(good, key=lambda fit: ((fit[1] - fit[0]) * _times(1, *fit[2:]),
                                                                   -_times(1, *fit[2:])))
    else:
        first, last, factor, exponent = next(fit for fit in fits if fit[1] - fit[0] <= 5)
        last = max(last, first + 3)
    return [_times(index, factor, exponent) for index in range(first, last + 1)], _times(1, factor, exponent)


def _times(index: int, factor: int, exponent: int) -> float:
    """index * factor * 10**exponent, rounded once: 34650 * 2e-5 is 0.6930000000000001, 69300 / 10**5 is 0.693."""
    return float(index * factor * 10**exponent) if exponent >= 0 else index * factor / 10**-exponent


def tick_labels(ticks: Sequence[float], step: float) -> list[str]:
    """As many decimals as the step has (0.5 -> "1.5"); labels longer than 8 characters in e notation instead,
    with as many significant digits as tell the ticks apart (1.5e-07, 2e+12)."""
    places = math.floor(math.log10(step) + 1e-9)
    fixed = [f"{tick:.{max(0, -places)}f}" for tick in ticks]
    if max(map(len, fixed)) <= 8:
        return fixed
    digits = max(1, math.floor(math.log10(max(abs(tick) for tick in ticks))) - places + 1)
    return [f"{tick:.{digits}g}" for tick in ticks]


def integer_ticks(count: int, most: int = 8) -> list[int]:
    """Whole x values in 1..count, at most `most`: every one, or the multiples of a step 1, 2 or 5 times a power of
    ten (batches 20, 40, ... 120)."""
    index = 0
    while count // ((1, 2, 5)[index % 3] * 10 ** (index // 3)) > most:
        index += 1
    step = (1, 2, 5)[index % 3] * 10 ** (index // 3)
    return list(range(1, count + 1)) if step == 1 else list(range(step, count + 1, step))


def describe(series: Sequence[Series], units: tuple[str, str], left_out: int = 0) -> str:
    """What the chart shows, in words: each line's first and last finite loss and its length."""
    parts = []
    for line in series:
        finite = [value for value in line.values if math.isfinite(value)]
        unit = units[len(line.values) != 1]
        if not finite:
            parts.append(f"{line.label}: no finite value over {len(line.values)} {unit}")
            continue
        skipped = len(line.values) - len(finite)
        parts.append(f"{line.label}: from {finite[0]:.3g} to {finite[-1]:.3g} over {len(line.values)} {unit}"
                     + (f" ({skipped} not finite, left out)" if skipped else ""))
    more = f"; {left_out} more series not drawn" if left_out else ""
    return f"Line chart of the training loss per {units[0]}. " + "; ".join(parts) + more + "."


@dataclass(frozen=True)
class _Plane:
    """Data to viewBox coordinates, in the plot area right of `left`."""

    left: float
    x_low: float
    x_high: float
    y_low: float
    y_high: float

    def x(self, value: float) -> float:
        return self.left + (value - self.x_low) / (self.x_high - self.x_low) * (WIDTH - RIGHT - self.left)

    def y(self, value: float) -> float:
        return HEIGHT - BOTTOM - (value - self.y_low) / (self.y_high - self.y_low) * (HEIGHT - BOTTOM - TOP)


def _frame(plane: _Plane, xlabel: str, xticks: Sequence[int], yticks: Sequence[tuple[float, str]]) -> list[str]:
    """Title, grid, axes, ticks and their labels, axis labels."""
    x0, x1, y0, y1 = plane.left, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
    grid = "".join(f'<line x1="{x0:.1f}" y1="{plane.y(v):.1f}" x2="{x1:.1f}" y2="{plane.y(v):.1f}"/>'
                   for v, _ in yticks)
    xmarks = "".join(f'<line x1="{plane.x(v):.1f}" y1="{y1:.1f}" x2="{plane.x(v):.1f}" y2="{y1 + 4:.1f}"/>'
                     for v in xticks)
    xtexts = "".join(f'<text x="{plane.x(v):.1f}" y="{y1 + 15:.1f}" text-anchor="middle">{v}</text>' for v in xticks)
    ytexts = "".join(f'<text x="{x0 - 5:.1f}" y="{plane.y(v) + 4:.1f}" text-anchor="end">{escape(text)}</text>'
                     for v, text in yticks)
    middle = (y0 + y1) / 2
    return [
        f'<text x="{WIDTH / 2:.1f}" y="17" text-anchor="middle" font-size="13" font-weight="600" fill="#222">'
        f"{escape(TITLE)}</text>",
        f'<g class="grid" stroke="#e4e4e4" stroke-width="1">{grid}</g>',
        f'<g class="axes" stroke="#555" stroke-width="1"><line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x0:.1f}" '
        f'y2="{y1:.1f}"/><line x1="{x0:.1f}" y1="{y1:.1f}" x2="{x1:.1f}" y2="{y1:.1f}"/>{xmarks}</g>',
        f'<g class="ticks" fill="#333">{xtexts}{ytexts}</g>',
        f'<text x="{(x0 + x1) / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle" fill="#222">{escape(xlabel)}</text>',
        f'<text transform="translate(14 {middle:.1f}) rotate(-90)" text-anchor="middle" fill="#222">loss</text>',
    ]


def _line(series: Series, points: Sequence[tuple[int, float]], plane: _Plane) -> list[str]:
    """One <polyline> per series, and a marker on each point of a short one."""
    dash = f' stroke-dasharray="{series.dash}"' if series.dash else ""
    coordinates = " ".join(f"{plane.x(x):.1f},{plane.y(y):.1f}" for x, y in points)
    lines = [f'<polyline class="series" points="{coordinates}" fill="none" stroke="{series.colour}" '
             f'stroke-width="1.8" stroke-linejoin="round"{dash}><title>{escape(series.label)}</title></polyline>']
    if len(points) <= MARKED:
        marks = "".join(_marker(series, plane.x(x), plane.y(y)) for x, y in points)
        lines.append(f'<g class="markers">{marks}</g>')
    return lines


def _marker(series: Series, x: float, y: float) -> str:
    """A filled circle on the student's run, a hollow square on the reference's: apart without colour."""
    if series.marker == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{series.colour}"/>'
    return (f'<rect x="{x - 2.6:.1f}" y="{y - 2.6:.1f}" width="5.2" height="5.2" fill="#fff" '
            f'stroke="{series.colour}" stroke-width="1.3"/>')


def _legend(series: Sequence[Series], paths: Sequence[Sequence[tuple[float, float]]], plane: _Plane) -> list[str]:
    """A line sample and a label per series, in the corner of the plot area that the fewest line segments cross."""
    labels = [line.label if len(line.label) <= LEGEND_CHARS else line.label[:LEGEND_CHARS - 1] + "…"
              for line in series]
    width, height = 40 + CHAR_WIDTH * max(map(len, labels)), 8 + 15 * len(series)
    x0, x1, y0, y1 = plane.left + 6, WIDTH - RIGHT - 6 - width, TOP + 6, HEIGHT - BOTTOM - 6 - height
    segments = [segment for path in paths for segment in (list(pairwise(path)) or [(p, p) for p in path])]
    corners = [(x1, y0), (x0, y0), (x0, y1), (x1, y1)]  # upper right first, as matplotlib's "best"
    left, top = min(corners, key=lambda c: sum(_crosses((c[0], c[1], c[0] + width, c[1] + height), a, b)
                                                 for a, b in segments))
    rows = []
    for row, (line, label, path) in enumerate(zip(series, labels, paths, strict=True)):
        y = top + 11 + 15 * row
        dash = f' stroke-dasharray="{line.dash}"' if line.dash else ""
        rows.append(f'<line x1="{left + 6:.1f}" y1="{y:.1f}" x2="{left + 30:.1f}" y2="{y:.1f}" stroke="{line.colour}" '
                    f'stroke-width="1.8"{dash}/>{_marker(line, left + 18, y) if len(path) <= MARKED else ""}'
                    f'<text x="{left + 36:.1f}" y="{y + 4:.1f}" fill="#222">{escape(label)}</text>')
    return [f'<g class="legend"><rect x="{left:.1f}" y="{top:.1f}" width="{width:.1f}" height="{height:.1f}" '
            f'fill="#fff" fill-opacity="0.85" stroke="#ccc"/>{"".join(rows)}</g>']


def _crosses(box: tuple[float, float, float, float], a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether the segment from a to b meets the box (left, top, right, bottom): Liang-Barsky clipping."""
    (left, top, right, bottom), (ax, ay), (bx, by) = box, a, b
    low, high = 0.0, 1.0
    for p, q in ((ax - bx, ax - left), (bx - ax, right - ax), (ay - by, ay - top), (by - ay, bottom - ay)):
        if p == 0 and q < 0:  # parallel to this edge, outside it
            return False
        if p < 0:
            low = max(low, q / p)
        elif p > 0:
            high = min(high, q / p)
    return low <= high
