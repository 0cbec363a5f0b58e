"""check() grades what a real Jupyter kernel ran, unsaved, and finds its course from anywhere (issue #13)."""

from __future__ import annotations

import ast
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader.utils import determine_grade

import graders
from graders import live
from graders.errors import ConfigError, SubmissionError

ROOT = Path(__file__).resolve().parents[1]
FOLDER = "01_linear_regression"
SOLUTION = (ROOT / "solutions" / FOLDER / "linear_regression.py").read_text(encoding="utf-8")
PUBLIC = ("model_structure", "train_returns_losses", "loss_decreases", "predict_no_grad")


def solution_cells() -> list[str]:
    """The reference solution as a student would type it: imports, then one cell per definition."""
    lines, body = SOLUTION.splitlines(), ast.parse(SOLUTION).body
    kept = [n for n in body if isinstance(n, (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef))]
    imports = [n for n in kept if isinstance(n, (ast.Import, ast.ImportFrom))]
    def text(node: ast.stmt) -> str:
        return "\n".join(lines[node.lineno - 1 : node.end_lineno])

    return ["\n".join(map(text, imports))] + [text(n) for n in kept if n not in imports]


class Kernel:
    """One real kernel, driven cell by cell as Jupyter does (store_history on, as in a notebook)."""

    def __init__(self, client: NotebookClient):
        self.client = client

    def run(self, source: str) -> nbformat.NotebookNode:
        cell = nbformat.v4.new_code_cell(source)
        self.client.nb.cells.append(cell)
        return self.client.execute_cell(cell, len(self.client.nb.cells) - 1)

    def value(self, source: str) -> str:
        """The text/plain of an expression's result."""
        return result_of(self.run(source))["data"]["text/plain"]


def result_of(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    return next(o for o in cell.outputs if o.output_type == "execute_result")


@pytest.fixture(scope="module")
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A student's folder outside the course, holding the unsolved stub notebook and module as saved files."""
    folder = tmp_path_factory.mktemp("student")
    for name in ("linear_regression.ipynb", "linear_regression.py"):
        shutil.copy(ROOT / "assignments" / FOLDER / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def kernel(outside: Path):
    env = {k: v for k, v in os.environ.items() if k not in (live.CONFIG_ENV, live.EXECUTION_ENV)}
    client = NotebookClient(nbformat.v4.new_notebook(), timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(outside)}})
    with client.setup_kernel(env=env, cwd=str(outside)):
        kernel = Kernel(client)
        stub = nbformat.read(outside / "linear_regression.ipynb", as_version=4)
        for cell in stub.cells:  # the stub's cells as released, run before the student's answers
            if cell.cell_type == "code" and "graders" not in cell.source:
                kernel.run(cell.source)
        kernel.run("from graders.live import check")
        yield kernel


@pytest.fixture
def solved(kernel: Kernel) -> Kernel:
    for source in solution_cells():
        kernel.run(source)
    return kernel


def test_solved_definitions_pass_while_the_saved_files_are_stubs(solved: Kernel, outside: Path):
    assert "raise NotImplementedError()" in (outside / "linear_regression.py").read_text(encoding="utf-8")
    output = result_of(solved.run('check("linear_regression")'))
    html, text = output["data"]["text/html"], output["data"]["text/plain"]
    for name in PUBLIC:
        assert name in html and name in text
    assert "All 4 public checks passed." in html and "All 4 public checks passed." in text
    assert solved.value("(_.passed, _.points, _.max_points)") == "(True, 5.0, 5.0)"


def test_a_buggy_definition_names_its_check_and_hint(solved: Kernel):
    solved.run("def predict(model, x):\n    return model(x)")  # gradients tracked: predict_no_grad fails
    try:
        html = result_of(solved.run('check("linear_regression")'))["data"]["text/html"]
    finally:
        solved.run(solution_cells()[-1])
    row = next(r for r in html.split("<tr>") if "predict_no_grad" in r)
    assert "failed" in row and "torch.no_grad()" in row  # the hint of grading.yaml
    assert "All 4 public checks passed." not in html and "1 of 4 public checks did not pass" in html


def test_errors_name_the_cell_and_line_they_came_from(solved: Kernel):
    cell = solved.run("def train(model, x, y, epochs, lr):\n    losses = []\n    raise ValueError('boom')")
    try:
        solved.run('r = check("linear_regression")')
        message = solved.value("next(c.message for c in r.result.checks() if c.name == 'train_returns_losses')")
    finally:
        solved.run(solution_cells()[2])
    assert f"in train() at In [{cell.execution_count}], line 3: boom" in message
    assert "linear_regression.py" not in message


def test_a_cell_that_failed_in_the_kernel_is_left_out(solved: Kernel):
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError):
        solved.run("import torchh\n" + solution_cells()[-1])
    solved.run("import torch\n" + solution_cells()[-1])  # the typo fixed; the failed cell stays in the history
    assert solved.value('check("linear_regression").passed') == "True"


