"""feedback.md: per topic the checks, figures, hints, data sources and notes, in Markdown."""

from __future__ import annotations

from typing import Any

from graders.reports import data_notice
from graders.reports import disclosure as dc
from graders.results import CheckResult, SubmissionResult, TopicResult


def feedback_md(result: SubmissionResult, *, audience: str = "student") -> str:
    """Markdown feedback. Plots are left to feedback.html: many Markdown viewers drop data URIs."""
    dc.check_audience(audience)
    lines = [f"# Feedback for {_inline(result.submission)}", "", *_overview(result, audience)]
    for index, topic in enumerate(result.topics, start=1):
        lines += ["", *_topic(index, topic, audience)]
    if audience == "instructor":
        lines += ["", *_environment(result)]
    return _squeeze(lines)


def _overview(result: SubmissionResult, audience: str) -> list[str]:
    earned, possible, hidden, worth = dc.totals(result.topics, audience)
    lines = [f"**Score: {dc.points(earned)} / {dc.points_label(possible)}**"]
    if hidden:
        lines[0] += (
            f" from the checks below; {dc.count(hidden, 'hidden check')} worth {dc.points_label(worth)} not shown."
        )
    if result.status != "graded":
        lines += ["", f"> **{dc.status_heading(result.status)}:** {_inline(result.reason)}"]
    if notice := data_notice.banner(result.topics, audience=audience):
        lines += ["", f"> **{_inline(notice)}**"]
    if result.notes:
        lines += ["", "**Notes:**", *(f"- {_inline(note)}" for note in result.notes)]
    return lines


def _topic(index: int, topic: TopicResult, audience: str) -> list[str]:
    earned, possible = dc.shown_points(topic, audience)
    lines = [f"## {index}. {_inline(topic.title)} — {dc.points(earned)} / {dc.points_label(possible)}", ""]
    if topic.status != "graded":
        lines += [f"> **{dc.status_heading(topic.status)}:** {_inline(topic.reason)}", ""]
    rows = dc.listed_checks(index, topic, audience)
    if rows:
        lines += ["| # | Check | Result | Points | Measured | Threshold |", "|---|---|---|---|---|---|"]
        lines += [_row(number, check, seen, audience) for number, check, seen in rows]
        lines.append("")
    if concealed := dc.concealed_line(topic, audience):
        lines += [concealed, ""]
    if topic.status == "graded":  # otherwise every check repeats the topic's one reason
        lines += _details(rows)
    if data := data_notice.data_line(topic, audience=audience):  # students: no paths (issue #13)
        lines += [f"**Data:** {_inline(data)}", ""]
    if topic.notes:
        lines += ["**Notes:**", *(f"- {_inline(note)}" for note in topic.notes), ""]
    if artifacts := dc.shown_artifacts(topic, audience):
        lines += [*_held_out(artifacts), "Plots for this topic are in feedback.html.", ""]
    return lines


def _held_out(artifacts: dict[str, Any]) -> list[str]:
    """Each confusion matrix in one line, and how many misclassified examples the HTML shows."""
    from graders.reports.plots import confusion_summary

    lines = []
    for key, value in artifacts.items():
        kind, _, model = key.partition("/")
        label = f" ({_inline(model)})" if model else ""
        if kind == "confusion_matrix":
            try:
                lines.append(f"- **Confusion matrix{label}:** held-out images, {_inline(confusion_summary(value))}")
            except (ValueError, TypeError, KeyError, AttributeError):
                lines.append(f"- **Confusion matrix{label}:** could not be read")
        elif kind == "misclassified" and isinstance(value, list) and value:
            lines.append(f"- **Misclassified examples{label}:** {len(value)} held-out images, in feedback.html")
    return [*lines, ""] if lines else []


def _row(number: str, check: CheckResult, seen: dc.Disclosure, audience: str) -> str:
    verdict = "passed" if check.passed else f"**{check.verdict}**"
    measured = dc.figure(check.measured) if seen.details else ""
    threshold = dc.figure(check.threshold) if seen.threshold else ""
    name = _cell(check.name)
    if audience == "instructor" and check.visibility != "visible":
        name += f" *({check.visibility})*"  # instructors see which checks students cannot
    return f"| {number} | {name} | {verdict} | {dc.score(check)} | {measured} | {threshold} |"


def _details(rows: list[tuple[str, CheckResult, dc.Disclosure]]) -> list[str]:
    """What went wrong and how to fix it, for the failed checks whose details may be shown."""
    lines = []
    for number, check, seen in rows:
        if check.passed or not seen.details:
            continue
        tag = " (feedback only, no points)" if dc.feedback_only(check) else ""
        lines.append(f"- **{number} {_inline(check.name)}:**{tag} {_inline(check.message)}")
        if check.description:
            lines.append(f"  - What it checks: {_inline(check.description)}")
        if check.hint:
            lines.append(f"  - Hint: {_inline(check.hint)}")
    return lines + [""] if lines else []


def _environment(result: SubmissionResult) -> list[str]:
    env = result.environment
    lines = [
        "## Environment",
        "",
        f"torch {env.torch_version} on {env.device}, {env.threads} threads, seed {env.seed}, "
        f"Python {env.python}, {env.platform}, harness {env.harness_version}; "
        f"graded in {dc.seconds(result.duration_s)}.",
    ]
    lines += [
        f"- protection {_inline(p.get('name', '?'))}: {'on' if p.get('active') else 'OFF'}"
        f" ({_inline(str(p.get('detail', '')))})"
        for p in env.protections
    ]
    return lines


def _squeeze(lines: list[str]) -> str:
    """Join with single blank lines between blocks, however the sections ended."""
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip() + "\n"


def _inline(text: str) -> str:
    """One line of text safe in Markdown: student-controlled strings must not inject HTML or layout."""
    text = " ".join(str(text).split())
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _cell(text: str) -> str:
    return _inline(text).replace("|", "\\|")
