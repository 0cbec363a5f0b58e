"""Dataset and weights access: toy data, torchvision datasets from disk, built-in stand-ins."""

from __future__ import annotations

import importlib
from typing import Any

# Re-exported lazily: importing vision pulls in torchvision (seconds), which `toy` users never need.
_EXPORTS = {
    "ImageSet": "vision", "load_mnist": "vision", "load_cifar10": "vision", "load_two_class": "vision",
    "load_pretrained": "weights", "standin_state_dict": "weights", "ArrayImageDataset": "arrays",
    "write_mnist": "formats", "write_cifar10": "formats", "write_image_folder": "formats",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'graders.data' has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