def test_names_the_kernel_lacks_come_first(solved: Kernel):
    text = solved.value('check("logistic_regression").text().splitlines()[0]')
    assert "Run the cells that define LogisticRegression first" in text


def test_a_kernel_outside_the_course_finds_it(kernel: Kernel, outside: Path):
    assert kernel.value("import os; os.getcwd()") == repr(str(outside))
    assert kernel.value("from graders.live import find_course; str(find_course())") == repr(str(ROOT / "grading.yaml"))
    kernel.run(f"os.environ['GRADING_CONFIG'] = {str(outside / 'nowhere.yaml')!r}")
    try:
        error = kernel.value("try:\n    check('linear_regression')\nexcept Exception as exc:\n    failure = exc\n"
                             "str(failure)")
    finally:
        kernel.run("del os.environ['GRADING_CONFIG']")
    assert "GRADING_CONFIG=" in error and "nowhere.yaml: no such file" in error


def test_autograde_gives_nbgrader_the_points_and_shows_the_table(solved: Kernel):
    solved.run("import os; os.environ['NBGRADER_EXECUTION'] = 'autograde'")
    try:
        cell = solved.run('check("linear_regression")')
        solved.run("graded = _")
        points, max_points = float(solved.value("graded.points")), float(solved.value("graded.max_points"))
    finally:
        solved.run("del os.environ['NBGRADER_EXECUTION']")
    output = result_of(cell)
    assert set(output["data"]) == {"text/plain"} and float(output["data"]["text/plain"]) == points
    assert not [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
    table = next(o for o in cell.outputs if o.output_type == "display_data")
    assert "model_structure" in table["data"]["text/html"] and "deterministic" not in table["data"]["text/html"]
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "points": max_points, "grade_id": "check"}
    assert determine_grade(cell) == (points, max_points)
    assert max_points > 5  # the hidden checks ran too


def test_validate_fails_the_cell_when_a_public_check_fails(solved: Kernel):
    # nbgrader's Validate button passes any grade cell that ends without an error
    from nbclient.exceptions import CellExecutionError

    solved.run("import os; os.environ['NBGRADER_EXECUTION'] = 'validate'")
    try:
        assert solved.value('check("linear_regression").passed') == "True"  # all pass: no error
        solved.run("def predict(model, x):\n    return model(x)")
        with pytest.raises(CellExecutionError, match="some public checks failed"):
            solved.run('check("linear_regression")')
        table = next(o for o in solved.client.nb.cells[-1].outputs if o.output_type == "display_data")
        assert "predict_no_grad" in table["data"]["text/html"]
    finally:
        solved.run("del os.environ['NBGRADER_EXECUTION']")
        solved.run(solution_cells()[-1])


def test_the_course_is_found_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    course = tmp_path / "course"
    (course / "deep").mkdir(parents=True)
    (course / "grading.yaml").write_text("course: x\n", encoding="utf-8")
    monkeypatch.delenv(live.CONFIG_ENV, raising=False)
    monkeypatch.chdir(course / "deep")
    assert live.find_course() == course / "grading.yaml"
    assert live.find_course("elsewhere.yaml") == Path("elsewhere.yaml")
    monkeypatch.setenv(live.CONFIG_ENV, str(ROOT / "grading.yaml"))
    assert live.find_course() == ROOT / "grading.yaml"
    monkeypatch.delenv(live.CONFIG_ENV)
    monkeypatch.chdir(tmp_path)
    (course / "grading.yaml").unlink()
    assert live.find_course() == ROOT / "grading.yaml"  # the editable install's course
    monkeypatch.setattr(graders, "__file__", str(tmp_path / "site-packages" / "graders" / "__init__.py"))
    with pytest.raises(ConfigError, match="set GRADING_CONFIG=/path/to/course/grading.yaml or call check"):
        live.find_course()


def test_the_module_keeps_definitions_in_execution_order_with_their_cells():
    module = live.kernel_module([(3, "import math\n%matplotlib inline\nx = math.sqrt(2)"),
                                 (5, "def f():\n    raise ValueError()"), (9, "\n\ndef f():\n    return 1")])
    namespace: dict = {}
    exec(compile(module.source, "m", "exec"), namespace)
    assert namespace["f"]() == 1  # the later definition wins, as in the kernel
    assert module.locate(1) == (3, 1) and module.locate(4) == (5, 2) and module.locate(6) == (9, 3)
    assert module.locate(5) is None
    assert any("In [3] line 3" in note and "assign" in note for note in module.skipped)
    failed = live.kernel_module([(3, "import torchh as th, os.path\nX: int = 2\ndef g(): pass")], defined={"os", "X"})
    assert failed.source == "X: int = 2\n"
    assert any("In [1]" not in n and "In [3] line 1: skipped, th not defined" in n for n in failed.skipped)
    assert any("In [3] line 3: skipped, g not defined" in n for n in failed.skipped)


def test_outside_a_kernel_it_says_what_to_run_instead():
    with pytest.raises(SubmissionError, match="run `grade check TOPIC` in a terminal"):
        live.check("linear_regression")
