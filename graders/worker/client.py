"""The grader's side of the worker: start it with limits, call tasks with deadlines, restart after a crash."""

from __future__ import annotations

import math
import os
import secrets
import select
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from graders.config import Config
from graders.data import checkpoints
from graders.errors import GradingError, TaskFailed, WorkerCrashed, WorkerError, WorkerTimeout
from graders.results import Cause
from graders.worker.cgroup import Cgroup, CgroupUnavailable
from graders.worker.processes import freeze, kill_uid, kill_worker, live_pids, thaw
from graders.worker.protocol import decode, read_frame, read_message, send_message
from graders.worker.zygote import Zygote, worker_env

__all__ = ["UID_BASE", "UID_SPAN", "Worker", "kill_uid", "live_pids"]

UID_BASE, UID_SPAN = 1_000_000, 1_000_000_000  # far above system and login users
_STOP_S = 2.0  # how long a worker asked to stop may take before it is killed


class Worker:
    """One isolated worker process for one submission, reused across its topics.

    Between calls the worker is frozen (SIGSTOP), so no student code runs while the grader works (finding 8).
    `watchdog` puts the whole submission under `limits.submission_s`: past it a timer kills the worker whatever
    the grader is doing, and every later call fails at once (finding 4). The reference solution's worker, which
    serves a whole run of submissions, goes without.
    """

    def __init__(self, *, workdir: Path, config: Config, deny_paths: list[Path], watchdog: bool = True):
        self.workdir = workdir
        self.config = config
        self.deny_paths = [str(p) for p in deny_paths]
        self.limits = config.limits
        self.deadline = time.monotonic() + self.limits.submission_s if watchdog else math.inf
        self.environment: dict[str, Any] = {}
        self.protections: list[dict[str, Any]] = []
        self.restarts = 0
        self.last_call_s = 0.0
        # A uid of its own: RLIMIT_NPROC and signals are per uid, so parallel workers must not share one,
        # and whatever the student left running (even after setsid) can be found and killed by uid.
        # Each start draws another (_start): nothing keyed by uid (the kernel keyring...) outlives a start.
        self.uid = _new_uid()
        self._uid_used = False
        self._pid: int | None = None
        self._cgroup: Cgroup | None = None
        self._requests = self._responses = -1  # our ends of the pipes: requests written, answers read
        self._log: BinaryIO | None = None  # our read-write handle on this start's log
        self._oom_killed = False  # the cgroup's verdict on the last worker, kept after the group is gone
        self._unstartable: GradingError | None = None  # the worker never started: don't retry per test
        self._expired = False  # the watchdog fired: no call may start any more
        self.timed_out = False  # a call was refused or cut short because the submission's time ran out
        self._lock = threading.Lock()  # the watchdog's kill against stop() handing the pid over for reaping
        self._timer: threading.Timer | None = None
        if watchdog:
            self._timer = threading.Timer(self.limits.submission_s, self._expire)
            self._timer.daemon = True
            self._timer.start()

    @property
    def pid(self) -> int | None:
        """The running worker's pid; a new one after every restart."""
        return self._pid

    def call(self, task: str, *, module: Path, args: dict[str, Any]) -> Any:
        """Run one task; student exceptions raise TaskFailed, worker failures WorkerError."""
        if self._out_of_time():
            raise self._used_up()
        if self._unstartable is not None:
            raise self._unstartable
        if self._pid is None:
            self._start()
        try:
            answer = self._exchange({"task": task, "module": str(module), "args": args})
        except (WorkerError, OSError) as exc:
            raise self._failed(exc) from None
        if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
            self.stop()
            raise WorkerError("the worker answered with an unexpected message")
        if answer["ok"]:
            return answer.get("value")
        raw = answer.get("error")
        error: dict[str, Any] = raw if isinstance(raw, dict) else {}
        message = _printable(str(error.get("message", "task failed")))[:500]
        raise TaskFailed(message, kind=_cause(error.get("kind")))

    def _exchange(self, request: dict[str, Any]) -> Any:
        """Thaw the worker, send the request, read the answer, freeze it again: its code runs only in between,
        and on our clock (`last_call_s`), which student code cannot stop as it can the worker's."""
        pid = self._pid
        assert pid is not None
        start = time.monotonic()
        deadline = min(start + self.limits.call_s, self.deadline)
        thaw(pid, self.uid, sweep=self._may_fork())
        send_message(self._requests, request, deadline=deadline)
        frame = read_frame(self._responses, deadline=deadline, max_bytes=self.limits.message_mb << 20)
        self.last_call_s = time.monotonic() - start
        freeze(pid, self.uid, sweep=self._may_fork())  # before decoding: a big answer must not buy its threads time
        return decode(frame, max_bytes=self.limits.message_mb << 20)

    def _may_fork(self) -> bool:
        """Whether the worker could have made processes outside its group: not under the seccomp filter."""
        return not any(p.get("name") == "seccomp" and p.get("active") for p in self.protections)

    def _start(self) -> None:
        if self._uid_used:
            self.uid = _new_uid()
        self._uid_used = True
        req_read, self._requests = os.pipe()
        self._responses, resp_write = os.pipe()
        log = self._new_log()
        limits = {name: getattr(self.limits, name) for name in self.limits.__dataclass_fields__}
        spec = {"workdir": str(self.workdir), "deny_paths": self.deny_paths, "limits": limits,
                "threads": self.config.threads, "device": self.config.device, "uid": self.uid,
                "cgroup": self._make_cgroup(),
                "read_paths": checkpoints.worker_reads(self.config.weights_dir, denied=self.deny_paths)}
        try:
            self._zygote = Zygote.shared(worker_env(self.config.threads))
            pid = self._zygote.spawn(spec, [req_read, resp_write, log])
        except WorkerError as exc:
            self._unstartable = exc
            self.stop()
            raise
        finally:
            for fd in (req_read, resp_write, log):
                os.close(fd)
        with self._lock:
            self._pid = pid
        try:
            hello = read_message(self._responses, deadline=min(time.monotonic() + self.limits.startup_s, self.deadline),
                                 max_bytes=1 << 20)
        except WorkerError as exc:
            self._unstartable = self._failed(exc, starting=True)
            raise self._unstartable from None
        if not isinstance(hello, dict) or not hello.get("ready"):
            self.stop()
            raise WorkerError("the worker did not start properly")
        self.environment, self.protections = hello["environment"], hello["protections"]

    def _new_log(self) -> int:
        """A new log file for this start: the worker gets a write-only descriptor for its stdout and stderr, we keep
        one to read the tail. Nothing an earlier start printed can be read by the next (finding 7)."""
        if self._log is not None:
            self._log.close()
        fd, path = tempfile.mkstemp(prefix="grade-worker-", suffix=".log")
        try:
            writer = os.open(path, os.O_WRONLY | os.O_APPEND)
        finally:
            os.unlink(path)
        self._log = os.fdopen(fd, "rb")
        return writer

    def _make_cgroup(self) -> dict[str, str]:
        """A memory cgroup for the worker about to start, as the worker's spec names it (or why there is none)."""
        try:
            self._cgroup = Cgroup.create(str(self.uid), memory_mb=self.limits.memory_mb)
        except CgroupUnavailable as exc:
            return {"off": str(exc)}
        return {"path": str(self._cgroup.path), "detail": self._cgroup.describe()}

    def _failed(self, exc: BaseException, *, starting: bool = False) -> GradingError:
        """Kill the worker (it restarts on the next call) and explain what happened."""
        code = self.stop(graceful=False)
        self.restarts += 1
        if self._out_of_time():
            return self._used_up()
        if isinstance(exc, WorkerTimeout):
            return WorkerTimeout(f"timed out: the call ran past {self.limits.call_s:g} s; the worker was stopped")
        why = _exit_reason(code, oom=self._oom_killed, memory_mb=self.limits.memory_mb)
        if starting:
            return WorkerCrashed(f"the worker failed to start ({why}): {self.output_tail(300)}")
        return WorkerCrashed(f"the worker process ended during the call ({why})")

    def _out_of_time(self) -> bool:
        self.timed_out = self.timed_out or self._expired or time.monotonic() >= self.deadline
        return self.timed_out

    def _used_up(self) -> WorkerTimeout:
        return WorkerTimeout(f"timed out: the submission's time limit ({self.limits.submission_s:g} s) was used up")

    def _expire(self) -> None:
        """The watchdog: the submission's time is up, whatever the grader is doing; kill what runs."""
        with self._lock:
            self._expired = True
            kill_worker(self._pid, self.uid, self._cgroup)

    def output_tail(self, size: int = 2000) -> str:
        """The last bytes this start of the worker printed (student prints included), for feedback."""
        if self._log is None:
            return ""
        self._log.seek(0, os.SEEK_END)
        self._log.seek(max(0, self._log.tell() - size))
        return self._log.read().decode("utf-8", "replace").strip()

    def stop(self, *, graceful: bool = True) -> int | None:
        """End the worker and everything it started (its session, its uid); return its exit code. Never blocks:
        every step has a deadline."""
        with self._lock:
            pid, self._pid = self._pid, None
            group, self._cgroup = self._cgroup, None
        if pid is not None and graceful:
            self._ask_to_stop(pid)
        kill_worker(pid, self.uid, group)  # whatever it started, under any session
        for fd in (self._requests, self._responses):
            if fd >= 0:
                os.close(fd)
        self._requests = self._responses = -1
        code = None
        if pid is not None:
            try:
                code = self._zygote.reap(pid)
            except WorkerError:
                pass
        if group is not None:
            self._oom_killed = group.oom_killed()
            group.remove()
        return code

    def _ask_to_stop(self, pid: int) -> None:
        """Give the worker a moment to exit on its own."""
        thaw(pid, self.uid)
        try:
            send_message(self._requests, {"stop": True}, deadline=time.monotonic() + _STOP_S)
        except (WorkerError, OSError):
            return
        _wait_for_eof(self._responses, timeout=_STOP_S)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.stop()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _new_uid() -> int:
    return UID_BASE + secrets.randbelow(UID_SPAN)


