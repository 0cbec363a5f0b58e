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

from graders.config import load_config
from graders.generate import generate, notebook, stub_source

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
    stale = generate(config=ROOT / "grading.yaml", check=True)
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
    assert last["grade"] and last["locked"] and last["points"] == sum(
        c.points for c in spec.checks.values() if c.visibility == "visible")
    assert "__main__" not in "".join(c.source for c in nb.cells)


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
