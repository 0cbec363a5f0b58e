"""A real nbgrader course outside the harness's folder, run with nbgrader's own commands, then `grade batch`
and `grade export` into its gradebook: nbgrader's totals and ours agree, and nbgrader keeps working (#13)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from graders.config import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "grading.yaml")
TOPIC, ASSIGNMENT = "linear_regression", "week1"
SPEC = CONFIG.topics[TOPIC]
NOTEBOOK = Path(SPEC.module).stem + ".ipynb"
TOTAL = sum(c.points for c in SPEC.checks.values())  # public and hidden: the check cell's points

pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    """The venv's bin/ first (nbgrader runs `alembic`, the kernel is the venv's python); no GRADING_CONFIG,
    so the check cell finds the course through the installed package, as in a student's kernel."""
    env = {k: v for k, v in os.environ.items() if k != "GRADING_CONFIG"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env


def _run(*args: str, cwd: Path, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(args[:4])}: {done.stdout[-1500:]}{done.stderr[-3000:]}"
    return done


def _nbgrader(*args: str, course: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=course, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _grade(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "graders.cli", *args], cwd=cwd, env=_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait(process: subprocess.Popen[str], timeout: int = 240) -> str:
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"{' '.join(map(str, process.args[:5]))}:\n{output[-4000:]}"
    return output


def _solved(released: dict) -> dict:
    """The released notebook with each solution cell replaced by the reference's definition (markers removed)."""
    solution = (ROOT / "solutions" / SPEC.folder / SPEC.module).read_text(encoding="utf-8")
    definitions = {node.name: ast.get_source_segment(solution, node) for node in ast.parse(solution).body
                   if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    notebook = json.loads(json.dumps(released))
    for cell in notebook["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("solution"):
            name = ast.parse("".join(cell["source"])).body[0].name
            cell["source"] = "\n".join(line for line in definitions[name].splitlines() if "### " not in line)
    return notebook


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """source/ from our instructor notebook, generate_assignment, two students (solved, stub) submitted, then
    nbgrader's autograde and our batch side by side, and our export; nbgrader's own scores kept for comparing."""
    pytest.importorskip("nbgrader")
    root = tmp_path_factory.mktemp("nbgrader-course")
    assert ROOT not in root.parents  # #13: a course outside the harness's folder gave every notebook 0
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / SPEC.folder / NOTEBOOK, root / "source" / ASSIGNMENT)
    (root / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(root)!r}\n"
        "c.ExecutePreprocessor.timeout = 300  # the check cell trains the model: beyond nbgrader's 30 s when busy\n")
    _wait(_nbgrader("generate_assignment", ASSIGNMENT, course=root))
    released = json.loads((root / "release" / ASSIGNMENT / NOTEBOOK).read_text())
    for student, notebook in (("alice", _solved(released)), ("bob", released)):
        (root / "submitted" / student / ASSIGNMENT).mkdir(parents=True)
        (root / "submitted" / student / ASSIGNMENT / NOTEBOOK).write_text(json.dumps(notebook))
    reports = root.parent / "reports"
    autograde = _nbgrader("autograde", ASSIGNMENT, course=root)  # the two run at once: they share no file
    batch = _grade("batch", str(root), "--topic", TOPIC, "--out", str(reports), "--quiet",
                   "--config", str(ROOT / "grading.yaml"), cwd=root)
    _wait(batch), _wait(autograde)
    from nbgrader.api import Gradebook

    db = f"sqlite:///{root / 'gradebook.db'}"
    with Gradebook(db) as gradebook:
        autograded = {s.student.id: s.score for s in gradebook.assignment_submissions(ASSIGNMENT)}
    _wait(_grade("export", str(reports), "--nbgrader-db", db, "--assignment", ASSIGNMENT, "--topic", TOPIC,
                 "--config", str(ROOT / "grading.yaml"), cwd=root))
    ours = {s: json.loads((reports / s / "result.json").read_text()) for s in ("alice", "bob")}
    return {"root": root, "db": db, "autograded": autograded, "ours": ours}


def test_batch_grades_the_week_out_of_its_topic_without_noting_the_check_cell(course):
    ours = course["ours"]
    assert {s: (r["points"], r["max_points"]) for s, r in ours.items()} == {"alice": (TOTAL, TOTAL),
                                                                             "bob": (0.0, TOTAL)}
    assert [t["name"] for t in ours["alice"]["topics"]] == [TOPIC]
    notes = [n for r in ours.values() for t in r["topics"] for n in t["notes"]]
    assert not [n for n in notes if "harness" in n or "skipped" in n], notes


def test_nbgrader_autograde_scores_the_check_cell_like_our_batch(course):
    # graders.live.check() returns the points under NBGRADER_EXECUTION=autograde; nbgrader takes them as the
    # grade cell's partial credit. Before #13 the cell raised "grading.yaml: not found" and everyone got 0.
    assert course["autograded"] == {s: r["points"] for s, r in course["ours"].items()}


def test_export_writes_our_scores_into_nbgraders_own_records(course):
    from nbgrader.api import Gradebook

    with Gradebook(course["db"]) as gradebook:
        assignment = gradebook.find_assignment(ASSIGNMENT)
        assert [(n.name, [c.name for c in n.grade_cells]) for n in assignment.notebooks] == [
            (Path(NOTEBOOK).stem, [f"{TOPIC}-checks"])]
        assert assignment.max_score == TOTAL
        for student, result in course["ours"].items():
            submission = gradebook.find_submission(ASSIGNMENT, student)
            assert (submission.score, submission.max_score) == (result["points"], result["max_points"])


def test_generate_assignment_force_still_runs_after_the_export(course):
    _wait(_nbgrader("generate_assignment", ASSIGNMENT, "--force", course=course["root"]))
    from nbgrader.api import Gradebook

    with Gradebook(course["db"]) as gradebook:  # and the scores are still there
        assert {s.student.id: s.score for s in gradebook.assignment_submissions(ASSIGNMENT)} == {
            s: r["points"] for s, r in course["ours"].items()}


def test_batch_checks_its_topics_before_grading_and_keys_results_by_them(tmp_path):
    from click.testing import CliRunner

    from graders.batch.run import grading_key
    from graders.cli import main

    (tmp_path / "subs").mkdir()
    done = CliRunner().invoke(main, ["batch", str(tmp_path / "subs"), "--topic", "week_one", "--config",
                                     str(ROOT / "grading.yaml"), "--out", str(tmp_path / "reports")])
    assert done.exit_code != 0 and "no topic 'week_one'" in done.output
    # --resume keeps a result only if it was graded for the same topics.
    assert grading_key(CONFIG, hidden=True, topics=[TOPIC]) != grading_key(CONFIG, hidden=True)


def test_an_assignment_the_export_created_is_one_generate_assignment_accepts(course, tmp_path):
    from nbgrader.api import Gradebook

    (tmp_path / "source" / "week2").mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / SPEC.folder / NOTEBOOK, tmp_path / "source" / "week2")
    (tmp_path / "nbgrader_config.py").write_text(f"c = get_config()\nc.CourseDirectory.root = {str(tmp_path)!r}\n")
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    _wait(_grade("export", str(course["root"].parent / "reports"), "--nbgrader-db", db, "--assignment", "week2",
                 "--config", str(ROOT / "grading.yaml"), cwd=tmp_path))
    # Submissions exist now: nbgrader refuses any change of notebooks or cells, so the names must be its own.
    _wait(_nbgrader("generate_assignment", "week2", "--force", course=tmp_path))
    with Gradebook(db) as gradebook:
        assert gradebook.find_assignment("week2").max_score == TOTAL
        assert {s.student.id: s.score for s in gradebook.assignment_submissions("week2")} == {
            s: r["points"] for s, r in course["ours"].items()}
