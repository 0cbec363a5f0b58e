"""Topics 1-3 (full-batch training on toy data): the data, the fit call, its validation and diagnosis."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from graders import checks
from graders.data import toy
from graders.errors import GradingError, TaskFailed, WorkerError
from graders.grading.context import TopicContext, TopicProxy


@dataclass(frozen=True)
class Family:
    """What differs between the three full-batch topics."""

    model: str  # the student's class
    make: Callable[..., tuple[torch.Tensor, torch.Tensor]]  # toy dataset: (n, *, seed) -> x, y
    loop: dict[str, str]  # the harness loop for cross-checks: loss, optimizer, how it predicts
    standard: str  # the harness's standard model (graders/worker/tasks/regression.py)
    metric: str  # "mse" on values or "accuracy" on 0/1 labels
    quality_check: str  # the name of the check comparing the metric with the reference's
    source: str  # the data, as reports name it
    params: int  # parameters of the model built with its defaults
    other_init: dict[str, int]  # other sizes, so sizes wired to the defaults show
    other_params: int


FAMILY = {
    "linear_regression": Family(
        model="LinearRegression", make=toy.noisy_line,
        loop={"loss": "mse", "optimizer": "sgd", "predict": "value"}, standard="linear", metric="mse",
        quality_check="fit_quality", source="noisy line y = 3x + 1 + N(0, 0.3^2), built in (seeded)", params=2,
        other_init={"in_features": 3, "out_features": 2}, other_params=8),
    "logistic_regression": Family(
        model="LogisticRegression", make=toy.blobs,
        loop={"loss": "bce", "optimizer": "sgd", "predict": "label"}, standard="logistic", metric="accuracy",
        quality_check="accuracy", source="two Gaussian blobs (sklearn make_blobs, seeded)", params=3,
        other_init={"in_features": 3}, other_params=4),
    "perceptron": Family(
        model="ShallowNetwork", make=toy.circles,
        loop={"loss": "bce", "optimizer": "adam", "predict": "label"}, standard="shallow", metric="accuracy",
        quality_check="accuracy", source="two concentric circles (sklearn make_circles, seeded)", params=17,
        other_init={"in_features": 2, "hidden": 8, "out_features": 1}, other_params=33),
}


@dataclass(frozen=True)
class Data:
    x: torch.Tensor  # (N, F)
    y: torch.Tensor  # (N, 1)
    eval_x: torch.Tensor  # (M, F)
    eval_y: torch.Tensor  # (M, 1): stays in the grading process


def data(topic: TopicContext) -> Data:
    make = FAMILY[topic.name].make
    x, y = make(int(topic.budget["n_train"]), seed=topic.seed)
    # A secret seed: code in the worker that knows graders.data.toy still cannot rebuild these labels; and an
    # order from it, so that no position tells a label whatever order a generator yields (issue #11).
    eval_x, eval_y = make(int(topic.budget["n_eval"]), seed=topic.eval_seed)
    order = topic.held_out_order(len(eval_y))
    return Data(x, y, eval_x[order], eval_y[order])


def inspect(side: TopicProxy, topic: TopicContext, init: dict[str, int], n: int = 8) -> dict[str, Any]:
    """Build the model with `init` and run it on a probe batch: the topic's inputs, spread wider.

    Spreading by 4 pushes a linear output past [0, 1], so a missing sigmoid shows.
    """
    probe = data(topic).eval_x[:n] * 4  # (n, F)
    width = init.get("in_features", probe.shape[1])
    if width != probe.shape[1]:
        probe = torch.randn(n, width, generator=torch.Generator().manual_seed(topic.seed)) * 4  # (n, width)
    return side.run("regression.inspect", model=FAMILY[topic.name].model, init=init, probe=probe, seed=topic.seed)


def other_sizes(side: TopicProxy, topic: TopicContext) -> checks.Outcome:
    """The model built with sizes other than the defaults has the parameters those sizes give.

    A model that raises with them has its sizes wired in: the message says so first, then the exception.
    """
    family = FAMILY[topic.name]
    name = call(family.model, family.other_init)
    try:
        other = inspect(side, topic, init=family.other_init)
    except TaskFailed as exc:
        if exc.kind != "error":
            raise
        return checks.fail(f"{name} does not run: {exc}", cause="error",
                           hint="build the layers from the sizes passed to __init__, never from fixed numbers")
    return checks.param_count(other["params"], family.other_params, name=name)


def call(model: str, init: dict[str, int]) -> str:
    """How a constructor call reads in a message: ShallowNetwork(hidden=8)."""
    return f"{model}(" + ", ".join(f"{k}={v}" for k, v in init.items()) + ")"


def fit(side: TopicProxy, topic: TopicContext, **extra: Any) -> dict[str, Any]:
    """Train on the topic's data with its budget and predict on the held-out inputs (never their labels)."""
    d, family = data(topic), FAMILY[topic.name]
    return side.run("regression.fit", model=family.model, init={}, x=d.x, y=d.y, eval_x=d.eval_x,
                    epochs=int(topic.budget["epochs"]), lr=float(topic.budget["lr"]), seed=topic.seed,
                    predict=family.loop["predict"], **extra)


