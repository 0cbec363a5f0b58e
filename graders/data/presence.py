"""Whether each topic's real datasets and pretrained weights are on disk, decided without importing torch.

The loaders in `vision` ask the same split-level questions, so this answer and the data a grading run loads
agree; `grade batch --require-real-data` asks it before any grading process starts (issue #13).
"""

from __future__ import annotations

from pathlib import Path

from graders.config import Config
from graders.data.checkpoints import CHECKPOINTS, locate
from graders.results import DataUse

# How reports name each item, for instructors and students alike (no paths).
LABELS = {"mnist": "MNIST", "cifar10": "CIFAR-10", "hymenoptera": "hymenoptera (ants and bees)",
          "alexnet": "AlexNet ImageNet weights", "vgg16": "VGG16 ImageNet weights"}
# The course's image topics and what their checks load (graders/families/images.py VARIANTS: classifier and lenet
# train on MNIST, cifarnet on CIFAR-10, alexnet and vgg16 on hymenoptera with their pretrained weights). The other
# topics use toy data built in the harness, which has no real counterpart.
NEEDS = {"deep_neural_network": ("mnist",), "cnn": ("mnist", "cifar10"),
         "transfer_learning": ("hymenoptera", "alexnet", "vgg16")}


def mnist_files(train: bool) -> tuple[str, str]:
    """The IDX file names of one MNIST split."""
    prefix = "train" if train else "t10k"
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def mnist_split(root: Path, train: bool) -> bool:
    raw = root / "MNIST" / "raw"
    return all((raw / name).is_file() for name in mnist_files(train))


def cifar10_split(root: Path, train: bool) -> bool:
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    return all((root / "cifar-10-batches-py" / name).is_file() for name in [*names, "batches.meta"])


def two_class_split(root: Path, train: bool) -> bool:
    folder = root / "hymenoptera_data" / ("train" if train else "val")
    return folder.is_dir() and any(p.is_dir() for p in folder.iterdir())


def present(item: str, *, data_dir: Path, weights_dir: Path) -> bool:
    """True when grading reads the real `item` (both splits of a dataset), False when it uses a stand-in."""
    if item in CHECKPOINTS:
        return locate(weights_dir, item) is not None
    split = {"mnist": mnist_split, "cifar10": cifar10_split, "hymenoptera": two_class_split}[item]
    return split(data_dir, True) and split(data_dir, False)


def uses(config: Config, topic: str) -> list[DataUse]:
    """What `topic` is graded on, each item real or a built-in stand-in, with this config's folders."""
    data_dir, weights_dir = config.resolve(config.data_dir), Path(config.weights_dir)
    return [DataUse(item, LABELS[item], present(item, data_dir=data_dir, weights_dir=weights_dir))
            for item in NEEDS.get(topic, ())]


def missing(config: Config, topics: list[str]) -> dict[str, list[DataUse]]:
    """The stand-ins each of `topics` would be graded on; topics with everything real are left out."""
    found = {topic: [use for use in uses(config, topic) if not use.real] for topic in topics}
    return {topic: standins for topic, standins in found.items() if standins}
