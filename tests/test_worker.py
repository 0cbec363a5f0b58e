"""The isolated worker: student code that hangs, exits, hogs memory, phones home or snoops is contained."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

from graders.config import load_config
from graders.data import checkpoints
from graders.errors import TaskFailed, WorkerCrashed, WorkerTimeout
from graders.grading.calls import deny_paths
from graders.worker.client import Worker, kill_uid

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "grading.yaml")
SHORT = dataclasses.replace(CONFIG, limits=dataclasses.replace(CONFIG.limits, call_s=6, memory_mb=2000))
SECRET_FILE = ROOT / "hidden_tests" / "01_linear_regression" / "test_hidden.py"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("worker")


@pytest.fixture(scope="module")
def worker(workdir):
    with Worker(workdir=workdir, config=SHORT, deny_paths=deny_paths(SHORT)) as w:
        yield w


def module(workdir: Path, name: str, body: str) -> Path:
    path = workdir / "submission" / f"{name}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("import torch\nfrom torch import nn\n" + textwrap.dedent(body), encoding="utf-8")
    return path


def train_with(worker: Worker, path: Path) -> dict:
    x = torch.linspace(-1, 1, 10).reshape(10, 1)
    args = dict(model="LinearRegression", init={}, x=x, y=2 * x, eval_x=x, epochs=3, lr=0.1, seed=0)
    return worker.call("regression.fit", module=path, args=args)


GOOD = """
class LinearRegression(nn.Module):
    def __init__(self, in_features=1, out_features=1):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
    def forward(self, x):
        return self.linear(x)
def predict(model, x):
    with torch.no_grad():
        return model(x)