def cross_fit(side: TopicProxy, topic: TopicContext, piece: str) -> dict[str, Any]:
    """Isolate one piece: the student's train() on the standard model, or the harness loop on their model."""
    family = FAMILY[topic.name]
    if piece == "train":
        return fit(side, topic, standard=family.standard)
    return fit(side, topic, harness_loop=family.loop)


def valid_run(run: Any, topic: TopicContext) -> checks.Outcome:
    """The shape of a fit result, checked before any figure in it is trusted.

    Its predictions are the harness's (0/1 labels at 0.5 for the classifiers): the student's predict() has a
    check of its own (`predict_works`), so a broken predict() costs that check alone (issue #12).
    """
    if not isinstance(run, dict):
        return checks.fail("the worker returned no training result")
    outcome = checks.losses(run.get("losses"), epochs=int(topic.budget["epochs"]))
    if not outcome.passed:
        return outcome
    return checks.tensor(run.get("predictions"), name="predictions", shape=(int(topic.budget["n_eval"]), 1),
                         dtype=torch.float32)


def predicted(side: TopicProxy, topic: TopicContext) -> dict[str, Any]:
    """The student's predict() on their own model as the harness's loop trained it.

    The harness's loop, not their train(): predict's check must not depend on another piece (issue #12).
    """
    run = cross_fit(side, topic, "model")
    if not isinstance(run, dict) or not isinstance(run.get("state"), dict):
        # Only a worker whose answers were tampered with gets here (an honest one raises TaskFailed above): the
        # student's side, not the harness's.
        raise WorkerError("the worker returned no trained model")
    return side.run("regression.predict", model=FAMILY[topic.name].model, init={}, state=run["state"],
                    x=data(topic).eval_x, seed=topic.seed)


def predict_works(out: Any, topic: TopicContext) -> list[checks.Outcome]:
    """predict() returns what the docstring asks, the model's own values or labels, without gradients or side
    effects. Its values are compared with those derived here from the model's raw outputs on the same inputs."""
    if not isinstance(out, dict):
        return [checks.fail("the worker returned no predictions")]
    n = int(topic.budget["n_eval"])
    shape = checks.tensor(out.get("predictions"), name="predict()", shape=(n, 1), dtype=torch.float32)
    raw = checks.tensor(out.get("outputs"), name="forward()", shape=(n, 1), dtype=torch.float32)
    if not (shape.passed and raw.passed):
        return [shape, raw]
    got, outputs = out["predictions"], out["outputs"]
    if FAMILY[topic.name].metric == "accuracy":
        outcome = labels(got)
        if not outcome.passed:
            return [outcome]
        # Items within float rounding of 0.5 may go either way (round() against >= 0.5).
        decided = (outputs - 0.5).abs() > 1e-6
        agree = bool(((got == (outputs >= 0.5).float()) | ~decided).all())
        expected = "the labels of forward() thresholded at 0.5"
    else:
        agree, expected = bool(torch.allclose(got, outputs, rtol=1e-5, atol=1e-6)), "the model's forward() values"
    return [
        checks.flag(agree, expected=True, message_ok=f"predict() returns {expected}",
                    message_fail=f"predict() does not return {expected}",
                    hint="predict() must return the model's own predictions for x, as the docstring says"),
        checks.flag(out.get("requires_grad"), expected=False,
                    message_ok="predict() runs the model without gradient tracking",
                    message_fail="predict() ran the model with gradient tracking on",
                    hint="wrap the forward pass in `with torch.no_grad():`"),
        checks.flag(out.get("changed_params"), expected=False, message_ok="predict() leaves the parameters unchanged",
                    message_fail="predict() changed the model's parameters",
                    hint="predict() must only read the model: no optimizer step, no assignment to parameters"),
    ]


