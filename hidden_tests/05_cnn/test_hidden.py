"""Hidden checks for topic 5: accuracy of both models against the reference, zero_grad, modes, dropout, time."""

import torch

from graders import checks
from graders.course import images

VARIANTS = ("lenet", "cifarnet")


def _runs(side, topic, config):
    return {variant: images.fit(side, topic, variant, config=config) for variant in VARIANTS}


def _accuracy(submission, reference, topic, config, expect, data_source, variant):
    for source in images.data(topic, variant, data_dir=str(config.resolve(config.data_dir))).sources:
        data_source(source)
    run, ref = images.fit(submission, topic, variant, config=config), images.fit(reference, topic, variant,
                                                                                 config=config)
    expect(images.valid_run(run, topic, variant))
    expect(images.hinted(images.quality(run, ref, topic, variant, check=f"{variant}_accuracy", config=config), run))


def test_lenet_accuracy(submission, reference, topic, config, expect, artifacts, data_source):
    artifacts.setdefault("loss_curve", {})["reference"] = images.batch_losses(images.fit(reference, topic, "lenet",
                                                                                         config=config))
    _accuracy(submission, reference, topic, config, expect, data_source, "lenet")


def test_cifarnet_accuracy(submission, reference, topic, config, expect, data_source):
    _accuracy(submission, reference, topic, config, expect, data_source, "cifarnet")


def test_zero_grad(submission, topic, config, expect):
    for variant, run in _runs(submission, topic, config).items():
        steps, accumulated = run["backward_steps"], run["accumulated_steps"]
        expect(checks.flag(isinstance(steps, int) and steps > 0 and accumulated == 0, expected=True,
                           message_ok=f"gradients were reset before each backward pass ({variant})",
                           message_fail=f"{variant}: gradients accumulated across batches in {accumulated} of "
                                        f"{steps} passes",
                           hint="call optimizer.zero_grad() for every batch, before loss.backward()"))


def test_train_mode(submission, topic, config, expect):
    for variant, run in _runs(submission, topic, config).items():
        modes = run["train_modes"]
        expect(checks.flag(isinstance(modes, list) and bool(modes) and all(modes), expected=True,
                           message_ok="train_one_epoch() trains in training mode",
                           message_fail=f"{variant}: train_one_epoch() ran the model in eval mode (the harness "
                                        "evaluated before)",
                           hint="call model.train() at the start of train_one_epoch()"))


def test_dropout(submission, topic, config, expect):
    for variant in VARIANTS:
        info = images.inspect(submission, topic, variant, config=config)
        expect(checks.tensor(info["train_output"], name="forward() in training mode", shape=(4, 10)))
        name = images.VARIANTS[variant].build["class"]
        expect(checks.flag(not torch.equal(info["output"], info["train_output"]), expected=True,
                           message_ok="dropout is on in training mode and off in eval mode",
                           message_fail=f"{name} gives the same output in training and eval mode: no dropout",
                           hint="apply self.dropout1 (nn.Dropout(0.5)) after fc1's ReLU in forward()"))


def test_mean_loss(submission, topic, config, expect):
    for variant, run in _runs(submission, topic, config).items():
        expect(images.valid_run(run, topic, variant))
        expect(images.mean_loss_agrees(run, topic, variant))


def test_deterministic(submission, topic, config, expect):
    # LeNet, the cheaper run to repeat: model init, dropout and train_one_epoch are the student's in both.
    first = images.fit(submission, topic, "lenet", config=config)
    second = images.fit(submission, topic, "lenet", config=config, attempt=2)
    expect(images.valid_run(first, topic, "lenet"))
    expect(checks.identical(first["losses"], second["losses"], what="losses"))
    expect(checks.identical(first["predictions"], second["predictions"], what="predictions"))


def test_training_time(submission, reference, topic, config, expect):
    runs, refs = _runs(submission, topic, config), _runs(reference, topic, config)
    for variant in VARIANTS:
        expect(images.valid_run(runs[variant], topic, variant))
    seconds, ref_seconds = (sum(r["call_seconds"] for r in side.values()) for side in (runs, refs))
    expect(checks.time_ratio(seconds, ref_seconds, max_ratio=topic.threshold("training_time")))
