"""A topic's artifacts for the HTML page, as HTML fragments drawn without matplotlib (the loss curve an inline SVG
chart: svg_chart; confusion matrices and misclassified examples: artifact_html), and batch histograms, PNGs drawn
with matplotlib's Agg renderer."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from graders.reports.artifact_html import confusion_table_html, misclassified_html
from graders.reports.disclosure import points
from graders.reports.svg_chart import loss_curve_svg

# Figures are drawn through matplotlib.figure.Figure, never pyplot: no global backend switch
# (a notebook calling us keeps its own backend), no figure registry to leak, nothing to close.
# matplotlib is imported inside the functions because importing it costs most of a report run: a student's
# feedback page needs none of it (issue #14), only the batch summary's histograms do.


@dataclass(frozen=True)
class Plot:
    """One rendered artifact: a ready HTML fragment (escaped), or why it could not be drawn."""

    key: str
    title: str
    html: str = ""
    error: str = ""


def render_artifacts(artifacts: dict[str, Any]) -> list[Plot]:
    """Draw every known artifact; a malformed one becomes a Plot with an error, not an exception,
    so one bad artifact in a hand-edited result.json does not cost the student the whole page.

    A key "<kind>/<model>" ("confusion_matrix/LeNet") is that kind's artifact for one model of a topic with
    several; its title names the model.
    """
    plots = []
    for kind, (title, draw) in _DRAWERS.items():
        for key, value in artifacts.items():
            base, _, model = key.partition("/")
            if base != kind:
                continue
            shown = f"{title}: {model}" if model else title
            try:
                plots.append(Plot(key, shown, html=draw(value)))
            except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
                plots.append(Plot(key, shown, error=f"{type(exc).__name__}: {exc}"))
    return plots


def confusion_summary(data: dict[str, Any], *, top: int = 3) -> str:
    """The matrix in one line for text reports: correct per class, then the most frequent confusions."""
    matrix = [[float(count) for count in row] for row in data["matrix"]]  # rows true, columns predicted
    labels = [str(label) for label in data.get("labels") or range(len(matrix))]
    if len(labels) != len(matrix) or any(len(row) != len(matrix) for row in matrix):
        raise ValueError("confusion_matrix must be square with one label per row")
    correct = ", ".join(f"{label} {points(row[i])}/{points(sum(row))}" for i, (label, row) in
                        enumerate(zip(labels, matrix, strict=True)) if sum(row))
    mixed = sorted(((row[j], labels[i], labels[j]) for i, row in enumerate(matrix) for j in range(len(row))
                    if i != j and row[j]), key=lambda item: (-item[0], item[1], item[2]))[:top]
    text = f"correct per class: {correct}"
    if mixed:
        text += "; most confused: " + ", ".join(f"{true} predicted as {guess} ({points(n)})"
                                                for n, true, guess in mixed)
    return text


def histogram_png(values: Sequence[float], *, title: str, xlabel: str, upper: float | None = None) -> bytes:
    """Distribution of scores (or times) over a batch; `upper` pins the axis to the maximum."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(4.0, 2.6)
    ax = fig.add_subplot()
    top = upper if upper else max(values, default=1.0) or 1.0
    # One bin per point when the maximum is a small whole number, so a bar reads "scored n".
    bins = int(top) if float(top).is_integer() and top <= 20 else 10
    ax.hist(list(values), bins=bins, range=(0, top), edgecolor="white")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(title=title, xlabel=xlabel, ylabel="submissions")
    return _png(fig)


# Each drawer returns an HTML fragment, drawn without matplotlib (issue #14).
_DRAWERS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "loss_curve": ("Loss curve", loss_curve_svg),
    "confusion_matrix": ("Confusion matrix", confusion_table_html),
    "misclassified": ("Misclassified examples", misclassified_html),
}


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=80, layout="constrained")


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    # No "Software" metadata: the PNG then depends only on the data and the matplotlib version.
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
