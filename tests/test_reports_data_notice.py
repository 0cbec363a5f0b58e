"""The stand-in banner in every report, and no instructor path in anything a student reads (issue #13)."""

from __future__ import annotations

import json
import re

import pytest
from report_samples import sample_result

from graders.reports import data_notice, render
from graders.reports.feedback_html import feedback_html
from graders.reports.feedback_md import feedback_md
from graders.reports.gradescope import gradescope
from graders.reports.summary import summary_html
from graders.results import DataUse, SubmissionResult

COURSE = "/home/instructor/course"
SOURCES = [f"built-in stand-in (no data at {COURSE}/data/MNIST/raw)", f"real: {COURSE}/data/cifar-10-batches-py",
           "alexnet: seeded stand-in weights (no alexnet-owt-7be5be79.pth in ~/.cache/torch)",
           r"real: C:\courses\data\hymenoptera_data\train"]
# What a student must never see: the course root, the weights folder, any absolute path.
ABSOLUTE = re.compile(r"(?<![\w.])(?:~|[A-Za-z]:)?[/\\](?:home|courses|\.cache|data)\b")


def with_data(*, typed: bool) -> SubmissionResult:
    """The sample result, its second topic graded on MNIST stand-ins and real CIFAR-10 (typed or, as an
    older result.json has it, as text only)."""
    result = sample_result()
    topic = result.topics[1]
    topic.data_sources = list(SOURCES)
    if typed:
        topic.data_used = [DataUse("mnist", "MNIST", False), DataUse("cifar10", "CIFAR-10", True)]
    return result


def student_texts(result: SubmissionResult) -> dict[str, str]:
    return {"gradescope student": gradescope(result, audience="student"),
            "gradescope output": json.loads(gradescope(result, audience="instructor"))["output"],
            "feedback.md": feedback_md(result, audience="student"),
            "feedback.html": feedback_html(result, audience="student"),
            "terminal": render(result, audience="student")}


@pytest.mark.parametrize("typed", [True, False], ids=["typed", "text only"])
def test_no_student_output_shows_an_instructor_path(typed):
    for where, text in student_texts(with_data(typed=typed)).items():
        assert COURSE not in text and "~/.cache" not in text and "C:\\" not in text, where
        assert not ABSOLUTE.search(text), where


def test_students_are_told_what_the_data_was_without_paths():
    text = json.loads(gradescope(with_data(typed=True)))["output"]
    assert "   - data: MNIST (built-in stand-in), CIFAR-10 (real)" in text
    old = json.loads(gradescope(with_data(typed=False)))["output"]
    assert "built-in stand-in (no data at (path withheld))" in old


def test_instructors_keep_the_paths():
    result = with_data(typed=True)
    assert f"{COURSE}/data/MNIST/raw" in feedback_md(result, audience="instructor")
    assert f"{COURSE}/data/MNIST/raw" in feedback_html(result, audience="instructor")


def test_the_banner_names_the_topics_and_items_for_each_audience():
    result = with_data(typed=True)
    student = data_notice.banner(result.topics, audience="student")
    assert "replaced the real MNIST in A multilayer perceptron on MNIST." in student and "not your code" in student
    assert "CIFAR-10" not in student  # real, so not a stand-in
    instructor = data_notice.banner(result.topics, audience="instructor")
    assert instructor.startswith("STAND-IN DATA") and "03_mlp (MNIST)" in instructor
    assert "grade data prepare" in instructor and "\n" not in instructor


def test_the_banner_is_in_every_report_once():
    result = with_data(typed=True)
    student = data_notice.banner(result.topics, audience="student")
    for where, text in student_texts(result).items():
        flat = " ".join(text.replace("\\n", " ").split())  # rich wraps the terminal line; JSON escapes newlines
        assert flat.count(" ".join(student.split()[:8])) == 1, where
    assert summary_html([result, with_data(typed=True)]).count("STAND-IN DATA") == 1
    assert "STAND-IN DATA" in render(result, audience="instructor").splitlines()[0]


def test_no_banner_without_stand_ins():
    result = sample_result()
    assert data_notice.banner(result.topics, audience="student") == ""
    result.topics[1].data_used = [DataUse("mnist", "MNIST", True)]
    assert "STAND-IN" not in summary_html([result]) and "Note: built-in stand-ins" not in gradescope(result)


def test_data_used_round_trips_through_result_json():
    result = with_data(typed=True)
    back = SubmissionResult.from_dict(json.loads(json.dumps(result.to_dict())))
    assert back.topics[1].data_used == result.topics[1].data_used
    assert [t.name for t in back.standin_topics] == ["03_mlp"]
