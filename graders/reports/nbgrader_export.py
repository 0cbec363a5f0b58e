"""Write a batch's scores into an nbgrader gradebook, so formgrader and `nbgrader export` see them."""

from __future__ import annotations

import warnings
from typing import Any

from graders.errors import ReportError
from graders.results import SubmissionResult

# Layout: one nbgrader notebook per topic and one autograded grade cell per check. Formgrader
# then lists a score per topic for each submission (its "notebook" column) and per check in the
# gradebook's cell views, and `nbgrader export` sums them to the assignment total.


def export_nbgrader(
    results: list[SubmissionResult], db_url: str, *, assignment: str, course_id: str = "default_course"
) -> list[str]:
    """Create or update the assignment, its topics and checks, then each student's grades;
    running it again with newer results overwrites the autograded scores. Returns the student ids."""
    from nbgrader.api import Gradebook  # SQLAlchemy and nbgrader only load when exporting

    try:
        _create_if_new(db_url)
        with Gradebook(db_url, course_id=course_id) as gradebook:
            cells = _declare(gradebook, results, assignment)
            for result in results:
                _record(gradebook, result, assignment, cells)
    except ReportError:
        raise
    except Exception as exc:  # nbgrader raises InvalidEntry, SQLAlchemy its own; the message names both
        raise ReportError(f"could not export to nbgrader gradebook {db_url}: {type(exc).__name__}: {exc}") from exc
    return [result.submission for result in results]


def _create_if_new(db_url: str) -> None:
    """Create a new gradebook as nbgrader.api.Gradebook would, but read the alembic head in-process:
    nbgrader runs `alembic heads` in a subprocess, which costs seconds and fails with
    FileNotFoundError: 'alembic' when the virtual environment's bin/ is not on PATH."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from nbgrader import dbutil
    from nbgrader.api import Base
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(db_url, future=True)
    try:
        if inspect(engine).get_table_names():
            return
        config = Config()
        config.set_main_option("script_location", dbutil.ALEMBIC_DIR)
        head = ScriptDirectory.from_config(config).get_current_head()
        Base.metadata.create_all(bind=engine)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": head})
    finally:
        engine.dispose()


def _declare(gradebook: Any, results: list[SubmissionResult], assignment: str) -> dict[str, dict[str, float]]:
    """Notebook per topic, grade cell per check, each cell's maximum the largest seen in the batch."""
    cells: dict[str, dict[str, float]] = {}
    for result in results:
        for topic in result.topics:
            for check in topic.checks:
                topic_cells = cells.setdefault(topic.name, {})
                topic_cells[check.name] = max(topic_cells.get(check.name, 0.0), check.max_points)
    gradebook.update_or_create_assignment(assignment)
    for notebook, checks in cells.items():
        gradebook.update_or_create_notebook(notebook, assignment)
        for name, max_score in checks.items():
            gradebook.update_or_create_grade_cell(name, notebook, assignment, max_score=max_score, cell_type="code")
    return cells


def _record(gradebook: Any, result: SubmissionResult, assignment: str, cells: dict[str, dict[str, float]]) -> None:
    from nbgrader.api import Grade, SubmittedNotebook

    gradebook.update_or_create_student(result.submission)
    kwargs = {"timestamp": result.started_at} if result.started_at else {}
    with warnings.catch_warnings():
        # nbgrader's add_submission builds rows before adding them to the session, which makes
        # SQLAlchemy warn (SAWarning "not in session") although the rows are stored correctly.
        warnings.filterwarnings("ignore", message=".*not in session.*")
        submission = gradebook.update_or_create_submission(assignment, result.submission, **kwargs)
    scores = {(c.topic, c.name): c.points for c in result.checks()}
    # A submission that failed to load gets zeros flagged for review rather than no row at all,
    # so it shows up in formgrader's "needs manual grade" list instead of silently missing.
    review = result.status != "graded"
    for notebook_name, checks in cells.items():
        notebook = _submitted_notebook(gradebook, submission, notebook_name, assignment, SubmittedNotebook)
        notebook.flagged = review or any(t.name == notebook_name and t.status != "graded" for t in result.topics)
        for cell_name in checks:
            grade = _grade(gradebook, notebook, cell_name, notebook_name, assignment, Grade)
            grade.auto_score = scores.get((notebook_name, cell_name), 0.0)
            grade.needs_manual_grade = review or (notebook_name, cell_name) not in scores
    gradebook.db.commit()


def _submitted_notebook(gradebook: Any, submission: Any, name: str, assignment: str, cls: Any) -> Any:
    """The student's copy of a topic; a topic declared after the submission row existed has none yet."""
    for notebook in submission.notebooks:
        if notebook.name == name:
            return notebook
    notebook = cls(notebook=gradebook.find_notebook(name, assignment), assignment=submission)
    gradebook.db.add(notebook)
    return notebook


def _grade(gradebook: Any, notebook: Any, cell: str, notebook_name: str, assignment: str, cls: Any) -> Any:
    for grade in notebook.grades:
        if grade.name == cell:
            return grade
    grade = cls(cell=gradebook.find_grade_cell(cell, notebook_name, assignment), notebook=notebook)
    gradebook.db.add(grade)
    return grade
