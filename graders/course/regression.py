"""Topics 1-3 (full-batch training on toy data): the data, the fit call and its validation."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from graders import checks
from graders.data import toy
from graders.plugin import TopicContext, TopicProxy

# topic -> (model class, dataset, harness loop used for cross-checks, standard model)
FAMILY = {
    "linear_regression": ("LinearRegression", toy.noisy_line, {"loss": "mse", "optimizer": "sgd"}, "linear"),
    "logistic_regression": ("LogisticRegression", toy.blobs, {"loss": "bce", "optimizer": "sgd"}, "logistic"),
    "perceptron": ("ShallowNetwork", toy.circles, {"loss": "bce", "optimizer": "adam"}, "shallow"),
}
EVAL_SEED_OFFSET = 1000  # held-out points come from another seed than the training points


@dataclass(frozen=True)
class Data:
    x: torch.Tensor  # (N, F)
    y: torch.Tensor  # (N, 1)
    eval_x: torch.Tensor  # (M, F)
    eval_y: torch.Tensor  # (M, 1): stays in the grading process


def data(topic: TopicContext) -> Data:
    make = FAMILY[topic.name][1]
    x, y = make(int(topic.budget["n_train"]), seed=topic.seed)
    eval_x, eval_y = make(int(topic.budget["n_eval"]), seed=topic.seed + EVAL_SEED_OFFSET)
    return Data(x, y, eval_x, eval_y)


def fit(side: TopicProxy, topic: TopicContext, **extra: Any) -> dict[str, Any]:
    """Train on the topic's data with its budget and predict on the held-out inputs (never their labels)."""
    d = data(topic)
    return side.run("regression.fit", model=FAMILY[topic.name][0], init={}, x=d.x, y=d.y, eval_x=d.eval_x,
                    epochs=int(topic.budget["epochs"]), lr=float(topic.budget["lr"]), seed=topic.seed, **extra)


def cross_fit(side: TopicProxy, topic: TopicContext, piece: str) -> dict[str, Any]:
    """Isolate one piece: the student's train() on the standard model, or the harness loop on their model."""
    _, _, loop, standard = FAMILY[topic.name]
    if piece == "train":
        return fit(side, topic, standard=standard)
    return fit(side, topic, harness_loop=loop)


def valid_run(run: Any, topic: TopicContext) -> checks.Outcome:
    """The shape of a fit result, checked before any figure in it is trusted."""
    if not isinstance(run, dict):
        return checks.fail("the worker returned no training result")
    outcome = checks.losses(run.get("losses"), epochs=int(topic.budget["epochs"]))
    if not outcome.passed:
        return outcome
    n_eval = int(topic.budget["n_eval"])
    return checks.tensor(run.get("predictions"), name="predict()", shape=(n_eval, 1), dtype=torch.float32)


def diagnose(run: Any) -> str:
    """Name the likely bug behind a bad fit from what the worker observed during training."""
    if not isinstance(run, dict):
        return ""
    losses = run.get("losses") if isinstance(run.get("losses"), list) else []
    accumulated = run.get("accumulated_steps")
    if isinstance(accumulated, int) and accumulated > 0:
        return "gradients accumulated from one step to the next: call optimizer.zero_grad() every epoch"
    if len(losses) > 1 and max(losses) - min(losses) < 1e-12:
        return "the loss never changed: call optimizer.step() after loss.backward(), on model.parameters()"
    if len(losses) > 1 and losses[-1] > losses[0]:
        return "the loss grew during training: check the loss function, the learning rate and the update"
    return ""


def hinted(outcome: checks.Outcome, run: Any) -> checks.Outcome:
    """A failed outcome carries the diagnosis of the run as its hint."""
    hint = diagnose(run)
    return outcome if outcome.passed or not hint else replace(outcome, hint=hint)
