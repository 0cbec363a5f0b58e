"""The local grading server, driven as a student drives it: `grade check` and `grade server` in subprocesses (#14)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

import graders
from graders.errors import ServerError
from graders.server.client import SOCKET, runtime_dir

ROOT = Path(__file__).resolve().parents[1]
GRADE = [sys.executable, "-m", "graders.cli"]
NOBODY = 65534


@pytest.fixture
def folder(monkeypatch):
    """A runtime folder of the test's own (short: a socket path holds at most 107 bytes); no server outlives it."""
    path = Path(tempfile.mkdtemp(prefix="gs-"))
    monkeypatch.setenv("GRADE_SERVER_DIR", str(path))
    monkeypatch.delenv("GRADE_NO_SERVER", raising=False)
    monkeypatch.delenv("GRADE_SERVER_IDLE", raising=False)
    yield path
    os.chmod(path, 0o700)
    grade("server", "stop")
    for pid in servers(path):  # one a failed test left behind
        os.kill(pid, 9)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def course(tmp_path):
    """A copy of the course with topic 1 only, its tests free to edit."""
    return copy_course(tmp_path, ["linear_regression"])


@pytest.fixture
def two_topics(tmp_path):
    """A copy of the course with topics 1 and 2: a `grade submission` the server grades in two halves."""
    return copy_course(tmp_path, ["linear_regression", "logistic_regression"])


def copy_course(folder: Path, topics: list[str]) -> Path:
    config = yaml.safe_load((ROOT / "grading.yaml").read_text(encoding="utf-8"))
    config["topics"] = {name: config["topics"][name] for name in topics}
    for name in ("assignments", "solutions", "hidden_tests"):
        for spec in config["topics"].values():
            shutil.copytree(ROOT / name / spec["folder"], folder / name / spec["folder"],
                            ignore=shutil.ignore_patterns("__pycache__"))
    for shared in (ROOT / "hidden_tests").glob("*.py"):  # the modules the topics' hidden tests import
        shutil.copy(shared, folder / "hidden_tests")
    (folder / "grading.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return folder


def grade(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GRADE, *args], capture_output=True, text=True, timeout=600, cwd=cwd,
                          env={**os.environ, **env})


def servers(path: Path) -> list[int]:
    """The live server processes of a runtime folder, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if b"graders.server.process" in argv and os.fsencode(path) in argv and state not in "ZX":
            found.append(int(entry.name))
    return found


def served_pid() -> int:
    done = grade("server", "status")
    assert done.returncode == 0, done.stdout + done.stderr
    return int(re.search(r"pid (\d+)", done.stdout).group(1))


def table(output: str) -> str:
    """The report without its timings, whose widths also change the table's rules."""
    text = re.sub(r"\d+(\.\d+)? (s|ms)\b", "T", output)
    return re.sub(r"[ ━─]+", " ", text).strip()


def test_a_served_check_reports_as_one_graded_in_process(folder):
    first = grade("check", "linear_regression")
    pid = served_pid()
    second = grade("check", "linear_regression")
    local = grade("check", "linear_regression", "--no-server")
    assert first.returncode == second.returncode == local.returncode == 1  # the stubs: not implemented
    assert "not implemented" in second.stdout
    assert table(first.stdout) == table(second.stdout) == table(local.stdout)
    assert "grade: note" not in first.stderr + second.stderr
    assert served_pid() == pid and servers(folder) == [pid]
    assert "2 checks served" in grade("server", "status").stdout


def test_stop_ends_the_server_and_status_then_says_none_runs(folder):
    assert grade("server", "start").returncode == 0
    pid = served_pid()
    done = grade("server", "stop")
    assert done.returncode == 0 and f"stopped (pid {pid})" in done.stdout
    assert servers(folder) == [] and not (folder / SOCKET).exists()
    assert grade("server", "status").returncode == 1
    assert "no grading server was running" in grade("server", "stop").stdout


def test_an_idle_server_stops_by_itself(folder):
    assert grade("server", "start", GRADE_SERVER_IDLE="1").returncode == 0
    deadline = time.monotonic() + 120  # a bound, not a timing: it has 1 s idle, after its start-up
    while servers(folder) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert servers(folder) == []
    assert "idle for 1 s: stopping" in (folder / "server.log").read_text()


def test_a_changed_harness_restarts_the_server(folder):
    assert grade("server", "start").returncode == 0
    old = served_pid()
    module = Path(graders.__file__).parent / "server" / "process.py"
    before = module.stat()
    os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))  # as an edit would
    try:
        done = grade("check", "linear_regression")
        new = served_pid()
    finally:
        os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert done.returncode == 1 and "not implemented" in done.stdout
    assert new != old and servers(folder) == [new]


