"""What every report says about the data a result rests on: the stand-in banner and each topic's data line."""

from __future__ import annotations

import re
from html import escape

from graders.reports import disclosure as dc
from graders.results import TopicResult

# An absolute or home-relative path as the loaders write them ("no data at /srv/course/data/MNIST/raw",
# "no vgg16-397923af.pth in ~/.cache/torch"): the instructor's layout, which students are not shown (issue #13).
_PATH = re.compile(r"(?<![\w.])(?:~|[A-Za-z]:)?[/\\][^\s),;]*")


def banner(topics: list[TopicResult], *, audience: str) -> str:
    """One line saying which topics were graded on built-in stand-ins and what that means, or "" when none were.

    `topics` may come from many results (a batch): each topic is named once, with every stand-in it used.
    """
    used = _standins(topics)
    if not used:
        return ""
    if dc.check_audience(audience) == "student":
        where = "; ".join(f"{', '.join(labels)} in {title}" for title, labels in used.values())
        return (f"Note: built-in stand-ins (synthetic images, untrained weights) replaced the real {where}. "
                "Scores there can differ from real-data grading; this is the grader's setup, not your code.")
    where = "; ".join(f"{name} ({', '.join(labels)})" for name, (_, labels) in used.items())
    return (f"STAND-IN DATA used for {where}: scores are not comparable with real-data grading; run `grade data "
            "prepare` or put the files in data_dir / weights_dir (`grade doctor` lists them).")


def banner_html(topics: list[TopicResult], *, audience: str) -> list[str]:
    """The banner as one HTML paragraph, or no lines when no stand-in was used."""
    notice = banner(topics, audience=audience)
    return [f'<p class="alert standin"><strong>{escape(notice)}</strong></p>'] if notice else []


def _standins(topics: list[TopicResult]) -> dict[str, tuple[str, list[str]]]:
    """topic name -> (title, labels of its stand-ins), in first-seen order."""
    used: dict[str, tuple[str, list[str]]] = {}
    for topic in topics:
        for use in topic.standins:
            labels = used.setdefault(topic.name, (topic.title, []))[1]
            if use.label not in labels:
                labels.append(use.label)
    return used


def data_line(topic: TopicResult, *, audience: str) -> str:
    """The topic's data as `audience` may read it: instructors get data_sources (paths and all); students the
    typed record where there is one, else data_sources with every path withheld (fails closed for old results)."""
    if dc.check_audience(audience) == "instructor":
        return ", ".join(topic.data_sources)
    if topic.data_used:
        return ", ".join(f"{use.label} ({'real' if use.real else 'built-in stand-in'})" for use in topic.data_used)
    return ", ".join(_PATH.sub("(path withheld)", source) for source in topic.data_sources)
