"""Tasks for the image topics (4 DNN, 5 CNNs, 6 transfer learning): models, transforms, train_one_epoch, evaluate."""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from graders.data.arrays import ArrayImageDataset
from graders.tasks import InvalidOutput, need, seed_everything, task, tensor
from graders.tasks.hooks import GradMode, GradWatch, ModeLog

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
# Used where the student's module has no transform for the data (LeNet on MNIST).
_STANDARD_TRANSFORMS = {"mnist": lambda: _compose_mnist()}


def _compose_mnist() -> Any:
    from torchvision import transforms as T

    return T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))])


@task("images.inspect")
def inspect(module: Any, *, device: str, build: dict, probe: torch.Tensor, seed: int) -> dict:
    """Build the model and describe it: parameters, which train, layers and the output on a probe batch.

    `train_output` is the same batch in training mode: equal to `output` when the model has no dropout.
    """
    seed_everything(seed)
    net = _build(module, build)
    net.eval()
    with torch.no_grad():
        out = tensor(net(probe), "forward()")
        net.train()
        train_out = tensor(net(probe), "forward() in training mode")
    return {
        "param_count": sum(p.numel() for p in net.parameters()),
        **_describe(net),
        "output": out,
        "train_output": train_out,
        "fingerprint": _fingerprint(net),
    }


@task("images.transform")
def transform(module: Any, *, device: str, transform: dict, images: torch.Tensor, seed: int) -> dict:
    """Apply a transform of the student's to PIL images made from uint8 arrays."""
    seed_everything(seed)
    dataset = ArrayImageDataset(images, None, _transform(module, transform))
    items = [dataset[i][0] for i in range(len(dataset))]
    return {"tensors": [tensor(t, "the transform") for t in items]}


@task("images.fit")
def fit(module: Any, *, device: str, build: dict, train_images: torch.Tensor, train_labels: torch.Tensor,
        eval_images: torch.Tensor, probe: int, epochs: int, batch_size: int, optimizer: dict,
        train_transform: dict, eval_transform: dict, seed: int, attempt: int = 1) -> dict:
    """Train with the student's train_one_epoch, check evaluate() on labelled training images, predict eval.

    The harness makes the loaders, the criterion and the optimizer, as the course's scripts do, and sets
    eval mode before each epoch so that a train_one_epoch without model.train() shows.
    """
    seed_everything(seed)
    dev = torch.device(device)
    net = _build(module, build).to(dev)
    criterion = _RecordingLoss()
    params = [p for p in net.parameters() if p.requires_grad]
    opt = OPTIMIZERS[optimizer["name"]](params, **{k: v for k, v in optimizer.items() if k != "name"})
    gen = torch.Generator().manual_seed(seed)
    loader = DataLoader(ArrayImageDataset(train_images, train_labels, _transform(module, train_transform)),
                        batch_size=batch_size, shuffle=True, generator=gen)
    before, described = _fingerprint(net), _describe(net)
    train_one_epoch, losses, watch, modes = need(module, "train_one_epoch"), [], GradWatch(net), ModeLog(net)
    start = time.perf_counter()
    for _ in range(epochs):
        net.eval()
        losses.append(_float(train_one_epoch(net, loader, criterion, opt, dev), "train_one_epoch()"))
    seconds = time.perf_counter() - start
    watch.remove()
    modes.remove()
    trained_in, seen = modes.take(), criterion.take()
    eval_tf = _transform(module, eval_transform)
    checked = _check_evaluate(module, net, criterion, train_images[:probe], train_labels[:probe], eval_tf, dev)
    return {
        "losses": losses, "batch_losses": seen, "seconds": seconds,
        "train_modes": trained_in, "backward_steps": watch.steps, "accumulated_steps": watch.accumulated,
        "before": before, "after": _fingerprint(net), **described, **checked,
        **_predict(net, eval_images, eval_tf, dev, batch_size),
    }


@task("images.oracle")
def oracle(module: Any, *, device: str, images: torch.Tensor, labels: torch.Tensor, classes: int, batches: int,
           dropout: bool, lr: float, seed: int) -> dict:
    """The student's train_one_epoch on the harness's standard model, handed over in eval mode.

    The grader compares the batch losses and the update with the reference's under the same seed: data,
    not the hooks' observations, which only help to name the bug. The returned loss is not used.
    """
    seed_everything(seed)
    dev = torch.device(device)
    x = images.float().div(127.5).sub(1)  # (N, H, W) or (N, H, W, 3) in [-1, 1]
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)  # (N, C, H, W)
    net = StandardNet(x[0].numel(), classes, dropout=dropout).to(dev)
    criterion, opt = _RecordingLoss(), torch.optim.SGD(net.parameters(), lr=lr)
    # Its own generator: iterating the loader draws nothing from the global one that dropout uses.
    loader = DataLoader(TensorDataset(x, labels), batch_size=len(x) // batches,
                        generator=torch.Generator().manual_seed(seed))
    before, watch, modes = _fingerprint(net), GradWatch(net), ModeLog(net)
    net.eval()  # as if the caller had just evaluated: without model.train() dropout stays off
    need(module, "train_one_epoch")(net, loader, criterion, opt, dev)
    watch.remove()
    modes.remove()
    return {"batch_losses": criterion.take(), "before": before, "after": _fingerprint(net),
            "train_modes": modes.take(), "backward_steps": watch.steps, "accumulated_steps": watch.accumulated}