def labels(predictions: torch.Tensor) -> checks.Outcome:
    if not bool(((predictions == 0) | (predictions == 1)).all()):
        return checks.fail("predict() must return labels 0. or 1., not probabilities",
                           hint="threshold the probabilities at 0.5, e.g. (model(x) >= 0.5).float()")
    return checks.ok("predict() returns 0/1 labels")


def learned(run: dict[str, Any], topic: TopicContext) -> checks.Outcome:
    """The trained model beats a constant predictor on held-out data: the falling losses were real.

    The predictions are the harness's (labels for the classifiers), validated as valid_run does.
    """
    outcome = valid_run(run, topic)
    if not outcome.passed:
        return outcome
    d = data(topic)
    if FAMILY[topic.name].metric == "mse":
        constant = torch.full_like(d.eval_y, float(d.y.mean()))
        return checks.beats_baseline(checks.mse(run["predictions"], d.eval_y), checks.mse(constant, d.eval_y),
                                     higher_is_better=False, baseline_name="always predicting the mean target")
    majority = torch.full_like(d.eval_y, float(d.y.mean() >= 0.5))
    return checks.beats_baseline(checks.accuracy(run["predictions"] >= 0.5, d.eval_y),
                                 checks.accuracy(majority, d.eval_y), higher_is_better=True,
                                 baseline_name="always predicting the most common class")


def quality(run: dict[str, Any], ref: dict[str, Any], topic: TopicContext, *, check: str, what: str) -> checks.Outcome:
    """The held-out metric of a run against the reference's, both computed here from hidden labels."""
    eval_y = data(topic).eval_y
    if FAMILY[topic.name].metric == "mse":
        mine, theirs = checks.mse(run["predictions"], eval_y), checks.mse(ref["predictions"], eval_y)
        return checks.versus_reference(mine, theirs, metric=f"held-out MSE{what}", higher_is_better=False,
                                       ratio=topic.threshold(check))
    mine, theirs = checks.accuracy(run["predictions"], eval_y), checks.accuracy(ref["predictions"], eval_y)
    return checks.versus_reference(mine, theirs, metric=f"held-out accuracy{what}", higher_is_better=True,
                                   ratio=topic.threshold(check))


# zero_grad compares train()'s losses with the reference's here (issue #6), never the worker's GradWatch.
# Measured on CPU at 1 and 2 threads over topics 1-3: honest variants (the loss by hand or as sum / N,
# zero_grad(set_to_none=False), model.zero_grad(), zeroing after step()) are within 3e-7 of the reference,
# float32 rounding; a missing zero_grad is 0.93 or more off. 1e-4 leaves 300x room for other devices'
# reduction orders and stays four orders of magnitude below the bug.
TRAIN_RTOL = 1e-4
ZERO_GRAD_HINT = "call optimizer.zero_grad() before loss.backward() in every epoch"
DOCSTRING_HINT = ("follow the train() docstring step by step: the loss and optimizer it names, lr as given, and per "
                  "epoch optimizer.zero_grad(), the loss on all of x, loss.backward(), optimizer.step()")


