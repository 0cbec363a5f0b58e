"""Topics 1-3: the zero_grad oracle's tolerance separates honest train() variants from a missing zero_grad."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest
import torch

from graders import checks
from graders.config import load_config
from graders.families.regression import FAMILY, TRAIN_RTOL
from graders.worker.tasks import regression as tasks

CONFIG = load_config(Path(__file__).resolve().parents[1] / "grading.yaml")


def bce_by_hand(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).mean()


def make_train(topic: str, *, by_hand: bool = False, zero: str = "optimizer"):
    """The docstring's train() of `topic`, with one honest variation (or the bug: zero="none")."""
    loop = FAMILY[topic].loop

    def train(model, x, y, epochs, lr):
        criterion = tasks.LOSSES[loop["loss"]]()
        if by_hand:
            criterion = (lambda p, t: ((p - t) ** 2).mean()) if loop["loss"] == "mse" else bce_by_hand
        optimizer = tasks.OPTIMIZERS[loop["optimizer"]](model.parameters(), lr=lr)
        losses = []
        for _ in range(epochs):
            if zero == "optimizer":
                optimizer.zero_grad()
            elif zero == "keep":
                optimizer.zero_grad(set_to_none=False)
            elif zero == "model":
                model.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses

    return train


def losses(topic: str, train) -> list[float]:
    """train() on the harness's standard model, as cross_fit(side, topic, "train") runs it in a worker."""
    family, budget = FAMILY[topic], CONFIG.topics[topic].budget
    x, y = family.make(int(budget["n_train"]), seed=CONFIG.seed)
    module = types.SimpleNamespace(__name__="student", train=train, predict=lambda m, v: m(v).detach())
    run = tasks.fit(module, device="cpu", model=family.model, init={}, x=x, y=y, eval_x=x[:4],
                    epochs=int(budget["epochs"]), lr=float(budget["lr"]), seed=CONFIG.seed, standard=family.standard)
    return run["losses"]


@pytest.mark.parametrize("topic", sorted(FAMILY))
def test_honest_variants_match_the_reference_and_a_missing_zero_grad_does_not(topic):
    reference = losses(topic, make_train(topic))
    for variant in ({"by_hand": True}, {"zero": "keep"}, {"zero": "model"}):
        outcome = checks.same_losses(losses(topic, make_train(topic, **variant)), reference, rtol=TRAIN_RTOL, what="")
        assert outcome.passed and outcome.measured is not None and outcome.measured < TRAIN_RTOL / 100, variant
    bug = checks.same_losses(losses(topic, make_train(topic, zero="none")), reference, rtol=TRAIN_RTOL, what="")
    # The second step differs, so the third loss does; Adam's normalised step shows it past rtol by the fourth.
    first = re.search(r"the loss of epoch (\d+) ", bug.message)
    assert not bug.passed and first and int(first.group(1)) in (3, 4), bug.message
    assert bug.measured is not None and bug.measured > 0.5
