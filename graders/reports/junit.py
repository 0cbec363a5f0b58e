"""junit.xml for CI dashboards: a testsuite per topic, a testcase per check, failures with the message."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from graders.reports import disclosure as dc
from graders.results import CheckResult, SubmissionResult, TopicResult


def junit(result: SubmissionResult, *, audience: str = "student") -> str:
    """JUnit XML text. CI pages are often visible to students (GitHub Classroom), so the student
    audience names hidden checks only by number and gives their failures no message."""
    dc.check_audience(audience)
    root = ET.Element("testsuites", name=result.submission, time=_time(result.duration_s))
    for index, topic in enumerate(result.topics, start=1):
        root.append(_suite(index, topic, result.submission, audience))
    if result.status != "graded":
        # A submission that never loaded has no topics, one that timed out lost checks; an errored testcase
        # keeps CI from showing green.
        name = "submission time limit" if result.status == "timed out" else "load submission"
        suite = ET.SubElement(root, "testsuite", name="submission", tests="1", failures="0", errors="1")
        case = ET.SubElement(suite, "testcase", name=name, classname=result.submission, time="0")
        ET.SubElement(case, "error", message=f"{result.status}: {result.reason}", type=result.status)
    _count(root, root.findall("testsuite"))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _suite(index: int, topic: TopicResult, submission: str, audience: str) -> ET.Element:
    suite = ET.Element("testsuite", name=topic.name, time=_time(topic.duration_s))
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("title", topic.title),
        ("points", dc.points(topic.points)),
        ("max_points", dc.points(topic.max_points)),
        ("status", topic.status),
    ):
        ET.SubElement(props, "property", name=name, value=value)
    classname = f"{submission}.{topic.name}"
    for number, check in dc.numbered(index, topic):
        suite.append(_case(number, check, classname, audience))
    if topic.status != "graded":
        case = ET.SubElement(suite, "testcase", name="grade topic", classname=classname, time="0")
        ET.SubElement(case, "error", message=f"{topic.status}: {topic.reason}", type=topic.status)
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(c.find("failure") is not None for c in cases)))
    suite.set("errors", str(sum(c.find("error") is not None for c in cases)))
    return suite


def _case(number: str, check: CheckResult, classname: str, audience: str) -> ET.Element:
    seen = dc.disclose(check, audience)
    name = f"{number} {check.name}" if seen.listed else f"{number} hidden check"
    case = ET.Element("testcase", name=name, classname=classname, time=_time(check.duration_s))
    props = ET.SubElement(case, "properties")
    ET.SubElement(props, "property", name="points", value=dc.points(check.points))
    ET.SubElement(props, "property", name="max_points", value=dc.points(check.max_points))
    ET.SubElement(props, "property", name="visibility", value=check.visibility)
    if not check.passed:
        lines = dc.detail_lines(check, seen)
        failure = ET.SubElement(
            case, "failure", type="CheckFailed", message=check.message if seen.details else "check failed"
        )
        failure.text = "\n".join(lines) if lines else None
    return case


def _count(root: ET.Element, suites: list[ET.Element]) -> None:
    for key in ("tests", "failures", "errors"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in suites)))


def _time(seconds: float) -> str:
    return f"{seconds:.3f}"
