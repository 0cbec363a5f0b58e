"""The hidden checks shared by topics 4-6; each topic's test_hidden.py imports them (grading puts this folder
on the import path of the grading process only, never of a worker)."""

from graders import checks
from graders.families import images, images_oracle


def test_zero_grad(submission, reference, topic, config, expect):
    # Issue #11: the point rests on losses and weights compared here (the harness's model, drawn from the secret
    # seed); the student's own model in the ordinary run must show no accumulation either, so a loop that behaves
    # only on a model it does not know still fails.
    run, ref = (images_oracle.oracle(side, topic, config=config, dropout=False) for side in (submission, reference))
    expect(images_oracle.resets_gradients(run, ref))
    expect(images_oracle.own_model_resets_gradients(images_oracle.own_run(submission, topic, config=config)))


def test_train_mode(submission, reference, topic, config, expect):
    # As zero_grad: the first loss with dropout compared here, and the student's own model in training mode.
    run, ref = (images_oracle.oracle(side, topic, config=config, dropout=True) for side in (submission, reference))
    expect(images_oracle.trains_in_train_mode(run, ref))
    expect(images_oracle.own_model_in_train_mode(images_oracle.own_run(submission, topic, config=config)))


def test_mean_loss(submission, topic, config, expect):
    # One convention for every average of a loss, the mean per sample (issue #12), charged here once: evaluate()'s
    # own check accepts a mean of batch means, this one names it.
    for variant in images.TRAINED[topic.name]:
        run = images.fit(submission, topic, variant, config=config)
        expect(images.valid_run(run, topic, variant))
        expect(images.mean_loss_agrees(run, topic, variant))
    evaluated = images_oracle.evaluate_run(submission, topic, config=config)
    expect(images_oracle.evaluate_averages_per_sample(evaluated, images_oracle.evaluate_expected(topic, config=config)))


def test_deterministic(submission, topic, config, expect):
    # The first model only (LeNet in topic 5, the cheaper to repeat): init, dropout and train_one_epoch are the
    # student's in both runs; the second runs in a fresh worker.
    variant = images.TRAINED[topic.name][0]
    first = images.fit(submission, topic, variant, config=config)
    second = images.fit(submission, topic, variant, config=config, attempt=2)
    expect(images.valid_run(first, topic, variant))
    expect(checks.identical(first["losses"], second["losses"], what="losses"))
    expect(checks.identical(first["predictions"], second["predictions"], what="predictions"))


def test_training_time(submission, reference, topic, config, expect):
    variants = images.TRAINED[topic.name]
    runs = {v: images.fit(submission, topic, v, config=config) for v in variants}
    refs = {v: images.fit(reference, topic, v, config=config) for v in variants}
    for variant in variants:
        expect(images.valid_run(runs[variant], topic, variant))
    # The module's import counts too, past the allowance for libraries (finding 8), once: the variants train in
    # the worker that imported it.
    seconds, ref_seconds = (sum(r["call_seconds"] for r in side) + checks.counted_import(max(r["import_seconds"]
                                                                                              for r in side))
                            for side in (list(runs.values()), list(refs.values())))
    expect(checks.time_ratio(seconds, ref_seconds, max_ratio=topic.threshold("training_time")))
