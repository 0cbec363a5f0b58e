"""Check functions on plain values: the verdict, the figure and the words of the message."""

from __future__ import annotations

import pytest

from graders import checks


def test_same_losses_within_rtol_pass_with_the_worst_gap():
    outcome = checks.same_losses([1.0, 0.5, 0.25], [1.0, 0.50001, 0.25], rtol=1e-4, what="train()")
    assert outcome.passed and outcome.threshold == 1e-4
    assert outcome.measured == pytest.approx(2e-5, rel=1e-3)


def test_same_losses_name_the_first_epoch_past_rtol():
    outcome = checks.same_losses([1.0, 0.5, 0.3, 0.1], [1.0, 0.5, 0.25, 0.2], rtol=1e-4, what="train()")
    assert not outcome.passed
    assert "epoch 3 is 0.3, the reference's 0.25" in outcome.message
    assert outcome.measured == pytest.approx(0.5)  # the worst gap, at epoch 4


@pytest.mark.parametrize(("student", "words"), [([1.0, 0.5], "2 losses, the reference has 3"),
                                                 ([1.0, float("nan"), 0.2], "not all finite")])
def test_same_losses_refuse_what_cannot_be_compared(student, words):
    outcome = checks.same_losses(student, [1.0, 0.5, 0.25], rtol=1e-4, what="train()")
    assert not outcome.passed and words in outcome.message


def test_same_losses_of_zero_are_equal():
    assert checks.same_losses([0.0, 0.0], [0.0, 0.0], rtol=1e-4, what="train()").passed


@pytest.mark.parametrize(("value", "baseline", "higher", "passed"), [(0.9, 0.5, True, True), (0.5, 0.5, True, False),
                                                                     (0.1, 2.0, False, True), (2.5, 2.0, False, False),
                                                                     (float("nan"), 0.5, True, False)])
def test_beating_the_constant_predictor(value, baseline, higher, passed):
    outcome = checks.beats_baseline(value, baseline, higher_is_better=higher, baseline_name="a constant")
    assert outcome.passed == passed
    assert str(value) not in outcome.message and str(baseline) not in outcome.message  # public: no held-out figures
