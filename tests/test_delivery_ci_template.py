"""The GitHub Actions workflow for student repositories: its steps parse, and its grading script,
run here as the workflow runs it, writes the reports, the job summary and the right exit code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from graders.config import load_config
from graders.delivery.release import release

ROOT = Path(__file__).resolve().parents[1]
TOPIC = "linear_regression"
MODULE = "01_linear_regression/linear_regression.py"
HIDDEN = ("deterministic", "training_time")  # hidden checks of topic 1: never in what students see


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return release(out=tmp_path_factory.mktemp("release") / "repo", config=load_config(ROOT / "grading.yaml"),
                   topics=[TOPIC]).folder


@pytest.fixture
def repo(released: Path, tmp_path: Path) -> Path:
    """A student's repository made from the release."""
    shutil.copytree(released, tmp_path / "repo")
    return tmp_path / "repo"


def workflow(repo: Path) -> dict:
    data = yaml.safe_load((repo / ".github" / "workflows" / "autograde.yml").read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


def grade_step(repo: Path) -> dict:
    return next(s for s in workflow(repo)["jobs"]["grade"]["steps"] if s.get("name") == "Grade")


def run_script(repo: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The Grade step's command, with the step's environment as GitHub would set it."""
    summary = tmp_path / "step_summary.md"
    bin_dir = str(Path(sys.executable).parent)
    base = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_REPOSITORY": "course/alice", "PYTHON": sys.executable, "MIN_SCORE": "0"}
    command = grade_step(repo)["run"]
    return subprocess.run(["bash", "-c", command], cwd=repo, env={**base, **env}, capture_output=True, text=True,
                          timeout=180)


def test_workflow_installs_grades_and_uploads_the_reports(repo):
    data = workflow(repo)
    assert {"push", "pull_request"} <= set(data["on"])
    job = data["jobs"]["grade"]
    assert "MIN_SCORE" in job["env"] and job["env"]["TORCH_VERSION"] == "2.14.1"
    steps = job["steps"]
    install = next(s for s in steps if s.get("name") == "Install")["run"]
    assert 'torch==${TORCH_VERSION}' in install and "pip install -e ." in install
    assert grade_step(repo)["run"] == "bash .github/autograde.sh"
    hidden = next(s for s in steps if s.get("name") == "Fetch the hidden tests")
    assert hidden["with"]["ssh-key"] == "${{ secrets.INSTRUCTOR_DEPLOY_KEY }}"
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["with"]["path"] == "reports/" and upload["if"] == "${{ always() }}"
    assert "@" not in (repo / ".github" / "workflows" / "autograde.yml").read_text().replace("@v", "")
    assert os.access(repo / ".github" / "autograde.sh", os.X_OK)


def test_a_score_below_min_score_fails_the_job_with_a_summary(repo, tmp_path):
    done = run_script(repo, tmp_path, MIN_SCORE="50%")
    assert done.returncode == 1, done.stderr
    summary = (tmp_path / "step_summary.md").read_text()
    assert "| 1 Linear regression | 0/4 | 0 / 5 |" in summary and "is below MIN_SCORE 50%" in summary
    assert "<details><summary>Feedback</summary>" in summary
    reports = sorted(p.name for p in (repo / "reports").iterdir())
    assert reports == ["feedback.html", "feedback.md", "junit.xml"]  # never the canonical result.json


def test_a_solved_repository_passes(repo, tmp_path):
    shutil.copy(ROOT / "solutions" / MODULE, repo / "assignments" / MODULE)
    done = run_script(repo, tmp_path, MIN_SCORE="100%")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "5 / 5" in (tmp_path / "step_summary.md").read_text()
    # The log points at reports that are still there when the job ends (issue #13), never the private folder.
    named = [line.removeprefix("reports: ") for line in done.stdout.splitlines() if line.startswith("reports: ")]
    assert named == ["reports"] and (repo / "reports" / "feedback.md").is_file(), done.stdout


def test_hidden_tests_from_the_instructor_stay_out_of_what_students_see(repo, tmp_path):
    shutil.copy(ROOT / "solutions" / MODULE, repo / "assignments" / MODULE)
    done = run_script(repo, tmp_path, INSTRUCTOR_DIR=str(ROOT), MIN_SCORE="0")
    assert done.returncode == 0, done.stdout + done.stderr
    seen = [done.stdout, done.stderr, (tmp_path / "step_summary.md").read_text()]
    seen += [p.read_text() for p in (repo / "reports").iterdir()]
    assert "hidden check" in seen[2]  # they ran, and are counted without their names
    for text in seen:
        assert not any(name in text for name in HIDDEN)
