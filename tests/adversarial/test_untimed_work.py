"""Work moved outside the timed call: training at import, so that the timed fit only loads weights (finding 8)."""

from __future__ import annotations

from graders import checks
from graders.families import regression
from graders.grading.context import TopicContext, TopicProxy
from tests.adversarial.conftest import SOLUTION, TOPIC, hostile, patient

# Slow training (one sample per step, the loop training_time exists to catch) done at import for `work_s` seconds;
# train() then only copies the weights and returns.
TRAIN_AT_IMPORT = """
    import time

    _trained = LinearRegression()

    def _train_slowly(seconds):
        optimizer = torch.optim.SGD(_trained.parameters(), lr=0.01)
        x = torch.linspace(-1, 1, 100).reshape(-1, 1)  # (100, 1)
        y = 3 * x + 1
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for i in range(100):
                optimizer.zero_grad()
                nn.functional.mse_loss(_trained(x[i : i + 1]), y[i : i + 1]).backward()
                optimizer.step()

    _train_slowly({work_s})

    def train(model, x, y, epochs, lr):
        try:
            model.load_state_dict(_trained.state_dict())  # trained already, before the clock started
        except RuntimeError:
            pass  # the harness's own model (zero_grad): not this trick's business
        return [1.0 / (1 + epoch) for epoch in range(epochs)]
"""


def test_training_at_import_counts_as_training_time(grader):
    config = grader.course.config
    spec = config.topics[TOPIC]
    topic = TopicContext.of(config, TOPIC)
    ref = regression.fit(TopicProxy(grader.reference, TOPIC), topic)  # cached by the honest grading
    reference_s = max(ref["call_seconds"] + checks.counted_import(ref["import_seconds"]), 0.05)  # time_ratio's floor
    # A quarter over the limit, on top of the import time that is not counted (for libraries).
    work_s = round(1.25 * spec.checks["training_time"].threshold * reference_s + checks.IMPORT_ALLOWANCE_S, 2)
    attack = grader.attack("import_trainer", hostile(TRAIN_AT_IMPORT.format(work_s=work_s)),
                           config=patient(config, call_s=work_s + 30, submission_s=work_s + 120))
    assert "training_time" not in attack.passed, attack.message("training_time")
    assert attack.checks["training_time"].measured >= 1.2 * spec.checks["training_time"].threshold, \
        attack.message("training_time")


def test_importing_the_libraries_a_notebook_uses_costs_no_training_time(grader):
    # The fair side of counting the import: an honest module that imports what course notebooks import.
    attack = grader.attack("heavy_imports", "import matplotlib.pyplot as plt\nimport scipy.stats\n"
                                            "from sklearn.datasets import make_blobs\n" + SOLUTION,
                           config=patient(grader.course.config, call_s=30))
    assert "training_time" in attack.passed, attack.message("training_time")
