"""Topic 2: logistic regression. Separate two blobs of points with one sigmoid neuron, BCE loss and gradient descent."""

import torch
from torch import nn


class LogisticRegression(nn.Module):
    """p(y = 1 | x) = sigmoid(w . x + b), as one nn.Linear layer named `linear` followed by a sigmoid."""

    def __init__(self, in_features=2):
        super().__init__()
        self.linear = nn.Linear(in_features, 1)

    def forward(self, x):
        """x (N, in_features) -> probabilities (N, 1) in (0, 1): the sigmoid of `self.linear(x)`."""
        return torch.sigmoid(self.linear(x))  # (N, 1)


def train(model, x, y, epochs, lr):
    """Full-batch gradient descent on the binary cross-entropy.

    Use `nn.BCELoss()` and `torch.optim.SGD(model.parameters(), lr=lr)`. Each epoch: zero the gradients,
    compute the loss of `model(x)` (N, 1) against the labels y (N, 1) of 0. and 1., backpropagate, step.
    Return the list of the `epochs` loss values as Python floats (one per epoch, before that epoch's step).
    """
    criterion = nn.BCELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def predict(model, x):
    """Class labels (N, 1) as floats 0. or 1.: 1. where the probability is at least 0.5.

    Compute them under `torch.no_grad()`, without changing the model.
    """
    with torch.no_grad():
        return (model(x) >= 0.5).float()  # (N, 1)


if __name__ == "__main__":
    from sklearn.datasets import make_blobs

    torch.manual_seed(2)
    points, labels = make_blobs(n_samples=100, centers=[[-0.5, 0.5], [0.5, -0.5]], cluster_std=0.4, random_state=123)
    x = torch.tensor(points, dtype=torch.float32)  # (100, 2)
    y = torch.tensor(labels, dtype=torch.float32).reshape(-1, 1)  # (100, 1)
    model = LogisticRegression()
    losses = train(model, x, y, epochs=1000, lr=0.01)
    accuracy = (predict(model, x) == y).float().mean().item()
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; accuracy {accuracy:.2f}")
