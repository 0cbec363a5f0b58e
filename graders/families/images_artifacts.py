"""Plot material for topics 4-6: batch loss curves per model, and from held-out labels a confusion matrix and
misclassified examples."""

from __future__ import annotations

from typing import Any

import torch

from graders.config import Config
from graders.families import images
from graders.grading.context import TopicContext

# The class names each dataset's labels stand for, in label order (ImageFolder sorts hymenoptera's folders).
CLASS_NAMES = {
    "mnist": [str(digit) for digit in range(10)],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
    "two_class": ["ants", "bees"],
}
# Enough to show a pattern. Each kept image is raw pixels in result.json, so at most PIXELS_KEPT numbers in all:
# 8 MNIST (784 each) or CIFAR-10 (3,072) images, 2 of topic 6's 64x64 colour ones (12,288): about 100 kB of JSON.
MISCLASSIFIED_KEPT, PIXELS_KEPT = 8, 25_000


def model_name(variant: str) -> str:
    """The name the assignment gives the model: "LeNet", "build_alexnet" -> "AlexNet"."""
    build = images.VARIANTS[variant].build
    return build.get("class") or {"alexnet": "AlexNet", "vgg16": "VGG16"}.get(variant, variant)


def record(artifacts: dict[str, Any], run: Any, topic: TopicContext, variant: str, *, side: str,
           config: Config | None = None) -> None:
    """Keep one side's batch losses and, for the student's side (`config` given), the held-out figures.

    Never raises: plot material must not change a check's verdict, so anything unfit is left out.
    """
    try:
        _record(artifacts, run, topic, variant, side=side, config=config)
    # Deliberately broad: a malformed run is its checks' business; the plot is simply missing.
    except Exception:  # noqa: BLE001
        pass


def _record(artifacts: dict[str, Any], run: Any, topic: TopicContext, variant: str, *, side: str,
            config: Config | None) -> None:
    losses = images.curve(run, topic, variant)
    curve = artifacts.setdefault("loss_curve", {})
    # One entry per criterion call (images.batches): the x axis counts batches, not epochs.
    curve["x"] = "batch"
    if losses:
        curve.setdefault("models", {}).setdefault(model_name(variant), {})[side] = losses
    if side != "student" or config is None:
        return
    found = held_out(run, topic, variant)
    if found is not None:
        matrix, misclassified = found
        artifacts[f"confusion_matrix/{model_name(variant)}"] = matrix
        if misclassified:
            artifacts[f"misclassified/{model_name(variant)}"] = misclassified


def held_out(run: Any, topic: TopicContext, variant: str, *,
             config: Config | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The confusion matrix and the first misclassified images of the held-out set, scored with the harness's
    labels (the worker never sees them); None when the run has no usable predictions. `config=`: accepted, unused
    (see graders/families/images.py)."""
    d = images.data(topic, variant)
    names = CLASS_NAMES[images.VARIANTS[variant].dataset]
    predicted = predictions(run, len(d.eval_labels), len(names))
    if predicted is None:
        return None
    matrix = torch.zeros(len(names), len(names), dtype=torch.int64)  # (K, K): rows true, columns predicted
    matrix.index_put_((d.eval_labels, predicted), torch.ones_like(predicted), accumulate=True)
    kept = max(1, min(MISCLASSIFIED_KEPT, PIXELS_KEPT // max(1, d.eval_images[0].numel())))
    wrong = (predicted != d.eval_labels).nonzero().flatten()[:kept].tolist()
    examples = [{"image": d.eval_images[i].tolist(), "predicted": names[int(predicted[i])],
                 "label": names[int(d.eval_labels[i])]} for i in wrong]  # uint8 (H, W) or (H, W, 3)
    source = "harness_predictions" if predicted is run.get("harness_predictions") else "predictions"
    return {"labels": names, "matrix": matrix.tolist(), "predictions": source}, examples


def predictions(run: Any, n: int, classes: int) -> torch.Tensor | None:
    """The held-out predictions to show: the course's evaluation transform's where the harness made them (the
    model, not a broken transform, is what the matrix is about), else those of the student's transform."""
    if not isinstance(run, dict):
        return None
    for key in ("harness_predictions", "predictions"):
        found = run.get(key)
        if (type(found) is torch.Tensor and found.dtype == torch.int64 and found.shape == (n,)
                and bool(((found >= 0) & (found < classes)).all())):
            return found
    return None