def test_an_edited_course_test_is_read_again(folder, course):
    public = course / "assignments" / "01_linear_regression" / "test_public.py"
    assert grade("check", "linear_regression", cwd=course).returncode == 1
    pid = served_pid()
    original = public.read_text(encoding="utf-8")
    public.write_text(original + "\nraise RuntimeError('edited by the instructor')\n", encoding="utf-8")
    edited = grade("check", "linear_regression", cwd=course)
    assert edited.returncode == 3 and "edited by the instructor" in edited.stderr, edited.stderr
    public.write_text(original, encoding="utf-8")
    assert grade("check", "linear_regression", cwd=course).returncode == 1
    assert served_pid() == pid


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another uid needs root")
def test_another_user_is_refused(folder):
    assert grade("server", "start").returncode == 0
    pid = served_pid()
    assert connect_as_nobody(folder / SOCKET) == "no access"  # the 0700 folder keeps them out
    os.chmod(folder, 0o711)  # opened up, the server's own check of the peer's uid still refuses them
    os.chmod(folder / SOCKET, 0o666)
    try:
        assert connect_as_nobody(folder / SOCKET) == "refused"
    finally:
        os.chmod(folder, 0o700)
    assert served_pid() == pid and "refused a connection from uid 65534" in (folder / "server.log").read_text()


def connect_as_nobody(path: Path) -> str:
    """In a child that became uid 65534: connect, ask the server to stop, and tell what came back."""
    child = os.fork()
    if child == 0:
        code = 3
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                try:
                    sock.connect(str(path))
                except PermissionError:
                    os._exit(2)
                try:
                    sock.sendall(b'{"op": "stop"}\n')
                    answer = sock.recv(1 << 16)
                except ConnectionError:  # closed before our request went out, or with it unread
                    answer = b""
                code = 0 if answer == b"" else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    return {0: "refused", 1: "answered", 2: "no access"}.get(os.waitstatus_to_exitcode(status), "error")


def test_a_folder_open_to_others_is_refused_and_the_check_runs_in_process(folder):
    os.chmod(folder, 0o755)
    with pytest.raises(ServerError, match="not a private folder"):
        runtime_dir()
    done = grade("check", "linear_regression")
    assert done.returncode == 1 and "not implemented" in done.stdout
    assert "grade: note:" in done.stderr and "grading in this process instead" in done.stderr
    assert servers(folder) == []


def verdicts(report: Path) -> list[tuple[str, str, bool, float, str]]:
    """Each check's verdict in a result.json: what a served grading must share with an in-process one."""
    data = json.loads((report / "result.json").read_text(encoding="utf-8"))
    return [(c["topic"], c["name"], c["passed"], c["points"], c["cause"]) for t in data["topics"] for c in t["checks"]]


@pytest.mark.parametrize("work", ["solutions", "assignments"])
def test_a_served_submission_grades_as_one_graded_in_process(folder, two_topics, tmp_path, work):
    """Hidden tests included; the solutions pass everything, the stubs fail with not implemented. With two
    cores the server grades one topic and its twin grader the other, at once."""
    args = ("submission", work, "--hidden")
    first = grade(*args, "--out", str(tmp_path / "first"), cwd=two_topics)
    pid = served_pid()
    second = grade(*args, "--out", str(tmp_path / "second"), cwd=two_topics)
    local = grade(*args, "--out", str(tmp_path / "local"), "--no-server", cwd=two_topics)
    assert first.returncode == second.returncode == local.returncode == (0 if work == "solutions" else 1)
    assert "grade: note" not in first.stderr + second.stderr
    assert table(first.stdout.split("reports:")[0]) == table(local.stdout.split("reports:")[0])
    assert verdicts(tmp_path / "first") == verdicts(tmp_path / "second") == verdicts(tmp_path / "local")
    source = json.loads((tmp_path / "second" / "result.json").read_text(encoding="utf-8"))["source"]
    assert source == work  # as typed, as in-process: the server grades it from the client's folder
    assert served_pid() == pid and "2 checks served" in grade("server", "status").stdout
    if len(os.sched_getaffinity(0)) >= 2:
        assert "halves: [" in (folder / "server.log").read_text()
    assert grade("server", "stop").returncode == 0 and servers(folder) == []  # the twin went with it


def test_no_server_and_its_variable_grade_a_submission_in_process(folder, two_topics, tmp_path):
    for flags, env in ((["--no-server"], {}), ([], {"GRADE_NO_SERVER": "1"})):
        done = grade("submission", "solutions", *flags, "--out", str(tmp_path / "out"), cwd=two_topics, **env)
        assert done.returncode == 0, done.stdout + done.stderr
    assert servers(folder) == [] and not (folder / SOCKET).exists()


@pytest.mark.parametrize("request_", [
    {"op": "submission", "path": "solutions", "hidden": True, "topic": None, "name": None, "config": "grading.yaml",
     "cwd": "/", "deny": []},  # only what a student may choose on the command line: not the worker's limits
    {"op": "submission", "path": "solutions", "hidden": "yes", "topic": None, "name": None,
     "config": "grading.yaml", "cwd": "/"},
    {"op": "check", "topic": "linear_regression", "submission": 3, "config": "grading.yaml", "cwd": "/"},
])
def test_a_malformed_request_is_refused_before_grading(request_):
    from graders.server.process import grade as serve

    reply = serve(request_)
    assert reply["error"]["type"] == "ServerError" and "malformed request" in reply["error"]["message"]
