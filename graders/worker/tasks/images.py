"""Tasks for the image topics (4 DNN, 5 CNNs, 6 transfer learning): models, transforms, train_one_epoch, evaluate.

What these tasks return is evidence for the grader, never a verdict (issue #11): raw outputs, parameters, and the
logits and targets each criterion call saw, from which the grading process computes losses itself. Figures the
harness could only compute in here (a flag, a summary, an expected value) would be patched by student code.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from graders.data.arrays import ArrayImageDataset
from graders.worker.tasks.base import InvalidOutput, need, seed_everything, task, tensor
from graders.worker.tasks.hooks import GradUse, GradWatch, ModeLog

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
# Used where the student's module has no transform for the data (LeNet on MNIST).
_STANDARD_TRANSFORMS = {"mnist": lambda: _compose_normalised(1), "cifar10": lambda: _compose_normalised(3)}


def _compose_normalised(channels: int) -> Any:
    """The course's evaluation transform: to a tensor, then to [-1, 1] (32x32 images need no resizing)."""
    from torchvision import transforms as T

    return T.Compose([T.ToTensor(), T.Normalize((0.5,) * channels, (0.5,) * channels)])


@task("images.inspect")
def inspect(module: Any, *, device: str, build: dict, probe: torch.Tensor, seed: int,
            evidence: dict | None = None) -> dict:
    """Build the model; its output on a probe batch in eval and in training mode, and its parameters.

    Every parameter crosses, so the grader counts them itself. With `evidence` (pretrained models, far too big to
    send) only the parameters it names and a sample of the rest cross, after one optimisation step over whatever
    requires grad: what the step moved is what a training run would train.
    """
    seed_everything(seed)
    net = _build(module, build)
    net.eval()
    with torch.no_grad():
        out = tensor(net(probe), "forward()")
        net.train()
        train_out = tensor(net(probe), "forward() in training mode")
    if evidence is None:
        return {"output": out, "train_output": train_out,
                "params": {name: p.detach() for name, p in net.named_parameters()}}
    before = _evidence(net, evidence)
    _one_step(net, probe)
    return {"output": out, "train_output": train_out, "before": before, "after": _evidence(net, evidence)}


@task("images.transform")
def transform(module: Any, *, device: str, transform: dict, images: torch.Tensor, seed: int) -> dict:
    """Apply a transform of the student's to PIL images made from uint8 arrays."""
    seed_everything(seed)
    dataset = ArrayImageDataset(images, None, _transform(module, transform))
    items = [dataset[i][0] for i in range(len(dataset))]
    return {"tensors": [tensor(t, "the transform") for t in items]}


@task("images.fit")
def fit(module: Any, *, device: str, build: dict, train_images: torch.Tensor, train_labels: torch.Tensor,
        eval_images: torch.Tensor, epochs: int, batch_size: int, optimizer: dict, train_transform: dict,
        eval_transform: dict, seed: int, evidence: dict | None = None, harness_eval: dict | None = None,
        attempt: int = 1) -> dict:
    """Train with the student's train_one_epoch, then predict the held-out images (never their labels).

    The harness makes the loader, the criterion and the optimizer, as the course's scripts do, and sets eval
    mode before each epoch so that a train_one_epoch without model.train() shows. `attempt` only makes a
    deliberate repeat a distinct call (determinism checks). `harness_eval` names a standard evaluation transform
    whose predictions come back too (`harness_predictions`): a broken evaluation transform then costs its own check,
    not the accuracy of a model trained well (issue #12).
    """
    seed_everything(seed)
    dev = torch.device(device)
    net = _build(module, build).to(dev)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = OPTIMIZERS[optimizer["name"]](params, **{k: v for k, v in optimizer.items() if k != "name"})
    loader = DataLoader(ArrayImageDataset(train_images, train_labels, _transform(module, train_transform)),
                        batch_size=batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed))
    criterion = RecordingLoss(calls=epochs * len(loader), rows=batch_size)
    before = _evidence(net, evidence)
    train_one_epoch, losses, watch, modes = need(module, "train_one_epoch"), [], GradWatch(net), ModeLog(net)
    for _ in range(epochs):
        net.eval()  # as the course's scripts leave it after evaluate(): train_one_epoch must switch back
        losses.append(_float(train_one_epoch(net, loader, criterion, opt, dev), "train_one_epoch()"))
    watch.remove()
    modes.remove()
    return {
        "losses": losses, "criterion": criterion.take(), "train_modes": modes.take(),
        "accumulated_steps": watch.accumulated, "before": before, "after": _evidence(net, evidence),
        **_predict(net, eval_images, _transform(module, eval_transform), dev, batch_size),
        **({"harness_predictions": _predict(net, eval_images, _transform(module, harness_eval), dev,
                                            batch_size)["predictions"]} if harness_eval else {}),
    }


@task("images.oracle")
def oracle(module: Any, *, device: str, images: torch.Tensor, labels: torch.Tensor, classes: int, batches: int,
           width: int, dropout: float, lr: float, seed: int) -> dict:
    """The student's train_one_epoch on the harness's model, handed over in eval mode.

    The grader compares the batch losses and the hidden layer's update with the reference's under the same seed;
    the hooks' observations only help to name the bug.
    """
    seed_everything(seed)
    dev = torch.device(device)
    x = harness_inputs(images)
    net = StandardNet(x[0].numel(), classes, width=width, dropout=dropout).to(dev)
    size = len(x) // batches
    criterion, opt = RecordingLoss(calls=batches, rows=size), torch.optim.SGD(net.parameters(), lr=lr)
    # Its own generator: iterating the loader draws nothing from the global one that dropout uses.
    loader = DataLoader(TensorDataset(x, labels), batch_size=size, generator=torch.Generator().manual_seed(seed))
    hidden = {"named": ["hidden.weight", "hidden.bias"]}
    before, watch, modes = _evidence(net, hidden), GradWatch(net), ModeLog(net)
    net.eval()  # as if the caller had just evaluated: without model.train() dropout stays off
    need(module, "train_one_epoch")(net, loader, criterion, opt, dev)
    watch.remove()
    modes.remove()
    return {"criterion": criterion.take(), "before": before, "after": _evidence(net, hidden),
            "train_modes": modes.take(), "accumulated_steps": watch.accumulated}


