"""Gradescope's autograder results.json, with each check's visibility passed through to Gradescope."""

from __future__ import annotations

import json
from typing import Any

from graders.reports import data_notice
from graders.reports import disclosure as dc
from graders.results import VISIBILITIES, CheckResult, SubmissionResult, TopicResult

# Gradescope shows "hidden" tests to instructors only and holds back "after_*" tests until the
# due date or publication, so per-test visibility is passed through unchanged. The top-level
# `output` and `score` are always shown to students: `output` therefore follows the student rules
# whatever the audience. `score` includes hidden checks, as Gradescope's own total would.


def gradescope(result: SubmissionResult, *, audience: str = "student") -> str:
    """results.json text; with audience="instructor" hidden tests also carry their messages
    (Gradescope still hides them from students), with "student" they carry none."""
    return json.dumps(gradescope_dict(result, audience=audience), indent=2, ensure_ascii=False) + "\n"


def gradescope_dict(result: SubmissionResult, *, audience: str = "student") -> dict[str, Any]:
    dc.check_audience(audience)
    tests = [
        _test(number, check, topic, audience)
        for index, topic in enumerate(result.topics, start=1)
        for number, check in dc.numbered(index, topic)
    ]
    return {
        "score": round(result.points, 4),
        "execution_time": round(result.duration_s),  # Gradescope's examples give whole seconds
        "output": _summary(result),
        "output_format": "md",
        "test_output_format": "text",  # messages come from checks and may hold * or _; never markup
        "stdout_visibility": "hidden",  # the run log may name hidden checks; staff can still read it
        "extra_data": {"status": result.status, "reason": result.reason, "schema_version": result.schema_version},
        "tests": tests,
    }


def _test(number: str, check: CheckResult, topic: TopicResult, audience: str) -> dict[str, Any]:
    seen = dc.disclose(check, audience, platform_defers=True)
    lines = dc.detail_lines(check, seen)
    if dc.feedback_only(check):
        lines.insert(0, "Feedback only: this check carries no points.")
    return {
        "name": check.name,
        "number": number,
        "score": round(check.points, 4),
        "max_score": round(check.max_points, 4),
        "status": "passed" if check.passed else "failed",
        # A hand-edited result.json may hold any value: an unknown one fails closed, as in disclosure.disclose.
        "visibility": check.visibility if check.visibility in VISIBILITIES else "hidden",
        "output": "\n".join(lines) if lines else "Details of this check are not shown.",
        "tags": [topic.name, "public" if check.public else "hidden"],
    }


def _summary(result: SubmissionResult) -> str:
    """The top-level text every student sees: totals of the checks they may see, notes, data."""
    lines = [f"**{result.submission}**"]
    notice = data_notice.banner(result.topics, audience="student")
    if notice:
        lines += ["", f"**{notice}**"]
    if result.status != "graded":
        lines += ["", f"{dc.status_heading(result.status)}: {result.reason}"]
    for index, topic in enumerate(result.topics, start=1):
        lines += ["", *_topic_summary(index, topic)]
    if result.notes:
        lines += ["", *(f"- {note}" for note in result.notes)]
    return "\n".join(lines)


_WITHHELD = {
    "after_due_date": "shown after the due date",
    "after_published": "shown when grades are published",
    "hidden": "not shown",
}


def _topic_summary(index: int, topic: TopicResult) -> list[str]:
    # Only "visible" checks count here: this text is on screen before the due date, when
    # Gradescope still withholds the after_* tests, and their verdicts must not leak through it.
    shown = [c for c in topic.checks if c.visibility == "visible"]
    earned, possible = (dc.points(sum(getattr(c, f) for c in shown)) for f in ("points", "max_points"))
    lines = [f"{index}. {topic.title}: {earned} / {possible} points from the checks shown now"]
    if topic.status != "graded":
        lines.append(f"   - not graded ({topic.status}): {topic.reason}")
    for visibility, when in _WITHHELD.items():
        withheld = [c for c in topic.checks if c.visibility == visibility]
        if withheld:
            worth = dc.points_label(sum(c.max_points for c in withheld))
            lines.append(f"   - {dc.count(len(withheld), 'more check')} worth {worth}, {when}")
    data = data_notice.data_line(topic, audience="student")  # `output` is shown to students whatever the audience
    if data:
        lines.append(f"   - data: {data}")
    lines += [f"   - note: {note}" for note in topic.notes]
    return lines
