"""Write a batch's topic scores into the check cells of an nbgrader gradebook, where formgrader shows them."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graders.authoring.generate import check_cell_id, notebook
from graders.config import Config
from graders.errors import ReportError
from graders.results import SubmissionResult

# Layout (#13): nbgrader's own records, never a parallel set. A topic is the notebook named after its module
# (cnn for cnn.ipynb) and that notebook's one grade cell `<topic>-checks`, worth every check of the topic;
# nbgrader's autograde fills the cell from graders.live.check, and the export overwrites it with the batch's
# score. Per-check detail stays in our reports. An earlier layout, a notebook per topic and a cell per check
# beside nbgrader's, counted the public checks twice and made `nbgrader generate_assignment --force` refuse.
_TOLERANCE = 1e-9  # points are sums of the YAML's floats


@dataclass(frozen=True)
class _Target:
    """Where one topic's score goes, and what the cell must be worth."""

    topic: str
    notebook: str
    cell: str
    max_score: float


def export_nbgrader(results: list[SubmissionResult], db_url: str, *, config: Config, assignment: str,
                    topics: Sequence[str] = (), course_id: str = "default_course") -> list[str]:
    """Write each result's score for `topics` (default: every topic the results hold) into the assignment's
    check cells, creating the assignment as `nbgrader generate_assignment` would when the gradebook lacks it.
    Running it again overwrites the autograded scores; a manual score given in formgrader still wins.
    Returns the student ids."""
    targets = _targets(results, config, topics)
    try:
        _create_if_new(db_url)
        if _needs_declaring(db_url, assignment, course_id):
            _declare(db_url, assignment, config, targets)
        from nbgrader.api import Gradebook  # SQLAlchemy and nbgrader only load when exporting

        with Gradebook(db_url, course_id=course_id) as gradebook:
            _verify(gradebook, assignment, targets)
            for result in results:
                _record(gradebook, result, assignment, targets)
    except ReportError:
        raise
    except Exception as exc:  # nbgrader raises InvalidEntry, SQLAlchemy its own; the message names both
        raise ReportError(f"could not export to nbgrader gradebook {db_url}: {type(exc).__name__}: {exc}") from exc
    return [result.submission for result in results]


def _targets(results: list[SubmissionResult], config: Config, topics: Sequence[str]) -> list[_Target]:
    """The chosen topics' cells; results graded out of other points than grading.yaml's are refused."""
    held = {t.name for r in results for t in r.topics}
    chosen = config.select(topics) if topics else [t for t in config.topics if t in held]
    if not chosen:
        raise ReportError("the results hold no topic of grading.yaml; pass --topic NAME or grade the batch again")
    targets = [_Target(t, Path(config.topics[t].module).stem, check_cell_id(t),
                       sum(c.points for c in config.topics[t].checks.values())) for t in chosen]
    for result in results:
        for target in targets:
            for topic in (t for t in result.topics if t.name == target.topic and t.checks):
                if abs(topic.max_points - target.max_score) > _TOLERANCE:
                    why = ("it was graded --public-only; grade it with the hidden tests" if not result.hidden
                           else "grade it again with this grading.yaml (grade batch --force)")
                    raise ReportError(f"{result.submission}: topic {target.topic} was graded out of "
                                      f"{topic.max_points:g} points, grading.yaml gives {target.max_score:g}; {why}")
    return targets


def _create_if_new(db_url: str) -> None:
    """Create a new gradebook as nbgrader.api.Gradebook would, but read the alembic head in-process:
    nbgrader runs `alembic heads` in a subprocess, which costs seconds and fails with
    FileNotFoundError: 'alembic' when the virtual environment's bin/ is not on PATH."""
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory
    from nbgrader import dbutil
    from nbgrader.api import Base
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(db_url, future=True)
    try:
        if inspect(engine).get_table_names():
            return
        alembic = AlembicConfig()
        alembic.set_main_option("script_location", dbutil.ALEMBIC_DIR)
        head = ScriptDirectory.from_config(alembic).get_current_head()
        Base.metadata.create_all(bind=engine)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:head)"), {"head": head})
    finally:
        engine.dispose()


