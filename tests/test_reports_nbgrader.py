"""Exporting a batch into an nbgrader gradebook (a temporary sqlite file)."""

from __future__ import annotations

import copy

import pytest
from report_samples import sample_batch, sample_result

from graders.errors import ReportError
from graders.reports import export_nbgrader


def test_export_creates_topics_checks_and_scores(tmp_path):
    nbgrader_api = pytest.importorskip("nbgrader.api")  # here, not at collection: it loads slowly
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    first = copy.deepcopy(sample_result())
    first.topics = first.topics[:1]  # a later export adds a topic to an existing submission
    export_nbgrader([first], url, assignment="hw1")
    assert export_nbgrader(sample_batch(), url, assignment="hw1") == [
        "alice_hw1.zip",
        "bob_hw1.zip",
        "carol_hw1.zip",
        "dave_hw1.zip",
    ]
    with nbgrader_api.Gradebook(url) as gradebook:
        assignment = gradebook.find_assignment("hw1")
        assert [(n.name, n.max_score) for n in assignment.notebooks] == [("01_tensors", 6.0), ("03_mlp", 7.0)]
        scores = {s.student.id: s.score for s in gradebook.assignment_submissions("hw1")}
        assert scores == {"alice_hw1.zip": 6.5, "bob_hw1.zip": 13.0, "carol_hw1.zip": 0.0, "dave_hw1.zip": 0.0}
        assert gradebook.find_grade("normalize values", "01_tensors", "hw1", "alice_hw1.zip").score == 0.5
        carol = gradebook.find_submission("hw1", "carol_hw1.zip")
        assert carol.needs_manual_grade and all(n.flagged for n in carol.notebooks)


def test_unusable_database_is_a_report_error(tmp_path):
    with pytest.raises(ReportError, match="nbgrader gradebook"):
        export_nbgrader(sample_batch(), f"sqlite:///{tmp_path / 'missing' / 'gradebook.db'}", assignment="hw1")


def test_grade_export_reads_a_reports_folder(tmp_path):
    from click.testing import CliRunner

    from graders.cli import main
    from graders.reports import result_json

    nbgrader_api = pytest.importorskip("nbgrader.api")
    for result in sample_batch():
        folder = tmp_path / "reports" / result.submission
        folder.mkdir(parents=True)
        (folder / "result.json").write_text(result_json(result))
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    done = CliRunner().invoke(main, ["export", str(tmp_path / "reports"), "--nbgrader-db", url,
                                     "--assignment", "hw1"])
    assert done.exit_code == 0, done.output
    assert "exported 4 students" in done.output
    with nbgrader_api.Gradebook(url) as gradebook:
        assert len(gradebook.assignment_submissions("hw1")) == 4
    empty = CliRunner().invoke(main, ["export", str(tmp_path / "nothing"), "--nbgrader-db", url, "--assignment", "x"])
    assert empty.exit_code != 0 and "no */result.json to export" in empty.output
