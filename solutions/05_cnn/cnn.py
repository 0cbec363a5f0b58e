"""Topic 5: convolutional networks. LeNet for MNIST digits, and a three-block CNN with augmentation for CIFAR-10."""

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import transforms as T


class LeNet(nn.Module):
    """1x28x28 -> 10 logits, with layers named `conv1`, `conv2`, `fc1`, `dropout1`, `fc2`.

    conv1: Conv2d(1, 20, 5), conv2: Conv2d(20, 50, 5), each followed by ReLU and 2x2 max pooling;
    flatten to 4*4*50; fc1: Linear(800, 500) + ReLU; dropout1: Dropout(0.5); fc2: Linear(500, 10).
    """

    def __init__(self):
        super().__init__()
        ### BEGIN SOLUTION
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(4 * 4 * 50, 500)
        self.dropout1 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(500, 10)
        ### END SOLUTION

    def forward(self, x):
        """Images (N, 1, 28, 28) -> logits (N, 10); no softmax."""
        ### BEGIN SOLUTION
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, 20, 12, 12)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, 50, 4, 4)
        x = x.flatten(1)  # (N, 800)
        x = self.dropout1(F.relu(self.fc1(x)))  # (N, 500)
        return self.fc2(x)  # (N, 10)
        ### END SOLUTION


class CifarNet(nn.Module):
    """3x32x32 -> 10 logits, with layers named `conv1`, `conv2`, `conv3`, `fc1`, `dropout1`, `fc2`.

    conv1: Conv2d(3, 16, 3, padding=1), conv2: Conv2d(16, 32, 3, padding=1), conv3: Conv2d(32, 64, 3, padding=1),
    each followed by ReLU and 2x2 max pooling; flatten to 4*4*64; fc1: Linear(1024, 500) + ReLU;
    dropout1: Dropout(0.5); fc2: Linear(500, 10).
    """

    def __init__(self):
        super().__init__()
        ### BEGIN SOLUTION
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(4 * 4 * 64, 500)
        self.dropout1 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(500, 10)
        ### END SOLUTION

    def forward(self, x):
        """Images (N, 3, 32, 32) -> logits (N, 10); no softmax."""
        ### BEGIN SOLUTION
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, 16, 16, 16)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, 32, 8, 8)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2)  # (N, 64, 4, 4)
        x = x.flatten(1)  # (N, 1024)
        x = self.dropout1(F.relu(self.fc1(x)))  # (N, 500)
        return self.fc2(x)  # (N, 10)
        ### END SOLUTION


def train_transforms():
    """The CIFAR-10 training transform: PIL RGB image -> augmented float tensor (3, 32, 32) in [-1, 1].

    Compose, in this order: `T.Resize((32, 32))`, `T.RandomHorizontalFlip()`, `T.RandomRotation(10)`,
    `T.RandomAffine(0, shear=10, scale=(0.8, 1.2))`, `T.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2)`,
    `T.ToTensor()`, `T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))`.
    """
    ### BEGIN SOLUTION
    return T.Compose([
        T.Resize((32, 32)),
        T.RandomHorizontalFlip(),
        T.RandomRotation(10),
        T.RandomAffine(0, shear=10, scale=(0.8, 1.2)),
        T.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2),
        T.ToTensor(),
        T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ])
    ### END SOLUTION


def test_transforms():
    """The CIFAR-10 evaluation transform, without augmentation: PIL RGB image -> float tensor (3, 32, 32) in [-1, 1].

    Compose `T.Resize((32, 32))`, `T.ToTensor()`, `T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))`.
    """
    ### BEGIN SOLUTION
    return T.Compose([T.Resize((32, 32)), T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    ### END SOLUTION


test_transforms.__test__ = False  # its name starts with "test": keep pytest from collecting it where it is imported


def train_one_epoch(model, loader, criterion, optimizer, device):
    """One pass over `loader`; returns the mean loss per sample as a Python float.

    Put the model in training mode (dropout on). For each batch (inputs, labels): move both to `device`,
    zero the gradients, compute `criterion(model(inputs), labels)`, backpropagate and step. Weigh each
    batch's (mean) loss by its size, sum, and divide by the number of samples seen.
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

    Put the model in evaluation mode (dropout off) and compute everything under `torch.no_grad()`;
    the predicted class is the index of the largest logit.
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
    train_set = datasets.CIFAR10("data", train=True, download=True, transform=train_transforms())
    test_set = datasets.CIFAR10("data", train=False, download=True, transform=test_transforms())
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=100, shuffle=True)
    test_loader = torch.utils.data.DataLoader(test_set, batch_size=100)
    model = CifarNet().to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    for epoch in range(1, 16):
        train_loss = train_one_epoch(model, train_loader, criterion, optimizer, device)
        test_loss, accuracy = evaluate(model, test_loader, criterion, device)
        print(f"epoch {epoch}: train loss {train_loss:.4f}, test loss {test_loss:.4f}, accuracy {accuracy:.3f}")