@task("images.evaluate")
def evaluate(module: Any, *, device: str, images: torch.Tensor, labels: torch.Tensor, classes: int, width: int,
             dropout: float, batch_size: int, seed: int) -> dict:
    """The student's evaluate() on the harness's model with dropout, handed over in training mode.

    The reference's evaluate() on the same model and batches gives the figures to match: a missing model.eval()
    leaves dropout on and changes the loss, a mean of batch means misses the smaller last batch.
    """
    seed_everything(seed)
    dev = torch.device(device)
    x = harness_inputs(images)
    net = StandardNet(x[0].numel(), classes, width=width, dropout=dropout).to(dev)
    loader = DataLoader(TensorDataset(x, labels), batch_size=batch_size)
    criterion = RecordingLoss(calls=len(loader), rows=batch_size)
    net.train()  # evaluate() must switch to eval mode itself
    modes = ModeLog(net)
    with GradUse(net) as grads:
        result = need(module, "evaluate")(net, loader, criterion, dev)
    modes.remove()
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise InvalidOutput(f"evaluate() must return (mean loss, accuracy), got {type(result).__name__}")
    return {"evaluate": [_float(result[0], "evaluate()'s loss"), _float(result[1], "evaluate()'s accuracy")],
            "grad_enabled": grads.enabled, "modes": modes.take()}


class StandardNet(nn.Module):
    """The oracles' model: flatten, `width` ReLU units (then dropout when p > 0), logits. Cheap on any image size."""

    def __init__(self, in_features: int, classes: int, *, width: int, dropout: float):
        super().__init__()
        self.hidden = nn.Linear(in_features, width)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(torch.relu(self.hidden(x.flatten(1)))))  # (N, classes)


class RecordingLoss(nn.CrossEntropyLoss):
    """The criterion handed to the student: CrossEntropyLoss that also keeps the logits and targets of each call.

    The grader computes every batch's loss from them itself. At most `calls` calls of at most `rows` rows each are
    kept, so that a loop calling it millions of times floods neither the grader nor the reports; `calls` in the
    answer still counts them all.
    """

    def __init__(self, *, calls: int, rows: int) -> None:
        super().__init__()
        self._limit, self._rows, self._calls = calls, rows, 0
        self._logits: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:  # noqa: A002
        loss = super().forward(input, target)
        self._calls += 1
        if len(self._logits) < self._limit and input.dim() == 2 and 0 < input.shape[0] <= self._rows:
            self._logits.append(input.detach().to("cpu", torch.float32).clone())  # (B, classes)
            self._targets.append(target.detach().to("cpu").clone())  # (B,)
        return loss

    def take(self) -> dict[str, Any]:
        taken = {"logits": self._logits, "targets": self._targets, "calls": self._calls}
        self._logits, self._targets, self._calls = [], [], 0
        return taken


def harness_inputs(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W) or (N, H, W, 3) -> float (N, C, H, W) in [-1, 1], without any code of the student's."""
    x = images.float().div(127.5).sub(1)
    return x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)


def _one_step(net: nn.Module, probe: torch.Tensor) -> None:
    """One SGD step over the parameters that require grad, as the course's scripts build the optimizer."""
    params = [p for p in net.parameters() if p.requires_grad]
    if not params:
        return
    net.train()
    net(probe).float().pow(2).mean().backward()  # any loss will do: only which parameters move matters
    torch.optim.SGD(params, lr=0.1).step()


def _evidence(net: nn.Module, spec: dict | None) -> dict[str, Any]:
    """Parameters for the grader to check itself: those `spec` names in full, and a sample of those under a prefix.

    The pretrained models hold 60M-140M parameters; `per_tensor` values of each, at positions drawn from the
    grader's seed, show whether any moved (training moves nearly all of a tensor) for kilobytes.
    """
    if not spec:
        return {}
    params = dict(net.named_parameters())
    named = {name: params[name].detach().to("cpu").clone() for name in spec.get("named", []) if name in params}
    prefix, per_tensor = spec.get("prefix"), int(spec.get("per_tensor", 0))
    sampled = [_sample(p, per_tensor, int(spec["seed"]) + i)
               for i, (name, p) in enumerate(params.items()) if prefix and name.startswith(prefix)]
    return {"named": named, "sample": torch.cat(sampled) if sampled else torch.empty(0)}


def _sample(p: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    positions = torch.randint(p.numel(), (k,), generator=torch.Generator().manual_seed(seed))
    return p.detach().reshape(-1)[positions.to(p.device)].to("cpu", torch.float32)  # (k,)


def _predict(net: nn.Module, images: torch.Tensor, eval_tf: Any, dev: torch.device, batch_size: int) -> dict:
    """Predicted classes of the held-out images, and whether the outputs looked like probabilities (a hint)."""
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
    return weights.load_standin(spec)  # mapped from the file the grader saved, where it could (issue #14)


def _transform(module: Any, spec: dict) -> Any:
    if "standard" in spec:
        return _STANDARD_TRANSFORMS[spec["standard"]]()
    return need(module, spec["function"])(**spec.get("kwargs", {}))


def _float(value: Any, what: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        raise InvalidOutput(f"{what} must be a Python float, got {type(value).__name__}") from None
