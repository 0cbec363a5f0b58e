"""Public checks for topic 4, a deep neural network on MNIST: run them with `grade check deep_neural_network`."""

import torch

from graders import checks
from graders.families import images, images_artifacts, images_oracle


def test_model_structure(submission, topic, config, expect):
    info = images.inspect(submission, topic, "classifier", config=config)
    expect(checks.param_count(info["params"], 106_975, name="Classifier()"))
    expect(checks.tensor(info["output"], name="forward()", shape=(4, 10), dtype=torch.float32))
    expect(images.logits(info["output"], name="forward()"))
    flat = images.inspect(submission, topic, "classifier", config=config, probe=torch.zeros(4, 784))
    expect(checks.tensor(flat["output"], name="forward() on flat (N, 784) input", shape=(4, 10)))
    small = {"in_features": 784, "hidden1": 32, "hidden2": 16, "num_classes": 5}
    other = images.inspect(submission, topic, "classifier", config=config, init=small)
    expect(checks.param_count(other["params"], 25_733, name="Classifier(784, 32, 16, 5)"))


def test_transforms(submission, topic, config, expect):
    tensors = images.transformed(submission, topic, "classifier", "eval", config=config)
    expect(checks.ok("transforms() ran") if tensors else checks.fail("transforms() produced nothing"))
    for t in tensors:
        expect(checks.tensor(t, name="transforms()(image)", shape=(1, 28, 28), dtype=torch.float32))
    low = min(float(t.min()) for t in tensors)
    expect(checks.ok("values normalised to [-1, 1]") if low < 0 and max(float(t.max()) for t in tensors) <= 1
           else checks.fail(f"values from {low:.3g}: not normalised to [-1, 1]",
                            hint="add T.Normalize((0.5,), (0.5,)) after T.ToTensor()"))


def test_train_returns_losses(submission, topic, config, expect, data_source):
    run = images.fit(submission, topic, "classifier", config=config)
    expect(images.valid_run(run, topic, "classifier"))


def test_loss_decreases(submission, topic, config, expect, artifacts):
    run = images.fit(submission, topic, "classifier", config=config)
    expect(images.valid_run(run, topic, "classifier"))
    images_artifacts.record(artifacts, run, topic, "classifier", side="student", config=config)
    # The batch losses are computed here from what the criterion saw; the held-out predictions must beat a guess.
    expect(images.loss_decreases(run, topic, "classifier", ratio=topic.threshold("loss_decreases"), config=config))


def test_evaluate(submission, topic, config, expect):
    run = images_oracle.evaluate_run(submission, topic, config=config)
    for outcome in images_oracle.evaluate_agrees(run, images_oracle.evaluate_expected(topic, config=config)):
        expect(outcome)
