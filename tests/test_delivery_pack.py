"""`grade pack`: a student's working copy checked and zipped with a manifest that grading accepts as it is."""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from graders.cli import main
from graders.config import load_config
from graders.delivery.pack import pack, stubbed_functions
from graders.delivery.release import release
from graders.submission.manifest import MANIFEST, verify_manifest

ROOT = Path(__file__).resolve().parents[1]
GRADE = Path(sys.executable).with_name("grade")
TOPIC = "linear_regression"
MODULE = "01_linear_regression/linear_regression.py"


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return release(out=tmp_path_factory.mktemp("release") / "course", config=load_config(ROOT / "grading.yaml"),
                   topics=[TOPIC], ci=False).folder


@pytest.fixture
def copy(released: Path, tmp_path: Path) -> Path:
    """A student's working copy of the release, topic 1 solved."""
    work = tmp_path / "work"
    shutil.copytree(released, work)
    shutil.copy(ROOT / "solutions" / MODULE, work / "assignments" / MODULE)
    return work


def add_clutter(folder: Path) -> None:
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "linear_regression.cpython-311.pyc").write_bytes(b"\0" * 10)
    (folder / ".ipynb_checkpoints").mkdir()
    (folder / ".ipynb_checkpoints" / "scratch-checkpoint.ipynb").write_text("{}")
    (folder / "data").mkdir()
    (folder / "data" / "train.csv").write_text("1,2\n")
    (folder / "weights.pt").write_bytes(b"\0" * (6 << 20))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hi')", execution_count=1)])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="hi\n" * 1000)]
    nbformat.write(nb, str(folder / "scratch.ipynb"))


def test_pack_checks_runs_public_checks_and_zips_what_matters(copy):
    topic = copy / "assignments" / "01_linear_regression"
    add_clutter(topic)
    packed = pack(config=load_config(copy / "grading.yaml"))
    assert packed.problems == []
    assert packed.result is not None and packed.result.points == packed.result.max_points == 5  # public checks
    assert packed.archive == copy / "submission.zip"
    with zipfile.ZipFile(packed.archive) as zf:
        names = sorted(zf.namelist())
        manifest = json.loads(zf.read(MANIFEST))
        notebook = json.loads(zf.read("01_linear_regression/scratch.ipynb"))
        contents = {entry["path"]: zf.read(entry["path"]) for entry in manifest["files"]}
    assert names == sorted([MANIFEST, MODULE, MODULE.replace(".py", ".ipynb"), "01_linear_regression/scratch.ipynb"])
    assert notebook["cells"][0]["outputs"] == [] and notebook["cells"][0]["execution_count"] is None
    for entry in manifest["files"]:
        assert hashlib.sha256(contents[entry["path"]]).hexdigest() == entry["sha256"]
    assert {"harness_version", "torch_version", "created", "python"} <= set(manifest)
    skipped = "\n".join(manifest["skipped"])
    for clutter in ("__pycache__/", ".ipynb_checkpoints", "data/", "weights.pt", "test_public.py"):
        assert clutter in skipped
    assert verify_manifest(packed.archive) == []


def test_missing_definitions_and_syntax_errors_are_found_without_running_code(copy):
    module = copy / "assignments" / MODULE
    module.write_text(module.read_text().replace("def predict(", "def predicted("))
    packed = pack(config=load_config(copy / "grading.yaml"), run_checks=False)
    assert packed.result is None
    assert packed.problems == [f"{TOPIC}: linear_regression.py defines no predict; keep the names from the assignment"]
    assert packed.archive.is_file()  # written anyway: a partial submission beats none
    module.write_text("def broken(:\n")
    assert "does not parse" in pack(config=load_config(copy / "grading.yaml"), run_checks=False).problems[0]


def test_a_module_that_does_not_import_in_the_worker_is_a_problem(copy):
    module = copy / "assignments" / MODULE
    module.write_text("import no_such_package_here\n\n" + module.read_text())
    packed = pack(config=load_config(copy / "grading.yaml"))
    assert any("does not import" in p and "no_such_package_here" in p for p in packed.problems)