"""


def bad_train(body: str) -> str:
    return GOOD + "def train(model, x, y, epochs, lr):\n" + textwrap.indent(textwrap.dedent(body), "    ")


def test_good_code_answers_with_plain_data(worker, workdir):
    path = module(workdir, "good", bad_train("return [1.0, 0.5, 0.25]"))
    run = train_with(worker, path)
    assert run["losses"] == [1.0, 0.5, 0.25] and type(run["predictions"]) is torch.Tensor
    assert worker.environment["threads"] == CONFIG.threads
    active = {p["name"] for p in worker.protections if p["active"]}
    assert "memory" in active


def test_infinite_loop_times_out_and_the_worker_restarts(worker, workdir):
    start = time.monotonic()
    with pytest.raises(WorkerTimeout, match="timed out"):
        train_with(worker, module(workdir, "loop", bad_train("while True:\n    pass")))
    assert time.monotonic() - start < SHORT.limits.call_s + 3
    assert train_with(worker, module(workdir, "after_loop", bad_train("return [0.0] * epochs")))["losses"]


def test_sys_exit_is_a_task_failure_not_a_dead_worker(worker, workdir):
    with pytest.raises(TaskFailed, match=r"sys.exit\(0\)"):
        train_with(worker, module(workdir, "exits", bad_train("import sys\nsys.exit(0)")))


def test_os_exit_kills_only_the_worker(worker, workdir):
    with pytest.raises(WorkerCrashed, match="exit code 3"):
        train_with(worker, module(workdir, "hard_exit", bad_train("import os\nos._exit(3)")))
    assert train_with(worker, module(workdir, "after_exit", bad_train("return [0.0] * epochs")))


def test_unbounded_allocation_hits_the_memory_limit(worker, workdir):
    body = "chunks = []\nwhile True:\n    chunks.append(bytearray(50 << 20))"
    with pytest.raises((TaskFailed, WorkerCrashed), match="MemoryError|memory"):
        train_with(worker, module(workdir, "hog", bad_train(body)))


def test_network_is_unreachable(worker, workdir):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted: list[object] = []
    server.settimeout(3)
    thread = threading.Thread(target=lambda: _accept(server, accepted), daemon=True)
    thread.start()
    body = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2).sendall(b'x')\nreturn [0.0]"
    with pytest.raises(TaskFailed):
        train_with(worker, module(workdir, "phone_home", bad_train(body)))
    thread.join()
    server.close()
    assert accepted == []


def _accept(server: socket.socket, accepted: list[object]) -> None:
    try:
        accepted.append(server.accept())
    except OSError:
        pass


@pytest.mark.parametrize("target", [SECRET_FILE, ROOT / "solutions" / "01_linear_regression" / "linear_regression.py",
                                    ROOT / "grading.yaml"])
def test_hidden_material_cannot_be_read(worker, workdir, target):
    body = f"raise RuntimeError('LEAK:' + open({str(target)!r}).read()[:40])"
    with pytest.raises(TaskFailed) as info:
        train_with(worker, module(workdir, f"snoop_{target.stem}", bad_train(body)))
    assert "LEAK:" not in str(info.value)
    assert target.read_text()[:40] not in str(info.value)


def test_cached_checkpoints_are_all_the_worker_reads_of_the_weights_folder(tmp_path):
    # The client hands the worker the checkpoint files (read_paths); its new root holds nothing else of the folder.
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / checkpoints.CHECKPOINTS["alexnet"]).write_text("weights")
    (hub / "notes.txt").write_text("private")
    (tmp_path / "work").mkdir()
    config = dataclasses.replace(SHORT, weights_dir=str(tmp_path / "torch"))
    paths = [str(hub / checkpoints.CHECKPOINTS["alexnet"]), str(hub / "notes.txt")]
    body = f"raise RuntimeError('SEEN:' + str([os.path.exists(p) and open(p).read() for p in {paths!r}]))"
    with Worker(workdir=tmp_path / "work", config=config, deny_paths=deny_paths(config)) as w:
        with pytest.raises(TaskFailed) as info:
            train_with(w, module(tmp_path / "work", "weights", "import os\n" + bad_train(body)))
        rooted = next(p for p in w.protections if p["name"] == "filesystem")["detail"].startswith("new root")
    assert "SEEN:['weights', " + ("False" if rooted else "'private'") in str(info.value)



def test_saved_standins_are_read_but_never_written_by_the_worker(tmp_path, monkeypatch):
    # Issue #14: workers load the grader's saved stand-ins without a hash, so none may write them, even as its own uid.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = checkpoints.standin_dir()
    assert folder is not None
    (folder / "alexnet-seed0-tag.pt").write_text("weights")
    (tmp_path / "work").mkdir()
    config = dataclasses.replace(SHORT, weights_dir=str(tmp_path / "torch"))
    saved = str(folder / "alexnet-seed0-tag.pt")
    body = f"""
        import os
        seen = open({saved!r}).read()
        for attempt in (lambda: open({saved!r}, "w"), lambda: open({str(folder / "new.pt")!r}, "w"),
                        lambda: os.unlink({saved!r})):
            try:
                attempt()
                seen += ":WRITTEN"
            except OSError:
                seen += ":refused"
        raise RuntimeError("SEEN:" + seen)
    """
    with Worker(workdir=tmp_path / "work", config=config, deny_paths=deny_paths(config)) as w:
        with pytest.raises(TaskFailed, match="SEEN:weights:refused:refused:refused"):
            train_with(w, module(tmp_path / "work", "standins", bad_train(body)))
    assert (folder / "alexnet-seed0-tag.pt").read_text() == "weights" and not (folder / "new.pt").exists()

def test_wrong_return_type_is_named(worker, workdir):
    with pytest.raises(TaskFailed, match="train\\(\\) must return a list of floats, got dict"):
        train_with(worker, module(workdir, "wrong_type", bad_train("return {'loss': 1}")))


def test_syntax_error_names_the_line(worker, workdir):
    path = module(workdir, "broken", GOOD + "\ndef train(model, x, y, epochs, lr)\n    return []\n")
    with pytest.raises(TaskFailed, match=r"SyntaxError at broken.py line 1\d"):
        train_with(worker, path)


def test_missing_function_is_named(worker, workdir):
    with pytest.raises(TaskFailed, match="defines no train"):
        train_with(worker, module(workdir, "no_train", GOOD))


def _processes_of(uid: int) -> list[str]:
    from graders.worker.client import live_pids

    return [str(pid) for pid in live_pids(uid)]


@pytest.mark.skipif(os.geteuid() != 0, reason="running processes as a worker uid needs root")
def test_processes_left_under_the_worker_uid_are_killed(tmp_path):
    # The audit hook already refuses fork(); this covers what slips past it (e.g. a setsid() daemon).
    uid = 1_234_567
    daemon = subprocess.Popen(["sleep", "60"], user=uid, group=uid, start_new_session=True)
    try:
        assert str(daemon.pid) in _processes_of(uid)
        assert kill_uid(uid) == 1
        daemon.wait(timeout=5)
        assert _processes_of(uid) == []
    finally:
        daemon.kill()


@pytest.mark.skipif(os.geteuid() != 0, reason="running processes as a worker uid needs root")
def test_a_process_forking_in_a_loop_is_killed_with_every_child():
    uid = 1_234_568
    loop = subprocess.Popen(["sh", "-c", "while :; do sleep 60 & done"], user=uid, group=uid, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while len(_processes_of(uid)) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(_processes_of(uid)) >= 20, "the loop never got going"
        kill_uid(uid)  # a single pass over /proc missed the children forked while it read the list
        assert _processes_of(uid) == []
    finally:
        loop.kill()
        loop.wait()


def test_workers_die_with_their_grader(tmp_path):
    """A grader killed with SIGKILL leaves no zygote and no worker behind."""
    sleeper = module(tmp_path, "sleeper", bad_train("import time\ntime.sleep(60)"))
    script = textwrap.dedent(f"""
        import dataclasses, os, sys, time, torch
        from pathlib import Path
        from graders.config import load_config
        from graders.worker.client import Worker
        config = load_config({str(ROOT / "grading.yaml")!r})
        worker = Worker(workdir=Path({str(tmp_path)!r}), config=config, deny_paths=[])
        path = Path({str(sleeper)!r})
        x = torch.ones(2, 1)
        print(worker.uid, flush=True)
        worker.call("regression.fit", module=path, args=dict(model="LinearRegression", init={{}}, x=x, y=x,
                    eval_x=x, epochs=1, lr=0.1, seed=0))
    """)
    grader = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    uid = int(grader.stdout.readline())
    deadline = time.monotonic() + 30
    while not _processes_of(uid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_of(uid), "the worker never started"
    time.sleep(1)  # let it reach the sleeping train()
    grader.kill()
    grader.wait()
    grader.stdout.close()
    deadline = time.monotonic() + 10
    while _processes_of(uid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_of(uid) == []


def test_warm_up_starts_the_fork_server_that_workers_then_share():
    from graders.worker.zygote import Zygote, warm_up, worker_env

    env = worker_env(threads=3)  # a thread count no other test uses: a zygote of its own
    key = json.dumps(env, sort_keys=True)
    warm_up(3)
    deadline = time.monotonic() + 60
    while key not in Zygote._instances and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        started = Zygote._instances[key]
        assert Zygote.shared(env) is started  # the first worker finds it running
        assert started._proc.poll() is None
    finally:
        Zygote._instances.pop(key).close()


# Keeps the request pipe open (so the grader's writes neither fail nor get read) and waits on a fresh pipe instead.
STOP_READING = """
import fcntl, os
_kept = []
for name in os.listdir("/proc/self/fd"):
    fd = int(name)
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        continue
    if target.startswith("pipe:") and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
        fresh = os.pipe()  # never written
        _kept.extend([os.dup(fd), *fresh])
        os.dup2(fresh[0], fd)
