"""Exporting a batch into an nbgrader gradebook (a temporary sqlite file): one check cell per topic (#13)."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_samples import environment

from graders.config import load_config
from graders.errors import ConfigError, ReportError
from graders.reports import export_nbgrader, result_json
from graders.results import CheckResult, SubmissionResult, TopicResult

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "grading.yaml")


def _result(student: str, passed: dict[str, set[str]], *, hidden: bool = True, status: str = "graded"
            ) -> SubmissionResult:
    """A result over grading.yaml's real topics: the checks named in `passed` earn their points."""
    topics = []
    for topic, names in passed.items():
        spec = CONFIG.topics[topic]
        checks = [CheckResult(topic=topic, name=n, points=c.points if n in names else 0.0, max_points=c.points,
                              passed=n in names, message="") for n, c in spec.checks.items()
                  if hidden or c.visibility == "visible"]
        topics.append(TopicResult(name=topic, title=spec.title, checks=checks))
    return SubmissionResult(submission=student, source=f"{student}.zip", environment=environment(),
                            topics=topics, hidden=hidden, status=status)


def _batch() -> list[SubmissionResult]:
    every = set(CONFIG.topics["linear_regression"].checks)
    return [
        _result("alice", {"linear_regression": every, "logistic_regression": {"model_structure"}}),
        _result("bob", {"linear_regression": {"model_structure", "fit_quality"}, "logistic_regression": set()}),
        _result("carol", {}, status="failed to load"),
    ]


def test_export_creates_one_check_cell_per_topic_named_as_nbgrader_would(tmp_path):
    nbgrader_api = pytest.importorskip("nbgrader.api")  # here, not at collection: it loads slowly
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    assert export_nbgrader(_batch(), url, config=CONFIG, assignment="hw1") == ["alice", "bob", "carol"]
    export_nbgrader(_batch(), url, config=CONFIG, assignment="hw1")  # again: overwrites, adds nothing
    with nbgrader_api.Gradebook(url) as gradebook:
        assignment = gradebook.find_assignment("hw1")
        assert [(n.name, [c.name for c in n.grade_cells], n.max_score) for n in assignment.notebooks] == [
            ("linear_regression", ["linear_regression-checks"], 12.0),
            ("logistic_regression", ["logistic_regression-checks"], 12.0)]
        # As `nbgrader generate_assignment` records them: the solution cells are there too.
        assert {c.name for c in assignment.notebooks[0].solution_cells} >= {"linear_regression-2"}
        scores = {s.student.id: (s.score, s.max_score) for s in gradebook.assignment_submissions("hw1")}
        assert scores == {"alice": (13.0, 24.0), "bob": (4.0, 24.0), "carol": (0.0, 24.0)}
        assert {r.submission: r.points for r in _batch()} == {k: v[0] for k, v in scores.items()}
        carol = gradebook.find_submission("hw1", "carol")
        assert carol.needs_manual_grade and all(n.flagged for n in carol.notebooks)
        assert not gradebook.find_submission("hw1", "alice").needs_manual_grade


def test_topic_chooses_what_is_exported(tmp_path):
    nbgrader_api = pytest.importorskip("nbgrader.api")
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    export_nbgrader(_batch(), url, config=CONFIG, assignment="week1", topics=["linear_regression"])
    with nbgrader_api.Gradebook(url) as gradebook:
        assert [n.name for n in gradebook.find_assignment("week1").notebooks] == ["linear_regression"]
        assert gradebook.find_submission("week1", "bob").score == 4.0
    # The assignment exists now: a topic whose notebook it lacks is refused, not added beside it.
    with pytest.raises(ReportError, match="no notebook logistic_regression .*--topic"):
        export_nbgrader(_batch(), url, config=CONFIG, assignment="week1")
    with pytest.raises(ConfigError, match="no topic 'week_one'"):
        export_nbgrader(_batch(), url, config=CONFIG, assignment="week1", topics=["week_one"])


def test_a_cell_worth_other_points_asks_to_regenerate(tmp_path):
    nbgrader_api = pytest.importorskip("nbgrader.api")
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    export_nbgrader(_batch()[:1], url, config=CONFIG, assignment="hw1", topics=["linear_regression"])
    with nbgrader_api.Gradebook(url) as gradebook:  # as a notebook generated before a change of points
        gradebook.update_or_create_grade_cell("linear_regression-checks", "linear_regression", "hw1", max_score=4)
    with pytest.raises(ReportError, match="worth 4 points, grading.yaml gives topic linear_regression 12; run "
                                          "`grade generate`"):
        export_nbgrader(_batch(), url, config=CONFIG, assignment="hw1", topics=["linear_regression"])


def test_results_out_of_other_points_are_refused(tmp_path):
    public = _result("dan", {"linear_regression": {"model_structure"}}, hidden=False)
    with pytest.raises(ReportError, match="dan: topic linear_regression was graded out of 5 points, grading.yaml "
                                          "gives 12; it was graded --public-only"):
        export_nbgrader([public], f"sqlite:///{tmp_path / 'gradebook.db'}", config=CONFIG, assignment="hw1")


def test_unusable_database_is_a_report_error(tmp_path):
    with pytest.raises(ReportError, match="nbgrader gradebook"):
        export_nbgrader(_batch(), f"sqlite:///{tmp_path / 'missing' / 'gradebook.db'}", config=CONFIG,
                        assignment="hw1")


def test_grade_export_reads_a_reports_folder(tmp_path):
    from click.testing import CliRunner

    from graders.cli import main

    nbgrader_api = pytest.importorskip("nbgrader.api")
    for result in _batch():
        folder = tmp_path / "reports" / result.submission
        folder.mkdir(parents=True)
        (folder / "result.json").write_text(result_json(result))
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    done = CliRunner().invoke(main, ["export", str(tmp_path / "reports"), "--nbgrader-db", url, "--assignment",
                                     "week1", "--topic", "linear_regression", "--config", str(ROOT / "grading.yaml")])
    assert done.exit_code == 0, done.output
    assert "exported 3 students" in done.output
    with nbgrader_api.Gradebook(url) as gradebook:
        assert {s.student.id: s.score for s in gradebook.assignment_submissions("week1")} == {
            "alice": 12.0, "bob": 4.0, "carol": 0.0}
    empty = CliRunner().invoke(main, ["export", str(tmp_path / "nothing"), "--nbgrader-db", url, "--assignment", "x"])
    assert empty.exit_code != 0 and "no */result.json to export" in empty.output
