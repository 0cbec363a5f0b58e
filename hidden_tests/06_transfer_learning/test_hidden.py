"""Hidden checks for topic 6: the given weights, VGG16's training, the reference as oracle, zero_grad, mode, time.

Topics 4-6 share zero_grad, train_mode, mean_loss, deterministic and training_time (hidden_tests/images_family.py).
"""

from images_family import (  # noqa: F401 - pytest collects them from here
    test_deterministic,
    test_mean_loss,
    test_train_mode,
    test_training_time,
    test_zero_grad,
)

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
