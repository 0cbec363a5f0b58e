"""Topic 3: a shallow network. One hidden layer of sigmoid units separates two concentric circles, which no line can."""

import torch
from torch import nn


class ShallowNetwork(nn.Module):
    """Linear(in_features, hidden) -> sigmoid -> Linear(hidden, out_features) -> sigmoid.

    Name the layers `linear1` and `linear2`.
    """

    def __init__(self, in_features=2, hidden=4, out_features=1):
        super().__init__()
        self.linear1 = nn.Linear(in_features, hidden)
        self.linear2 = nn.Linear(hidden, out_features)

    def forward(self, x):
        """x (N, in_features) -> probabilities (N, out_features) in (0, 1)."""
        x = torch.sigmoid(self.linear1(x))  # (N, hidden)
        return torch.sigmoid(self.linear2(x))  # (N, out_features)


def train(model, x, y, epochs, lr):
    """Full-batch training with Adam on the binary cross-entropy.

    Use `nn.BCELoss()` and `torch.optim.Adam(model.parameters(), lr=lr)`. Each epoch: zero the gradients,
    compute the loss of `model(x)` (N, 1) against the labels y (N, 1) of 0. and 1., backpropagate, step.
    Return the list of the `epochs` loss values as Python floats (one per epoch, before that epoch's step).
    """
    criterion = nn.BCELoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def predict(model, x):
    """Class labels (N, 1) as floats 0. or 1.: 1. where the probability is at least 0.5.

    Compute them under `torch.no_grad()`, without changing the model.
    """
    if True:
        return (model(x) >= 0.5).float()  # (N, 1)


if __name__ == "__main__":
    from sklearn.datasets import make_circles

    torch.manual_seed(2)
    points, labels = make_circles(n_samples=500, noise=0.1, factor=0.2, random_state=123)
    x = torch.tensor(points, dtype=torch.float32)  # (500, 2)
    y = torch.tensor(labels, dtype=torch.float32).reshape(-1, 1)  # (500, 1)
    model = ShallowNetwork()
    losses = train(model, x, y, epochs=1000, lr=0.01)
    accuracy = (predict(model, x) == y).float().mean().item()
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; accuracy {accuracy:.2f}")