def test_grade_submission_accepts_the_zip_as_it_is(copy):
    archive = pack(config=load_config(copy / "grading.yaml"), run_checks=False).archive
    done = subprocess.run([str(GRADE), "submission", str(archive), "--out", str(copy / "out")],
                          cwd=copy, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 / 5" in done.stdout  # the public checks of topic 1


def test_verify_manifest_reports_changed_missing_and_added_files(copy, tmp_path):
    archive = pack(config=load_config(copy / "grading.yaml"), run_checks=False).archive
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(unpacked)
    assert verify_manifest(unpacked) == []
    (unpacked / MODULE).write_text("# rewritten after packing\n")
    (unpacked / "01_linear_regression" / "helper.py").write_text("x = 1\n")
    (unpacked / "__pycache__").mkdir()
    (unpacked / "__pycache__" / "x.pyc").write_bytes(b"")
    problems = verify_manifest(unpacked)
    assert problems == [f"{MODULE} changed after `grade pack` (its sha256 differs from MANIFEST.json)",
                        "01_linear_regression/helper.py is not in MANIFEST.json (added after `grade pack`)"]
    (unpacked / MODULE).unlink()
    assert verify_manifest(unpacked)[0] == f"{MODULE} is listed in MANIFEST.json but missing"
    (unpacked / MANIFEST).write_text("{not json")
    assert "not a manifest written by `grade pack`" in verify_manifest(unpacked)[0]
    (unpacked / MANIFEST).write_text(json.dumps({"format": 1, "files": [{"path": "../x", "sha256": "0"}]}))
    assert "unsafe path" in verify_manifest(unpacked)[0]
    (unpacked / MANIFEST).unlink()
    assert verify_manifest(unpacked) == []  # not packed with `grade pack`: nothing to compare


def test_cli_pack(copy):
    assert "Example: grade pack" in CliRunner().invoke(main, ["pack", "--help"]).output
    done = subprocess.run([str(GRADE), "pack", "--no-checks", "--out", "mine.zip"], cwd=copy,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (copy / "mine.zip").is_file() and "wrote mine.zip" in done.stdout
    (copy / "assignments" / MODULE).write_text("x = 1\n")
    done = subprocess.run([str(GRADE), "pack", "--no-checks"], cwd=copy, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "problem:" in done.stdout and "defines no LinearRegression" in done.stdout


def test_a_notebook_counts_when_the_module_is_missing(copy):
    module = copy / "assignments" / MODULE
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(module.read_text()),
                                         nbformat.v4.new_code_cell("losses = train(LinearRegression(), 1, 2, 3, 4)")])
    nbformat.write(nb, str(module.with_suffix(".ipynb")))
    module.unlink()
    packed = pack(config=load_config(copy / "grading.yaml"), run_checks=False)
    assert packed.problems == []
    assert packed.files == ["01_linear_regression/linear_regression.ipynb"]


STUB_FUNCTIONS = "LinearRegression.__init__, LinearRegression.forward, train, predict"


def test_an_untouched_stub_is_unfinished_unless_allowed(copy, released):
    # Issue #13: a stub still raising NotImplementedError packed with exit code 0 and no word.
    shutil.copy(released / "assignments" / MODULE, copy / "assignments" / MODULE)
    packed = pack(config=load_config(copy / "grading.yaml"), run_checks=False)
    assert packed.incomplete == [f"{TOPIC}: linear_regression.py still raises NotImplementedError in {STUB_FUNCTIONS}"]
    assert packed.problems == [] and packed.needs_fixing and packed.archive.is_file()
    allowed = pack(config=load_config(copy / "grading.yaml"), run_checks=False, allow_incomplete=True)
    assert allowed.incomplete == packed.incomplete and not allowed.needs_fixing
    # Worked in the notebook instead: grading takes the notebook beside the untouched .py, so it is finished.
    shutil.copy(ROOT / "solutions" / MODULE.replace(".py", ".ipynb"), copy / "assignments" / MODULE.replace(".py",
                                                                                                        ".ipynb"))
    assert pack(config=load_config(copy / "grading.yaml"), run_checks=False).incomplete == []


def test_cli_pack_names_unfinished_topics_and_exits_1_unless_allowed(copy, released):
    shutil.copy(released / "assignments" / MODULE, copy / "assignments" / MODULE)
    args = ["pack", "--no-checks", "--config", str(copy / "grading.yaml")]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1, refused.output
    assert f"problem: {TOPIC}: linear_regression.py still raises NotImplementedError in {STUB_FUNCTIONS}" \
        in refused.output and "--allow-incomplete" in refused.output
    allowed = CliRunner().invoke(main, [*args, "--allow-incomplete"])
    assert allowed.exit_code == 0, allowed.output
    assert f"incomplete: {TOPIC}: linear_regression.py" in allowed.output and "problem" not in allowed.output


def test_stubbed_functions_finds_each_placeholder_once_in_source_order():
    tree = ast.parse("def a():\n    raise NotImplementedError\n\nclass B:\n    def c(self):\n        if self:\n"
                     "            raise NotImplementedError('later')\n        raise NotImplementedError()\n"
                     "    def d(self):\n        raise ValueError()\n\nraise NotImplementedError\n")
    assert stubbed_functions(tree) == ["a", "B.c", "the module's top level"]


def test_a_notebook_without_cell_ids_packs_quietly_and_the_same_each_time(copy):
    # Issue #13: nbformat warned (MissingIDFieldWarning) about hand-written notebooks, and gave them random ids.
    notebook = copy / "assignments" / "01_linear_regression" / "scratch.ipynb"
    notebook.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "execution_count": 3, "outputs": [], "source": "x = 1"}]}))
    first, second = (pack(config=load_config(copy / "grading.yaml"), run_checks=False, out=copy / name).archive
                     for name in ("a.zip", "b.zip"))  # any warning fails the test: pytest runs with -W error
    with zipfile.ZipFile(first) as a, zipfile.ZipFile(second) as b:
        member = "01_linear_regression/scratch.ipynb"
        assert a.read(member) == b.read(member)
        assert json.loads(a.read(member))["cells"][0]["id"] == "cell-1"
