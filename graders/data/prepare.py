"""`grade data prepare`: fetch the real datasets and ImageNet weights for users who are online.

Grading itself never downloads: it reads what this put on disk, or falls back to the built-in stand-ins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from graders.config import Config
from graders.data import presence

# The course's two-class image task (ants and bees), as the PyTorch transfer-learning tutorial ships it.
HYMENOPTERA_URL = "https://download.pytorch.org/tutorial/hymenoptera_data.zip"
ITEMS = ("mnist", "cifar10", "hymenoptera", "alexnet", "vgg16")


@dataclass(frozen=True)
class Prepared:
    item: str
    status: Literal["present", "downloaded", "failed"]
    detail: str


def prepare(*, config: Config, items: tuple[str, ...] = ITEMS) -> list[Prepared]:
    """Download whatever of `items` is missing into the config's data and weights folders."""
    data, weights = config.resolve(config.data_dir), Path(config.weights_dir).expanduser()
    return [_one(item, data, weights) for item in items]


def _one(item: str, data: Path, weights: Path) -> Prepared:
    target = _where(item, data, weights)
    if presence.present(item, data_dir=data, weights_dir=weights):  # what grading reads, not just the folder
        return Prepared(item, "present", str(target))
    try:
        _download(item, data, weights)
    except Exception as exc:  # urllib, ssl, zip and torchvision errors all mean "could not fetch"
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return Prepared(item, "failed", f"{reason} (offline? put the files at {target} by hand)")
    return Prepared(item, "downloaded", str(target))


def _where(item: str, data: Path, weights: Path) -> Path:
    from graders.data.weights import CHECKPOINTS

    if item in CHECKPOINTS:
        return weights / "hub" / "checkpoints" / CHECKPOINTS[item]
    return data / {"mnist": "MNIST/raw", "cifar10": "cifar-10-batches-py", "hymenoptera": "hymenoptera_data"}[item]


def _download(item: str, data: Path, weights: Path) -> None:
    import torch
    import torchvision

    if item == "mnist":
        torchvision.datasets.MNIST(str(data), train=True, download=True)
        torchvision.datasets.MNIST(str(data), train=False, download=True)
    elif item == "cifar10":
        torchvision.datasets.CIFAR10(str(data), train=True, download=True)
    elif item == "hymenoptera":
        torchvision.datasets.utils.download_and_extract_archive(HYMENOPTERA_URL, str(data))
    else:
        torch.hub.set_dir(str(weights / "hub"))
        weights_enum = {"alexnet": torchvision.models.AlexNet_Weights, "vgg16": torchvision.models.VGG16_Weights}
        weights_enum[item].IMAGENET1K_V1.get_state_dict(progress=False)
