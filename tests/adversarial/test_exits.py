"""Leaving early: sys.exit and os._exit at import, during train() and during predict(), endless or sleeping code."""

from __future__ import annotations

import pytest

from tests.adversarial.conftest import hostile

# Checks that never call the student's train() or predict(): the harness builds the model and trains it itself.
# The checks that never call train(): the model's, and predict()'s on a model the harness's loop trained (#12).
WITHOUT_TRAIN = {"model_structure", "model_with_harness_loop", "predict_no_grad"}


@pytest.mark.parametrize("exit_call", ["sys.exit(0)", "os._exit(0)"])
def test_exit_at_import_scores_nothing(grader, exit_call):
    attack = grader.attack(f"exit_at_import_{exit_call[:3]}", hostile(f"import os, sys\n{exit_call}\n"))
    assert attack.passed == set() and attack.points() == 0, attack.messages()
    # Reported once, for the topic (issue #12): its checks did not run.
    (topic,) = attack.result.topics
    expected = "sys.exit(0)" if exit_call.startswith("sys") else "exit code 0"
    assert topic.status == "failed to load" and expected in topic.reason, topic.reason
    assert {c.verdict for c in topic.checks} == {"not run"}, attack.messages()


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
    # predict() has a task of its own (issue #12): the exit costs its check alone.
    assert attack.passed == set(attack.checks) - {"predict_no_grad"}, attack.messages()
    assert "exit code 0" in attack.message("predict_no_grad")


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
