"""Dataset loading: real files through torchvision's classes, stand-ins when the folder is empty."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader
from torchvision import transforms as T

from graders.data import formats, vision
from graders.data.arrays import ArrayImageDataset


def _images(n: int, *shape: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=torch.Generator().manual_seed(n))


def test_balanced_pick_takes_classes_in_turn():
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    assert vision.balanced_pick(labels, 4).tolist() == [0, 3, 5, 1]
    assert vision.balanced_pick(labels, None).tolist() == list(range(6))
    assert vision.balanced_pick(labels, 60).tolist() == list(range(6))


def test_mnist_real_files_go_through_torchvision(tmp_path):
    images, labels = _images(20, 28, 28), torch.arange(20) % 10
    formats.write_mnist(tmp_path, images, labels, train=False)  # one split only, as `grade data` may write
    got = vision.load_mnist(tmp_path, train=False)
    assert got.source == f"real: {tmp_path / 'MNIST' / 'raw'}"
    assert got.images.dtype == torch.uint8 and got.labels.dtype == torch.int64
    assert torch.equal(got.images, images) and torch.equal(got.labels, labels)
    assert vision.load_mnist(tmp_path, train=True, limit=10).source.startswith("built-in stand-in")


def test_mnist_limit_is_a_balanced_subset(tmp_path):
    labels = torch.tensor([3] * 10 + [7] * 10)
    formats.write_mnist(tmp_path, _images(20, 28, 28), labels, train=True)
    got = vision.load_mnist(tmp_path, train=True, limit=4)
    assert got.labels.tolist() == [3, 7, 3, 7]


def test_mnist_standin_when_folder_empty(tmp_path):
    got = vision.load_mnist(tmp_path, train=True, limit=30)
    assert got.source == f"built-in stand-in (no data at {tmp_path / 'MNIST' / 'raw'})"
    assert got.images.shape == (30, 28, 28) and got.images.dtype == torch.uint8
    assert got.labels.dtype == torch.int64 and len(got) == 30
    test = vision.load_mnist(tmp_path, train=False, limit=30)
    assert not torch.equal(test.images, got.images)  # train and test are different draws


def test_cifar_real_files_skip_md5_by_default(tmp_path):
    images, labels = _images(12, 32, 32, 3), torch.arange(12) % 10
    formats.write_cifar10(tmp_path, images, labels, train=True)
    got = vision.load_cifar10(tmp_path, train=True)
    assert got.source == f"real: {tmp_path / 'cifar-10-batches-py'}"
    assert got.images.shape == (12, 32, 32, 3) and got.images.dtype == torch.uint8
    assert torch.equal(got.images, images) and torch.equal(got.labels, labels)
    assert vision.Cifar10Files(tmp_path, train=True).classes == list(formats.CIFAR10_CLASSES)


def test_cifar_md5_check_still_available(tmp_path):
    formats.write_cifar10(tmp_path, _images(4, 32, 32, 3), torch.zeros(4), train=False)
    with pytest.raises(ValueError, match="md5"):
        vision.load_cifar10(tmp_path, train=False, verify_md5=True)


def test_cifar_standin_when_split_missing(tmp_path):
    formats.write_cifar10(tmp_path, _images(4, 32, 32, 3), torch.zeros(4), train=False)
    got = vision.load_cifar10(tmp_path, train=True, limit=20)
    assert got.source.startswith("built-in stand-in (no data at")
    assert got.images.shape == (20, 32, 32, 3) and got.labels.tolist() == [i % 10 for i in range(20)]


def test_two_class_image_folder_is_squared_and_balanced(tmp_path):
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    formats.write_image_folder(tmp_path / "hymenoptera_data" / "val", _images(6, 30, 40, 3), labels, ["ants", "bees"])
    got = vision.load_two_class(tmp_path, train=False, limit=4, size=16)
    assert got.source == f"real: {tmp_path / 'hymenoptera_data' / 'val'}"
    assert got.images.shape == (4, 16, 16, 3) and got.images.dtype == torch.uint8
    assert got.labels.tolist() == [0, 1, 0, 1]


def test_two_class_standin(tmp_path):
    got = vision.load_two_class(tmp_path, train=True, limit=6, size=64)
    assert got.source.startswith("built-in stand-in")
    assert got.images.shape == (6, 64, 64, 3) and got.labels.tolist() == [0, 1, 0, 1, 0, 1]


def test_array_dataset_feeds_pil_images_to_transforms():
    grey = ArrayImageDataset(_images(5, 28, 28), torch.arange(5))
    image, label = grey[2]
    assert image.mode == "L" and image.size == (28, 28) and label == 2
    colour = ArrayImageDataset(_images(5, 32, 32, 3), transform=T.ToTensor())
    tensor, label = colour[0]
    assert label == -1 and tensor.shape == (3, 32, 32)
    inputs, labels = next(iter(DataLoader(colour, batch_size=5)))
    assert inputs.shape == (5, 3, 32, 32) and labels.tolist() == [-1] * 5


def test_array_dataset_rejects_wrong_arrays():
    with pytest.raises(ValueError, match="uint8"):
        ArrayImageDataset(torch.zeros(2, 28, 28))
    with pytest.raises(ValueError, match="labels"):
        ArrayImageDataset(_images(2, 28, 28), torch.zeros(3))


def test_negative_limit_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="limit"):
        vision.load_mnist(tmp_path, limit=-1)
    with pytest.raises(ValueError, match="limit"):
        vision.balanced_pick(torch.tensor([0, 1]), -1)
