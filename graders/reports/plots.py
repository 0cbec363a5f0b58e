"""PNG plots of a topic's artifacts and of batch figures, drawn with matplotlib's Agg renderer."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from graders.reports.disclosure import points

# Figures are drawn through matplotlib.figure.Figure, never pyplot: no global backend switch
# (a notebook calling us keeps its own backend), no figure registry to leak, nothing to close.
# matplotlib is imported inside the functions because importing it costs most of a report run.

MAX_MISCLASSIFIED = 16  # a grid beyond 4x4 makes each image too small to read


@dataclass(frozen=True)
class Plot:
    """One rendered artifact: PNG bytes, or why it could not be drawn."""

    key: str
    title: str
    png: bytes = b""
    error: str = ""


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


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
                plots.append(Plot(key, shown, png=draw(value)))
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
                plots.append(Plot(key, shown, error=f"{type(exc).__name__}: {exc}"))
    return plots


# What one x step of a loss curve is (the artifact's "x"): topics 1-3 record train()'s loss per epoch, topics 4-6
# the loss of every criterion call, one per batch (issue #13: a per-batch curve labelled "epoch" misled).
X_LABELS = {"epoch": "epoch", "batch": "batch (one optimizer step each; not epochs)"}
UNKNOWN_X = "recorded point (epoch or batch: not recorded)"  # results written before "x" existed


@dataclass(frozen=True)
class Series:
    label: str
    values: list[float]
    style: str  # "-" for the student's run, "--" for the reference's
    colour: str


def loss_series(data: dict[str, Any]) -> tuple[str, list[Series]]:
    """The x axis label and one labelled series per model and side: {"student", "reference"} for one model, or
    {"models": {name: {"student", "reference"}}} for several, each with an optional "x" ("epoch" or "batch")."""
    models = data.get("models") or {"": data}
    series = []
    for number, (model, sides) in enumerate(models.items()):
        for side, style, label in (("student", "-", "yours"), ("reference", "--", "reference")):
            values = [float(v) for v in sides.get(side) or []]
            if values:
                shown = f"{model}, {label}" if len(models) > 1 or model else label
                series.append(Series(shown, values, style, f"C{number}"))  # one colour per model
    return X_LABELS.get(data.get("x", ""), UNKNOWN_X), series


def loss_curve_png(data: dict[str, Any]) -> bytes:
    return _png(loss_curve_figure(data))


def loss_curve_figure(data: dict[str, Any]) -> Any:
    """The loss curve as a matplotlib Figure, for loss_curve_png and for tests that read its axes."""
    xlabel, series = loss_series(data)
    if not series:
        raise ValueError("loss_curve has neither 'student' nor 'reference' values")
    fig = _figure(5.0, 3.2)
    ax = fig.add_subplot()
    for line in series:
        # Markers show single steps on short runs and turn into a smear beyond ~30 points.
        marker = ("o" if line.style == "-" else "s") if len(line.values) <= 30 else ""
        ax.plot(range(1, len(line.values) + 1), line.values, line.style, color=line.colour, marker=marker,
                markersize=3, label=line.label)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs or batches, not fractions of one
    ax.set(xlabel=xlabel, ylabel="loss", title="Training loss: yours vs reference")
    ax.legend(fontsize=8)
    return fig


def confusion_matrix_png(data: dict[str, Any]) -> bytes:
    import numpy as np

    matrix = np.asarray(data["matrix"], dtype=float)  # (K, K): rows true, columns predicted
    labels = [str(label) for label in data.get("labels") or range(len(matrix))]
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or len(labels) != len(matrix):
        raise ValueError(f"confusion_matrix must be square with one label per row, got {matrix.shape}")
    size = 2.5 + 0.35 * len(labels)
    fig = _figure(size + 0.8, size)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046)
    ticks = range(len(labels))
    ax.set_xticks(ticks, labels, rotation=45 if len(labels) > 5 else 0)
    ax.set_yticks(ticks, labels)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix")
    if len(labels) <= 12:  # counts stop being legible beyond this
        limit = matrix.max() / 2 if matrix.size else 0
        for (row, col), count in np.ndenumerate(matrix):
            ax.text(
                col,
                row,
                f"{count:g}",
                ha="center",
                va="center",
                color="white" if count > limit else "black",
                fontsize=8,
            )
    return _png(fig)


def misclassified_png(items: Sequence[dict[str, Any]]) -> bytes:
    import numpy as np

    items = list(items)[:MAX_MISCLASSIFIED]
    if not items:
        raise ValueError("misclassified is empty")
    cols = min(4, len(items))
    rows = -(-len(items) // cols)
    fig = _figure(1.8 * cols, 2.0 * rows)
    for i, item in enumerate(items, start=1):
        image = np.asarray(item["image"], dtype=np.uint8)  # (H, W) or (H, W, 3)
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
            raise ValueError(f"image {i} must be (H, W) or (H, W, 3), got {image.shape}")
        ax = fig.add_subplot(rows, cols, i)
        ax.imshow(
            image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest"
        )  # crisp pixels, as the model saw them
        ax.set_title(f"predicted {item['predicted']}\nlabel {item['label']}", fontsize=8)
        ax.axis("off")
    return _png(fig)


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


_DRAWERS: dict[str, tuple[str, Callable[[Any], bytes]]] = {
    "loss_curve": ("Loss curve", loss_curve_png),
    "confusion_matrix": ("Confusion matrix", confusion_matrix_png),
    "misclassified": ("Misclassified examples", misclassified_png),
}


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=80, layout="constrained")


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    # No "Software" metadata: the PNG then depends only on the data and the matplotlib version.
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
