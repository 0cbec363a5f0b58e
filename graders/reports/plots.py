"""PNG plots of a topic's artifacts and of batch figures, drawn with matplotlib's Agg renderer."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

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
    so one bad artifact in a hand-edited result.json does not cost the student the whole page."""
    plots = []
    for key, (title, draw) in _DRAWERS.items():
        if key not in artifacts:
            continue
        try:
            plots.append(Plot(key, title, png=draw(artifacts[key])))
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            plots.append(Plot(key, title, error=f"{type(exc).__name__}: {exc}"))
    return plots


def loss_curve_png(data: dict[str, Sequence[float]]) -> bytes:
    fig = _figure(5.0, 3.2)
    ax = fig.add_subplot()
    for name, style, marker in (("student", "-", "o"), ("reference", "--", "s")):
        values = [float(v) for v in data.get(name) or []]
        if values:
            # Markers show single epochs on short runs and turn into a smear beyond ~30 points.
            shown = marker if len(values) <= 30 else ""
            ax.plot(range(1, len(values) + 1), values, style, marker=shown, markersize=3, label=name)
    if not ax.lines:
        raise ValueError("loss_curve has neither 'student' nor 'reference' values")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs, not fractions of one
    ax.set(xlabel="epoch", ylabel="loss", title="Training loss: yours vs reference")
    ax.legend()
    return _png(fig)


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
