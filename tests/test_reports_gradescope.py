"""Gradescope results.json: the published field list, allowed values, and what students can see."""

from __future__ import annotations

import json
import re

import pytest
from report_samples import DEFERRED_SECRETS, HIDDEN_SECRETS, assert_golden, sample_batch, sample_result

from graders.reports import gradescope

# From Gradescope's autograder specification (see /work/shared/ANCHORS.md).
TOP_LEVEL = {
    "score": (int, float),
    "execution_time": (int, float),
    "output": str,
    "output_format": str,
    "test_output_format": str,
    "test_name_format": str,
    "visibility": str,
    "stdout_visibility": str,
    "extra_data": dict,
    "tests": list,
    "leaderboard": list,
}
TEST_FIELDS = {
    "score": (int, float),
    "max_score": (int, float),
    "status": str,
    "name": str,
    "name_format": str,
    "number": str,
    "output": str,
    "output_format": str,
    "tags": list,
    "visibility": str,
    "extra_data": dict,
}
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "simple_format", "html", "md", "ansi"}


def _validate(data: dict) -> None:
    assert set(data) <= set(TOP_LEVEL), set(data) - set(TOP_LEVEL)
    for key, value in data.items():
        assert isinstance(value, TOP_LEVEL[key]) and not isinstance(value, bool), key
    for key in ("output_format", "test_output_format"):
        assert data.get(key, "text") in FORMATS
    assert data.get("stdout_visibility", "visible") in VISIBILITY
    for test in data["tests"]:
        assert set(test) <= set(TEST_FIELDS), set(test) - set(TEST_FIELDS)
        for key, value in test.items():
            assert isinstance(value, TEST_FIELDS[key]) and not isinstance(value, bool), key
        assert test["status"] in {"passed", "failed"}
        assert test.get("visibility", "visible") in VISIBILITY
        assert re.fullmatch(r"\d+\.\d+", test["number"])
        assert all(isinstance(tag, str) for tag in test["tags"])
        assert 0 <= test["score"] <= test["max_score"]


@pytest.mark.parametrize("audience", ["student", "instructor"])
@pytest.mark.parametrize("result", sample_batch(), ids=lambda r: r.submission)
def test_follows_the_published_format(result, audience):
    data = json.loads(gradescope(result, audience=audience))
    _validate(data)
    assert data["score"] == pytest.approx(sum(t["score"] for t in data["tests"]))
    assert data["score"] == pytest.approx(result.points)


def test_tests_carry_number_visibility_and_tags():
    tests = json.loads(gradescope(sample_result()))["tests"]
    assert [t["number"] for t in tests] == ["1.1", "1.2", "1.3", "1.4", "2.1", "2.2", "2.3", "2.4", "2.5"]
    assert [t["visibility"] for t in tests] == [
        "visible",
        "visible",
        "hidden",
        "after_due_date",
        "visible",
        "after_published",
        "hidden",
        "visible",
        "visible",
    ]
    assert tests[2]["tags"] == ["01_tensors", "hidden"] and tests[0]["tags"] == ["01_tensors", "public"]
    assert "Hint: Subtract the mean" in tests[1]["output"]


def test_student_results_never_show_hidden_details():
    text = gradescope(sample_result(), audience="student")
    for secret in HIDDEN_SECRETS:
        assert secret not in text
    # The deferred check is passed through (Gradescope withholds it), but not its threshold.
    assert DEFERRED_SECRETS[1] not in text


def test_top_level_output_is_student_safe_for_any_audience():
    output = json.loads(gradescope(sample_result(), audience="instructor"))["output"]
    for secret in HIDDEN_SECRETS + DEFERRED_SECRETS:
        assert secret not in output
    assert "1.5 / 3 points" in output  # only the "visible" checks: after_* verdicts stay withheld


def test_instructor_results_keep_hidden_messages_for_staff():
    tests = json.loads(gradescope(sample_result(), audience="instructor"))["tests"]
    assert tests[6]["visibility"] == "hidden" and "SECRET-hidden-message" in tests[6]["output"]


def test_unloadable_submission_scores_zero_with_the_reason():
    data = json.loads(gradescope(sample_batch()[2]))
    assert data["score"] == 0 and data["tests"] == []
    assert "SyntaxError in hw1.py line 12" in data["output"]


@pytest.mark.parametrize("audience", ["student", "instructor"])
def test_matches_golden(audience, update_goldens):
    assert_golden(f"results.{audience}.json", gradescope(sample_result(), audience=audience), update_goldens)


def test_a_feedback_only_check_says_so_and_scores_nothing():
    test = json.loads(gradescope(sample_result()))["tests"][8]  # "predict no grad": points 0 in grading.yaml
    assert (test["score"], test["max_score"], test["status"]) == (0, 0, "failed")
    assert test["output"].startswith("Feedback only: this check carries no points.")
    assert "Hint: wrap the forward pass" in test["output"]


def test_stand_in_data_is_told_to_students_without_paths():
    from graders.results import DataUse

    result = sample_result()
    result.topics[1].data_sources = ["built-in stand-in (no data at /srv/course/data/MNIST/raw)"]
    result.topics[1].data_used = [DataUse("mnist", "MNIST", False)]
    output = json.loads(gradescope(result, audience="instructor"))["output"]
    assert output.splitlines()[2].startswith("**Note: built-in stand-ins (synthetic images, untrained weights)")
    assert "/srv/course" not in gradescope(result, audience="instructor")
    assert "   - data: MNIST (built-in stand-in)" in output
