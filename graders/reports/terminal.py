"""The summary table printed at the end of every run, drawn with rich."""

from __future__ import annotations

import io

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from graders.reports import data_notice
from graders.reports import disclosure as dc
from graders.results import SubmissionResult, TopicResult


def render(result: SubmissionResult, *, audience: str = "student", width: int = 100) -> str:
    """The summary as plain text (no colour), e.g. for logs and golden tests."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False, legacy_windows=False)
    print_summary(result, console, audience=audience)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def print_summary(result: SubmissionResult, console: Console, *, audience: str = "student") -> None:
    """Print the topic table, then what failed and why, within what `audience` may see."""
    dc.check_audience(audience)
    notice = data_notice.banner(result.topics, audience=audience)
    if notice:  # first and in colour: a score on stand-ins is read differently (issue #13)
        console.print(notice, style="bold yellow", markup=False)
    console.print(_table(result, audience))
    failures = _failures(result, audience)
    if failures is not None:
        console.print(failures)
    if result.status != "graded":
        console.print(f"{dc.status_heading(result.status)}: {result.reason}", style="bold red", markup=False)


def _table(result: SubmissionResult, audience: str) -> Table:
    earned, possible, hidden, worth = dc.totals(result.topics, audience)
    caption = f"{dc.points(earned)} / {dc.points_label(possible)} in {dc.seconds(result.duration_s)}"
    if hidden:
        caption += f"; {dc.count(hidden, 'hidden check')} worth {dc.points_label(worth)} not shown"
    # Text, not str, everywhere: submission names and reasons are the student's, and a str would be
    # parsed as rich markup ("[red]..." in a file name would restyle or break the table).
    table = Table(
        title=Text(f"{result.submission}: {result.status}"),
        caption=Text(caption),
        box=box.SIMPLE_HEAD,
        title_justify="left",
        caption_justify="left",
    )
    for name, justify in (
        ("#", "right"),
        ("Topic", "left"),
        ("Passed", "right"),
        ("Points", "right"),
        ("Status", "left"),
        ("Time", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for index, topic in enumerate(result.topics, start=1):
        cells = [Text(cell) for cell in _row(index, topic, audience)]
        table.add_row(*cells, style=None if _all_passed(topic, audience) else "red")
    return table


def _row(index: int, topic: TopicResult, audience: str) -> list[str]:
    rows = dc.listed_checks(index, topic, audience)
    passed = sum(check.passed for _, check, _ in rows)
    earned, possible = dc.shown_points(topic, audience)
    status = topic.status if topic.status == "graded" else f"{topic.status}: {topic.reason}"
    return [
        str(index),
        topic.title,
        f"{passed}/{len(rows)}",
        f"{dc.points(earned)} / {dc.points(possible)}",
        status,
        dc.seconds(topic.duration_s),
    ]


def _all_passed(topic: TopicResult, audience: str) -> bool:
    return topic.status == "graded" and all(c.passed for _, c, _ in dc.listed_checks(0, topic, audience))


def _failures(result: SubmissionResult, audience: str) -> Table | None:
    """One row per failed check the audience may see, message and hint wrapped in their cell."""
    table = Table(title="Failed checks", box=box.SIMPLE_HEAD, title_justify="left", show_lines=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Check", ratio=1)
    table.add_column("Why", ratio=3)
    for index, topic in enumerate(result.topics, start=1):
        for number, check, seen in dc.listed_checks(index, topic, audience):
            if check.passed:
                continue
            name = check.name
            if audience == "instructor" and check.visibility != "visible":
                name += f" [{check.visibility}]"
            if dc.feedback_only(check):
                name += " (feedback only)"
            table.add_row(Text(number), Text(name), Text("\n".join(dc.detail_lines(check, seen)) or "failed"))
    return table if table.row_count else None
