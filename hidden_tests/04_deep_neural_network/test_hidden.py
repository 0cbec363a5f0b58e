"""Hidden checks for topic 4: accuracy against the reference, zero_grad, train mode, mean loss, determinism, time."""

from graders import checks
from graders.course import images


def test_accuracy(submission, reference, topic, config, expect, artifacts, data_source):
    for source in images.data(topic, "classifier", data_dir=str(config.resolve(config.data_dir))).sources:
        data_source(source)
    run, ref = images.fit(submission, topic, "classifier", config=config), images.fit(reference, topic, "classifier",
                                                                                       config=config)
    artifacts.setdefault("loss_curve", {})["reference"] = images.batch_losses(ref)
    expect(images.valid_run(run, topic, "classifier"))
    expect(images.hinted(images.quality(run, ref, topic, "classifier", check="accuracy", config=config), run))


def test_zero_grad(submission, topic, config, expect):
    run = images.fit(submission, topic, "classifier", config=config)
    steps, accumulated = run["backward_steps"], run["accumulated_steps"]
    expect(checks.flag(isinstance(steps, int) and steps > 0 and accumulated == 0, expected=True,
                       message_ok=f"gradients were reset before each of {steps} backward passes",
                       message_fail=f"gradients accumulated across batches in {accumulated} of {steps} passes",
                       hint="call optimizer.zero_grad() for every batch, before loss.backward()"))


def test_train_mode(submission, topic, config, expect):
    modes = images.fit(submission, topic, "classifier", config=config)["train_modes"]
    expect(checks.flag(isinstance(modes, list) and bool(modes) and all(modes), expected=True,
                       message_ok="train_one_epoch() trains in training mode",
                       message_fail="train_one_epoch() ran the model in eval mode (the harness evaluated before)",
                       hint="call model.train() at the start of train_one_epoch()"))


def test_mean_loss(submission, topic, config, expect):
    run = images.fit(submission, topic, "classifier", config=config)
    expect(images.valid_run(run, topic, "classifier"))
    expect(images.mean_loss_agrees(run, topic, "classifier"))


def test_deterministic(submission, topic, config, expect):
    first = images.fit(submission, topic, "classifier", config=config)
    second = images.fit(submission, topic, "classifier", config=config, attempt=2)
    expect(images.valid_run(first, topic, "classifier"))
    expect(checks.identical(first["losses"], second["losses"], what="losses"))
    expect(checks.identical(first["predictions"], second["predictions"], what="predictions"))


def test_training_time(submission, reference, topic, config, expect):
    run, ref = images.fit(submission, topic, "classifier", config=config), images.fit(reference, topic, "classifier",
                                                                                       config=config)
    expect(images.valid_run(run, topic, "classifier"))
    expect(checks.time_ratio(run["call_seconds"], ref["call_seconds"], max_ratio=topic.threshold("training_time")))
