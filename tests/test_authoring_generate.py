"""Generated stubs and notebooks: in sync with solutions/, and accepted by nbgrader as they are."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from graders.authoring.generate import generate, notebook, stub_source
from graders.config import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "grading.yaml")


def test_regions_become_not_implemented_with_their_indentation():
    solution = "def f(x):\n    '''doc'''\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION\n"
    assert stub_source(solution) == "def f(x):\n    '''doc'''\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    assert stub_source(solution.rstrip("\n")).endswith("raise NotImplementedError()")


def test_unbalanced_markers_are_refused():
    with pytest.raises(ValueError, match="unbalanced"):
        stub_source("### BEGIN SOLUTION\nx = 1\n")


def test_generated_files_are_in_sync_with_solutions():
    stale = generate(config=CONFIG, check=True)
    assert stale == [], f"out of sync with solutions/: {stale}; run `grade generate`"


def test_notebook_cells_carry_nbgrader_metadata():
    spec = CONFIG.topics["linear_regression"]
    text = (ROOT / "solutions" / spec.folder / spec.module).read_text()
    nb = nbformat.reads(notebook(text, name="linear_regression", spec=spec, student=True), as_version=4)
    nbformat.validate(nb)
    meta = [c.metadata["nbgrader"] for c in nb.cells]
    assert all(m["schema_version"] == 3 and m["grade_id"] for m in meta)
    solutions = [c for c in nb.cells if c.metadata["nbgrader"]["solution"]]
    assert {c.source.split("(")[0].split()[-1] for c in solutions} == {"LinearRegression", "train", "predict"}
    assert all("raise NotImplementedError()" in c.source and "BEGIN SOLUTION" not in c.source for c in solutions)
    last = meta[-1]
    # One grade cell worth every check, public and hidden, that nbgrader's autograde fills (#13).
    assert last["grade"] and last["locked"] and last["grade_id"] == "linear_regression-checks"
    assert last["points"] == sum(c.points for c in spec.checks.values()) == 12
    assert nb.cells[-1].source == 'from graders.live import check\ncheck("linear_regression")'
    assert [m["grade_id"] for m in meta if m["grade"]] == ["linear_regression-checks"]
    assert "__main__" not in "".join(c.source for c in nb.cells)


def test_the_check_cell_is_left_out_of_the_graded_module_without_a_note(tmp_path):
    from graders.submission.notebook import notebook_to_module

    path = ROOT / "solutions" / "01_linear_regression" / "linear_regression.ipynb"
    module, notes = notebook_to_module(path)
    assert "graders" not in module and "class LinearRegression" in module
    assert notes == []  # #13: the check cell reached every report as "skipped an import of the grading harness"


def test_pytest_marker_of_the_module_stays_out_of_the_notebook():
    spec = CONFIG.topics["cnn"]
    text = (ROOT / "solutions" / spec.folder / spec.module).read_text()
    assert "test_transforms.__test__ = False" in stub_source(text)  # pytest must not collect the .py's function
    nb = nbformat.reads(notebook(text, name="cnn", spec=spec, student=True), as_version=4)
    assert "__test__" not in "".join(c.source for c in nb.cells)
    assert any(c.source.startswith("def test_transforms") for c in nb.cells)


@pytest.mark.slow
def test_nbgrader_generate_assignment_gives_our_student_notebooks(tmp_path):
    source = tmp_path / "source" / "course"
    source.mkdir(parents=True)
    for spec in CONFIG.topics.values():
        shutil.copy(ROOT / "solutions" / spec.folder / spec.module.replace(".py", ".ipynb"), source)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "course",
                           f"--CourseDirectory.root={tmp_path}", "--force"], env=env, capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    for spec in CONFIG.topics.values():
        name = spec.module.replace(".py", ".ipynb")
        theirs = json.loads((tmp_path / "release" / "course" / name).read_text())
        ours = json.loads((ROOT / "assignments" / spec.folder / name).read_text())
        assert [c["source"] for c in theirs["cells"]] == [c["source"] for c in ours["cells"]], name
