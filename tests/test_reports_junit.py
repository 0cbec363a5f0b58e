"""junit.xml: a testsuite per topic, a testcase per check, failures with their message."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from report_samples import HIDDEN_SECRETS, assert_golden, sample_batch, sample_result

from graders.reports import junit


def test_one_suite_per_topic_one_case_per_check():
    root = ET.fromstring(junit(sample_result(), audience="instructor"))
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["01_tensors", "03_mlp"]
    assert [len(s.findall("testcase")) for s in suites] == [4, 5]
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("9", "5", "0")
    failure = suites[1].findall("testcase")[2].find("failure")
    assert failure.get("message").startswith("SECRET-hidden-message")
    assert "threshold 0.9731" in failure.text


def test_student_junit_hides_hidden_checks():
    text = junit(sample_result(), audience="student")
    for secret in HIDDEN_SECRETS:
        assert secret not in text
    cases = ET.fromstring(text).iter("testcase")
    assert "2.3 hidden check" in [c.get("name") for c in cases]


def test_unloadable_submission_is_an_error_not_green():
    root = ET.fromstring(junit(sample_batch()[2]))
    assert root.get("errors") == "1"
    assert "SyntaxError" in root.find("testsuite/testcase/error").get("message")


def test_matches_golden(update_goldens):
    assert_golden("junit.student.xml", junit(sample_result()), update_goldens)


def test_a_timed_out_submission_is_an_error_beside_its_checks():
    result = sample_result()
    result.status, result.reason = "timed out", "the submission's time limit (600 s) was used up"
    root = ET.fromstring(junit(result, audience="instructor"))
    assert [s.get("name") for s in root.findall("testsuite")] == ["01_tensors", "03_mlp", "submission"]
    case = root.find("testsuite[@name='submission']/testcase")
    assert case.get("name") == "submission time limit" and case.find("error").get("type") == "timed out"
