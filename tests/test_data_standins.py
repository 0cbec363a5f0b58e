"""Built-in stand-ins: deterministic, shaped like the real sets, learnable but not trivially so."""

from __future__ import annotations

import pytest
import torch

from graders.data import standins

MAKERS = {
    "mnist": (lambda n, seed: standins.mnist_like(n, seed=seed), (28, 28), 10),
    "cifar": (lambda n, seed: standins.cifar_like(n, seed=seed), (32, 32, 3), 10),
    "two_class": (lambda n, seed: standins.two_class(n, size=48, seed=seed), (48, 48, 3), 2),
}


@pytest.mark.parametrize("kind", MAKERS)
def test_shapes_dtypes_and_cycling_labels(kind):
    make, shape, classes = MAKERS[kind]
    images, labels = make(25, 0)
    assert images.shape == (25, *shape) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64 and labels.tolist() == [i % classes for i in range(25)]
    assert images.float().std() > 20  # not blank: real contrast between ink/shape and background


@pytest.mark.parametrize("kind", MAKERS)
def test_same_seed_same_bytes_and_global_rng_untouched(kind):
    make = MAKERS[kind][0]
    state = torch.random.get_rng_state()
    first, again, other = make(20, 5)[0], make(20, 5)[0], make(20, 6)[0]
    assert torch.equal(torch.random.get_rng_state(), state)
    assert first.numpy().tobytes() == again.numpy().tobytes()
    assert not torch.equal(first, other)


def _nearest_centroid_accuracy(make, classes):
    train, train_labels = make(500, 0)
    test, test_labels = make(300, 1)
    train, test = train.flatten(1).float(), test.flatten(1).float()
    centroids = torch.stack([train[train_labels == c].mean(0) for c in range(classes)])
    return (torch.cdist(test, centroids).argmin(1) == test_labels).float().mean().item()


def test_digits_are_learnable_but_not_trivial():
    make, _, classes = MAKERS["mnist"]
    # the reference nets are meant to beat this pixel baseline, and to stay below 100%
    assert 0.5 < _nearest_centroid_accuracy(make, classes) < 0.95


def test_cifar_classes_need_more_than_average_pixels():
    make, _, classes = MAKERS["cifar"]
    assert 0.15 < _nearest_centroid_accuracy(make, classes) < 0.5


def test_bees_are_the_yellow_ones():
    images, labels = standins.two_class(200, size=32, seed=0)
    rgb = images.int()
    yellow = ((rgb[..., 0] > 150) & (rgb[..., 1] > 100) & (rgb[..., 2] < 90)).flatten(1).sum(1)
    assert ((yellow >= 3).long() == labels).float().mean() > 0.75  # a clear cue, though backgrounds blur it
