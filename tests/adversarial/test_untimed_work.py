"""Work moved outside the timed call: training at import, so that the timed fit only loads weights (finding 8)."""

from __future__ import annotations

from graders import checks
from graders.course import images
from graders.plugin import TopicContext, TopicProxy
from tests.adversarial.conftest import IMAGE_SOLUTION, IMAGE_TOPIC, SOLUTION, hostile, patient

# Slow training (one sample per step, the loop training_time exists to catch) done at import for `work_s` seconds;
# train_one_epoch then only copies the weights and returns.
TRAIN_AT_IMPORT = """
    import time

    _trained = Classifier()

    def _train_slowly(seconds):
        optimizer = torch.optim.SGD(_trained.parameters(), lr=0.01)
        generator = torch.Generator().manual_seed(0)
        images = torch.randn(64, 1, 28, 28, generator=generator)
        labels = torch.randint(0, 10, (64,), generator=generator)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for i in range(64):
                optimizer.zero_grad()
                F.cross_entropy(_trained(images[i : i + 1]), labels[i : i + 1]).backward()
                optimizer.step()

    _train_slowly({work_s})

    def train_one_epoch(model, loader, criterion, optimizer, device):
        try:
            model.load_state_dict(_trained.state_dict())  # trained already, before the clock started
        except RuntimeError:
            pass  # the harness's own model (zero_grad, train_mode): not this trick's business
        return 1.0
"""


def test_training_at_import_counts_as_training_time(grader):
    config = grader.course.config
    spec = config.topics[IMAGE_TOPIC]
    topic = TopicContext(IMAGE_TOPIC, spec, config.seed, config.eval_seed_for(IMAGE_TOPIC))
    grader.honest_of(IMAGE_TOPIC)  # the reference's run is cached by then
    ref = images.fit(TopicProxy(grader.reference, IMAGE_TOPIC), topic, "classifier", config=config)
    reference_s = max(ref["call_seconds"] + checks.counted_import(ref["import_seconds"]), 0.05)  # time_ratio's floor
    # A quarter over the limit, on top of the import time that is not counted (for libraries).
    work_s = round(1.25 * spec.checks["training_time"].threshold * reference_s + checks.IMPORT_ALLOWANCE_S, 2)
    attack = grader.attack("import_trainer", hostile(TRAIN_AT_IMPORT.format(work_s=work_s), base=IMAGE_SOLUTION),
                           topic=IMAGE_TOPIC, config=patient(config, call_s=work_s + 60, submission_s=work_s + 300))
    assert "training_time" not in attack.passed, attack.message("training_time")
    assert attack.checks["training_time"].measured >= 1.2 * spec.checks["training_time"].threshold, \
        attack.message("training_time")


def test_importing_the_libraries_a_notebook_uses_costs_no_training_time(grader):
    # The fair side of counting the import: an honest module that imports what course notebooks import.
    attack = grader.attack("heavy_imports", "import matplotlib.pyplot as plt\nimport scipy.stats\n"
                                            "from sklearn.datasets import make_blobs\n" + SOLUTION,
                           config=patient(grader.course.config, call_s=30))
    assert "training_time" in attack.passed, attack.message("training_time")
