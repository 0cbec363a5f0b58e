"""Topic 4: a deep neural network. Classify MNIST digits with two hidden ReLU layers and the cross-entropy loss."""

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import transforms as T


class Classifier(nn.Module):
    """784 -> 125 -> 65 -> 10 fully connected, ReLU between layers, named `linear1`, `linear2`, `linear3`."""

    def __init__(self, in_features=784, hidden1=125, hidden2=65, num_classes=10):
        super().__init__()
        ### BEGIN SOLUTION
        self.linear1 = nn.Linear(in_features, hidden1)
        self.linear2 = nn.Linear(hidden1, hidden2)
        self.linear3 = nn.Linear(hidden2, num_classes)
        ### END SOLUTION

    def forward(self, x):
        """Images (N, 1, 28, 28) or flat (N, 784) -> logits (N, num_classes); no softmax (the loss applies it)."""
        ### BEGIN SOLUTION
        x = x.reshape(x.shape[0], -1)  # (N, 784)
        x = F.relu(self.linear1(x))  # (N, 125)
        x = F.relu(self.linear2(x))  # (N, 65)
        return self.linear3(x)  # (N, 10)
        ### END SOLUTION


def transforms():
    """The torchvision transform from a PIL grey image to a float tensor (1, 28, 28) with values in [-1, 1].

    Compose `T.Resize((28, 28))`, `T.ToTensor()` and `T.Normalize((0.5,), (0.5,))`.
    """
    ### BEGIN SOLUTION
    return T.Compose([T.Resize((28, 28)), T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    ### END SOLUTION


def train_one_epoch(model, loader, criterion, optimizer, device):
    """One pass over `loader`; returns the mean loss per sample as a Python float.

    Put the model in training mode. For each batch (inputs, labels): move both to `device`, zero the
    gradients, compute `criterion(model(inputs), labels)`, backpropagate and step. Weigh each batch's
    (mean) loss by its size, sum, and divide by the number of samples seen.
    """
    ### BEGIN SOLUTION
    model.train()
    total_loss, seen = 0.0, 0
    for inputs, labels in loader:
        inputs, labels = inputs.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = criterion(model(inputs), labels)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * inputs.shape[0]
        seen += inputs.shape[0]
    return total_loss / seen
    ### END SOLUTION


def evaluate(model, loader, criterion, device):
    """Mean loss per sample and accuracy in [0, 1] over `loader`, as a tuple of two Python floats.

    Put the model in evaluation mode and compute everything under `torch.no_grad()`; the predicted
    class is the index of the largest logit.
    The loss is the mean per sample, as in train_one_epoch: weigh each batch's (mean) loss by its size,
    sum, and divide by the number of samples. The last batch may be smaller, so the mean of the batch
    means is not the same figure.
    """
    ### BEGIN SOLUTION
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    with torch.no_grad():
        for inputs, labels in loader:
            inputs, labels = inputs.to(device), labels.to(device)
            logits = model(inputs)  # (B, 10)
            total_loss += criterion(logits, labels).item() * inputs.shape[0]
            correct += (logits.argmax(dim=1) == labels).sum().item()
            seen += inputs.shape[0]
    return total_loss / seen, correct / seen
    ### END SOLUTION


if __name__ == "__main__":
    from torchvision import datasets

    torch.manual_seed(1)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_set = datasets.MNIST("data", train=True, download=True, transform=transforms())
    test_set = datasets.MNIST("data", train=False, download=True, transform=transforms())
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=100, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=100)
    model = Classifier().to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.0001)
    for epoch in range(1, 13):
        train_loss = train_one_epoch(model, train_loader, criterion, optimizer, device)
        test_loss, accuracy = evaluate(model, test_loader, criterion, device)
        print(f"epoch {epoch}: train loss {train_loss:.4f}, test loss {test_loss:.4f}, accuracy {accuracy:.3f}")
