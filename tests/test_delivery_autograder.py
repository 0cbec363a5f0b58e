"""`grade gradescope`: the package has Gradescope's layout, its setup.sh installs it on a stock image's
Python, and its run_autograder, run against a temporary root standing in for /autograder, writes a valid
results.json."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_samples import HIDDEN_SECRETS, sample_result

from graders.cli import main
from graders.config import load_config
from graders.delivery.autograder import build_autograder, meets, score_table
from graders.delivery.pack import pack
from graders.delivery.release import release
from graders.errors import DeliveryError

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "linear_regression"
CONFIG = load_config(ROOT / "grading.yaml")
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


def run(root: Path, *args: str, venv: str = sys.prefix) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "AUTOGRADER_ROOT": str(root), "AUTOGRADER_VENV": venv}
    return subprocess.run(["bash", *args], env=env, capture_output=True, text=True, timeout=180)


def submit_solution(tmp_path: Path, root: Path) -> None:
    """The student's side: the release, solved, packed; Gradescope unzips the upload into submission/."""
    copy = release(out=tmp_path / "student", config=CONFIG, topics=[TOPIC], ci=False).folder
    shutil.copy(ROOT / "solutions" / MODULE, copy / "assignments" / MODULE)
    with zipfile.ZipFile(pack(config=load_config(copy / "grading.yaml"), run_checks=False).archive) as zf:
        zf.extractall(root / "submission")


def assert_full_marks(results: dict) -> None:
    checks = CONFIG.topics[TOPIC].checks
    assert results["score"] == sum(c.points for c in checks.values())
    assert [t["name"] for t in results["tests"]] == list(checks)
    for test in results["tests"]:
        assert test["status"] == "passed" and test["score"] == test["max_score"]
        assert test["visibility"] in VISIBILITY and test["visibility"] == checks[test["name"]].visibility
        assert isinstance(test["number"], str) and isinstance(test["output"], str)
    assert results["stdout_visibility"] == "hidden"


def test_package_has_gradescope_layout(tmp_path):
    course = copy_course(tmp_path / "course")
    cache = course / ".grading_cache" / "reference"
    cache.mkdir(parents=True)
    (cache / "abc.safetensors").write_bytes(b"cached")
    package = build_autograder(out=tmp_path / "autograder.zip", config=load_config(course / "grading.yaml"))
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
    assert {"grading.yaml", "pyproject.toml", "graders/delivery/autograder.py",
            ".grading_cache/reference/abc.safetensors"} <= set(infos)
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
    bare = build_autograder(out=tmp_path / "bare.zip", config=load_config(course / "grading.yaml"), include_cache=False)
    assert not [n for n in zipfile.ZipFile(bare).namelist() if n.startswith(".grading_cache")]


def test_run_autograder_grades_a_packed_submission(tmp_path):
    package = build_autograder(out=tmp_path / "autograder.zip", config=CONFIG, topics=[TOPIC])
    root = unpack(package, tmp_path / "autograder")
    submit_solution(tmp_path, root)
    (root / "results").mkdir()
    (root / "results" / "results.json").write_text('{"score": 1000}')  # left by someone: replaced
    done = run(root, str(root / "run_autograder"))
    assert done.returncode == 0, done.stderr
    assert_full_marks(json.loads((root / "results" / "results.json").read_text()))
    total = sum(c.points for c in CONFIG.topics[TOPIC].checks.values())
    assert f"{total:g} / {total:g} points" in done.stdout  # the staff's log


def test_a_broken_package_still_writes_results_json(tmp_path):
    package = build_autograder(out=tmp_path / "autograder.zip", config=CONFIG, topics=[TOPIC])
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
    package = build_autograder(out=tmp_path / "autograder.zip", config=load_config(course / "grading.yaml"),
                               topics=[TOPIC], include_cache=False)
    root = unpack(package, tmp_path / "autograder")
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "graders.delivery.autograder", "warm", "--root", str(root)],
                          cwd=root / "source", env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert list((root / "source" / ".grading_cache" / "reference").glob("*.safetensors"))
    assert "warning" not in done.stderr  # the reference passes its own hidden tests


def test_run_autograder_without_its_venv_says_so(tmp_path):
    package = build_autograder(out=tmp_path / "autograder.zip", config=CONFIG, topics=[TOPIC],
                               include_cache=False)
    root = unpack(package, tmp_path / "autograder")
    done = run(root, str(root / "run_autograder"), venv=str(tmp_path / "nowhere"))
    assert done.returncode == 1
    assert done.stderr.strip() == (f"run_autograder: error: no Python at {tmp_path}/nowhere/bin/python: "
                                   "run setup.sh first, or set AUTOGRADER_VENV")