def _needs_declaring(db_url: str, assignment: str, course_id: str) -> bool:
    """Whether the assignment has no notebooks yet: none made by generate_assignment, none by us before."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url, course_id=course_id) as gradebook:
        try:
            return not gradebook.find_assignment(assignment).notebooks
        except MissingEntry:
            gradebook.add_assignment(assignment)
            return True


def _declare(db_url: str, assignment: str, config: Config, targets: list[_Target]) -> None:
    """Record each topic's student notebook with nbgrader's own preprocessors, the cells that
    `nbgrader generate_assignment` would record, so a later generate_assignment finds nothing changed."""
    import nbformat
    from nbgrader.preprocessors import ComputeChecksums, SaveCells

    for target in targets:
        spec = config.topics[target.topic]
        try:
            solution = (config.root / "solutions" / spec.folder / spec.module).read_text(encoding="utf-8")
        except OSError as exc:
            raise ReportError(f"cannot declare notebook {target.notebook} in the gradebook: {exc}") from None
        nb = nbformat.reads(notebook(solution, name=target.topic, spec=spec, student=True), as_version=4)
        resources = {"nbgrader": {"notebook": target.notebook, "assignment": assignment, "db_url": db_url}}
        nb, resources = ComputeChecksums().preprocess(nb, resources)
        SaveCells().preprocess(nb, resources)


def _verify(gradebook: Any, assignment: str, targets: list[_Target]) -> None:
    """Every target cell is in the assignment and worth grading.yaml's points; we write nowhere else."""
    from nbgrader.api import MissingEntry

    names = sorted(n.name for n in gradebook.find_assignment(assignment).notebooks)
    for target in targets:
        if target.notebook not in names:
            raise ReportError(f"topic {target.topic}: nbgrader assignment {assignment} has no notebook "
                              f"{target.notebook} (it has {', '.join(names)}); pass --topic for each topic "
                              "of this assignment")
        regenerate = (f"run `grade generate`, copy {target.notebook}.ipynb into source/{assignment}/ and run "
                      f"`nbgrader generate_assignment {assignment} --force`")
        try:
            cell = gradebook.find_grade_cell(target.cell, target.notebook, assignment)
        except MissingEntry:
            raise ReportError(f"notebook {target.notebook} of nbgrader assignment {assignment} has no grade cell "
                              f"{target.cell}; {regenerate}") from None
        if abs(cell.max_score - target.max_score) > _TOLERANCE:
            raise ReportError(f"grade cell {target.cell} of nbgrader assignment {assignment} is worth "
                              f"{cell.max_score:g} points, grading.yaml gives topic {target.topic} "
                              f"{target.max_score:g}; {regenerate}")


def _record(gradebook: Any, result: SubmissionResult, assignment: str, targets: list[_Target]) -> None:
    """One student's scores; nbgrader's submission record (its timestamp included) is kept as it is."""
    from nbgrader.api import MissingEntry

    gradebook.update_or_create_student(result.submission)
    try:
        submission = gradebook.find_submission(assignment, result.submission)
    except MissingEntry:
        with warnings.catch_warnings():
            # nbgrader's add_submission builds rows before adding them to the session, which makes
            # SQLAlchemy warn (SAWarning "not in session") although the rows are stored correctly.
            warnings.filterwarnings("ignore", message=".*not in session.*")
            submission = gradebook.add_submission(assignment, result.submission)
    topics = {t.name: t for t in result.topics}
    # A submission that failed to load gets zeros flagged for review rather than no row at all,
    # so it shows up in formgrader's "needs manual grade" list instead of silently missing.
    review = result.status != "graded"
    for target in targets:
        topic = topics.get(target.topic)
        notebook_row = _submitted_notebook(gradebook, submission, target.notebook, assignment)
        notebook_row.flagged = review or topic is None or topic.status != "graded"
        grade = _grade(gradebook, notebook_row, target.cell, target.notebook, assignment)
        grade.auto_score = topic.points if topic is not None else 0.0
        grade.needs_manual_grade = review or topic is None
    gradebook.db.commit()


def _submitted_notebook(gradebook: Any, submission: Any, name: str, assignment: str) -> Any:
    """The student's copy of a notebook; one declared after the submission row existed has none yet."""
    from nbgrader.api import SubmittedNotebook

    for row in submission.notebooks:
        if row.name == name:
            return row
    row = SubmittedNotebook(notebook=gradebook.find_notebook(name, assignment), assignment=submission)
    gradebook.db.add(row)
    return row


def _grade(gradebook: Any, notebook_row: Any, cell: str, notebook_name: str, assignment: str) -> Any:
    from nbgrader.api import Grade

    for grade in notebook_row.grades:
        if grade.name == cell:
            return grade
    grade = Grade(cell=gradebook.find_grade_cell(cell, notebook_name, assignment), notebook=notebook_row)
    gradebook.db.add(grade)
    return grade
