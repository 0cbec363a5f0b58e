"""The rich summary table printed at the end of a run."""

from __future__ import annotations

import io

import pytest
from report_samples import DEFERRED_SECRETS, HIDDEN_SECRETS, assert_golden, sample_batch, sample_result
from rich.console import Console

from graders.reports import print_summary, render


def test_student_mode_hides_hidden_details():
    text = render(sample_result(), audience="student")
    for secret in HIDDEN_SECRETS + DEFERRED_SECRETS:
        assert secret not in text
    assert "2 hidden checks worth 5 points not shown" in text


def test_instructor_mode_shows_everything():
    text = render(sample_result(), audience="instructor")
    assert "accuracy [hidden]" in text and "SECRET-hidden-message" in text


def test_a_feedback_only_check_is_marked_in_the_failures():
    text = render(sample_result(), audience="student")
    assert "predict no grad (feedback only)" in text and "4.5 / 8 points" in text


def test_student_names_are_not_rich_markup():
    text = render(sample_result("[red]x[/red].zip"))
    assert "[red]x[/red].zip" in text


def test_print_summary_to_a_console():
    buffer = io.StringIO()
    print_summary(sample_batch()[2], Console(file=buffer, width=80), audience="student")
    assert "Not graded (failed to load): SyntaxError in hw1.py line 12" in buffer.getvalue()


@pytest.mark.parametrize("audience", ["student", "instructor"])
def test_matches_golden(audience, update_goldens):
    assert_golden(f"terminal.{audience}.txt", render(sample_result(), audience=audience), update_goldens)


def test_stand_in_data_is_said_first_in_one_line():
    from graders.results import DataUse

    result = sample_result()
    result.topics[1].data_used = [DataUse("mnist", "MNIST", False)]
    text = render(result, audience="instructor", width=400)  # wide: the banner is one line, not wrapped
    assert text.splitlines()[0].startswith("STAND-IN DATA used for 03_mlp (MNIST): scores are not comparable")
    assert sum("STAND-IN" in line for line in text.splitlines()) == 1
    assert render(result, audience="student", width=400).splitlines()[0].startswith("Note: built-in stand-ins")
