"""Topic 6: transfer learning. Reuse AlexNet's or VGG16's convolutional features, train a new head for ants vs bees.

A correct submission in other styles than the reference's (issue #12, finding 8), which must get full marks: one
helper shared by both builders, freezing by a loop over `named_parameters()`, the new head sized from
`classifier[6].in_features`, `model.zero_grad()`, the epoch's loss summed as a tensor and converted at the end,
and `torch.max(outputs, 1)` for the predicted class.
"""

import torch
import torchvision.transforms as T
from torch import nn
from torchvision import models

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def freeze_features(model):
    """requires_grad = False on every parameter of model.features, found by name."""
    for name, param in model.named_parameters():
        if name.startswith("features."):
            param.requires_grad = False


def _with_new_head(model, num_classes, weights):
    if weights is not None:
        model.load_state_dict(weights)
    freeze_features(model)
    n_inputs = model.classifier[6].in_features  # 4096
    model.classifier[6] = nn.Linear(n_inputs, num_classes)
    return model


def build_alexnet(num_classes=2, weights=None):
    """AlexNet with frozen features and a new last layer for `num_classes` classes.

    Build `torchvision.models.alexnet(weights=None)`; if `weights` (a state_dict) is given, load it into
    that model first. Then set `requires_grad = False` on every parameter of `model.features`, replace
    `model.classifier[6]` by `nn.Linear(4096, num_classes)`, and return the model.
    """
    return _with_new_head(models.alexnet(weights=None), num_classes, weights)


def build_vgg16(num_classes=2, weights=None):
    """VGG16 with frozen features and a new last layer for `num_classes` classes.

    Build `torchvision.models.vgg16(weights=None)`; if `weights` (a state_dict) is given, load it into
    that model first. Then set `requires_grad = False` on every parameter of `model.features`, replace
    `model.classifier[6]` by `nn.Linear(4096, num_classes)`, and return the model.
    """
    return _with_new_head(models.vgg16(weights=None), num_classes, weights)


def transforms(train, size=224):
    """PIL RGB image -> float tensor (3, size, size), normalised with the ImageNet mean and std.

    train=True: `T.RandomResizedCrop(size)`, `T.RandomHorizontalFlip()`, `T.ToTensor()`, `T.Normalize(...)`.
    train=False: `T.Resize(size * 256 // 224)`, `T.CenterCrop(size)`, `T.ToTensor()`, `T.Normalize(...)`.
    Use `IMAGENET_MEAN` and `IMAGENET_STD` for the normalisation.
    """
    normalize = T.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD)
    if train:
        return T.Compose([
            T.RandomResizedCrop(size),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            normalize,
        ])
    return T.Compose([
        T.Resize(size * 256 // 224),
        T.CenterCrop(size),
        T.ToTensor(),
        normalize,
    ])


def train_one_epoch(model, loader, criterion, optimizer, device):
    """One pass over `loader`; returns the mean loss per sample as a Python float.

    Put the model in training mode. For each batch (inputs, labels): move both to `device`, zero the
    gradients, compute `criterion(model(inputs), labels)`, backpropagate and step (the optimizer holds
    only the parameters the caller wants trained). Weigh each batch's (mean) loss by its size, sum,
    and divide by the number of samples seen.
    """
    model.train()
    total = torch.tensor(0.0, device=device)
    seen = 0
    for inputs, labels in loader:
        inputs = inputs.to(device)
        labels = labels.to(device)
        model.zero_grad()
        outputs = model(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        total += loss.detach() * inputs.size(0)
        seen += inputs.size(0)
    return (total / seen).item()


def evaluate(model, loader, criterion, device):
    """Mean loss per sample and accuracy in [0, 1] over `loader`, as a tuple of two Python floats.

    Put the model in evaluation mode and compute everything under `torch.no_grad()`; the predicted
    class is the index of the largest logit.
    """
    model.eval()
    running_loss = 0.0
    running_corrects = 0
    seen = 0
    with torch.no_grad():
        for inputs, labels in loader:
            inputs, labels = inputs.to(device), labels.to(device)
            outputs = model(inputs)
            loss = criterion(outputs, labels)
            _, predicted = torch.max(outputs.data, 1)
            running_loss += loss.item() * inputs.size(0)
            running_corrects += (predicted == labels).sum().item()
            seen += inputs.size(0)
    return running_loss / seen, running_corrects / seen
