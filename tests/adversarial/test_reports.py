"""Text the student controls (exception messages) reaching every report: markup, HTML, control characters."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

import pytest
from rich.console import Console

from graders.reports import print_summary, write_reports
from tests.adversarial.conftest import hostile

# The root cause of both failures below, and one fix for both at the trust boundary.
NASTY = ("[/bold][link=file:///etc/passwd]12/12[/link] <script>alert(1)</script> ]]> | fake | row | "
         "\\x1b[2J\\x1b[32mALL PASSED\\x07\\x00\\x0b")


@pytest.fixture(scope="module")
def nasty(grader, tmp_path_factory):
    """One grading whose failure messages carry the text, and its reports for both audiences."""
    attack = grader.attack("nasty_text", hostile(f"""
        def train(model, x, y, epochs, lr):
            raise RuntimeError("{NASTY}")
    """))
    assert "<script>" in attack.message("train_returns_losses")  # the text crosses; each report must defuse it
    folders = {}
    for audience in ("student", "instructor"):
        folders[audience] = tmp_path_factory.mktemp(audience)
        write_reports(attack.result, folders[audience], audience=audience)
    return attack, folders


@pytest.mark.parametrize("audience", ["student", "instructor"])
def test_html_and_json_reports_escape_student_text(nasty, audience):
    _, folders = nasty
    assert "<script>alert" not in (folders[audience] / "feedback.html").read_text()
    json.loads((folders[audience] / "results.json").read_text())


@pytest.mark.parametrize("audience", ["student", "instructor"])
def test_terminal_summary_prints_student_text_as_text(nasty, audience):
    attack, _ = nasty
    out = io.StringIO()
    print_summary(attack.result, console=Console(file=out, width=200, force_terminal=True), audience=audience)
    assert "\x1b[2J" not in out.getvalue()  # no clearing the instructor's screen, no fake green lines


@pytest.mark.parametrize("audience", ["student", "instructor"])
def test_junit_stays_well_formed(nasty, audience):
    _, folders = nasty
    ET.parse(folders[audience] / "junit.xml")
