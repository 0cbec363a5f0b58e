"""`grade gradescope`: the package has Gradescope's layout, and its run_autograder, run against a
temporary root standing in for /autograder, writes a valid results.json."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_samples import HIDDEN_SECRETS, sample_result

from graders.autograder import build_autograder, meets, score_table
from graders.cli import main
from graders.config import load_config
from graders.errors import DeliveryError
from graders.pack import pack
from graders.release import release

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "linear_regression"
MODULE = "01_linear_regression/linear_regression.py"
VISIBILITY = {"hidden", "after_due_date", "after_published", "visible"}


def copy_course(target: Path) -> Path:
    target.mkdir(parents=True)
    shutil.copy(ROOT / "grading.yaml", target / "grading.yaml")
    for name in ("assignments", "solutions", "hidden_tests"):
        shutil.copytree(ROOT / name, target / name, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def unpack(package: Path, root: Path) -> Path:
    """Lay the package out as Gradescope does: unzipped into source/, run_autograder copied to the root."""
    with zipfile.ZipFile(package) as zf:
        zf.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "submission").mkdir()
    return root


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "AUTOGRADER_ROOT": str(root), "GRADER_PYTHON": sys.executable}
    return subprocess.run(["bash", *args], env=env, capture_output=True, text=True, timeout=180)


def test_package_has_gradescope_layout(tmp_path):
    course = copy_course(tmp_path / "course")
    cache = course / ".grading_cache" / "reference"
    cache.mkdir(parents=True)
    (cache / "abc.safetensors").write_bytes(b"cached")
    package = build_autograder(out=tmp_path / "autograder.zip", config=course / "grading.yaml")
    with zipfile.ZipFile(package) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        setup = zf.read("setup.sh").decode()
        settings = json.loads(zf.read("autograder.json"))
    for name in ("setup.sh", "run_autograder"):
        assert stat.S_IMODE(infos[name].external_attr >> 16) & 0o111, f"{name} is not executable"
    for topic in load_config(course / "grading.yaml").topics.values():
        for path in (f"assignments/{topic.folder}/test_public.py", f"hidden_tests/{topic.folder}/test_hidden.py",
                     f"solutions/{topic.folder}/{topic.module}"):
            assert path in infos
    assert {"grading.yaml", "pyproject.toml", "graders/autograder.py", ".grading_cache/reference/abc.safetensors"} \
        <= set(infos)
    assert not [n for n in infos if "__pycache__" in n or n.startswith(("examples/", "reports/"))]
    # The whole harness (an editable install would quietly fill in a missing subpackage in these tests).
    harness = {p.relative_to(ROOT).as_posix() for p in (ROOT / "graders").rglob("*") if p.is_file()
               and "__pycache__" not in p.parts}
    assert harness <= set(infos)
    assert "pip install" in setup and "torch==2.14.1 torchvision==0.29.1" in setup and '"$ROOT/source"' in setup
    assert "@" not in setup.replace("$@", "")
    assert settings == {"topics": list(load_config(course / "grading.yaml").topics)}
    for script in ("setup.sh", "run_autograder"):
        (tmp_path / script).write_bytes(zipfile.ZipFile(package).read(script))
        assert subprocess.run(["bash", "-n", str(tmp_path / script)]).returncode == 0
    bare = build_autograder(out=tmp_path / "bare.zip", config=course / "grading.yaml", include_cache=False)
    assert not [n for n in zipfile.ZipFile(bare).namelist() if n.startswith(".grading_cache")]


def test_run_autograder_grades_a_packed_submission(tmp_path):
    package = build_autograder(out=tmp_path / "autograder.zip", config=ROOT / "grading.yaml", topics=[TOPIC])
    root = unpack(package, tmp_path / "autograder")
    # The student's side: the release, solved, packed; Gradescope unzips the upload into submission/.
    copy = release(out=tmp_path / "student", config=ROOT / "grading.yaml", topics=[TOPIC], ci=False).folder
    shutil.copy(ROOT / "solutions" / MODULE, copy / "assignments" / MODULE)
    with zipfile.ZipFile(pack(config=copy / "grading.yaml", run_checks=False).archive) as zf:
        zf.extractall(root / "submission")
    (root / "results").mkdir()
    (root / "results" / "results.json").write_text('{"score": 1000}')  # left by someone: replaced
    done = run(root, str(root / "run_autograder"))
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    checks = load_config(ROOT / "grading.yaml").topics[TOPIC].checks
    assert results["score"] == sum(c.points for c in checks.values())
    assert [t["name"] for t in results["tests"]] == list(checks)
    for test in results["tests"]:
        assert test["status"] == "passed" and test["score"] == test["max_score"]
        assert test["visibility"] in VISIBILITY and test["visibility"] == checks[test["name"]].visibility
        assert isinstance(test["number"], str) and isinstance(test["output"], str)
    assert results["stdout_visibility"] == "hidden"
    total = sum(c.points for c in checks.values())
    assert f"{total:g} / {total:g} points" in done.stdout  # the staff's log


def test_a_broken_package_still_writes_results_json(tmp_path):
    package = build_autograder(out=tmp_path / "autograder.zip", config=ROOT / "grading.yaml", topics=[TOPIC])
    root = unpack(package, tmp_path / "autograder")
    (root / "source" / "grading.yaml").write_text("topics: [not, a, mapping]\n")
    done = run(root, str(root / "run_autograder"))
    assert done.returncode == 0
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0 and results["tests"] == []
    assert "course's side" in results["output"] and "grading.yaml" not in results["output"]
    assert "grading.yaml" in done.stderr  # the staff see why


def test_warm_fills_the_reference_cache_in_the_image(tmp_path):
    course = copy_course(tmp_path / "course")
    package = build_autograder(out=tmp_path / "autograder.zip", config=course / "grading.yaml", topics=[TOPIC],
                               include_cache=False)
    root = unpack(package, tmp_path / "autograder")
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "graders.autograder", "warm", "--root", str(root)],
                          cwd=root / "source", env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert list((root / "source" / ".grading_cache" / "reference").glob("*.safetensors"))
    assert "warning" not in done.stderr  # the reference passes its own hidden tests


def test_a_topic_without_its_solution_cannot_be_packaged(tmp_path):
    course = copy_course(tmp_path / "course")
    (course / "solutions" / MODULE).unlink()
    with pytest.raises(DeliveryError, match="reference solution"):
        build_autograder(out=tmp_path / "a.zip", config=course / "grading.yaml", topics=[TOPIC])


def test_score_table_and_min_score():
    result = sample_result()
    table = score_table(result)
    assert table.startswith("| Topic | Passed | Points |") and "**Total**" in table
    assert not any(secret in table for secret in HIDDEN_SECRETS)
    share = result.points / result.max_points
    assert meets(result, "0") and meets(result, f"{result.points:g}")
    assert not meets(result, f"{result.points + 1:g}")
    assert meets(result, f"{share * 100 - 1:.0f}%") and not meets(result, f"{share * 100 + 1:.0f}%")
    with pytest.raises(DeliveryError, match="MIN_SCORE"):
        meets(result, "lots")


def test_cli_gradescope(tmp_path):
    runner = CliRunner()
    assert "Example: grade gradescope" in runner.invoke(main, ["gradescope", "--help"]).output
    done = runner.invoke(main, ["gradescope", str(tmp_path / "ag.zip"), "--topic", TOPIC, "--no-cache",
                                "--config", str(ROOT / "grading.yaml")])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "ag.zip").is_file()
