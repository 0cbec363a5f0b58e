"""feedback.md and feedback.html: what students see, and a self-contained page with real PNGs."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

import pytest
from report_samples import DEFERRED_SECRETS, HIDDEN_SECRETS, assert_golden, sample_batch, sample_result, strip_images

from graders.errors import ReportError
from graders.reports import feedback_html, feedback_md

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class _Page(HTMLParser):
    """Collects what the tests look at: image sources, external references, text."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.external: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        values = dict(attrs)
        if tag == "img":
            self.images.append(values.get("src") or "")
        for key in ("href", "src"):
            if key in values and not (values[key] or "").startswith("data:"):
                self.external.append(values[key])


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


@pytest.fixture(scope="module")
def student_html() -> str:
    return feedback_html(sample_result(), audience="student")  # drawing plots is the slow part: once


def test_html_is_self_contained_and_every_image_is_a_png(student_html):
    page = _parse(student_html)
    assert page.external == [] and "script" not in page.tags
    assert len(page.images) == 3  # loss curve, confusion matrix, misclassified
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1], validate=True).startswith(PNG_MAGIC)


def test_student_html_hides_hidden_and_withheld_details(student_html):
    text = strip_images(student_html)
    for secret in HIDDEN_SECRETS + DEFERRED_SECRETS:
        assert secret not in text
    assert "dtype preserved" in text  # the deferred check is listed by name and verdict
    assert "2 hidden checks worth 5 points" in text


@pytest.mark.parametrize("audience", ["student", "instructor"])
def test_markdown_visibility(audience):
    text = feedback_md(sample_result(), audience=audience)
    shown = [secret in text for secret in HIDDEN_SECRETS[:3] + DEFERRED_SECRETS]
    assert all(shown) if audience == "instructor" else not any(shown)
    if audience == "student":
        assert not any(secret in text for secret in HIDDEN_SECRETS)


def test_feedback_lists_figures_hints_data_and_notes():
    text = feedback_md(sample_result())
    assert "| 1.2 | normalize values | **failed** | 0.5 / 2 | 0.1307 | 0.01 |" in text
    assert "Hint: Move .to(device) out of the training loop." in text
    assert "MNIST (built-in stand-in: 512 synthetic digits)" in text
    assert "notebook cell 7 skipped" in text


def test_a_feedback_only_check_shows_its_advice_without_points():
    text = feedback_md(sample_result())
    assert "| 2.5 | predict no grad | **failed** | feedback only |  |  |" in text
    assert "**2.5 predict no grad:** (feedback only, no points) predict() ran" in text
    assert "A multilayer perceptron on MNIST — 3 / 4 points" in text  # its failure costs nothing


def test_student_strings_cannot_inject_markup():
    result = sample_result("<script>alert(1)</script>.zip")
    result.topics[0].checks[1].message = "<img src=x onerror=alert(1)>"
    html = strip_images(feedback_html(result))
    assert "<script>" not in html and "<img src=x" not in html
    assert "<script>" not in feedback_md(result)


def test_a_malformed_artifact_becomes_a_note_not_a_crash():
    result = sample_result()
    result.topics[1].artifacts = {"confusion_matrix": {"labels": ["a"], "matrix": [[1, 2]]}}
    html = feedback_html(result)
    assert "Confusion matrix could not be drawn" in html and "<img" not in html


def test_unknown_audience_is_a_report_error():
    with pytest.raises(ReportError, match="unknown audience"):
        feedback_md(sample_result(), audience="everyone")


@pytest.mark.parametrize("audience", ["student", "instructor"])
def test_markdown_matches_golden(audience, update_goldens):
    assert_golden(f"feedback.{audience}.md", feedback_md(sample_result(), audience=audience), update_goldens)


def test_html_matches_golden_apart_from_image_bytes(student_html, update_goldens):
    assert_golden("feedback.student.html", strip_images(student_html), update_goldens)


def test_unloadable_submission_explains_why():
    result = sample_batch()[2]
    assert "Not graded (failed to load):** SyntaxError in hw1.py line 12" in feedback_md(result)
    assert "SyntaxError in hw1.py line 12" in feedback_html(result)


def test_a_topic_not_submitted_states_its_reason_once():
    result = sample_result()
    topic = result.topics[0]
    topic.status, topic.reason = "not submitted", "no 01_tensors/tensors.py"
    for check in topic.checks:
        check.passed, check.points, check.message = False, 0.0, "the submission has no 01_tensors/tensors.py"
    for text in (feedback_md(result, audience="instructor"), feedback_html(result, audience="instructor")):
        assert text.count("no 01_tensors/tensors.py") == 1


def test_a_timed_out_submission_keeps_its_points_and_says_why():
    result = sample_result()
    result.status, result.reason = "timed out", "the submission's time limit (600 s) was used up"
    md, html = feedback_md(result, audience="instructor"), feedback_html(result, audience="instructor")
    assert "**Stopped at the time limit (timed out):** the submission's time limit (600 s) was used up" in md
    assert "Stopped at the time limit (timed out):</strong> the submission&#x27;s time limit" in html
    assert "Not graded" not in md + html and "**Score: 6.5 / 13 points**" in md  # the checks that ran count


def test_a_topic_that_did_not_load_lists_its_checks_as_not_run_and_says_why_once():
    result = sample_result()
    topic = result.topics[0]
    topic.status, topic.reason = "failed to load", "SyntaxError at tensors.py line 3: invalid syntax"
    for check in topic.checks:
        check.passed, check.points, check.cause = False, 0.0, "not_loaded"
        check.message, check.hint = "not run: the module could not be loaded", ""
    text, page = feedback_md(result), feedback_html(result)
    for rendered in (text, page):
        assert rendered.count("SyntaxError at tensors.py line 3") == 1
        assert "not run" in rendered and "learning rate" not in rendered
    assert '<tr class="not-run">' in page  # one class name per row, not two
