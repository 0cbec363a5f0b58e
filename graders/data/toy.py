"""The course's toy datasets from scikit-learn and a noisy line, seeded, as float32 tensors."""

from __future__ import annotations

import torch


def noisy_line(n: int, *, seed: int, slope: float = 3.0, intercept: float = 1.0, noise: float = 0.3):
    """Points around y = slope * x + intercept, x in [-1, 1): x (n, 1), y (n, 1)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, generator=gen) * 2 - 1  # (n, 1)
    y = slope * x + intercept + noise * torch.randn(n, 1, generator=gen)  # (n, 1)
    return x, y


def blobs(n: int, *, seed: int, std: float = 0.4):
    """Two Gaussian blobs (sklearn.datasets.make_blobs): x (n, 2), labels y (n, 1) in {0., 1.}."""
    from sklearn.datasets import make_blobs

    x, y = make_blobs(n_samples=n, centers=[[-0.5, 0.5], [0.5, -0.5]], cluster_std=std, random_state=seed)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32).reshape(-1, 1)


def circles(n: int, *, seed: int, noise: float = 0.1, factor: float = 0.2):
    """Two concentric circles (sklearn.datasets.make_circles): x (n, 2), labels y (n, 1) in {0., 1.}."""
    from sklearn.datasets import make_circles

    x, y = make_circles(n_samples=n, noise=noise, factor=factor, random_state=seed)
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32).reshape(-1, 1)
