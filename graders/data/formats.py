"""Writers for the on-disk formats torchvision reads (MNIST IDX, CIFAR-10 pickles, ImageFolder PNGs)."""

from __future__ import annotations

import pickle
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from torch import Tensor

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_IDX_UBYTE_IMAGES = 0x00000803  # unsigned byte data, 3 dimensions
_IDX_UBYTE_LABELS = 0x00000801  # unsigned byte data, 1 dimension


def _uint8(images: Tensor, what: str, ndim: int) -> np.ndarray:
    """Check dtype and rank of images before anything touches the disk."""
    array = images.detach().cpu().numpy()
    if array.dtype != np.uint8 or array.ndim != ndim:
        raise ValueError(f"{what} must be uint8 with {ndim} dimensions, got {array.dtype} {array.shape}")
    return array


def _labels(labels: Tensor, n: int, top: int) -> list[int]:
    """Labels as Python ints in [0, top), one per image."""
    values = [int(v) for v in labels.detach().cpu().view(-1)]
    if len(values) != n or any(not 0 <= v < top for v in values):
        raise ValueError(f"need {n} labels in [0, {top}), got {len(values)}")
    return values


def _write_idx(path: Path, magic: int, array: np.ndarray) -> None:
    """One IDX file: big-endian magic, each dimension as uint32, then the raw bytes."""
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array).tobytes())


def write_mnist(root: str | Path, images: Tensor, labels: Tensor, *, train: bool) -> Path:
    """Write images uint8 (N, H, W) and labels (N,) as `<root>/MNIST/raw/{train,t10k}-*-ubyte`; returns that folder."""
    array = _uint8(images, "MNIST images", 3)
    values = _labels(labels, len(array), 256)
    raw = Path(root) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    prefix = "train" if train else "t10k"
    _write_idx(raw / f"{prefix}-images-idx3-ubyte", _IDX_UBYTE_IMAGES, array)
    _write_idx(raw / f"{prefix}-labels-idx1-ubyte", _IDX_UBYTE_LABELS, np.array(values, dtype=np.uint8))
    return raw


def write_cifar10(
    root: str | Path, images: Tensor, labels: Tensor, *, train: bool, classes: Sequence[str] = CIFAR10_CLASSES
) -> Path:
    """Write images uint8 (N, 32, 32, 3) and labels (N,) as `<root>/cifar-10-batches-py/`; returns that folder.

    The training split is spread over `data_batch_1..5` like the real archive (so a batch may be
    empty for tiny N), the test split goes to `test_batch`; `batches.meta` is (re)written either way.
    """
    array = _uint8(images, "CIFAR-10 images", 4)
    values = _labels(labels, len(array), len(classes))
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    # Each row is the R plane, then G, then B, each 32x32 row-major: CHW flattened.
    rows = array.transpose(0, 3, 1, 2).reshape(len(array), -1)
    names = [f"data_batch_{i}" for i in range(1, 6)] if train else ["test_batch"]
    bounds = np.linspace(0, len(rows), len(names) + 1).astype(int)
    for name, lo, hi in zip(names, bounds[:-1], bounds[1:], strict=True):
        batch = {"batch_label": name, "data": rows[lo:hi], "labels": values[lo:hi],
                 "filenames": [f"{i:05d}.png" for i in range(lo, hi)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {"label_names": list(classes), "num_cases_per_batch": 10000, "num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def write_image_folder(root: str | Path, images: Tensor, labels: Tensor, classes: Sequence[str]) -> Path:
    """Write images uint8 (N, H, W, 3) or (N, H, W) as `<root>/<class>/<index>.png`, the layout ImageFolder reads."""
    array = images.detach().cpu().numpy()
    if array.dtype != np.uint8 or array.ndim not in (3, 4):
        raise ValueError(f"images must be uint8 (N, H, W[, 3]), got {array.dtype} {array.shape}")
    values = _labels(labels, len(array), len(classes))
    root = Path(root)
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(array, values, strict=True)):
        Image.fromarray(image).save(root / classes[label] / f"{i:05d}.png")
    return root
