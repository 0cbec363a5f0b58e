"""`grade release`: the students' copy has stubs, public tests and the harness, and nothing of the solutions
or hidden checks; it runs `grade check` as it is."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml
from click.testing import CliRunner

from graders.cli import main
from graders.config import load_config
from graders.delivery.leak_scan import scan_release
from graders.delivery.release import release
from graders.errors import DeliveryError

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "grading.yaml")
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS")


def copy_course(target: Path) -> Path:
    """The course's own files (no caches, reports or examples) in `target`, to change without touching the repo."""
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "grading.yaml", target / "grading.yaml")
    for name in ("assignments", "solutions", "hidden_tests"):
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    return target


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return release(out=tmp_path_factory.mktemp("release") / "course", config=CONFIG).folder


# -- an independent leak check: the test's own reading of solutions/ and hidden_tests/ ------------------

def solution_lines() -> set[str]:
    """Lines inside BEGIN/END SOLUTION regions that appear nowhere outside a region (the stub's own text)."""
    inside, outside = set(), set()
    for path in (ROOT / "solutions").rglob("*.py"):
        region = False
        for line in path.read_text(encoding="utf-8").splitlines():
            if "BEGIN SOLUTION" in line or "END SOLUTION" in line:
                region = "BEGIN" in line
                continue
            (inside if region else outside).add(line.strip())
    return {line for line in inside - outside if len(line) >= 10 and not line.startswith("#")}


def hidden_checks() -> set[str]:
    names = set()
    for path in (ROOT / "hidden_tests").rglob("test_*.py"):
        names |= {m.removeprefix("test_") for m in re.findall(r"^def (test_\w+)", path.read_text(), re.M)}
    public = set()
    for path in (ROOT / "assignments").rglob("test_*.py"):
        public |= {m.removeprefix("test_") for m in re.findall(r"^def (test_\w+)", path.read_text(), re.M)}
    return names - public


def released_texts(folder: Path) -> dict[str, str]:
    """Every text file of the release outside the harness; notebooks whole (sources, outputs, metadata)."""
    texts = {}
    for path in folder.rglob("*"):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not rel.startswith("graders/"):
            try:
                texts[rel] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
    return texts


def test_release_holds_the_student_material_only(released):
    top = sorted(p.name for p in released.iterdir())
    assert top == [".github", ".gitignore", "README.md", "assignments", "graders", "grading.yaml", "pyproject.toml"]
    for topic in CONFIG.topics.values():
        folder = released / "assignments" / topic.folder
        assert (folder / topic.module).is_file() and (folder / "test_public.py").is_file()
        assert (folder / topic.module).read_text() == (ROOT / "assignments" / topic.folder / topic.module).read_text()
    assert not list(released.rglob("__pycache__"))
    harness = {p.relative_to(ROOT).as_posix() for p in (ROOT / "graders").rglob("*.py") if "__pycache__" not in p.parts}
    assert harness == {p.relative_to(released).as_posix() for p in (released / "graders").rglob("*.py")}
    assert "grade check linear_regression" in (released / "README.md").read_text()


def test_release_has_no_solution_code_markers_or_hidden_checks(released):
    secret_lines, hidden = solution_lines(), hidden_checks()
    assert secret_lines and hidden  # the course has both, or this test proves nothing
    for rel, text in released_texts(released).items():
        lines = {line.strip() for line in text.splitlines()}
        assert not lines & secret_lines, f"{rel} has solution code"
        assert not any(marker in text for marker in MARKERS), f"{rel} has a marker"
        assert not any(f"test_{name}" in text for name in hidden), f"{rel} has a hidden test"
    checks = {(t, c) for t, s in yaml.safe_load((released / "grading.yaml").read_text())["topics"].items()
              for c in s["checks"]}
    assert not {c for _, c in checks} & hidden
    assert scan_release(released, config=CONFIG) == []


def test_release_config_keeps_only_thresholds_students_may_see(released):
    students = load_config(released / "grading.yaml")
    for topic, spec in students.topics.items():
        for name, check in spec.checks.items():
            ours = CONFIG.topics[topic].checks[name]
            if ours.visibility == "visible" or ours.show_threshold:
                assert (check.points, check.threshold) == (ours.points, ours.threshold)
            else:
                assert check.threshold is None and check.points == 0