return [0.0] * epochs
"""


def test_a_worker_that_stops_reading_cannot_hold_the_grader(worker, workdir):
    train_with(worker, module(workdir, "stops_reading", bad_train(STOP_READING)))
    # The next request is bigger than a pipe's buffer: the write itself has to give up at the call's deadline.
    x = torch.zeros(300_000, 1)
    args = dict(model="LinearRegression", init={}, x=x, y=x, eval_x=x, epochs=1, lr=0.1, seed=0)
    start = time.monotonic()
    with pytest.raises(WorkerTimeout, match="timed out"):
        worker.call("regression.fit", module=workdir / "submission" / "stops_reading.py", args=args)
    assert time.monotonic() - start < SHORT.limits.call_s + 5
    assert train_with(worker, module(workdir, "after_stall", bad_train("return [0.0] * epochs")))["losses"]


AWAKE = """
import threading, time
_awake = [0.0]  # seconds this thread ran, counted in small steps: a long gap means it was stopped


def _tick():
    last = time.monotonic()
    while True:
        time.sleep(0.005)
        now = time.monotonic()
        if now - last < 0.25:
            _awake[0] += now - last
        last = now


threading.Thread(target=_tick, daemon=True).start()
"""


def test_no_student_code_runs_between_calls(worker, workdir):
    path = module(workdir, "awake", AWAKE + bad_train("return [_awake[0]] * epochs"))
    first = train_with(worker, path)["losses"][0]
    time.sleep(1.5)  # the grader at work elsewhere: the worker is frozen meanwhile
    second = train_with(worker, path)["losses"][0]
    assert second - first < 0.5, f"a thread ran {second - first:.2f} s while the grader waited 1.5 s"


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_the_submission_time_limit_is_a_watchdog(tmp_path):
    from graders.worker.zygote import Zygote, worker_env

    Zygote.shared(worker_env(SHORT.threads))  # warm: the budget below is for the calls, not for importing torch
    config = dataclasses.replace(SHORT, limits=dataclasses.replace(SHORT.limits, submission_s=5))
    with Worker(workdir=tmp_path, config=config, deny_paths=deny_paths(config)) as worker:
        path = module(tmp_path, "quick", bad_train("return [0.0] * epochs"))
        train_with(worker, path)
        pid = worker.pid
        assert pid is not None and _running(pid)
        time.sleep(max(0.0, worker.deadline - time.monotonic()) + 1.5)
        # No call was in flight: the timer killed the (frozen) worker on its own.
        assert not _running(pid)
        start = time.monotonic()
        with pytest.raises(WorkerTimeout, match=r"time limit \(5 s\) was used up"):
            train_with(worker, path)
        assert time.monotonic() - start < 0.5 and worker.timed_out


READ_LOG = """
import os
seen = []
for fd in (1, 2):  # stdout and stderr: the log
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        seen.append(os.read(fd, 1 << 20).decode(errors="replace"))
    except OSError as exc:
        seen.append(type(exc).__name__)
    try:
        with open(f"/proc/self/fd/{fd}", "rb") as log:
            seen.append(log.read().decode(errors="replace"))
    except OSError as exc:
        seen.append(type(exc).__name__)
