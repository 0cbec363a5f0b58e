"""Topic 5 (LeNet and CifarNet) graded end to end: the reference, the stub, the buggy examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from graders.config import load_config
from graders.grading.reference import Reference
from graders.grading.session import GradingOptions, grade_submission

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "grading.yaml")
TOPIC = "cnn"

# Each buggy example, exactly the checks it must fail, and the first words of each failure's message, which name
# its actual cause (issue #12).
SOFTMAX, ZERO_GRAD = "forward() returns probabilities", "gradients accumulated from one batch to the next"
EXPECTED_FAILURES = {
    "cnn_softmax_before_loss": {"lenet_structure": "LeNet().forward() returns probabilities",
                                "lenet_loss_decreases": SOFTMAX, "lenet_accuracy": SOFTMAX},
    "cnn_evaluate_in_train_mode": {"evaluate": "evaluate() ran the model in training mode"},
    "cnn_no_augmentation": {"augmentation": "train_transforms() gave the same tensors under two seeds"},
    # accuracy also scores the course's own test transform (#12): the bug costs `transforms` alone.
    "cnn_test_not_normalized": {"transforms": "test_transforms(): values from 0 to 1, not normalised"},
    "cnn_dropout_unused": {"dropout": "LeNet gives the same output in training and eval mode: no dropout"},
    "cnn_no_zero_grad": {check: ZERO_GRAD for check in ("zero_grad", "lenet_loss_decreases", "cifarnet_loss_decreases",
                                                        "lenet_accuracy", "cifarnet_accuracy")},
    "cnn_cifarnet_5x5_kernels": {"cifarnet_structure": "CifarNet(): 582822 parameters, expected 541094"},
}


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reference():
    ref = Reference(CONFIG)
    yield ref
    ref.close()


_GRADED: dict[str, object] = {}


def grade(path, reference):
    """Each example is graded once per module; several tests read the same result."""
    if str(path) not in _GRADED:
        _GRADED[str(path)] = grade_submission(path, config=CONFIG, hidden=True, topics=[TOPIC],
                                              options=GradingOptions(reference=reference))
    return _GRADED[str(path)]


def failed(result) -> set[str]:
    return {c.name for c in result.checks() if not c.passed}


def test_reference_solution_gets_full_marks(reference):
    result = grade(ROOT / "solutions", reference)
    assert failed(result) == set()
    assert result.points == result.max_points == sum(c.points for c in CONFIG.topics[TOPIC].checks.values())


def test_untouched_stub_scores_zero_with_not_implemented(reference):
    result = grade(ROOT / "assignments", reference)
    assert result.points == 0
    assert all("not implemented" in c.message for c in result.checks())


@pytest.mark.parametrize("example", sorted(EXPECTED_FAILURES))
def test_each_buggy_example_fails_exactly_its_checks(reference, example):
    result = grade(ROOT / "examples" / example, reference)
    expected = EXPECTED_FAILURES[example]
    assert failed(result) == set(expected)
    for check in result.checks():
        if not check.passed:
            assert check.message.startswith(expected[check.name]), (check.name, check.message)
            assert check.hint, check


def test_a_missing_zero_grad_is_named_in_the_hints(reference):
    result = grade(ROOT / "examples" / "cnn_no_zero_grad", reference)
    assert all("zero_grad" in c.hint for c in result.checks() if not c.passed)
