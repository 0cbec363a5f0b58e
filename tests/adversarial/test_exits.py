"""Leaving early: sys.exit and os._exit at import, during train() and during predict(), endless or sleeping code."""

from __future__ import annotations

import pytest

from tests.adversarial.conftest import hostile

# Checks that never call the student's train() or predict(): the harness builds the model and trains it itself.
WITHOUT_TRAIN = {"model_structure", "model_with_harness_loop"}


@pytest.mark.parametrize("exit_call", ["sys.exit(0)", "os._exit(0)"])
def test_exit_at_import_scores_nothing(grader, exit_call):
    attack = grader.attack(f"exit_at_import_{exit_call[:3]}", hostile(f"import os, sys\n{exit_call}\n"))
    assert attack.passed == set() and attack.points() == 0, attack.messages()
    expected = "sys.exit(0)" if exit_call.startswith("sys") else "exit code 0"
    assert all(expected in m for m in (attack.message(n) for n in attack.checks)), attack.messages()


@pytest.mark.parametrize("exit_call", ["sys.exit(0)", "os._exit(0)"])
def test_exit_during_training_costs_the_training_checks_only(grader, exit_call):
    attack = grader.attack(f"exit_in_train_{exit_call[:3]}", hostile(f"""
        import os, sys
        _honest_train = train

        def train(model, x, y, epochs, lr):
            losses = _honest_train(model, x, y, epochs // 2, lr)  # half the work, then leave "successfully"
            {exit_call}
    """))
    assert attack.passed == WITHOUT_TRAIN, attack.messages()
    message = attack.message("train_returns_losses")
    assert "sys.exit" in message or "exit code 0" in message, message


def test_exit_during_predict_costs_the_prediction_checks(grader):
    attack = grader.attack("exit_in_predict", hostile("""
        import os

        def predict(model, x):
            os._exit(0)
    """))
    # Every fit task ends with predict(), so the checks on training fail with it; the model checks remain.
    assert attack.passed == {"model_structure", "model_with_harness_loop"}, attack.messages()
    assert "exit code 0" in attack.message("fit_quality")


STALLS = {
    "loop": "def train(model, x, y, epochs, lr):\n    while True:\n        pass\n",
    "sleep": "def train(model, x, y, epochs, lr):\n    import time\n    time.sleep(3600)\n",
}


@pytest.mark.parametrize("stall", sorted(STALLS))
def test_endless_training_times_out_and_grading_goes_on(grader, stall):
    limits = grader.course.config.limits
    attack = grader.attack(f"stall_{stall}", hostile(STALLS[stall]))
    assert attack.passed == WITHOUT_TRAIN, attack.messages()
    assert "timed out" in attack.message("train_returns_losses")
    # Each distinct call costs its limit once (failures are remembered), never the whole submission budget.
    assert attack.seconds < limits.submission_s, attack.seconds
