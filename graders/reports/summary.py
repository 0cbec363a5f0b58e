"""summary.html for a batch: score distributions, most failed checks, grading times, who needs a look."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from html import escape

from graders.reports import data_notice
from graders.reports import disclosure as dc
from graders.reports.feedback_html import STYLE
from graders.reports.gradebook import topic_columns
from graders.results import SCORED, SubmissionResult

MOST_FAILED = 20  # beyond this the list stops pointing at what to reteach


def summary_html(results: list[SubmissionResult]) -> str:
    """One self-contained page for instructors (it shows hidden checks by name)."""
    results = sorted(results, key=lambda r: r.submission)
    body = [
        "<h1>Batch summary</h1>",
        *data_notice.banner_html([t for r in results for t in r.topics], audience="instructor"),  # issue #13
        *_overview(results),
        *_distributions(results),
        *_most_failed(results),
        *_needs_look(results),
        *_times(results),
    ]
    head = f'<head><meta charset="utf-8"><title>Batch summary</title><style>{STYLE}</style></head>'
    return "\n".join(["<!DOCTYPE html>", '<html lang="en">', head, "<body>", *body, "</body>", "</html>"]) + "\n"


@dataclass(frozen=True)
class Counts:
    """The counts every batch report shows (summary.html, `grade batch`'s last lines), from one place (#13)."""

    submissions: int
    graded: int  # status in SCORED: the points stand (a timed-out submission's too)
    failed_to_load: int
    not_graded: int  # neither: not submitted, or an error on the way
    to_look_at: int  # with at least one reason in needs_look()

    def text(self) -> str:
        """ "7 submissions, 4 graded, 1 failed to load, 2 not graded otherwise, 5 to look at" """
        other = f", {self.not_graded} not graded otherwise" if self.not_graded else ""
        return (f"{dc.count(self.submissions, 'submission')}, {self.graded} graded, "
                f"{self.failed_to_load} failed to load{other}, {self.to_look_at} to look at")


def batch_counts(results: list[SubmissionResult]) -> Counts:
    graded = sum(r.status in SCORED for r in results)
    failed_to_load = sum(r.status == "failed to load" for r in results)
    return Counts(len(results), graded, failed_to_load, len(results) - graded - failed_to_load,
                  sum(bool(needs_look(r)) for r in results))


def worker_failures(result: SubmissionResult) -> int:
    """Checks that lost their worker (crash, timeout): the plugin's typed cause, never the message's words."""
    return sum(c.cause == "worker" for c in result.checks())


def needs_look(result: SubmissionResult) -> list[str]:
    """Why a person should open this submission: not graded, checks lost to the worker, zero points, or problems."""
    reasons = []
    if result.status != "graded":
        reasons.append(f"{result.status}: {result.reason}")
    reasons += [f"{t.name} {t.status}: {t.reason}" for t in result.topics if t.status != "graded"]
    lost = worker_failures(result)
    if lost:
        reasons.append(f"{dc.count(lost, 'check')} lost to a worker crash or timeout")
    if result.status == "graded" and result.points == 0:
        reasons.append("zero points")
    # The submission's notes are problems found on the way (a manifest that changed, reports not written); a
    # topic's notes only say what was graded ("graded the definitions of notebook X"): every notebook has them.
    reasons += [f"note: {note}" for note in result.notes]
    return reasons


def _overview(results: list[SubmissionResult]) -> list[str]:
    maximum = sum(topic_columns(results).values())
    graded = [r.points for r in results if r.status in SCORED]  # a timed-out submission's points stand
    text = batch_counts(results).text()
    if graded:
        text += (
            f"; total points mean {dc.points(statistics.mean(graded))}, "
            f"median {dc.points(statistics.median(graded))} of {dc.points(maximum)}"
        )
    return [f'<p class="overview">{text}.</p>']


def _distributions(results: list[SubmissionResult]) -> list[str]:
    from graders.reports.artifact_html import data_uri
    from graders.reports.plots import histogram_png  # matplotlib only when drawing

    columns = topic_columns(results)
    series = {name: [t.points for r in results for t in r.topics if t.name == name] for name in columns}
    series["total"] = [r.points for r in results if r.status in SCORED]
    uppers = {**columns, "total": sum(columns.values())}
    lines = ["<h2>Score distribution</h2>", '<div class="plots">']
    for name, values in series.items():
        if not values:
            continue
        png = histogram_png(values, title=name, xlabel="points", upper=uppers[name])
        lines.append(
            f'<figure><img src="{data_uri(png)}" alt="{escape(name)} points">'
            f"<figcaption>{escape(name)}: {dc.count(len(values), 'submission')}</figcaption></figure>"
        )
    return lines + ["</div>"]


def _most_failed(results: list[SubmissionResult]) -> list[str]:
    # Only topics that were graded: a topic not submitted fails every check for one reason, shown elsewhere.
    graded = [c for r in results for t in r.topics if t.status == "graded" for c in t.checks]
    failed = Counter((c.topic, c.name) for c in graded if not c.passed)
    seen = Counter((c.topic, c.name) for c in graded)
    ranked = sorted(failed.items(), key=lambda item: (-item[1], item[0]))[:MOST_FAILED]
    rows = [[topic, name, f"{count} / {seen[(topic, name)]}"] for (topic, name), count in ranked]
    return ["<h2>Most failed checks</h2>", *_table(("Topic", "Check", "Failed / graded"), rows, "most-failed")]


def _needs_look(results: list[SubmissionResult]) -> list[str]:
    rows = [[r.submission, "; ".join(needs_look(r))] for r in results if needs_look(r)]
    return ["<h2>Needs a human look</h2>", *_table(("Submission", "Why"), rows, "needs-look")]


def _times(results: list[SubmissionResult]) -> list[str]:
    slowest = sorted(results, key=lambda r: (-r.duration_s, r.submission))
    rows = [[r.submission, dc.seconds(r.duration_s), r.status] for r in slowest]
    return ["<h2>Grading time per submission</h2>", *_table(("Submission", "Time", "Status"), rows, "times")]


def _table(head: tuple[str, ...], rows: list[list[str]], name: str) -> list[str]:
    if not rows:
        return [f'<p class="{name} empty">None.</p>']
    lines = [f'<table class="{name}">', "<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead>"]
    lines += ["<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows]
    return lines + ["</table>"]
