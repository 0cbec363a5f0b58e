"""`grade batch` end to end: real submissions of topic 1 graded in parallel, killed, resumed, and sent to Dask."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from graders.batch.pool import GradingProcess
from graders.batch.run import grade_batch
from graders.cli import main
from graders.config import load_config
from graders.errors import BatchError

ROOT = Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "01_linear_regression" / "linear_regression.py"
MODULE = "01_linear_regression/linear_regression.py"
TRAIN_START = "    criterion = nn.MSELoss()\n"
# Short limits keep the hanging and crashing submissions cheap; 5 s is still far above a correct call.
LIMITS = {"call_s": 5, "submission_s": 10}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A copy of the course with topic 1 only, one torch thread per worker (2 workers on 2 cores), short limits."""
    root = tmp_path_factory.mktemp("course")
    for folder in ("assignments", "solutions", "hidden_tests"):
        shutil.copytree(ROOT / folder / "01_linear_regression", root / folder / "01_linear_regression",
                        ignore=shutil.ignore_patterns("__pycache__"))
    for shared in (ROOT / "hidden_tests").glob("*.py"):  # modules the hidden tests of topics 1-3 share
        shutil.copy(shared, root / "hidden_tests")
    config = yaml.safe_load((ROOT / "grading.yaml").read_text(encoding="utf-8"))
    config.update(threads=1, limits={**config.get("limits", {}), **LIMITS},
                  topics={"linear_regression": config["topics"]["linear_regression"]})
    (root / "grading.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return root / "grading.yaml"


def student(folder: Path, source: str) -> Path:
    (folder / MODULE).parent.mkdir(parents=True)
    (folder / MODULE).write_text(source, encoding="utf-8")
    return folder


def variants() -> dict[str, str]:
    good = SOLUTION.read_text(encoding="utf-8")
    assert "        optimizer.zero_grad()\n" in good and TRAIN_START in good
    return {
        "correct": good,
        "buggy": good.replace("        optimizer.zero_grad()\n", ""),
        "forever": good.replace(TRAIN_START, "    while True:\n        pass\n" + TRAIN_START),
        "exit3": "import os\n" + good.replace(TRAIN_START, "    os._exit(3)\n" + TRAIN_START),
    }


def make_submissions(folder: Path, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sources = variants()
    for name in names:
        if name == "broken.zip":
            (folder / name).write_bytes(b"PK\x03\x04 not a zip")
        elif name == "alice":
            student(folder / "alice", sources["correct"])
            with zipfile.ZipFile(folder / "alice.zip", "w") as zf:
                zf.writestr(MODULE, sources["correct"])
        else:
            student(folder / name, sources[name])
    return folder


@pytest.fixture(scope="module")
def full(course, tmp_path_factory):
    """One uninterrupted batch of every kind of entry: the reference the other tests compare with."""
    subs = make_submissions(tmp_path_factory.mktemp("subs"), ["correct", "buggy", "forever", "exit3",
                                                              "broken.zip", "alice"])
    out = tmp_path_factory.mktemp("full")
    return grade_batch(subs, config=load_config(course), out=out, workers=2, quiet=True)


def gradebook(out: Path, names: set[str] | None = None) -> dict[str, dict[str, str]]:
    with open(out / "gradebook.csv", encoding="utf-8", newline="") as handle:
        return {row["submission"]: row for row in csv.DictReader(handle) if names is None or
                row["submission"] in names}


def checks(result) -> list[tuple[str, float, bool]]:
    return [(c.name, c.points, c.passed) for c in result.checks()]


def test_every_entry_gets_one_row_with_its_status_and_reason(full):
    rows = gradebook(full.out)
    assert set(rows) == {"correct", "buggy", "forever", "exit3", "broken", "alice", "alice.zip"}
    topic1 = yaml.safe_load((ROOT / "grading.yaml").read_text(encoding="utf-8"))["topics"]["linear_regression"]
    total = sum(c["points"] for c in topic1["checks"].values())
    assert (rows["correct"]["total"], rows["correct"]["max"], rows["correct"]["status"]) == (f"{total}", f"{total}",
                                                                                           "graded")
    by_name = {r.submission: r for r in full.results}
    assert ("zero_grad", 0, False) in checks(by_name["buggy"])
    assert 0 < by_name["buggy"].points < total
    messages = {name: " ".join(c.message for c in by_name[name].checks()) for name in ("forever", "exit3")}
    assert "worker: timed out" in messages["forever"]
    assert "exit code 3" in messages["exit3"]
    assert rows["broken"]["status"] == "failed to load" and "not a valid zip file" in rows["broken"]["reason"]
    for name in ("alice", "alice.zip"):
        assert rows[name]["status"] == "error" and "duplicate entries" in rows[name]["reason"]
    assert (full.graded, full.reused, full.failed, full.retry) == (5, 0, 5, [])
    assert full.reference_failures == []
    assert (full.out / "summary.html").is_file()
    for name in ("correct", "buggy", "forever", "exit3", "broken"):
        assert {"result.json", "batch.json", "feedback.html"} <= {p.name for p in (full.out / name).iterdir()}


def test_an_existing_batch_needs_resume_or_force(full, course):
    submissions = Path(full.results[0].source).parent
    with pytest.raises(BatchError, match="--resume .* or --force"):
        grade_batch(submissions, config=load_config(course), out=full.out, quiet=True)
    again = grade_batch(submissions, config=load_config(course), out=full.out, resume=True, quiet=True)
    assert (again.graded, again.reused) == (0, 5)
    assert gradebook(again.out) == gradebook(full.out)


def test_resume_regrades_a_changed_submission(full, course):
    submissions = Path(full.results[0].source).parent
    (submissions / "broken.zip").write_bytes(b"PK\x03\x04 resubmitted, still not a zip")
    again = grade_batch(submissions, config=load_config(course), out=full.out, resume=True, quiet=True)
    assert (again.graded, again.reused) == (1, 4)
    assert gradebook(again.out)["broken"]["status"] == "failed to load"


def test_audience_student_writes_each_students_copy_beside_the_instructors(full, course):
    """Issue #13: the copy to send each student, with the hidden checks left out, from the same results."""
    submissions = Path(full.results[0].source).parent
    again = grade_batch(submissions, config=load_config(course), out=full.out, resume=True, quiet=True,
                        audience="student")
    for name in ("correct", "forever", "broken"):
        copy = again.out / name / "student"
        assert {"feedback.html", "feedback.md", "results.json", "junit.xml"} <= {p.name for p in copy.iterdir()}
        assert not (copy / "result.json").exists()  # the full record stays the instructor's
        assert copy / "feedback.html" in again.reports
    instructor, student = ((again.out / "correct" / folder / "feedback.md").read_text(encoding="utf-8")
                           for folder in (".", "student"))
    hidden = "training_time"  # topic 1's hidden checks: deterministic, training_time
    assert hidden in instructor and hidden not in student and "2 hidden checks worth 2 points" in student
    with pytest.raises(BatchError, match="--audience"):
        grade_batch(submissions, config=load_config(course), out=full.out, resume=True, quiet=True, audience="everyone")


def test_killed_batch_resumes_to_the_same_gradebook(full, course, tmp_path):
    names = ["correct", "buggy", "broken.zip"]
    subs, out = make_submissions(tmp_path / "subs", names), tmp_path / "out"
    grade = [str(Path(sys.executable).with_name("grade")), "batch", str(subs), "--config", str(course),
             "--out", str(out), "--workers", "2", "--quiet"]
    batch = subprocess.Popen(grade, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob("*/result.json")) and time.monotonic() < deadline and batch.poll() is None:
        time.sleep(0.2)
    grading = descendants(batch.pid)  # grading processes, their fork servers and workers
    batch.send_signal(signal.SIGKILL)
    batch.wait()
    assert grading, "the batch had started its grading processes"
    wait_gone(grading)  # they notice, stop their workers and leave: nothing is left running
    done = len(list(out.glob("*/batch.json")))
    resumed = subprocess.run([*grade, "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{3 - done} graded now, {done} kept from before" in resumed.stdout
    assert gradebook(out) == gradebook(full.out, {"correct", "buggy", "broken"})


def descendants(pid: int) -> list[int]:
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found += children
        frontier += children
    return found


def wait_gone(pids: list[int], timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in pids if Path(f"/proc/{p}").exists() and "Z" not in proc_state(p)]
        if not alive:
            return
        time.sleep(0.5)
    raise AssertionError(f"grading processes {alive} outlived their batch")


def proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_results(full, course, tmp_path):
    subs = make_submissions(tmp_path / "subs", ["correct", "buggy"])
    result = grade_batch(subs, config=load_config(course), out=tmp_path / "out", dask_local=2, quiet=True)
    local = {r.submission: r for r in full.results}
    assert [r.submission for r in result.results] == ["buggy", "correct"]
    for row in result.results:
        assert row.status == local[row.submission].status
        assert checks(row) == checks(local[row.submission])


def test_a_grading_process_that_dies_costs_its_job_only(course, tmp_path):
    process = GradingProcess(startup_s=120)
    job = {"kind": "grade", "id": 7, "name": "x", "source": str(make_submissions(tmp_path, ["forever"]) / "forever"),
           "topic": None, "config": str(course), "hidden": False, "out": str(tmp_path / "out"), "device": None}
    try:
        process.grade({**job, "source": str(tmp_path / "missing")}, timeout=60)  # the process is up and ready
        killer = threading.Timer(2.0, os.kill, (process.pid, signal.SIGKILL))  # mid-job: `forever` takes 5 s
        killer.start()
        reply = process.grade(job, timeout=60)
        killer.join()
    finally:
        process.close()
    assert reply["ok"] is False and reply["infra"] is True
    assert "the grading process ended unexpectedly (signal SIGKILL)" in reply["reason"]


def test_options_and_help():
    runner = CliRunner()
    result = runner.invoke(main, ["batch", "--help"])
    assert result.exit_code == 0 and "Example: grade batch" in result.output
    assert "--audience [instructor|student]" in result.output
    for args, message in ((["--resume", "--force"], "choose one"), (["--workers", "0"], "at least 1"),
                          (["--scheduler", "tcp://127.0.0.1:1", "--dask-local", "2"], "choose one")):
        result = runner.invoke(main, ["batch", ".", "--config", str(ROOT / "grading.yaml"), *args])
        assert result.exit_code == BatchError.exit_code and message in result.output
