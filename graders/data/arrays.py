"""A Dataset over uint8 image tensors that hands PIL images to a transform, as torchvision's datasets do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset


class ArrayImageDataset(Dataset):
    """Yields `(transform(PIL image), label)` from images uint8 (N, H, W) or (N, H, W, 3).

    Grey arrays become mode "L" and colour arrays mode "RGB", the modes MNIST and CIFAR10 give,
    so a student's `transforms()` sees exactly what it would see on the real datasets. Without
    labels every item's label is -1; without a transform the PIL image itself is yielded.
    """

    def __init__(
        self, images: Tensor, labels: Tensor | None = None, transform: Callable[[Image.Image], Any] | None = None
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() not in (3, 4) or (images.dim() == 4 and images.shape[-1] != 3):
            shape = tuple(images.shape)
            raise ValueError(f"images must be uint8 (N, H, W) or (N, H, W, 3), got {images.dtype} {shape}")
        if labels is not None and labels.shape != (len(images),):
            raise ValueError(f"labels must have shape ({len(images)},), got {tuple(labels.shape)}")
        self.images = images.cpu().numpy()  # PIL wants numpy; converting once beats once per item
        self.labels = None if labels is None else labels.cpu().tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        array = self.images[index]
        image = Image.fromarray(array)  # uint8 (H, W) gives mode "L", (H, W, 3) gives "RGB"
        label = -1 if self.labels is None else int(self.labels[index])
        return (image if self.transform is None else self.transform(image)), label
