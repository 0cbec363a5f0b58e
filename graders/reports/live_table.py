"""The table a notebook's live check shows under its cell (issue #13), as plain text and as HTML."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from graders.reports import disclosure as dc
from graders.results import SCORED, CheckResult, SubmissionResult, TopicResult

# A notebook's output is the student's own view: never the instructor's.
AUDIENCE = "student"
_COLOURS = {"passed": "#1b6e20", "failed": "#b00020", "not run": "#6b6b6b"}


@dataclass(frozen=True)
class Row:
    """One listed check as the table shows it."""

    name: str
    verdict: str
    score: str
    figures: str  # "measured 0.81 (threshold 0.9)" within what the student may see, or ""
    details: tuple[str, ...]  # a failure's message and hint


def live_text(result: SubmissionResult, *, missing: Sequence[str] = ()) -> str:
    """The table for consoles and for a notebook's text/plain output."""
    lines = _preamble(result, missing)
    for topic in result.topics:
        rows = _rows(topic)
        lines.append(_heading(topic, result.hidden))
        lines += _problem(topic)
        width = max((len(r.name) for r in rows), default=0)
        for row in rows:
            figures = f"   {row.figures}" if row.figures else ""
            lines.append(f"  {row.verdict.upper() if row.verdict != 'passed' else row.verdict:7}  "
                         f"{row.name:{width}}  {row.score}{figures}".rstrip())
            lines += [f"           {detail}" for detail in row.details]
        lines += _concealed(topic)
    lines.append(_summary(result))
    return "\n".join(lines) + "\n"


def live_html(result: SubmissionResult, *, missing: Sequence[str] = ()) -> str:
    """The same table as an HTML fragment for Jupyter (no scripts, inline styles only: notebooks sanitise the rest)."""
    parts = ['<div class="graders-live-check">']
    parts += [f'<p style="color:#b00020"><strong>{escape(line)}</strong></p>' for line in _preamble(result, missing)]
    for topic in result.topics:
        parts.append(f"<p><strong>{escape(_heading(topic, result.hidden))}</strong></p>")
        parts += [f'<p style="color:#b00020">{escape(line)}</p>' for line in _problem(topic)]
        parts.append(_html_table(_rows(topic)))
        parts += [f"<p><em>{escape(line)}</em></p>" for line in _concealed(topic)]
    colour = _COLOURS["passed"] if _all_passed(result) else _COLOURS["failed"]
    parts.append(f'<p style="color:{colour}"><strong>{escape(_summary(result))}</strong></p>')
    parts.append("</div>")
    return "\n".join(parts) + "\n"


def _html_table(rows: list[Row]) -> str:
    head = "".join(f"<th>{name}</th>" for name in ("Check", "Result", "Points", "Measured", "Details"))
    body = []
    for row in rows:
        details = "<br>".join(escape(d) for d in row.details)
        body.append(f'<tr><td><code>{escape(row.name)}</code></td>'
                    f'<td style="color:{_COLOURS.get(row.verdict, "inherit")}">{escape(row.verdict)}</td>'
                    f"<td>{escape(row.score)}</td><td>{escape(row.figures)}</td><td>{details}</td></tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _preamble(result: SubmissionResult, missing: Sequence[str]) -> list[str]:
    """What to do before anything else: run the cells whose names the kernel lacks, or why nothing was graded."""
    lines = []
    if missing:
        lines.append(f"Run the cells that define {', '.join(missing)} first: "
                     "they are not defined in this kernel.")
    if result.status != "graded":
        lines.append(f"{dc.status_heading(result.status)}: {result.reason}")
    return lines


def _heading(topic: TopicResult, hidden: bool) -> str:
    earned, possible = dc.shown_points(topic, AUDIENCE)
    kind = "checks" if hidden else "public checks"
    return f"{topic.title}, {kind} on this kernel's definitions: {dc.points(earned)} / {dc.points_label(possible)}"


def _problem(topic: TopicResult) -> list[str]:
    return [] if topic.status == "graded" else [f"{dc.status_heading(topic.status)}: {topic.reason}"]


def _rows(topic: TopicResult) -> list[Row]:
    rows = []
    for _, check, seen in dc.listed_checks(0, topic, AUDIENCE):
        details: list[str] = []
        if not check.passed and seen.details and topic.status in SCORED:  # else each repeats the topic's reason
            details = [check.message] if check.message else []
            details += [f"Hint: {check.hint}"] if check.hint else []
        score = dc.score(check)
        rows.append(Row(check.name, check.verdict, score, dc.figures_text(check, seen), tuple(details)))
    return rows


def _concealed(topic: TopicResult) -> list[str]:
    return [line] if (line := dc.concealed_line(topic, AUDIENCE)) else []


def _listed(result: SubmissionResult) -> list[CheckResult]:
    return [c for t in result.topics for _, c, _ in dc.listed_checks(0, t, AUDIENCE)]


def _all_passed(result: SubmissionResult) -> bool:
    checks = _listed(result)
    return bool(checks) and result.status == "graded" and all(c.passed for c in checks)


def _summary(result: SubmissionResult) -> str:
    """The line a student looks for: all passed, or how many did not (of the checks they may see)."""
    checks = _listed(result)
    kind = "checks shown" if result.hidden else "public checks"
    if _all_passed(result):
        return f"All {len(checks)} {kind} passed."
    failed = sum(not c.passed for c in checks)
    return f"{failed} of {len(checks)} {kind} did not pass: read the messages above, fix those cells and check again."
