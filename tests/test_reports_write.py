"""write_reports and `grade report`: files on disk, partial failure, and the CLI round trip."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from report_samples import HIDDEN_SECRETS, sample_result

from graders.cli.report import report
from graders.errors import ReportError
from graders.reports import ALL_FORMATS, result_json, write_reports

NAMES = ["feedback.html", "feedback.md", "junit.xml", "result.json", "results.json"]


def test_write_reports_writes_every_format_and_no_temp_files(tmp_path):
    paths = write_reports(sample_result(), tmp_path)
    assert sorted(p.name for p in paths) == NAMES
    assert sorted(p.name for p in tmp_path.iterdir()) == NAMES  # no .tmp left behind


def test_one_failing_writer_does_not_lose_the_others(tmp_path):
    (tmp_path / "feedback.html").mkdir()  # os.replace cannot put a file over a directory
    with pytest.raises(ReportError, match="feedback.html") as info:
        write_reports(sample_result(), tmp_path)
    assert sorted(p.name for p in info.value.written) == sorted(set(NAMES) - {"feedback.html"})
    assert (tmp_path / "feedback.md").is_file() and (tmp_path / "results.json").is_file()


def test_unknown_format_is_refused_before_writing(tmp_path):
    with pytest.raises(ReportError, match="unknown report format"):
        write_reports(sample_result(), tmp_path, formats=["pdf"])
    assert list(tmp_path.iterdir()) == []


def test_grade_report_round_trip_through_the_grade_group(tmp_path):
    """Through `grade` itself, so the verb's registration is tested too (importing every verb is slow)."""
    main = pytest.importorskip("graders.cli").main
    source = tmp_path / "result.json"
    source.write_text(result_json(sample_result()), encoding="utf-8")
    out = tmp_path / "out"
    run = CliRunner().invoke(
        main, ["report", str(source), "--format", "md", "--format", "gradescope", "--out", str(out)]
    )
    assert run.exit_code == 0, run.output
    assert sorted(p.name for p in out.iterdir()) == ["feedback.md", "results.json"]
    assert json.loads((out / "results.json").read_text())["score"] == 6.5
    assert not any(secret in (out / "feedback.md").read_text() for secret in HIDDEN_SECRETS)


def test_cli_defaults_to_all_formats_beside_the_result(tmp_path):
    source = tmp_path / "result.json"
    source.write_text(result_json(sample_result()), encoding="utf-8")
    run = CliRunner().invoke(report, [str(source), "--audience", "instructor"])
    assert run.exit_code == 0, run.output
    assert sorted(p.name for p in tmp_path.iterdir()) == NAMES
    assert "SECRET-hidden-message" in (tmp_path / "feedback.md").read_text()


def test_cli_bad_input_is_one_line_and_exit_code(tmp_path):
    bad = tmp_path / "result.json"
    bad.write_text("{oops", encoding="utf-8")
    run = CliRunner().invoke(report, [str(bad)])
    assert run.exit_code == ReportError.exit_code
    assert run.output.count("\n") == 1 and "grade: error:" in run.output and str(bad) in run.output


def test_cli_help_has_an_example():
    run = CliRunner().invoke(report, ["--help"])
    assert run.exit_code == 0 and "Example:" in run.output and "grade report" in run.output
    assert all(name in run.output for name in ALL_FORMATS)
