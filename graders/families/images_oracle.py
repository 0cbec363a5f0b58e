"""Oracles for topics 4-6: the student's train_one_epoch and evaluate on the harness's model, against the reference's.

Points rest on what the grading process computes from tensors that crossed (issue #11): batch losses from the
logits the criterion saw, the hidden layer's update from its weights, evaluate()'s figures against the reference's
on the same model and batches. The harness's model, its width, dropout, learning rate and images are drawn from
the secret seed, and zero_grad and train_mode also look at the student's own model in the ordinary training run:
a loop that behaves only when handed a model it does not know still fails there.
"""

from __future__ import annotations

import math
import random
from typing import Any

import torch
import torch.nn.functional as F

from graders import checks
from graders.config import Config
from graders.errors import GradingError
from graders.families.criterion import criterion_batches
from graders.families.images import TRAINED, VARIANTS, budget, data, fit, memoised, update_gap
from graders.grading.context import TopicContext, TopicProxy

CLASSES = {"mnist": 10, "cifar10": 10, "two_class": 2}
ORACLE_BATCHES, ORACLE_IMAGES = 4, 64  # 4 batches of 16 (of 4 on topic 6, which has 16 images): milliseconds
# Measured on CPU over the 48 setups below and topics 4-6 (bench-style script, in the closing note of issue #11):
# the reference against itself and honest variants (model.zero_grad(), zero_grad(set_to_none=False),
# enumerate(loader)) match bit for bit (gap 0): the model, criterion, optimizer and batches are the harness's.
# Without zero_grad the gap is 1.8 or more (the update), without model.train() 0.46 or more (loss and step with
# dropout off). 1e-5 leaves room for other devices' rounding and stays four orders of magnitude below the bugs.
ORACLE_RTOL = 1e-5
WIDTHS, DROPOUTS, LEARNING_RATES = (24, 32, 40, 48), (0.3, 0.4, 0.5, 0.6), (0.03, 0.05, 0.08)
ZERO_GRAD_SEEN = "gradients accumulated from one batch to the next: call optimizer.zero_grad() for every batch"
EVALUATED_IN_TRAINING = "evaluate() ran the model in training mode (dropout on): call model.eval() at its start"
EVAL_MODE_SEEN = "train_one_epoch() ran the model in eval mode (dropout off): call model.train() at its start"
# `config=` is accepted and unused, as by graders/families/images.py's helpers: the topic carries the data folder.


def setup(topic: TopicContext) -> dict[str, Any]:
    """The harness model's width, dropout and learning rate, and which training images it sees: secret draws."""
    draw = random.Random(topic.eval_seed)
    return {"width": draw.choice(WIDTHS), "dropout": draw.choice(DROPOUTS), "lr": draw.choice(LEARNING_RATES)}


