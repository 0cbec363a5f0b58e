"""Hidden checks for topic 5: accuracy of both models against the reference, zero_grad, modes, dropout, time.

Topics 4-6 share zero_grad, train_mode, mean_loss, deterministic and training_time (hidden_tests/images_family.py).
"""

import torch
from images_family import (  # noqa: F401 - pytest collects them from here
    test_deterministic,
    test_mean_loss,
    test_train_mode,
    test_training_time,
    test_zero_grad,
)

from graders import checks
from graders.families import images, images_artifacts

VARIANTS = ("lenet", "cifarnet")


def _accuracy(submission, reference, topic, config, expect, artifacts, data_source, variant):
    for source in images.data(topic, variant, data_dir=str(config.resolve(config.data_dir))).sources:
        data_source(source)
    run, ref = images.fit(submission, topic, variant, config=config), images.fit(reference, topic, variant,
                                                                                 config=config)
    images_artifacts.record(artifacts, ref, topic, variant, side="reference")
    expect(images.valid_run(run, topic, variant))
    expect(images.hinted(images.quality(run, ref, topic, variant, check=f"{variant}_accuracy", config=config), run))


def test_lenet_accuracy(submission, reference, topic, config, expect, artifacts, data_source):
    _accuracy(submission, reference, topic, config, expect, artifacts, data_source, "lenet")


def test_cifarnet_accuracy(submission, reference, topic, config, expect, artifacts, data_source):
    _accuracy(submission, reference, topic, config, expect, artifacts, data_source, "cifarnet")


def test_dropout(submission, topic, config, expect):
    for variant in VARIANTS:
        info = images.inspect(submission, topic, variant, config=config)
        expect(checks.tensor(info["train_output"], name="forward() in training mode", shape=(4, 10)))
        name = images.VARIANTS[variant].build["class"]
        expect(checks.flag(not torch.equal(info["output"], info["train_output"]), expected=True,
                           message_ok="dropout is on in training mode and off in eval mode",
                           message_fail=f"{name} gives the same output in training and eval mode: no dropout",
                           hint="apply self.dropout1 (nn.Dropout(0.5)) after fc1's ReLU in forward()"))