STOCK_PYTHON = Path("/usr/bin/python3")


def stock_python_problem() -> str | None:
    """Why /usr/bin/python3 cannot stand in for a stock image's Python (Debian 12, Ubuntu 24.04) here."""
    if not STOCK_PYTHON.is_file():
        return "there is no /usr/bin/python3"
    probe = subprocess.run([STOCK_PYTHON, "-c", "import ensurepip, pathlib, sys, sysconfig, venv; print("
                            "pathlib.Path(sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED').is_file(), "
                            "'%d.%d' % sys.version_info[:2])"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        return "/usr/bin/python3 has no venv (python3-venv)"
    managed, version = probe.stdout.split()
    if managed != "True":
        return "/usr/bin/python3 is not externally managed (PEP 668)"
    if version != f"{sys.version_info[0]}.{sys.version_info[1]}":
        return f"/usr/bin/python3 is {version}: it cannot borrow this Python's torch"
    return None


def lend_packages(venv: Path) -> None:
    """Make `venv` with the stock Python, reaching this environment's packages through a .pth file: setup.sh's
    pip finds torch already installed instead of downloading gigabytes, yet runs every step for real."""
    subprocess.run([STOCK_PYTHON, "-m", "venv", venv], check=True, capture_output=True, timeout=120)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    # A .pth's own lines are not scanned for .pth files: this environment's editable `graders` stays out.
    lent = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    (site / "lent.pth").write_text("\n".join(lent) + "\n")


@pytest.mark.slow
def test_setup_sh_installs_into_a_venv_on_a_pep668_python(tmp_path):
    """Issue #13: on an externally managed system Python, `pip install` there fails; setup.sh installs into a
    virtual environment instead, and run_autograder grades with it."""
    problem = stock_python_problem()
    if problem:
        pytest.skip(f"needs a PEP 668 /usr/bin/python3 with venv: {problem}")
    package = build_autograder(out=tmp_path / "autograder.zip", config=CONFIG, topics=[TOPIC],
                               include_cache=False)
    root = unpack(package, tmp_path / "autograder")
    submit_solution(tmp_path, root)
    (root / "results").mkdir()
    # Only pip's own settings (indexes, certificates) come from here; the Python comes from PATH.
    env = {k: v for k, v in os.environ.items() if k.startswith("PIP_") or k in ("HOME", "TMPDIR")}
    env.update(PATH="/usr/bin:/bin", AUTOGRADER_ROOT=str(root), TORCH_INDEX_URL="")
    lend_packages(root / "venv")
    # Marks this package's copy of the harness: the one pip must install (package data travels).
    (root / "source" / "graders" / "delivery" / "templates" / "gradescope" / "package-mark").write_text("issue 13\n")
    for _ in range(2):  # the second run shows setup.sh can run again on an image it already set up
        setup = subprocess.run(["bash", str(root / "source" / "setup.sh")], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=600)
        assert setup.returncode == 0, setup.stdout[-2000:] + setup.stderr[-4000:]
    assert list((root / "source" / ".grading_cache" / "reference").glob("*.safetensors"))  # the warm step ran
    # The workers import the harness with `python -I`, as here: the venv's copy, installed from the package.
    where = subprocess.run([root / "venv" / "bin" / "python", "-I", "-c", "import graders; print(graders.__file__)"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60).stdout.strip()
    assert Path(where).is_relative_to(root / "venv"), where
    assert (Path(where).parent / "delivery" / "templates" / "gradescope" / "package-mark").is_file()
    graded = subprocess.run(["bash", str(root / "run_autograder")], env=env, capture_output=True, text=True,
                            timeout=300)
    assert graded.returncode == 0, graded.stderr[-4000:]
    assert_full_marks(json.loads((root / "results" / "results.json").read_text()))


def test_a_topic_without_its_solution_cannot_be_packaged(tmp_path):
    course = copy_course(tmp_path / "course")
    (course / "solutions" / MODULE).unlink()
    with pytest.raises(DeliveryError, match="reference solution"):
        build_autograder(out=tmp_path / "a.zip", config=load_config(course / "grading.yaml"), topics=[TOPIC])


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
