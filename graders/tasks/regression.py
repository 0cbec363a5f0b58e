"""Tasks for the full-batch topics (1 linear, 2 logistic, 3 shallow network): model(x), train(...), predict(...)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from graders.tasks import InvalidOutput, floats, need, seed_everything, task, tensor
from graders.tasks.hooks import GradMode, GradWatch

# The harness's own public building blocks, used to cross-check one student piece at a time:
# the student's train() on a standard model, or a standard loop on the student's model.
STANDARD_MODELS = {
    "linear": lambda: nn.Linear(1, 1),
    "logistic": lambda: nn.Sequential(nn.Linear(2, 1), nn.Sigmoid()),
    "shallow": lambda: nn.Sequential(nn.Linear(2, 4), nn.Sigmoid(), nn.Linear(4, 1), nn.Sigmoid()),
}
LOSSES = {"mse": nn.MSELoss, "bce": nn.BCELoss}
OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}


@task("regression.inspect")
def inspect(module: Any, *, device: str, model: str, init: dict, probe: torch.Tensor, seed: int) -> dict:
    """Build the student's model: its output on a probe batch and every parameter (the grader counts them)."""
    seed_everything(seed)
    net = _build(module, model, init)
    with torch.no_grad():
        out = net(probe)
    tensor(out, f"{model}.forward()")
    return {"params": {name: p.detach() for name, p in net.named_parameters()}, "output": out}


@task("regression.fit")
def fit(module: Any, *, device: str, model: str, init: dict, x: torch.Tensor, y: torch.Tensor,
        eval_x: torch.Tensor, epochs: int, lr: float, seed: int, standard: str = "",
        harness_loop: dict | None = None, attempt: int = 1) -> dict:
    """Train with the student's train() (or the harness loop), then predict on eval_x with predict().

    `standard` swaps in the harness's model for the student's; `harness_loop` ({"loss", "optimizer"})
    swaps in the harness's loop for the student's train(), so a failure points at one piece.
    `attempt` only makes a deliberate repeat a distinct call (determinism checks).
    """
    seed_everything(seed)
    dev = torch.device(device)
    net = (STANDARD_MODELS[standard]() if standard else _build(module, model, init)).to(dev)
    x, y, eval_x = x.to(dev), y.to(dev), eval_x.to(dev)
    watch = GradWatch(net)
    if harness_loop:
        losses = _harness_train(net, x, y, epochs, lr, loss=harness_loop["loss"], optimizer=harness_loop["optimizer"])
    else:
        losses = floats(need(module, "train")(net, x, y, epochs, lr), "train()", count=epochs)
    watch.remove()
    before = {k: v.detach().clone() for k, v in net.state_dict().items()}
    grad_seen = GradMode(net)
    if harness_loop:
        predictions = _harness_predict(net, eval_x, harness_loop["predict"])
    else:
        predictions = tensor(need(module, "predict")(net, eval_x), "predict()")
    grad_seen.remove()
    after = net.state_dict()
    return {
        "losses": losses,
        "predictions": predictions.detach(),
        "prediction_requires_grad": bool(predictions.requires_grad) or grad_seen.enabled,
        "predict_changed_params": any(not torch.equal(before[k], after[k]) for k in before),
        "backward_steps": watch.steps,
        "accumulated_steps": watch.accumulated,
        "state": {k: v.detach() for k, v in after.items()},
    }


def _build(module: Any, name: str, init: dict) -> nn.Module:
    net = need(module, name)(**init)
    if not isinstance(net, nn.Module):
        raise InvalidOutput(f"{name}(...) must be a torch.nn.Module, got {type(net).__name__}")
    return net


def _harness_train(net: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float, *,
                   loss: str, optimizer: str) -> list[float]:
    criterion, opt = LOSSES[loss](), OPTIMIZERS[optimizer](net.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        opt.zero_grad()
        value = criterion(net(x), y)
        value.backward()
        opt.step()
        losses.append(value.item())
    return losses


def _harness_predict(net: nn.Module, x: torch.Tensor, kind: str) -> torch.Tensor:
    """Values, or 0/1 labels at a 0.5 threshold, from the harness: isolates the student's model."""
    with torch.no_grad():
        out = net(x)
    return (out >= 0.5).float() if kind == "label" else out