def _images(topic: TopicContext, count: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """`count` training images of the topic's first model in a secret order, their labels and number of classes."""
    variant = TRAINED[topic.name][0]
    d = data(topic, variant)
    pick = topic.held_out_order(len(d.train_labels))[:count]
    return d.train_images[pick], d.train_labels[pick], CLASSES[VARIANTS[variant].dataset]


def oracle(side: TopicProxy, topic: TopicContext, *, dropout: bool, config: Config | None = None) -> dict[str, Any]:
    """train_one_epoch on the harness's model, handed over in eval mode: without dropout over ORACLE_BATCHES
    batches (for zero_grad), with dropout over one batch (for train_mode: one step, whatever zero_grad does)."""
    size = min(ORACLE_IMAGES, int(budget(topic, TRAINED[topic.name][0])["n_train"])) // ORACLE_BATCHES
    batches = _batches_for(dropout)
    images, labels, classes = _images(topic, size * batches)
    drawn = setup(topic)
    return side.run("images.oracle", images=images, labels=labels, classes=classes, batches=batches,
                    width=drawn["width"], dropout=drawn["dropout"] if dropout else 0.0, lr=drawn["lr"], seed=topic.seed)


def _batches_for(dropout: bool) -> int:
    return 1 if dropout else ORACLE_BATCHES


def own_run(side: TopicProxy, topic: TopicContext, *, config: Config | None = None) -> dict[str, Any] | None:
    """The ordinary training run of the student's own model, or None when it could not run (a broken model is
    its own checks' business, never zero_grad's or train_mode's)."""
    try:
        run = fit(side, topic, TRAINED[topic.name][0])
    except GradingError:
        return None
    return run if isinstance(run, dict) else None


def resets_gradients(run: Any, ref: dict[str, Any]) -> checks.Outcome:
    """zero_grad: on the harness's model without dropout, every batch loss and the update match the reference's.

    Without dropout the mode changes nothing, so a missing model.train() costs train_mode only. Left-over
    gradients change the second step: the losses part from batch 3, the update at once.
    """
    outcome = _same_run(run, ref, dropout=False, what="train_one_epoch() on the harness's model")
    accumulated = run.get("accumulated_steps") if isinstance(run, dict) else None
    seen = isinstance(accumulated, int) and not isinstance(accumulated, bool) and accumulated > 0
    return checks.diagnosed(outcome, ZERO_GRAD_SEEN if seen else "")


def trains_in_train_mode(run: Any, ref: dict[str, Any]) -> checks.Outcome:
    """train_mode: on the harness's model with dropout, handed over in eval mode, one batch's loss and step match.

    One step only: left-over gradients cannot change it, so a missing zero_grad costs zero_grad only; the mode
    (dropout on or off) changes both the loss and the gradient.
    """
    outcome = _same_run(run, ref, dropout=True, what="train_one_epoch() on the harness's model with dropout, "
                                                     "handed over in eval mode")
    modes = run.get("train_modes") if isinstance(run, dict) else None
    seen = isinstance(modes, list) and bool(modes) and not all(m is True for m in modes)
    return checks.diagnosed(outcome, EVAL_MODE_SEEN if seen else "")


def own_model_resets_gradients(own: dict[str, Any] | None) -> checks.Outcome:
    """On the student's own model, in the ordinary run, no backward pass added to a gradient left from the last."""
    if own is None:
        return checks.ok("your model could not be trained here: the harness's model decided")
    accumulated = own.get("accumulated_steps")
    if type(accumulated) is not int or accumulated > 0:
        return checks.fail("training your own model, gradients accumulated from one batch to the next",
                           hint="call optimizer.zero_grad() for every batch, whatever the model")
    return checks.ok("training your own model, gradients were reset for every batch")


def own_model_in_train_mode(own: dict[str, Any] | None) -> checks.Outcome:
    """On the student's own model, in the ordinary run (handed over in eval mode), forward passes ran in training
    mode."""
    if own is None:
        return checks.ok("your model could not be trained here: the harness's model decided")
    modes = own.get("train_modes")
    if not (isinstance(modes, list) and any(m is True for m in modes)):
        return checks.fail("training your own model, every forward pass ran in eval mode",
                           hint="call model.train() at the start of train_one_epoch(), whatever the model")
    return checks.ok("training your own model, forward passes ran in training mode")


def _same_run(run: Any, ref: dict[str, Any], *, dropout: bool, what: str) -> checks.Outcome:
    """Every batch loss and the hidden layer's update within ORACLE_RTOL of the reference's."""
    if not isinstance(run, dict):
        return checks.fail("the worker returned no training result")
    mine, theirs = (criterion_batches(side.get("criterion"), calls=_batches_for(dropout), rows=ORACLE_IMAGES,
                                      what=what) for side in (run, ref))
    if isinstance(mine, checks.Outcome):
        return mine
    if isinstance(theirs, checks.Outcome):
        return checks.fail(f"the reference's oracle run is unusable: {theirs.message}")
    gaps = [checks.relative_gap(a, b) for a, b in zip(mine.losses, theirs.losses, strict=True)]
    gaps.append(update_gap(run, ref, "hidden.weight"))
    worst, first = max(gaps), next((i for i, gap in enumerate(gaps) if gap > ORACLE_RTOL), None)
    figures: dict[str, Any] = {"measured": worst if math.isfinite(worst) else None, "threshold": ORACLE_RTOL}
    if first is None:
        return checks.ok(f"{what}: the {len(mine.losses)} batch loss(es) and the update match the reference's "
                         f"(relative gap {worst:.2g}, at most {ORACLE_RTOL:g})", **figures)
    where = f"batch {first + 1}'s loss is {mine.losses[first]:.6g}, the reference's {theirs.losses[first]:.6g}" \
        if first < len(mine.losses) else "the batch losses agree but the update to the weights differs"
    return checks.fail(f"{what}: {where} (relative gap {gaps[first]:.2g}, at most {ORACLE_RTOL:g})", **figures)


# -- evaluate(): the student's on the harness's model, against figures computed here ----------------------
def _evaluate_setup(topic: TopicContext) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """Labelled images, their classes, and a batch size that leaves the last batch smaller (a mean of batch
    means shows)."""
    count = int(budget(topic, TRAINED[topic.name][0])["probe"])
    images, labels, classes = _images(topic, count)
    size = math.ceil(count * 0.4)
    return images, labels, classes, size + (1 if count % size == 0 else 0)


def evaluate_run(side: TopicProxy, topic: TopicContext, *, config: Config | None = None) -> dict[str, Any]:
    """evaluate() on the harness's model with dropout, handed over in training mode."""
    images, labels, classes, size = _evaluate_setup(topic)
    drawn = setup(topic)
    return side.run("images.evaluate", images=images, labels=labels, classes=classes, width=drawn["width"],
                    dropout=drawn["dropout"], batch_size=size, seed=topic.seed)


def evaluate_expected(topic: TopicContext, *, config: Config | None = None) -> list[float]:
    """What evaluate_run's evaluate() must return: the same harness model, built here under the same seed, in eval
    mode over the same images: the mean loss per sample and the accuracy; third, the mean of the batch means, the
    one other convention (named, and charged once by mean_loss). No reference needed, so the check stays public
    (students' copies have no solutions). Computed once per process: evaluate and mean_loss both ask (issue #14)."""
    key = ("evaluate_expected", topic.name, topic.seed, topic.eval_seed, str(topic.data_dir),
           tuple(sorted(budget(topic, TRAINED[topic.name][0]).items())))
    return list(memoised(key, lambda: _evaluate_expected(topic)))


def _evaluate_expected(topic: TopicContext) -> list[float]:
    from graders.worker.tasks.images import StandardNet, harness_inputs  # our code only: nothing of the student's

    images, labels, classes, size = _evaluate_setup(topic)
    drawn = setup(topic)
    with torch.random.fork_rng(devices=[]):  # the worker seeds before building: so do we, leaving ours as it was
        torch.manual_seed(topic.seed)
        x = harness_inputs(images)  # (N, C, H, W)
        net = StandardNet(x[0].numel(), classes, width=drawn["width"], dropout=drawn["dropout"]).eval()
        with torch.no_grad():
            logits = net(x).double()  # (N, classes)
    per_batch = [float(F.cross_entropy(part, target)) for part, target in zip(logits.split(size), labels.split(size),
                                                                              strict=True)]
    return [float(F.cross_entropy(logits, labels)), float((logits.argmax(1) == labels).double().mean()),
            sum(per_batch) / len(per_batch)]


def evaluate_agrees(run: Any, expected: list[float]) -> list[checks.Outcome]:
    """evaluate() returns the figures computed here, and tracks no gradients.

    The figures carry the point: they are right only in eval mode (dropout off) and over every batch. A mean of the
    batch means passes here and costs mean_loss alone (issue #12: one convention, charged once).
    The gradient mode is seen inside the worker: forging it takes more code than `with torch.no_grad():`.
    """
    got = run.get("evaluate") if isinstance(run, dict) else None
    if not (isinstance(run, dict) and isinstance(got, list) and _two_floats(got)):
        return [checks.fail("evaluate() returned no (mean loss, accuracy) figures", cause="invalid")]
    loss_ok = min(checks.relative_gap(got[0], expected[0]), checks.relative_gap(got[0], expected[2])) <= 1e-4
    acc_ok = abs(got[1] - expected[1]) <= 1e-9
    message = (f"evaluate() returned loss {got[0]:.4g}, accuracy {got[1]:.4g}; expected {expected[0]:.4g}, "
               f"{expected[1]:.4g}")
    hint = ("call model.eval() first (dropout must be off), run over every batch, and return (mean loss per sample, "
            "accuracy in [0, 1])")
    modes = run.get("modes")
    in_training = isinstance(modes, list) and any(m is True for m in modes)  # seen in the worker: wording only
    figures = checks.ok(message) if loss_ok and acc_ok else checks.fail(message, hint=hint)
    return [
        checks.diagnosed(figures, EVALUATED_IN_TRAINING if in_training else ""),
        checks.flag(run.get("grad_enabled"), expected=False, message_ok="evaluate() tracks no gradients",
                    message_fail="evaluate() ran the model with gradient tracking on",
                    hint="wrap the loop in `with torch.no_grad():`"),
    ]


BATCH_MEANS_HINT = "weigh each batch's mean loss by its size (loss.item() * len(labels)), sum, divide by the samples"


def evaluate_averages_per_sample(run: Any, expected: list[float]) -> checks.Outcome:
    """evaluate()'s loss is the mean per sample, not the mean of the batch means (the last batch is smaller here).

    Only the averaging convention is judged here: any other wrong figure is evaluate's own failure, not this one.
    """
    got = run.get("evaluate") if isinstance(run, dict) else None
    if not (isinstance(got, list) and _two_floats(got)):
        return checks.fail("evaluate() returned no (mean loss, accuracy) figures: see the evaluate check",
                           cause="invalid")
    if checks.relative_gap(got[0], expected[2]) <= 1e-4 < checks.relative_gap(got[0], expected[0]):
        return checks.fail(f"mean of batch means: evaluate() returned {got[0]:.6g}, the mean of its batches' losses; "
                           f"the mean per sample is {expected[0]:.6g} (the last batch is smaller)",
                           measured=got[0], threshold=expected[0], hint=BATCH_MEANS_HINT)
    return checks.ok("evaluate() does not average the batch means")


def _two_floats(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(type(v) is float and math.isfinite(v) for v in value)
