"""HTML fragments for the artifacts that need no matplotlib (issue #14: drawing them cost ~0.8 s per image topic).

The confusion matrix is a table heatmap: its counts stay text, readable at any size and by a screen reader. The
misclassified examples are small PNGs encoded by Pillow, upscaled with nearest neighbour so each pixel stays a
crisp square, as the model saw it. Every label and text goes through html.escape.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from html import escape
from typing import Any

MAX_MISCLASSIFIED = 16  # beyond 4x4 the grid is a wall of images nobody reads
MIN_SIDE = 84  # px: a 28x28 digit shows at 3x, a 32x32 CIFAR image at 3x (96 px)
COLUMNS = 4

# The ends of matplotlib's "Blues" colour map, so the table reads like the PNG it replaces; a cell's colour is
# the linear interpolation between them by count / largest count.
LIGHT = (247, 251, 255)
DARK = (8, 48, 107)


def confusion_table_html(data: dict[str, Any]) -> str:
    """The matrix as <table class="heatmap">: rows true label, columns predicted, one cell per count."""
    matrix, labels = _square(data)
    top = max((count for row in matrix for count in row), default=0.0)
    long = any(len(label) > 3 for label in labels)  # such column headers are set vertically (see STYLE)
    head = "".join(f'<th scope="col"><span>{escape(label)}</span></th>' for label in labels)
    lines = [
        f'<div class="heatmap-scroll"><table class="heatmap{" long-labels" if long else ""}">',
        "<caption>Rows: true label; columns: predicted label</caption>",
        f'<thead><tr><th scope="col" class="corner">true \\ predicted</th>{head}</tr></thead>',
        "<tbody>",
    ]
    for i, (label, row) in enumerate(zip(labels, matrix, strict=True)):
        cells = "".join(_cell(count, top, hit=i == j) for j, count in enumerate(row))
        lines.append(f'<tr><th scope="row">{escape(label)}</th>{cells}</tr>')
    return "\n".join([*lines, "</tbody>", "</table></div>"])


def _square(data: dict[str, Any]) -> tuple[list[list[float]], list[str]]:
    """The finite counts and one label per row of a square matrix; ValueError or TypeError otherwise."""
    matrix = [[float(count) for count in row] for row in data["matrix"]]  # rows true, columns predicted
    labels = [str(label) for label in data.get("labels") or range(len(matrix))]
    if not matrix or any(len(row) != len(matrix) for row in matrix) or len(labels) != len(matrix):
        widths = "/".join(str(width) for width in sorted({len(row) for row in matrix})) or "0"
        raise ValueError(f"confusion_matrix must be square with one label per row, got {len(matrix)}x{widths} "
                         f"counts and {len(labels)} labels")
    if not all(math.isfinite(count) for row in matrix for count in row):
        raise ValueError("confusion_matrix counts must be finite numbers")
    return matrix, labels


def _cell(count: float, top: float, *, hit: bool) -> str:
    share = min(max(count / top, 0.0), 1.0) if top > 0 else 0.0
    red, green, blue = (round(a + (b - a) * share) for a, b in zip(LIGHT, DARK, strict=True))
    ink = "#fff" if count > top / 2 else "#000"  # as the PNG: white on the darker half of the ramp
    hit_class = ' class="hit"' if hit else ""  # the diagonal: correct predictions
    return f'<td{hit_class} style="background:#{red:02x}{green:02x}{blue:02x};color:{ink}">{count:g}</td>'


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def misclassified_html(items: Sequence[dict[str, Any]]) -> str:
    """Up to MAX_MISCLASSIFIED images, each a <figure> with a PNG data URI, in a grid of COLUMNS columns."""
    items = list(items)[:MAX_MISCLASSIFIED]
    if not items:
        raise ValueError("misclassified is empty")
    figures = []
    for i, item in enumerate(items, start=1):
        png, width, height = example_png(item["image"], index=i)
        predicted, label = escape(str(item["predicted"])), escape(str(item["label"]))
        figures.append(f'<figure><img src="{data_uri(png)}" width="{width}" height="{height}" '
                       f'alt="predicted {predicted}, label {label}">'
                       f"<figcaption>predicted {predicted} / label {label}</figcaption></figure>")
    columns = min(COLUMNS, len(items))
    return "\n".join([f'<div class="examples" style="grid-template-columns:repeat({columns},auto)">',
                      *figures, "</div>"])


def example_png(image: Any, *, index: int = 1) -> tuple[bytes, int, int]:
    """One uint8 image, (H, W) grey or (H, W, 3) colour, as PNG bytes upscaled by a whole factor to at least
    MIN_SIDE px on its short side, and the PNG's width and height. No metadata: the bytes depend on the pixels
    (and zlib) only."""
    import numpy as np
    from PIL import Image

    pixels = np.asarray(image, dtype=float)
    if pixels.ndim not in (2, 3) or (pixels.ndim == 3 and pixels.shape[2] != 3) or 0 in pixels.shape:
        raise ValueError(f"image {index} must be (H, W) or (H, W, 3), got {pixels.shape}")
    if not np.isfinite(pixels).all() or pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"image {index} must hold uint8 values 0-255")
    height, width = pixels.shape[:2]
    scale = max(1, -(-MIN_SIDE // min(height, width)))  # ceil: 28 -> 3, 32 -> 3, 64 -> 2, 224 -> 1
    picture = Image.fromarray(pixels.astype(np.uint8))
    picture = picture.resize((width * scale, height * scale), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue(), width * scale, height * scale
