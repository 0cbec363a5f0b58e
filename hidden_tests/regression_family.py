"""The hidden checks shared by topics 1-3; each topic's test_hidden.py imports them (grading puts this folder
on the import path of the grading process only, never of a worker)."""

from graders import checks
from graders.families import regression


def test_quality(submission, reference, topic, expect, artifacts, data_source):
    family = regression.FAMILY[topic.name]
    data_source(family.source)
    run, ref = regression.fit(submission, topic), regression.fit(reference, topic)
    artifacts.setdefault("loss_curve", {})["reference"] = ref["losses"]
    expect(regression.valid_run(run, topic))
    expect(regression.hinted(regression.quality(run, ref, topic, check=family.quality_check, what=""), run))


def test_zero_grad(submission, reference, topic, expect):
    # An oracle comparison made here: the student's train() and the reference's on the harness's model.
    run, ref = regression.cross_fit(submission, topic, "train"), regression.cross_fit(reference, topic, "train")
    expect(regression.same_training(run, ref, topic))
    # And on the student's own model: a train() that behaves only on a model it does not know fails there.
    expect(regression.own_model_resets_gradients(regression.own_run(submission, topic)))


def test_model_with_harness_loop(submission, reference, topic, expect):
    run, ref = regression.cross_fit(submission, topic, "model"), regression.cross_fit(reference, topic, "model")
    expect(regression.valid_run(run, topic))
    expect(regression.quality(run, ref, topic, check="model_with_harness_loop",
                              what=" of your model trained by the harness's loop"))


def test_deterministic(submission, topic, expect):
    first, second = regression.fit(submission, topic), regression.fit(submission, topic, attempt=2)
    expect(regression.valid_run(first, topic))
    expect(checks.identical(first["losses"], second["losses"], what="losses"))
    expect(checks.identical(first["predictions"], second["predictions"], what="predictions"))


def test_training_time(submission, reference, topic, expect):
    run, ref = regression.fit(submission, topic), regression.fit(reference, topic)
    expect(regression.valid_run(run, topic))
    # The module's import counts too, past the allowance for libraries: work done at import is work (finding 8).
    seconds, ref_seconds = (side["call_seconds"] + checks.counted_import(side["import_seconds"]) for side in (run, ref))
    expect(checks.time_ratio(seconds, ref_seconds, max_ratio=topic.threshold("training_time")))
