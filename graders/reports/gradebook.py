"""gradebook.csv: one row per submission with per-topic points, total, maximum, status and reason."""

from __future__ import annotations

import csv
import io

from graders.reports import disclosure as dc
from graders.results import SubmissionResult

# Spreadsheet programs run a cell that starts with one of these as a formula; submission names
# and failure reasons come from students, so such cells get a leading apostrophe (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def topic_columns(results: list[SubmissionResult]) -> dict[str, float]:
    """Every topic seen in the batch, in first-seen order, with its largest max_points: a submission
    that failed to load has no topics, and must not lower the assignment's maximum."""
    columns: dict[str, float] = {}
    for result in results:
        for topic in result.topics:
            columns[topic.name] = max(columns.get(topic.name, 0.0), topic.max_points)
    return columns


def gradebook_csv(results: list[SubmissionResult]) -> str:
    """CSV text sorted by submission; a topic a submission lacks is left empty, not zero."""
    columns = topic_columns(results)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", *columns, "total", "max", "status", "reason"])
    maximum = dc.points(sum(columns.values()))
    for result in sorted(results, key=lambda r: r.submission):
        by_name = {topic.name: dc.points(topic.points) for topic in result.topics}
        writer.writerow(
            [
                _safe(result.submission),
                *(by_name.get(name, "") for name in columns),
                dc.points(result.points),
                maximum,
                result.status,
                _safe(_reason(result)),
            ]
        )
    return buffer.getvalue()


def _reason(result: SubmissionResult) -> str:
    """The submission's reason, else the reasons of topics that were not graded."""
    if result.reason:
        return result.reason
    return "; ".join(f"{t.name}: {t.status}: {t.reason}" for t in result.topics if t.status != "graded")


def _safe(text: str) -> str:
    text = " ".join(text.split())  # one physical line per row, whatever the reason held
    return "'" + text if text.startswith(_FORMULA_START) else text
