"""Public checks for topic 5, LeNet on MNIST and CifarNet on CIFAR-10: run them with `grade check cnn`."""

import torch

from graders import checks
from graders.families import images, images_artifacts, images_oracle


def _structure(submission, topic, config, expect, variant, params):
    info = images.inspect(submission, topic, variant, config=config)
    name = f"{images.VARIANTS[variant].build['class']}()"
    expect(checks.param_count(info["params"], params, name=name))
    expect(checks.tensor(info["output"], name=f"{name}.forward()", shape=(4, 10), dtype=torch.float32))
    expect(images.logits(info["output"], name=f"{name}.forward()"))


def test_lenet_structure(submission, topic, config, expect):
    _structure(submission, topic, config, expect, "lenet", 431_080)  # 520 + 25,050 + 400,500 + 5,010


def test_cifarnet_structure(submission, topic, config, expect):
    _structure(submission, topic, config, expect, "cifarnet", 541_094)  # 448 + 4,640 + 18,496 + 512,500 + 5,010


def test_transforms(submission, topic, config, expect):
    first, second = (images.transformed(submission, topic, "cifarnet", "eval", config=config, seed_shift=shift)
                     for shift in (0, 1))
    expect(images.normalised(first, name="test_transforms()", shape=(3, 32, 32)))
    same = checks.identical(first, second, what="test_transforms() outputs under two seeds")
    expect(same if same.passed else checks.fail("test_transforms() is random: it must not augment",
                                                 hint="keep only Resize, ToTensor and Normalize in test_transforms()"))


def test_augmentation(submission, topic, config, expect):
    first, second = (images.transformed(submission, topic, "cifarnet", "train", config=config, seed_shift=shift)
                     for shift in (0, 1))
    expect(images.normalised(first, name="train_transforms()", shape=(3, 32, 32)))
    expect(images.augments(first, second, name="train_transforms()"))


def _loss_decreases(submission, topic, config, expect, artifacts, variant):
    run = images.fit(submission, topic, variant, config=config)
    images_artifacts.record(artifacts, run, topic, variant, side="student", config=config)
    expect(images.valid_run(run, topic, variant))
    # The batch losses are computed here from what the criterion saw; the held-out predictions must beat a guess.
    expect(images.loss_decreases(run, topic, variant, ratio=topic.threshold(f"{variant}_loss_decreases"),
                                 config=config))


def test_lenet_loss_decreases(submission, topic, config, expect, artifacts):
    _loss_decreases(submission, topic, config, expect, artifacts, "lenet")


def test_cifarnet_loss_decreases(submission, topic, config, expect, artifacts):
    _loss_decreases(submission, topic, config, expect, artifacts, "cifarnet")


def test_evaluate(submission, topic, config, expect):
    run = images_oracle.evaluate_run(submission, topic, config=config)
    for outcome in images_oracle.evaluate_agrees(run, images_oracle.evaluate_expected(topic, config=config)):
        expect(outcome)
