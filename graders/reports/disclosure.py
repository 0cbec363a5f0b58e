"""What each audience may see of a check, and the number formats every report shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graders.errors import ReportError
from graders.results import CheckResult, Status, TopicResult, Visibility

AUDIENCES = ("student", "instructor")
DEFERRED: tuple[Visibility, ...] = ("after_due_date", "after_published")


@dataclass(frozen=True)
class Disclosure:
    """How much of one check an audience sees."""

    listed: bool  # the check appears by name with pass/fail and points
    details: bool  # message, hint, description and the measured figure
    threshold: bool  # the expected value the measured figure was compared with


FULL = Disclosure(listed=True, details=True, threshold=True)
CONCEALED = Disclosure(listed=False, details=False, threshold=False)


def status_heading(status: Status) -> str:
    """How every report introduces a result (or topic) that is not plainly graded, before its reason."""
    if status == "timed out":  # graded up to the time limit: the points shown stand
        return "Stopped at the time limit (timed out)"
    return f"Not graded ({status})"


def check_audience(audience: str) -> str:
    if audience not in AUDIENCES:
        raise ReportError(f"unknown audience {audience!r}; use one of: {', '.join(AUDIENCES)}")
    return audience


def disclose(check: CheckResult, audience: str, *, platform_defers: bool = False) -> Disclosure:
    """The one visibility policy; `platform_defers` when the platform (Gradescope) withholds
    after_due_date/after_published checks itself until the right moment."""
    if check_audience(audience) == "instructor":
        return FULL
    visibility = check.visibility
    if platform_defers and visibility in DEFERRED:
        visibility = "visible"
    if visibility == "visible":
        return Disclosure(listed=True, details=True, threshold=check.show_threshold)
    if visibility in DEFERRED:
        # Feedback files are read before the due date, so these show only name and verdict.
        if check.show_threshold:
            return FULL
        return Disclosure(listed=True, details=False, threshold=False)
    # "hidden" and anything unknown (a hand-edited result.json) fail closed (nbgrader #917, #1363).
    return CONCEALED


def listed_checks(index: int, topic: TopicResult, audience: str) -> list[tuple[str, CheckResult, Disclosure]]:
    """(number, check, disclosure) for the checks of topic `index` this audience sees by name."""
    rows = []
    for number, check in numbered(index, topic):
        seen = disclose(check, audience)
        if seen.listed:
            rows.append((number, check, seen))
    return rows


def concealed_checks(topic: TopicResult, audience: str) -> list[CheckResult]:
    return [c for c in topic.checks if not disclose(c, audience).listed]


def concealed_line(topic: TopicResult, audience: str) -> str:
    """ "Also 2 hidden checks worth 3 points, not shown here.", or "" when the audience sees every check."""
    concealed = concealed_checks(topic, audience)
    if not concealed:
        return ""
    worth = points_label(sum(c.max_points for c in concealed))
    return f"Also {count(len(concealed), 'hidden check')} worth {worth}, not shown here."


def numbered(index: int, topic: TopicResult) -> list[tuple[str, CheckResult]]:
    """Checks numbered "topic.check" from 1, the same in every format, so people can cite them."""
    return [(f"{index}.{i}", check) for i, check in enumerate(topic.checks, start=1)]


# Artifact kinds students are not shown. Misclassified examples are held-out images with the grader's labels: the
# first few wrong ones per submission, so a student resubmitting a model that is wrong on purpose would collect
# the held-out labels a handful at a time, and a later model could look them up (issue #13). Counts (the
# confusion matrix) reveal no single image's label.
INSTRUCTOR_ONLY_ARTIFACTS = ("misclassified",)


def shown_artifacts(topic: TopicResult, audience: str) -> dict[str, Any]:
    """The topic's plot material `audience` may see."""
    if audience == "instructor":
        return topic.artifacts
    return {k: v for k, v in topic.artifacts.items() if k.partition("/")[0] not in INSTRUCTOR_ONLY_ARTIFACTS}


def points(value: float) -> str:
    """Points without float noise: 2.0 -> "2", 1.5 -> "1.5", 1/3 -> "0.33"."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def feedback_only(check: CheckResult) -> bool:
    """A check worth no points (grading.yaml `points: 0`): advice whose verdict the grader cannot verify
    from outside the worker (issue #6), reported but never scored."""
    return check.max_points == 0


def score(check: CheckResult) -> str:
    """ "1 / 2" (points earned / possible), or "feedback only" for a check worth none."""
    return "feedback only" if feedback_only(check) else f"{points(check.points)} / {points(check.max_points)}"


def figure(value: float | None) -> str:
    """A measured figure or threshold with four significant digits, "" when absent."""
    return "" if value is None else f"{value:.4g}"


def seconds(value: float) -> str:
    return f"{value:.1f} s"


def shown_points(topic: TopicResult, audience: str) -> tuple[float, float]:
    """Points earned and possible over the checks this audience sees by name."""
    seen = [c for c in topic.checks if disclose(c, audience).listed]
    return sum(c.points for c in seen), sum(c.max_points for c in seen)


def figures_text(check: CheckResult, seen: Disclosure) -> str:
    """ "measured 0.81 (threshold 0.9)" within what `seen` allows, "" when nothing to say."""
    if not seen.details or check.measured is None:
        return ""
    text = f"measured {figure(check.measured)}"
    if seen.threshold and check.threshold is not None:
        text += f" (threshold {figure(check.threshold)})"
    return text


def detail_lines(check: CheckResult, seen: Disclosure) -> list[str]:
    """Message, figures and, for a failure, the hint: the plain-text body every format shares."""
    if not seen.details:
        return []
    lines = [line for line in (check.message, figures_text(check, seen)) if line]
    if not check.passed and check.hint:
        lines.append(f"Hint: {check.hint}")
    return lines


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def points_label(value: float) -> str:
    """ "1 point", "2 points", "0.5 points"."""
    text = points(value)
    return f"{text} point" if text == "1" else f"{text} points"


def totals(topics: list[TopicResult], audience: str) -> tuple[float, float, int, float]:
    """(points earned, points possible, hidden checks, their points) over what `audience` sees."""
    shown = [shown_points(t, audience) for t in topics]
    concealed = [c for t in topics for c in concealed_checks(t, audience)]
    return (sum(e for e, _ in shown), sum(p for _, p in shown), len(concealed), sum(c.max_points for c in concealed))