# What the worker may claim about a failure: its frames can be forged by the code it runs, so it can only blame
# the student's code. "worker" (a crash or timeout) is what this client sees itself; a "grader" failure from the
# worker would tell the student "not your fault" and send the instructor looking for a harness bug.
_WORKER_CAUSES: tuple[Cause, ...] = ("not_implemented", "missing", "invalid", "error", "not_loaded")


def _cause(kind: Any) -> Cause:
    """The failure kind the worker sent, read as a Cause; anything else counts as the student's code raising.

    Never "": that is a check's own verdict, not a task that failed."""
    return kind if kind in _WORKER_CAUSES else "error"


def _printable(text: str) -> str:
    """Student text without control characters: no escape sequence reaches a terminal, no XML report breaks."""
    return "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in text)


def _wait_for_eof(fd: int, *, timeout: float) -> None:
    """Give a worker asked to stop a moment to exit on its own (its end of the pipe closes)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0 and select.select([fd], [], [], left)[0]:
        try:
            if not os.read(fd, 1 << 16):
                return
        except OSError:
            return


def _exit_reason(code: int | None, *, oom: bool = False, memory_mb: int = 0) -> str:
    if code is None:
        return "still running"
    if oom:
        return f"killed: it used more than the memory limit ({memory_mb} MB, shared memory included)"
    if code < 0:
        name = signal.Signals(-code).name
        hint = {"SIGKILL": "killed: memory or process limit?", "SIGXCPU": "CPU time limit",
                "SIGSEGV": "crashed"}.get(name, "")
        return f"signal {name}" + (f", {hint}" if hint else "")
    return f"exit code {code}: the code called sys.exit/os._exit or crashed"