def test_release_runs_the_public_checks_with_its_own_harness(released):
    # `python -c` puts the current folder first on sys.path: the release's graders/, not the installed one.
    where = subprocess.run([sys.executable, "-c", "import graders.reports, graders.data, graders.cli, graders;"
                            "print(graders.__file__)"], cwd=released, capture_output=True, text=True, timeout=60)
    assert where.stdout.strip() == str(released / "graders" / "__init__.py"), where.stderr
    done = subprocess.run([sys.executable, "-c", "from graders.cli import main; main()", "check", "linear_regression"],
                          cwd=released, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr  # the stubs fail, but every public check ran
    for name in ("model_structure", "train_returns_losses", "loss_decreases", "predict_no_grad"):
        assert name in done.stdout
    assert "0/4" in done.stdout and "NotImplementedError" in done.stdout
    assert "deterministic" not in done.stdout


def test_scan_finds_leaks_in_files_notebooks_and_config(released, tmp_path):
    leaky = tmp_path / "leaky"
    shutil.copytree(released, leaky)
    stub = leaky / "assignments" / "01_linear_regression" / "linear_regression.py"
    stub.write_text(stub.read_text().replace("# YOUR CODE HERE\n        raise NotImplementedError()",
                                             "return self.linear(x)", 1))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nb.metadata["grading"] = {"check": "test_training_time"}
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="### BEGIN HIDDEN TESTS\n")]
    nbformat.write(nb, str(leaky / "assignments" / "01_linear_regression" / "scratch.ipynb"))
    config = yaml.safe_load((leaky / "grading.yaml").read_text())
    config["topics"]["linear_regression"]["checks"]["deterministic"] = {"points": 1}
    (leaky / "grading.yaml").write_text(yaml.safe_dump(config))
    (leaky / "graders" / "extra.py").write_text("x = 1\n")
    (leaky / "solutions").mkdir()
    found = "\n".join(scan_release(leaky, config=CONFIG))
    assert "linear_regression.py: has" in found and "solution" in found
    assert "scratch.ipynb: names the hidden check 'training_time'" in found
    assert "scratch.ipynb: has a BEGIN/END SOLUTION or HIDDEN TESTS marker" in found
    assert "grading.yaml: has the hidden check linear_regression.deterministic" in found
    assert "graders/extra.py differs" in found
    assert "solutions/ is in the release" in found


def test_a_leaky_course_is_not_released(tmp_path):
    course = copy_course(tmp_path / "course")
    stub = course / "assignments" / "01_linear_regression" / "linear_regression.py"
    stub.write_text(stub.read_text() + "\n\ndef helper(model, lr):\n"
                    "    optimizer = torch.optim.SGD(model.parameters(), lr=lr)\n    return optimizer\n")
    with pytest.raises(DeliveryError, match="would leak.*solution"):
        release(out=tmp_path / "out", config=load_config(course / "grading.yaml"))
    assert not (tmp_path / "out").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]  # no staging left behind


def test_a_public_check_with_a_withheld_threshold_is_trimmed_with_a_warning(tmp_path):
    course = copy_course(tmp_path / "course")
    config = yaml.safe_load((course / "grading.yaml").read_text())
    config["topics"]["linear_regression"]["checks"]["loss_decreases"]["visibility"] = "after_due_date"
    (course / "grading.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    made = release(out=tmp_path / "out", config=load_config(course / "grading.yaml"), topics=["linear_regression"],
                   ci=False)
    check = load_config(made.folder / "grading.yaml").topics["linear_regression"].checks["loss_decreases"]
    assert (check.points, check.threshold) == (0, None)
    assert any("loss_decreases" in w and "show_threshold" in w for w in made.warnings)
    assert list(load_config(made.folder / "grading.yaml").topics) == ["linear_regression"]
    assert not (made.folder / ".github").exists()


def test_out_must_be_empty_and_force_replaces_only_a_release(released, tmp_path):
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(DeliveryError, match="not empty"):
        release(out=other, config=CONFIG)
    with pytest.raises(DeliveryError, match="not a previous release"):
        release(out=other, config=CONFIG, force=True)
    assert (other / "keep.txt").read_text() == "mine"
    again = tmp_path / "again"
    shutil.copytree(released, again)
    (again / "stale.txt").write_text("old")
    release(out=again, config=CONFIG, force=True)
    assert not (again / "stale.txt").exists()
    with pytest.raises(DeliveryError, match="outside the course"):
        release(out=ROOT / "assignments" / "x", config=CONFIG)


def test_cli_release(tmp_path):
    runner = CliRunner()
    assert "Example: grade release" in runner.invoke(main, ["release", "--help"]).output
    done = runner.invoke(main, ["release", str(tmp_path / "out"), "--topic", "linear_regression",
                                "--config", str(ROOT / "grading.yaml")])
    assert done.exit_code == 0, done.output
    assert "released" in done.output
    done = runner.invoke(main, ["release", str(tmp_path / "out"), "--config", str(ROOT / "grading.yaml")])
    assert done.exit_code == 8 and "grade: error:" in done.output


def test_release_notebooks_lose_outputs(tmp_path):
    course = copy_course(tmp_path / "course")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)", execution_count=3)])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="1\n")]
    nb.cells[0].metadata["scrolled"] = True
    nbformat.write(nb, str(course / "assignments" / "01_linear_regression" / "walkthrough.ipynb"))
    made = release(out=tmp_path / "out", config=load_config(course / "grading.yaml"), topics=["linear_regression"])
    data = json.loads((made.folder / "assignments" / "01_linear_regression" / "walkthrough.ipynb").read_text())
    cell = data["cells"][0]
    assert cell["outputs"] == [] and cell["execution_count"] is None and cell["metadata"] == {}


def test_a_release_is_readable_by_others_whatever_the_umask(tmp_path):
    # issue #13: the release's root came out 700 (mkdtemp), so other accounts of a course server saw nothing.
    old = os.umask(0o077)
    try:
        folder = release(out=tmp_path / "out", config=CONFIG, topics=["linear_regression"]).folder
    finally:
        os.umask(old)
    modes = {p.relative_to(folder).as_posix(): p.stat().st_mode & 0o777 for p in [folder, *folder.rglob("*")]}
    assert {m for p, m in modes.items() if (folder / p).is_dir()} == {0o755}, modes
    assert {m for p, m in modes.items() if (folder / p).is_file()} <= {0o644, 0o755}, modes
    assert modes["grading.yaml"] == 0o644
