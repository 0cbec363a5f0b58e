"""Public checks for topic 1, linear regression: run them with `grade check linear_regression`."""

import torch

from graders import checks
from graders.course import regression


def test_model_structure(submission, expect):
    probe = torch.linspace(-1, 1, 8).reshape(8, 1)  # (8, 1)
    info = submission.run("regression.inspect", model="LinearRegression", init={}, probe=probe, seed=0)
    expect(checks.param_count(info["param_count"], 2, name="LinearRegression()"))
    expect(checks.tensor(info["output"], name="forward()", shape=(8, 1), dtype=torch.float32))
    wide = submission.run("regression.inspect", model="LinearRegression",
                          init={"in_features": 3, "out_features": 2}, probe=torch.ones(4, 3), seed=0)
    expect(checks.param_count(wide["param_count"], 8, name="LinearRegression(3, 2)"))


def test_train_returns_losses(submission, topic, expect):
    run = regression.fit(submission, topic)
    expect(checks.losses(run["losses"], epochs=int(topic.budget["epochs"])))


def test_loss_decreases(submission, topic, expect, artifacts):
    run = regression.fit(submission, topic)
    expect(checks.losses(run["losses"], epochs=int(topic.budget["epochs"])))
    artifacts.setdefault("loss_curve", {})["student"] = run["losses"]
    outcome = checks.loss_decreases(run["losses"], window=10, ratio=topic.threshold("loss_decreases"))
    expect(regression.hinted(outcome, run))


def test_predict_no_grad(submission, topic, expect):
    run = regression.fit(submission, topic)
    expect(regression.valid_run(run, topic))
    expect(checks.flag(run["prediction_requires_grad"], expected=False,
                       message_ok="predict() returns tensors without gradient tracking",
                       message_fail="predict() returns a tensor that requires grad",
                       hint="wrap the forward pass in `with torch.no_grad():`"))
    expect(checks.flag(run["predict_changed_params"], expected=False,
                       message_ok="predict() leaves the parameters unchanged",
                       message_fail="predict() changed the model's parameters"))
