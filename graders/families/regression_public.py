"""The public checks shared by topics 1-3; each topic's test_public.py imports them, pytest runs them there."""

from __future__ import annotations

import torch

from graders import checks
from graders.families import regression


def test_model_structure(submission, topic, expect):
    family = regression.FAMILY[topic.name]
    info = regression.inspect(submission, topic, init={}, n=64)
    expect(checks.param_count(info["params"], family.params, name=f"{family.model}()"))
    expect(checks.tensor(info["output"], name="forward()", shape=(None, 1), dtype=torch.float32))
    if family.metric == "accuracy":
        expect(checks.probabilities(info["output"], name="forward()"))
    expect(regression.other_sizes(submission, topic))


def test_train_returns_losses(submission, topic, expect):
    # train() on the harness's model: what train() returns does not depend on the student's model (issue #12).
    run = regression.cross_fit(submission, topic, "train")
    expect(checks.losses(run["losses"], epochs=int(topic.budget["epochs"])))


def test_loss_decreases(submission, topic, expect, artifacts):
    # train() returns one loss per epoch (checks.losses), the reference's too: the plot's x axis counts epochs.
    artifacts.setdefault("loss_curve", {})["x"] = "epoch"
    run = regression.fit(submission, topic)
    expect(checks.losses(run["losses"], epochs=int(topic.budget["epochs"])))
    artifacts["loss_curve"]["student"] = run["losses"]
    outcome = regression.hinted(checks.loss_decreases(run["losses"], window=10,
                                                      ratio=topic.threshold("loss_decreases")), run)
    if outcome.passed:  # what train() reports, checked against what the grader measures
        expect(regression.learned(run, topic))
    expect(outcome)


def test_predict_no_grad(submission, topic, expect):
    # predict() on the student's model as the harness's loop trained it: it depends on their model, not on train().
    for outcome in regression.predict_works(regression.predicted(submission, topic), topic):
        expect(outcome)