raise RuntimeError("SEEN " + str(["secret-" in text for text in seen]))
"""


def test_a_restarted_worker_reads_nothing_of_its_predecessor(worker, workdir):
    secret = f"secret-{os.urandom(4).hex()}"
    train_with(worker, module(workdir, "printer", bad_train(f"print({secret!r}, flush=True)\nreturn [0.0] * epochs")))
    assert secret in worker.output_tail()  # the grader reads it, for feedback
    first_uid = worker.uid
    worker.stop()  # as TaskRunner does for a deliberate repeat
    with pytest.raises(TaskFailed, match="SEEN") as info:
        train_with(worker, module(workdir, "log_reader", bad_train(READ_LOG)))
    assert "True" not in str(info.value), str(info.value)
    assert secret not in worker.output_tail()  # a new log for the new start
    assert worker.uid != first_uid  # nothing keyed by uid (the kernel keyring...) carries over


def test_the_fork_server_waits_a_bounded_time_for_a_worker_to_end():
    from graders.worker.zygote import _reap

    child = subprocess.Popen(["sleep", "30"])  # a worker still running when the grader asks for its exit code
    pending: set[int] = set()
    start = time.monotonic()
    assert _reap(child.pid, pending, timeout=0.2) is None and pending == {child.pid}
    assert time.monotonic() - start < 1  # the zygote, and the grader waiting on its answer, move on
    child.kill()
    assert _reap(child.pid, pending, timeout=5) == -9 and not pending
    child.returncode = -9  # reaped above: Popen must not wait for it again
