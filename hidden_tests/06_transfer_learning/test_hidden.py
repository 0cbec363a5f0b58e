"""Hidden checks for topic 6: the given weights, VGG16's training, the reference as oracle, zero_grad, mode, time."""

from graders import checks
from graders.course import images


def test_weights_loaded(submission, reference, topic, config, expect):
    for variant in ("alexnet", "vgg16"):
        # Before training, as built: the same build under the same seed as the reference's.
        mine = images.fit(submission, topic, variant, config=config)["before"].get("features")
        theirs = images.fit(reference, topic, variant, config=config)["before"]["features"]
        expect(checks.flag(mine == theirs, expected=True,
                           message_ok=f"build_{variant}() loads the given weights into model.features",
                           message_fail=f"build_{variant}()'s model.features differ from the weights it was given",
                           hint="call model.load_state_dict(weights) when weights is not None, before replacing "
                                "the head"))


def test_vgg16_head_only_trains(submission, topic, config, expect):
    run = images.fit(submission, topic, "vgg16", config=config)
    expect(images.valid_run(run, topic, "vgg16"))
    expect(images.hinted(images.only_head_trained(run), run))


def test_matches_reference(submission, reference, topic, config, expect, artifacts):
    run, ref = (images.fit(side, topic, "alexnet", config=config) for side in (submission, reference))
    artifacts.setdefault("loss_curve", {}).update(student=images.batch_losses(run), reference=images.batch_losses(ref))
    expect(images.valid_run(run, topic, "alexnet"))
    expect(images.hinted(images.matches_reference(run, ref, rtol=topic.threshold("matches_reference")), run))


def test_zero_grad(submission, topic, config, expect):
    run = images.fit(submission, topic, "alexnet", config=config)
    steps, accumulated = run["backward_steps"], run["accumulated_steps"]
    expect(checks.flag(isinstance(steps, int) and steps > 1 and accumulated == 0, expected=True,
                       message_ok=f"gradients were reset before each of {steps} backward passes",
                       message_fail=f"gradients accumulated across batches in {accumulated} of {steps} passes",
                       hint="call optimizer.zero_grad() for every batch, before loss.backward()"))


def test_train_mode(submission, topic, config, expect):
    modes = images.fit(submission, topic, "alexnet", config=config)["train_modes"]
    expect(checks.flag(isinstance(modes, list) and bool(modes) and all(modes), expected=True,
                       message_ok="train_one_epoch() trains in training mode",
                       message_fail="train_one_epoch() ran the model in eval mode (the harness evaluated before)",
                       hint="call model.train() at the start of train_one_epoch()"))


def test_mean_loss(submission, topic, config, expect):
    run = images.fit(submission, topic, "alexnet", config=config)
    expect(images.valid_run(run, topic, "alexnet"))
    expect(images.mean_loss_agrees(run, topic, "alexnet"))


def test_deterministic(submission, topic, config, expect):
    first = images.fit(submission, topic, "alexnet", config=config)
    second = images.fit(submission, topic, "alexnet", config=config, attempt=2)
    expect(images.valid_run(first, topic, "alexnet"))
    expect(checks.identical(first["losses"], second["losses"], what="losses"))
    expect(checks.identical(first["predictions"], second["predictions"], what="predictions"))


def test_training_time(submission, reference, topic, config, expect):
    run, ref = (images.fit(side, topic, "alexnet", config=config) for side in (submission, reference))
    expect(images.valid_run(run, topic, "alexnet"))
    expect(checks.time_ratio(run["call_seconds"], ref["call_seconds"], max_ratio=topic.threshold("training_time")))
