"""Hidden checks for topic 4: accuracy against the reference, zero_grad, train mode, mean loss, determinism, time.

Topics 4-6 share all but accuracy (hidden_tests/images_family.py).
"""

from images_family import (  # noqa: F401 - pytest collects them from here
    test_deterministic,
    test_mean_loss,
    test_train_mode,
    test_training_time,
    test_zero_grad,
)

from graders.families import images, images_artifacts


def test_accuracy(submission, reference, topic, config, expect, artifacts, data_source):
    for source in images.data(topic, "classifier", data_dir=str(config.resolve(config.data_dir))).sources:
        data_source(source)
    run, ref = images.fit(submission, topic, "classifier", config=config), images.fit(reference, topic, "classifier",
                                                                                       config=config)
    images_artifacts.record(artifacts, ref, topic, "classifier", side="reference")
    expect(images.valid_run(run, topic, "classifier"))
    expect(images.hinted(images.quality(run, ref, topic, "classifier", check="accuracy", config=config), run))
