"""The oracle behind zero_grad and train_mode in topics 4-6: the student's train_one_epoch on the harness's model.

Issue #6: these checks pass on losses and weights compared here with the reference's, never on what the
worker's hooks (GradWatch, ModeLog) report: student code can patch those, so they only name the likely bug.
The model, criterion, optimizer and batches are the harness's, so a correct train_one_epoch matches bit for bit.
"""

from __future__ import annotations

import math
from typing import Any

from graders import checks
from graders.course.images import TRAINED, VARIANTS, batch_losses, data, weight_update
from graders.plugin import TopicContext, TopicProxy

# The oracle trains on the first training images of the topic's first model: SGD, 4 batches (of 16; of 4 on
# topic 6, which has 16 images), as cheap as a few milliseconds on CPU.
CLASSES = {"mnist": 10, "cifar10": 10, "two_class": 2}
ORACLE_BATCHES, ORACLE_IMAGES, ORACLE_LR = 4, 64, 0.05
# Measured on CPU, seed 0, topics 4-6: the reference against itself and honest variants (model.zero_grad(),
# zero_grad(set_to_none=False), zero_grad after step(), outputs in a variable) match it bit for bit (gap 0):
# the model, criterion, optimizer and batches are the harness's. Without zero_grad batch 3's loss differs by
# 1.4e-3 to 0.88 (relative) and the hidden layer's update by 1.9 to 7.5; without model.train() batch 1's loss
# by 1.7e-2 to 3.7e-2. 1e-5 leaves room for rounding and stays 140x below the smallest of those gaps.
ORACLE_RTOL = 1e-5
ZERO_GRAD_SEEN = "gradients accumulated from one batch to the next: call optimizer.zero_grad() for every batch"
EVAL_MODE_SEEN = "train_one_epoch() ran the model in eval mode (dropout off): call model.train() at its start"


def oracle(side: TopicProxy, topic: TopicContext, *, config: Any, dropout: bool) -> dict[str, Any]:
    """train_one_epoch on the standard model (with or without dropout), handed over in eval mode."""
    variant = TRAINED[topic.name][0]
    d = data(topic, variant, data_dir=str(config.resolve(config.data_dir)))
    n = min(ORACLE_IMAGES, len(d.train_images)) // ORACLE_BATCHES * ORACLE_BATCHES
    return side.run("images.oracle", images=d.train_images[:n], labels=d.train_labels[:n],
                    classes=CLASSES[VARIANTS[variant].dataset], batches=ORACLE_BATCHES, dropout=dropout,
                    lr=ORACLE_LR, seed=topic.seed)


def resets_gradients(run: Any, ref: dict[str, Any]) -> checks.Outcome:
    """zero_grad: on the standard model without dropout, every batch loss and the update match the reference's.

    Without dropout the mode changes nothing, so a missing model.train() costs train_mode only. Left-over
    gradients change the second step: the losses part from batch 3, the update at once.
    """
    outcome = _same_run(run, ref, batches=None, what="train_one_epoch() on the harness's model")
    accumulated = run.get("accumulated_steps") if isinstance(run, dict) else None
    seen = isinstance(accumulated, int) and not isinstance(accumulated, bool) and accumulated > 0
    return checks.with_hint(outcome, ZERO_GRAD_SEEN if seen else "")


def trains_in_train_mode(run: Any, ref: dict[str, Any]) -> checks.Outcome:
    """train_mode: on the standard model with dropout, handed over in eval mode, batch 1's loss matches the reference's.

    It is computed before any step: only the mode (dropout on or off) changes it.
    """
    outcome = _same_run(run, ref, batches=1, what="train_one_epoch() on the harness's model with dropout, "
                                                  "handed over in eval mode")
    modes = run.get("train_modes") if isinstance(run, dict) else None
    seen = isinstance(modes, list) and bool(modes) and not all(m is True for m in modes)
    return checks.with_hint(outcome, EVAL_MODE_SEEN if seen else "")


def _same_run(run: Any, ref: dict[str, Any], *, batches: int | None, what: str) -> checks.Outcome:
    """The first `batches` losses (None: all of them and the update) within ORACLE_RTOL of the reference's."""
    if not isinstance(run, dict):
        return checks.fail("the worker returned no training result")
    mine, theirs = batch_losses(run), batch_losses(ref)
    if len(mine) != len(theirs):
        return checks.fail(f"{what}: the criterion was called {len(mine)} times for {len(theirs)} batches",
                           hint="call the criterion you are given once per batch, on model(inputs) and labels")
    pairs: list[tuple[float | None, float | None]] = [(a, b) for a, b in zip(mine, theirs, strict=True)]
    pairs = pairs[:batches] if batches else [*pairs, (weight_update(run, "hidden"), weight_update(ref, "hidden"))]
    gaps = [checks.relative_gap(a, b) for a, b in pairs]
    worst, first = max(gaps, default=math.inf), next((i for i, gap in enumerate(gaps) if gap > ORACLE_RTOL), None)
    figures: dict[str, Any] = {"measured": worst if math.isfinite(worst) else None, "threshold": ORACLE_RTOL}
    if first is None:
        which = "batch 1's loss matches" if batches == 1 else f"the {len(mine)} batch losses and the update match"
        return checks.ok(f"{what}: {which} the reference's (relative gap {worst:.2g}, at most {ORACLE_RTOL:g})",
                         **figures)
    where = f"batch {first + 1}'s loss is {mine[first]:.6g}, the reference's {theirs[first]:.6g}" \
        if first < len(mine) else "the batch losses agree but the update to the weights differs from the reference's"
    return checks.fail(f"{what}: {where} (relative gap {gaps[first]:.2g}, at most {ORACLE_RTOL:g})", **figures)

