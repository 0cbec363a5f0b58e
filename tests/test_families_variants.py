"""Correct-but-different code (issue #12, finding 8): submissions that do what every docstring asks, in the styles
real students write, get full marks on every topic.

Each `examples/*_variant_styles` mixes styles the reference does not use: nn.Sequential models, a loss written out,
`model.zero_grad()`, gradients zeroed after `optimizer.step()`, losses summed as tensors, torch.nn.functional
layers, `torch.max(outputs, 1)`, a freezing loop over `named_parameters()`, a `model.predict(x)` method behind the
module's predict(), and each way to flatten.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from graders.config import load_config
from graders.grading.reference import Reference
from graders.grading.session import GradingOptions, grade_submission

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "grading.yaml")

# Each correct variant and the topic it answers.
VARIANTS = {
    "linear_variant_styles": "linear_regression",
    "logistic_variant_styles": "logistic_regression",
    "perceptron_variant_styles": "perceptron",
    "dnn_variant_styles": "deep_neural_network",
    "cnn_variant_styles": "cnn",
    "transfer_variant_styles": "transfer_learning",
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference():
    ref = Reference(CONFIG)
    yield ref
    ref.close()


def test_every_variant_is_bundled_in_its_topic_folder():
    for example, topic in VARIANTS.items():
        spec = CONFIG.topics[topic]
        assert (ROOT / "examples" / example / spec.folder / spec.module).is_file(), example


@pytest.mark.parametrize("example", sorted(VARIANTS))
def test_each_correct_variant_gets_full_marks(reference, example):
    topic = VARIANTS[example]
    result = grade_submission(ROOT / "examples" / example, config=CONFIG, hidden=True, topics=[topic],
                              options=GradingOptions(reference=reference))
    failures = [f"{c.name}: {c.message}" for c in result.checks() if not c.passed]
    assert not failures, f"{example} ({topic}) failed:\n" + "\n".join(failures)
    assert result.points == result.max_points == sum(c.points for c in CONFIG.topics[topic].checks.values())