def same_training(run: Any, ref: dict[str, Any], topic: TopicContext) -> checks.Outcome:
    """The losses of the student's train() on the standard model against the reference train()'s (cross_fit).

    The same model, seed and data: a train() that does what its docstring says reproduces the reference's losses.
    Accumulated gradients change the second step, so the losses part from the third epoch (past TRAIN_RTOL by
    the fourth under Adam, whose step is normalised).
    """
    if not isinstance(run, dict):
        return checks.fail("the worker returned no training result")
    outcome = checks.losses(run.get("losses"), epochs=int(topic.budget["epochs"]))
    if not outcome.passed:
        return outcome
    what = "your train() on the harness's model"
    outcome = checks.same_losses(run["losses"], ref["losses"], rtol=TRAIN_RTOL, what=what)
    if not outcome.passed and len(set(run["losses"])) == 1:
        return resets_without_steps(run)
    # The worker's own observation only picks the hint: student code can forge it, so it never passes a check.
    accumulated = run.get("accumulated_steps")
    seen = isinstance(accumulated, int) and not isinstance(accumulated, bool) and accumulated > 0
    # Unseen, the failure keeps the check's own advice (grading.yaml: follow the train() docstring).
    return checks.diagnosed(outcome, f"gradients accumulated across epochs: {ZERO_GRAD_HINT}" if seen else "")


def resets_without_steps(run: dict[str, Any]) -> checks.Outcome:
    """A train() that never changes the model cannot show through its losses whether it resets gradients: the
    worker's count of backward passes that added to an old gradient decides instead (issue #12).

    Without this, a forgotten optimizer.step() cost zero_grad as well as its own checks. The count is observed in
    the worker (docs/threat-model.md: forging it means finding and disabling the harness's gradient hooks, more
    work than calling zero_grad()); it is reached only by a train() whose model never changes, which fails
    loss_decreases and the quality check on evidence computed here.
    """
    steps, accumulated = run.get("backward_steps"), run.get("accumulated_steps")
    if type(steps) is not int or type(accumulated) is not int:
        return checks.fail("the worker reported no gradient counts", cause="invalid")
    if steps < 2:
        return checks.fail("your train() never changed the model and ran loss.backward() at most once: there is no "
                           "gradient reset to see", hint=DOCSTRING_HINT)
    if accumulated:
        return checks.fail(f"gradients accumulated in {accumulated} of {steps} backward passes",
                           hint=ZERO_GRAD_HINT)
    return checks.ok(f"your train() never changed the model (see loss_decreases), but it reset the gradients before "
                     f"each of its {steps} backward passes")


def own_run(side: TopicProxy, topic: TopicContext) -> dict[str, Any] | None:
    """The ordinary fit of the student's own model, or None when it could not run (a broken model costs its own
    checks, never zero_grad)."""
    try:
        run = fit(side, topic)
    except GradingError:
        return None
    return run if isinstance(run, dict) else None


def own_model_resets_gradients(own: dict[str, Any] | None) -> checks.Outcome:
    """On the student's own model no backward pass added to a gradient left from the epoch before (issue #11).

    The oracle (same_training) grants the point; this observation, made in the worker, can only withhold it: a
    train() that resets gradients only when handed a model that is not the student's still fails here.
    """
    if own is None:
        return checks.ok("your model could not be trained here: the harness's model decided")
    accumulated = own.get("accumulated_steps")
    if type(accumulated) is not int or accumulated > 0:
        return checks.fail("training your own model, gradients accumulated from one epoch to the next",
                           hint=ZERO_GRAD_HINT)
    return checks.ok("training your own model, gradients were reset every epoch")


def diagnose(run: Any) -> str:
    """Name the likely bug behind a bad fit from what the worker observed during training."""
    if not isinstance(run, dict):
        return ""
    raw = run.get("losses")
    losses: list[float] = raw if isinstance(raw, list) else []
    accumulated = run.get("accumulated_steps")
    if isinstance(accumulated, int) and accumulated > 0:
        return "gradients accumulated from one step to the next: call optimizer.zero_grad() every epoch"
    if len(losses) > 1 and max(losses) - min(losses) < 1e-12:
        return "the loss never changed: call optimizer.step() after loss.backward(), on model.parameters()"
    if len(losses) > 1 and losses[-1] > losses[0]:
        return "the loss grew during training: check the loss function, the learning rate and the update"
    if len(losses) > 1 and losses[-1] > 0.9 * losses[0]:
        return "the loss hardly moved: check the activations between layers, the learning rate and the update"
    return ""


def hinted(outcome: checks.Outcome, run: Any) -> checks.Outcome:
    """A failed outcome carries the diagnosis of the run as its hint."""
    return checks.diagnosed(outcome, diagnose(run))