class StandardNet(nn.Module):
    """The oracle's model: flatten, 32 ReLU units (then dropout when asked), logits. Cheap on any image size."""

    def __init__(self, in_features: int, classes: int, *, dropout: bool):
        super().__init__()
        self.hidden = nn.Linear(in_features, 32)
        self.dropout = nn.Dropout(0.5) if dropout else nn.Identity()
        self.head = nn.Linear(32, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(torch.relu(self.hidden(x.flatten(1)))))  # (N, classes)


def _check_evaluate(module: Any, net: nn.Module, criterion: _RecordingLoss, images: torch.Tensor,
                    labels: torch.Tensor, eval_tf: Any, dev: torch.device) -> dict:
    """The student's evaluate() on labelled images, beside the harness's own figures for the same images."""
    loader = DataLoader(ArrayImageDataset(images, labels, eval_tf), batch_size=64)
    net.train()  # evaluate() must switch to eval mode itself
    modes, grads = ModeLog(net), GradMode(net)
    result = need(module, "evaluate")(net, loader, criterion, dev)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise InvalidOutput(f"evaluate() must return (mean loss, accuracy), got {type(result).__name__}")
    loss, acc = _float(result[0], "evaluate()'s loss"), _float(result[1], "evaluate()'s accuracy")
    eval_modes, grad_on = modes.take(), grads.enabled
    modes.remove()
    grads.remove()
    criterion.take()
    net.eval()
    total, correct = 0.0, 0
    with torch.no_grad():
        for inputs, targets in loader:
            logits = net(inputs.to(dev))
            total += float(nn.functional.cross_entropy(logits, targets.to(dev), reduction="sum"))
            correct += int((logits.argmax(1) == targets.to(dev)).sum())
    return {"evaluate": [loss, acc], "evaluate_expected": [total / len(labels), correct / len(labels)],
            "evaluate_modes": eval_modes, "evaluate_grad": grad_on}


def _predict(net: nn.Module, images: torch.Tensor, eval_tf: Any, dev: torch.device, batch_size: int) -> dict:
    """Predicted classes of the held-out images, and whether the outputs looked like probabilities."""
    net.eval()
    loader = DataLoader(ArrayImageDataset(images, None, eval_tf), batch_size=batch_size)
    with torch.no_grad():
        outputs = torch.cat([net(inputs.to(dev)).cpu() for inputs, _ in loader])  # (N, classes)
    rows = outputs.double().sum(1)
    softmaxed = bool(((outputs >= 0) & (outputs <= 1)).all()) and bool(torch.allclose(rows, torch.ones_like(rows)))
    return {"predictions": outputs.argmax(1), "outputs_are_probabilities": softmaxed}


def _build(module: Any, build: dict) -> nn.Module:
    """A model from a class (`{"class": name, "init": {...}}`) or a builder (`{"function": name, ...}`)."""
    kwargs = dict(build.get("init", {}))
    if "weights" in build:
        kwargs["weights"] = _weights(build["weights"])
    name = build.get("class") or build["function"]
    net = need(module, name)(**kwargs)
    if not isinstance(net, nn.Module):
        raise InvalidOutput(f"{name}(...) must return a torch.nn.Module, got {type(net).__name__}")
    return net


def _weights(spec: dict) -> dict[str, torch.Tensor]:
    from graders.data import weights

    if spec.get("file"):
        return weights.load_checkpoint(spec["file"])
    return weights.standin_state_dict(spec["arch"], seed=int(spec["seed"]))


def _transform(module: Any, spec: dict) -> Any:
    if "standard" in spec:
        return _STANDARD_TRANSFORMS[spec["standard"]]()
    return need(module, spec["function"])(**spec.get("kwargs", {}))


def _float(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        raise InvalidOutput(f"{what} must be a Python float, got {type(value).__name__}") from None


def _describe(net: nn.Module) -> dict[str, dict]:
    """Which parameters train, their shapes, and the type of every named layer."""
    return {
        "trainable": {name: p.requires_grad for name, p in net.named_parameters()},
        "shapes": {name: list(p.shape) for name, p in net.named_parameters()},
        "layers": {name: type(m).__name__ for name, m in net.named_modules() if name},
    }


def _fingerprint(net: nn.Module) -> dict[str, float]:
    """A cheap summary per top-level child (features, classifier...) to tell which parts training changed."""
    with torch.no_grad():
        return {name: float(sum(_summary(p) for p in child.parameters()))
                for name, child in net.named_children() if any(True for _ in child.parameters())}


def _summary(p: torch.Tensor) -> torch.Tensor:
    """Sum plus L2 norm of one parameter, from float32 rows of 1024 added up in float64.

    Rows keep a change of 1e-7 in one weight visible; casting all of VGG16 to float64 instead
    took seconds and 1 GB per call.
    """
    flat = p.detach().reshape(-1)
    n = flat.numel() // 1024 * 1024
    rows, rest = flat[:n].view(-1, 1024), flat[n:].double()  # (numel // 1024, 1024), (numel % 1024,)
    return (rows.sum(1).double().sum() + torch.linalg.vector_norm(rows, dim=1).double().sum()
            + rest.sum() + rest.norm())


class _RecordingLoss(nn.CrossEntropyLoss):
    """The criterion handed to the student: CrossEntropyLoss that also notes each batch's loss and size."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: list[list[float]] = []

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # noqa: A002
        loss = super().forward(input, target)
        self._seen.append([float(loss.detach()), float(target.shape[0])])
        return loss

    def take(self) -> list[list[float]]:
        seen, self._seen = self._seen, []
        return seen
