"""feedback.html: the student's feedback as one self-contained page: the loss curve an inline SVG, confusion
matrices tables, images data URIs."""

from __future__ import annotations

from html import escape
from typing import Any

from graders.reports import data_notice
from graders.reports import disclosure as dc
from graders.results import CheckResult, SubmissionResult, TopicResult

# No scripts, fonts or links: the page must open offline, from an LMS attachment or a zip.
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: .5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: .25rem .6rem; text-align: left; }
tr.failed td.verdict { color: #b00020; font-weight: bold; }
tr.not-run td.verdict { color: #6b6b6b; font-style: italic; }
tr.passed td.verdict { color: #1b6e20; }
.hint { color: #555; }
.concealed, .missing { color: #555; font-style: italic; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; }
figcaption { font-size: .9rem; color: #555; }
.alert { border-left: 4px solid #b00020; padding: .25rem .75rem; background: #fff4f4; }
figure.confusion_matrix { max-width: 100%; min-width: 0; }
.heatmap-scroll { overflow-x: auto; }
table.heatmap { font-size: .8rem; font-variant-numeric: tabular-nums; margin: 0 0 .25rem; }
table.heatmap caption { text-align: left; color: #555; padding-bottom: .2rem; }
table.heatmap th, table.heatmap td { padding: .15rem .35rem; border-color: #fff; }
table.heatmap th { background: #f2f2f2; font-weight: 600; text-align: center; }
table.heatmap th.corner { font-weight: normal; color: #555; }
table.heatmap td { text-align: right; min-width: 1.6rem; }
table.heatmap td.hit { outline: 2px solid #1b6e20; outline-offset: -2px; }
table.heatmap.long-labels thead th:not(.corner) span { writing-mode: vertical-rl; transform: rotate(180deg); }
.examples { display: grid; gap: .5rem; }
.examples figure { text-align: center; }
.examples img { display: block; margin: 0 auto; image-rendering: pixelated; }
.examples figcaption { font-size: .75rem; }
figure.loss_curve { flex: 1 1 24rem; max-width: 560px; min-width: 0; }
svg.chart { display: block; width: 100%; max-width: 560px; height: auto; background: #fff; }
@media print {
  body { margin: 0; max-width: none; }
  table.heatmap td, table.heatmap th { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  svg.chart { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  figure.loss_curve { flex-basis: 100%; max-width: 14cm; }
  figure, table.heatmap { break-inside: avoid; }
  .heatmap-scroll { overflow: visible; }
}
"""


def feedback_html(result: SubmissionResult, *, audience: str = "student") -> str:
    dc.check_audience(audience)
    title = f"Feedback for {result.submission}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        f'<head><meta charset="utf-8"><title>{escape(title)}</title><style>{STYLE}</style></head>',
        "<body>",
        f"<h1>{escape(title)}</h1>",
        *_overview(result, audience),
        *(line for i, topic in enumerate(result.topics, start=1) for line in _topic(i, topic, audience)),
        *(_environment(result) if audience == "instructor" else []),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _overview(result: SubmissionResult, audience: str) -> list[str]:
    earned, possible, hidden, worth = dc.totals(result.topics, audience)
    score = f"Score: {dc.points(earned)} / {dc.points_label(possible)}"
    lines = [f'<p class="score"><strong>{score}</strong>']
    if hidden:
        lines.append(
            f"from the checks below; {dc.count(hidden, 'hidden check')} worth {dc.points_label(worth)} not shown."
        )
    lines.append("</p>")
    if result.status != "graded":
        lines.append(
            f'<p class="alert"><strong>{escape(dc.status_heading(result.status))}:</strong> {escape(result.reason)}</p>'
        )
    return lines + data_notice.banner_html(result.topics, audience=audience) + _list("Notes", result.notes)


def _topic(index: int, topic: TopicResult, audience: str) -> list[str]:
    earned, possible = dc.shown_points(topic, audience)
    lines = [
        f'<section class="topic" id="topic-{index}">',
        f"<h2>{index}. {escape(topic.title)} — {dc.points(earned)} / {dc.points_label(possible)}</h2>",
    ]
    if topic.status != "graded":
        lines.append(
            f'<p class="alert"><strong>{escape(dc.status_heading(topic.status))}:</strong> {escape(topic.reason)}</p>'
        )
    rows = dc.listed_checks(index, topic, audience)
    if rows:
        lines += _table(rows, audience)
    if concealed := dc.concealed_line(topic, audience):
        lines.append(f'<p class="concealed">{escape(concealed)}</p>')
    if topic.status == "graded":  # otherwise every check repeats the topic's one reason
        lines += _details(rows)
    if data := data_notice.data_line(topic, audience=audience):  # students: no paths (issue #13)
        lines.append(f'<p class="data"><strong>Data:</strong> {escape(data)}</p>')
    lines += _list("Notes", topic.notes)
    if artifacts := dc.shown_artifacts(topic, audience):
        lines += _plots(topic, artifacts)
    return lines + ["</section>"]


def _table(rows: list[tuple[str, CheckResult, dc.Disclosure]], audience: str) -> list[str]:
    head = "".join(f"<th>{h}</th>" for h in ("#", "Check", "Result", "Points", "Measured", "Threshold"))
    lines = ['<table class="checks">', f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for number, check, seen in rows:
        name = escape(check.name)
        if audience == "instructor" and check.visibility != "visible":
            name += f" <em>({escape(check.visibility)})</em>"  # instructors see what students cannot
        cells = [
            number,
            name,
            check.verdict,
            dc.score(check),
            dc.figure(check.measured) if seen.details else "",
            dc.figure(check.threshold) if seen.threshold else "",
        ]
        status = check.verdict.replace(" ", "-")  # a class name: "not-run"
        tds = "".join(f'<td class="{cls}">{cell}</td>' for cls, cell in zip(_COLUMNS, cells, strict=True))
        lines.append(f'<tr class="{status}">{tds}</tr>')
    return lines + ["</tbody>", "</table>"]


_COLUMNS = ("number", "name", "verdict", "points", "measured", "threshold")


def _details(rows: list[tuple[str, CheckResult, dc.Disclosure]]) -> list[str]:
    items = []
    for number, check, seen in rows:
        if check.passed or not seen.details:
            continue
        tag = " (feedback only, no points)" if dc.feedback_only(check) else ""
        item = f"<li><strong>{number} {escape(check.name)}:</strong>{tag} {escape(check.message)}"
        if check.description:
            item += f'<br><span class="what">What it checks: {escape(check.description)}</span>'
        if check.hint:
            item += f'<br><span class="hint">Hint: {escape(check.hint)}</span>'
        items.append(item + "</li>")
    return ['<ul class="details">', *items, "</ul>"] if items else []


def _plots(topic: TopicResult, artifacts: dict[str, Any]) -> list[str]:
    from graders.reports.plots import render_artifacts

    lines = ['<div class="plots">']
    for plot in render_artifacts(artifacts):
        if not plot.html:
            lines.append(f'<p class="missing">{escape(plot.title)} could not be drawn ({escape(plot.error)}).</p>')
            continue
        # Each arrives as ready, escaped HTML: an SVG chart, a table, a grid of images (no matplotlib, #14).
        caption = escape(plot.title) + _caption_detail(topic, plot.key)
        kind = plot.key.partition("/")[0]  # "confusion_matrix/LeNet" -> a class name per kind
        lines.append(f'<figure class="{escape(kind)}">{plot.html}<figcaption>{caption}</figcaption></figure>')
    return lines + ["</div>"]


def _caption_detail(topic: TopicResult, key: str) -> str:
    """A confusion matrix in one line under its table: what each class got right, and the worst confusions."""
    from graders.reports.plots import confusion_summary

    if key.partition("/")[0] != "confusion_matrix":
        return ""
    try:
        return f'<br><span class="counts">Held-out images, {escape(confusion_summary(topic.artifacts[key]))}</span>'
    except (ValueError, TypeError, KeyError):  # an odd matrix the figure still drew costs the text only
        return ""


def _environment(result: SubmissionResult) -> list[str]:
    env = result.environment
    facts = (
        f"torch {env.torch_version} on {env.device}, {env.threads} threads, seed {env.seed}, "
        f"Python {env.python}, {env.platform}, harness {env.harness_version}; "
        f"graded in {dc.seconds(result.duration_s)}."
    )
    protections = [
        f"{p.get('name', '?')}: {'on' if p.get('active') else 'OFF'} ({p.get('detail', '')})" for p in env.protections
    ]
    return [
        '<section class="environment">',
        "<h2>Environment</h2>",
        f"<p>{escape(facts)}</p>",
        *_list("Protections", protections),
        "</section>",
    ]


def _list(title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    return [
        f'<p class="{title.lower()}-title"><strong>{title}:</strong></p>',
        f'<ul class="{title.lower()}">',
        *(f"<li>{escape(str(item))}</li>" for item in items),
        "</ul>",
    ]
