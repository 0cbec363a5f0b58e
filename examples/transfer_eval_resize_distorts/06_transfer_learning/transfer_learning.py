"""Topic 6: transfer learning. Reuse AlexNet's or VGG16's convolutional features, train a new head for ants vs bees."""

import torch
import torchvision
from torch import nn
from torchvision import transforms as T

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def build_alexnet(num_classes=2, weights=None):
    """AlexNet with frozen features and a new last layer for `num_classes` classes.

    Build `torchvision.models.alexnet(weights=None)`; if `weights` (a state_dict) is given, load it into
    that model first. Then set `requires_grad = False` on every parameter of `model.features`, replace
    `model.classifier[6]` by `nn.Linear(4096, num_classes)`, and return the model.
    """
    model = torchvision.models.alexnet(weights=None)
    if weights is not None:
        model.load_state_dict(weights)
    for param in model.features.parameters():
        param.requires_grad = False
    model.classifier[6] = nn.Linear(4096, num_classes)
    return model


def build_vgg16(num_classes=2, weights=None):
    """VGG16 with frozen features and a new last layer for `num_classes` classes.

    Build `torchvision.models.vgg16(weights=None)`; if `weights` (a state_dict) is given, load it into
    that model first. Then set `requires_grad = False` on every parameter of `model.features`, replace
    `model.classifier[6]` by `nn.Linear(4096, num_classes)`, and return the model.
    """
    model = torchvision.models.vgg16(weights=None)
    if weights is not None:
        model.load_state_dict(weights)
    for param in model.features.parameters():
        param.requires_grad = False
    model.classifier[6] = nn.Linear(4096, num_classes)
    return model


def transforms(train, size=224):
    """PIL RGB image -> float tensor (3, size, size), normalised with the ImageNet mean and std.

    train=True: `T.RandomResizedCrop(size)`, `T.RandomHorizontalFlip()`, `T.ToTensor()`, `T.Normalize(...)`.
    train=False: `T.Resize(size * 256 // 224)`, `T.CenterCrop(size)`, `T.ToTensor()`, `T.Normalize(...)`.
    Use `IMAGENET_MEAN` and `IMAGENET_STD` for the normalisation.
    """
    if train:
        steps = [T.RandomResizedCrop(size), T.RandomHorizontalFlip()]
    else:
        steps = [T.Resize((size, size))]  # BUG: squeezes a non-square image to a square, no crop
    return T.Compose([*steps, T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def train_one_epoch(model, loader, criterion, optimizer, device):
    """One pass over `loader`; returns the mean loss per sample as a Python float.

    Put the model in training mode. For each batch (inputs, labels): move both to `device`, zero the
    gradients, compute `criterion(model(inputs), labels)`, backpropagate and step (the optimizer holds
    only the parameters the caller wants trained). Weigh each batch's (mean) loss by its size, sum,
    and divide by the number of samples seen.
    """
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


def evaluate(model, loader, criterion, device):
    """Mean loss per sample and accuracy in [0, 1] over `loader`, as a tuple of two Python floats.

    Put the model in evaluation mode and compute everything under `torch.no_grad()`; the predicted
    class is the index of the largest logit.
    The loss is the mean per sample, as in train_one_epoch: weigh each batch's (mean) loss by its size,
    sum, and divide by the number of samples. The last batch may be smaller, so the mean of the batch
    means is not the same figure.
    """
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    with torch.no_grad():
        for inputs, labels in loader:
            inputs, labels = inputs.to(device), labels.to(device)
            logits = model(inputs)  # (B, num_classes)
            total_loss += criterion(logits, labels).item() * inputs.shape[0]
            correct += (logits.argmax(dim=1) == labels).sum().item()
            seen += inputs.shape[0]
    return total_loss / seen, correct / seen


if __name__ == "__main__":
    from torchvision import datasets

    torch.manual_seed(1)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_set = datasets.ImageFolder("data/hymenoptera_data/train", transform=transforms(train=True))
    val_set = datasets.ImageFolder("data/hymenoptera_data/val", transform=transforms(train=False))
    train_loader = torch.utils.data.DataLoader(train_set, batch_size=20, shuffle=True)
    val_loader = torch.utils.data.DataLoader(val_set, batch_size=20)
    weights = torchvision.models.AlexNet_Weights.IMAGENET1K_V1.get_state_dict(progress=True)
    model = build_alexnet(num_classes=2, weights=weights).to(device)
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam((p for p in model.parameters() if p.requires_grad), lr=0.0001)
    for epoch in range(1, 6):
        train_loss = train_one_epoch(model, train_loader, criterion, optimizer, device)
        val_loss, accuracy = evaluate(model, val_loader, criterion, device)
        print(f"epoch {epoch}: train loss {train_loss:.4f}, val loss {val_loss:.4f}, accuracy {accuracy:.3f}")
