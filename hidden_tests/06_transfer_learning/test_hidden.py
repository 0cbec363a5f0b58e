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

from graders.families import images, images_artifacts, transfer


def test_weights_loaded(submission, reference, topic, config, expect):
    for variant in ("alexnet", "vgg16"):
        # Before training, as built: a sample of model.features against the reference's, which holds the given weights.
        run, ref = (images.fit(side, topic, variant, config=config) for side in (submission, reference))
        expect(transfer.weights_loaded(run, ref, name=f"build_{variant}"))


def test_vgg16_head_only_trains(submission, topic, config, expect):
    run = images.fit(submission, topic, "vgg16", config=config)
    expect(images.valid_run(run, topic, "vgg16"))
    expect(images.hinted(transfer.only_head_trains(run, name="build_vgg16()"), run))


def test_matches_reference(submission, reference, topic, config, expect, artifacts):
    run, ref = (images.fit(side, topic, "alexnet", config=config) for side in (submission, reference))
    images_artifacts.record(artifacts, ref, topic, "alexnet", side="reference")
    expect(images.valid_run(run, topic, "alexnet"))
    expect(images.hinted(transfer.matches_reference(run, ref, topic, rtol=topic.threshold("matches_reference")), run))
