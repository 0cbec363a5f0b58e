"""Tasks for the full-batch topics (1 linear, 2 logistic, 3 shallow network): model(x), train(...), predict(...)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from graders.worker.tasks.base import InvalidOutput, floats, need, seed_everything, task, tensor
from graders.worker.tasks.hooks import GradUse, GradWatch

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
        eval_x: torch.Tensor, epochs: int, lr: float, seed: int, predict: str = "value", standard: str = "",
        harness_loop: dict | None = None, attempt: int = 1) -> dict:
    """Train with the student's train() (or the harness loop), then predict on eval_x with the harness's predict.

    `predict` is "value" or "label" (0/1 at a 0.5 threshold). `standard` swaps in the harness's model for the
    student's; `harness_loop` ({"loss", "optimizer"}) swaps in the harness's loop for the student's train(), so a
    failure points at one piece. The student's predict() is never called here (issue #12): a missing or broken
    predict() costs the predict check alone (`regression.predict`), and it is never handed a model that is not
    the student's.
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
    return {
        "losses": losses,
        "predictions": _harness_predict(net, eval_x, predict).cpu(),
        "backward_steps": watch.steps,
        "accumulated_steps": watch.accumulated,
        "state": {k: v.detach().cpu() for k, v in net.state_dict().items()},
    }


@task("regression.predict")
def predict(module: Any, *, device: str, model: str, init: dict, state: dict, x: torch.Tensor, seed: int) -> dict:
    """The student's predict() on their own model, loaded with `state` (a trained run's parameters).

    Returns its predictions beside the model's raw outputs (the grader derives the expected values from them),
    whether a parameter was used with gradient tracking on, and whether predict() changed the model.
    """
    seed_everything(seed)
    dev = torch.device(device)
    net = _build(module, model, init).to(dev)
    net.load_state_dict(state)
    x = x.to(dev)
    with torch.no_grad():
        outputs = net(x)
    before = {k: v.detach().clone() for k, v in net.state_dict().items()}
    with GradUse(net) as grads:
        predictions = tensor(need(module, "predict")(net, x), "predict()")
    after = net.state_dict()
    return {
        "predictions": predictions.detach().cpu(),
        "outputs": tensor(outputs, f"{model}.forward()").detach().cpu(),
        "requires_grad": bool(predictions.requires_grad) or grads.enabled,
        "changed_params": any(not torch.equal(before[k], after[k]) for k in before),
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
