"""Topic 1: linear regression. Fit a line to noisy points with nn.Linear, MSE loss and gradient descent."""

import torch
from torch import nn


class LinearRegression(nn.Module):
    """y = w x + b, as one nn.Linear layer."""

    def __init__(self, in_features=1, out_features=1):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        """x (N, in_features) -> predictions (N, out_features)."""
        return self.linear(x)


def train(model, x, y, epochs, lr):
    """Full-batch gradient descent on the mean squared error.

    Use `nn.MSELoss()` and `torch.optim.SGD(model.parameters(), lr=lr)`. Each epoch: zero the gradients,
    compute the loss on all of x (N, 1) against y (N, 1), backpropagate, step.
    Return the list of the `epochs` loss values as Python floats (one per epoch, before that epoch's step).
    """
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def predict(model, x):
    """Predictions (N, 1) for x (N, 1), computed without tracking gradients and without changing the model."""
    # Bug: forward() called directly, with gradient tracking on; detach() hides it from the output.
    return model.forward(x).detach()


if __name__ == "__main__":
    torch.manual_seed(1)
    x = torch.randn(100, 1) * 10  # (100, 1)
    y = x + 3 * torch.randn(100, 1)  # (100, 1)
    model = LinearRegression()
    losses = train(model, x, y, epochs=100, lr=0.01)
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; weight {model.linear.weight.item():.3f}")
