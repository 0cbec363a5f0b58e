"""The on-disk format writers produce files that torchvision's own readers accept, byte for byte."""

from __future__ import annotations

import pickle

import pytest
import torch
from torchvision.datasets import ImageFolder
from torchvision.datasets.mnist import read_image_file, read_label_file

from graders.data import formats


def _images(n: int, *shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("train, prefix", [(True, "train"), (False, "t10k")])
def test_mnist_idx_files_read_back(tmp_path, train, prefix):
    images, labels = _images(20, 28, 28), torch.arange(20) % 10
    raw = formats.write_mnist(tmp_path, images, labels, train=train)
    assert raw == tmp_path / "MNIST" / "raw"
    image_file, label_file = raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"
    assert image_file.read_bytes()[:16] == bytes.fromhex("00000803 00000014 0000001c 0000001c")
    assert label_file.read_bytes()[:8] == bytes.fromhex("00000801 00000014")
    assert torch.equal(read_image_file(str(image_file)), images)
    assert torch.equal(read_label_file(str(label_file)), labels)


def test_cifar_batches_hold_rgb_planes(tmp_path):
    images, labels = _images(12, 32, 32, 3), torch.arange(12) % 10
    folder = formats.write_cifar10(tmp_path, images, labels, train=True)
    rows, found = [], []
    for i in range(1, 6):
        batch = pickle.loads((folder / f"data_batch_{i}").read_bytes(), encoding="latin1")
        rows.append(torch.from_numpy(batch["data"]))
        found += batch["labels"]
    data = torch.cat(rows)  # (12, 3072)
    assert data.dtype == torch.uint8 and found == labels.tolist()
    assert torch.equal(data[:, :1024].view(12, 32, 32), images[..., 0])  # red plane first
    assert torch.equal(data[:, 2048:].view(12, 32, 32), images[..., 2])  # blue plane last
    meta = pickle.loads((folder / "batches.meta").read_bytes(), encoding="latin1")
    assert meta["label_names"] == list(formats.CIFAR10_CLASSES)


def test_cifar_test_split_is_one_batch(tmp_path):
    folder = formats.write_cifar10(tmp_path, _images(5, 32, 32, 3), torch.zeros(5), train=False)
    assert sorted(p.name for p in folder.iterdir()) == ["batches.meta", "test_batch"]


def test_image_folder_round_trips_pixels(tmp_path):
    images, labels = _images(6, 20, 24, 3), torch.tensor([0, 1, 0, 1, 1, 0])
    formats.write_image_folder(tmp_path, images, labels, ["ants", "bees"])
    ds = ImageFolder(str(tmp_path))
    assert ds.classes == ["ants", "bees"]
    assert sorted(ds.targets) == sorted(labels.tolist())
    path, label = ds.samples[0]  # "ants/00000.png", the first image
    assert label == 0 and path.endswith("00000.png")
    assert torch.equal(torch.tensor(list(ds.loader(path).getdata())).view(20, 24, 3), images[0])


def _mnist(root, images, labels):
    return formats.write_mnist(root, images, labels, train=True)


def _cifar(root, images, labels):
    return formats.write_cifar10(root, images, labels, train=True)


def _folder(root, images, labels):
    return formats.write_image_folder(root, images, labels, ["a"])


@pytest.mark.parametrize(
    "write, images, labels",
    [
        (_mnist, torch.zeros(2, 28, 28), torch.zeros(2)),
        (_mnist, _images(2, 28, 28), torch.zeros(3)),
        (_cifar, _images(2, 32, 32, 3), torch.tensor([0, 10])),
        (_folder, _images(2, 4, 4, 3), torch.tensor([0, 1])),
    ],
    ids=["float-images", "label-count", "label-range", "class-range"],
)
def test_bad_inputs_are_rejected_before_writing(tmp_path, write, images, labels):
    with pytest.raises(ValueError):
        write(tmp_path / "out", images, labels)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.*"))
