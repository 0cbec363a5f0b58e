"""The grader's side of the worker: start it with limits, call tasks with deadlines, restart after a crash."""

from __future__ import annotations

import fcntl
import os
import secrets
import select
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from graders.config import Config
from graders.errors import GradingError, TaskFailed, WorkerCrashed, WorkerError, WorkerTimeout
from graders.worker.cgroup import Cgroup, CgroupUnavailable
from graders.worker.protocol import read_message, write_message
from graders.worker.zygote import Zygote, worker_env

_UID_BASE, _UID_SPAN = 1_000_000, 1_000_000_000  # far above system and login users


class Worker:
    """One isolated worker process for one submission, reused across its topics."""

    def __init__(self, *, workdir: Path, config: Config, deny_paths: list[Path]):
        self.workdir = workdir
        self.config = config
        self.deny_paths = [str(p) for p in deny_paths]
        self.limits = config.limits
        self.deadline = time.monotonic() + self.limits.submission_s
        self.environment: dict[str, Any] = {}
        self.protections: list[dict[str, Any]] = []
        self.restarts = 0
        self.last_call_s = 0.0
        # A uid of its own: RLIMIT_NPROC and signals are per uid, so parallel workers must not share one,
        # and whatever the student left running (even after setsid) can be found and killed by uid.
        self.uid = _UID_BASE + secrets.randbelow(_UID_SPAN)
        self._pid: int | None = None
        self._cgroup: Cgroup | None = None
        self._oom_killed = False  # the cgroup's verdict on the last worker, kept after the group is gone
        self._unstartable: GradingError | None = None  # the worker never started: don't retry per test
        self._log = tempfile.TemporaryFile()
        # Append-only: the worker writes through its own descriptor while we seek around to read the tail.
        fcntl.fcntl(self._log.fileno(), fcntl.F_SETFL, fcntl.fcntl(self._log.fileno(), fcntl.F_GETFL) | os.O_APPEND)

    @property
    def pid(self) -> int | None:
        """The running worker's pid; a new one after every restart."""
        return self._pid

    def call(self, task: str, *, module: Path, args: dict[str, Any]) -> Any:
        """Run one task; student exceptions raise TaskFailed, worker failures WorkerError."""
        if time.monotonic() >= self.deadline:
            raise WorkerTimeout(f"the submission's time limit ({self.limits.submission_s:g} s) was used up")
        if self._unstartable is not None:
            raise self._unstartable
        if self._pid is None:
            self._start()
        start = time.monotonic()
        deadline = min(start + self.limits.call_s, self.deadline)
        try:
            write_message(self._requests, {"task": task, "module": str(module), "args": args})
            answer = read_message(self._response_fd, deadline=deadline, max_bytes=self.limits.message_mb << 20)
        except (WorkerError, BrokenPipeError, OSError) as exc:
            raise self._failed(exc) from None
        # Timed here, not in the worker: student code can stop the worker's clocks, not ours.
        self.last_call_s = time.monotonic() - start
        if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
            self.stop()
            raise WorkerError("the worker answered with an unexpected message")
        if answer["ok"]:
            return answer.get("value")
        raw = answer.get("error")
        error: dict[str, Any] = raw if isinstance(raw, dict) else {}
        message = _printable(str(error.get("message", "task failed")))[:500]
        raise TaskFailed(message, kind=_printable(str(error.get("kind", "error"))))

    def _start(self) -> None:
        req_read, req_write = os.pipe()
        resp_read, resp_write = os.pipe()
        limits = {name: getattr(self.limits, name) for name in self.limits.__dataclass_fields__}
        spec = {"workdir": str(self.workdir), "deny_paths": self.deny_paths, "limits": limits,
                "threads": self.config.threads, "device": self.config.device, "uid": self.uid,
                "cgroup": self._make_cgroup()}
        self._requests = os.fdopen(req_write, "wb")
        self._response_fd = resp_read
        try:
            self._zygote = Zygote.shared(worker_env(self.config.threads))
            self._pid = self._zygote.spawn(spec, [req_read, resp_write, self._log.fileno()])
        except WorkerError as exc:
            self._unstartable = exc
            raise
        finally:
            os.close(req_read)
            os.close(resp_write)
        try:
            hello = read_message(resp_read, deadline=time.monotonic() + self.limits.startup_s, max_bytes=1 << 20)
        except WorkerError as exc:
            self._unstartable = self._failed(exc, starting=True)
            raise self._unstartable from None
        if not isinstance(hello, dict) or not hello.get("ready"):
            self.stop()
            raise WorkerError("the worker did not start properly")
        self.environment, self.protections = hello["environment"], hello["protections"]

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
        if isinstance(exc, WorkerTimeout):
            return WorkerTimeout(f"timed out: the call ran past {self.limits.call_s:g} s (or the submission's "
                                 f"{self.limits.submission_s:g} s); the worker was stopped")
        why = _exit_reason(code, oom=self._oom_killed, memory_mb=self.limits.memory_mb)
        if starting:
            return WorkerCrashed(f"the worker failed to start ({why}): {self.output_tail(300)}")
        return WorkerCrashed(f"the worker process ended during the call ({why})")

    def output_tail(self, size: int = 2000) -> str:
        """The last bytes the worker printed (student prints included), for feedback."""
        self._log.seek(0, os.SEEK_END)
        self._log.seek(max(0, self._log.tell() - size))
        return self._log.read().decode("utf-8", "replace").strip()

    def stop(self, *, graceful: bool = True) -> int | None:
        """End the worker and everything it started (its session, its uid); return its exit code."""
        pid, self._pid = self._pid, None
        if pid is None:
            return None
        if graceful:
            try:
                write_message(self._requests, {"stop": True})
            except (OSError, ValueError):
                pass
            _wait_for_eof(self._response_fd, timeout=2)
        try:
            os.killpg(pid, signal.SIGKILL)  # the session: children the student started die too
        except (ProcessLookupError, PermissionError):
            pass
        group, self._cgroup = self._cgroup, None
        if group is not None:
            group.kill()  # whatever it started, under any session
        kill_uid(self.uid)
        for close in (self._requests.close, lambda: os.close(self._response_fd)):
            try:
                close()
            except OSError:
                pass
        try:
            return self._zygote.reap(pid)
        except WorkerError:
            return None
        finally:
            if group is not None:
                self._oom_killed = group.oom_killed()
                group.remove()

    def close(self) -> None:
        self.stop()
        self._log.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _printable(text: str) -> str:
    """Student text without control characters: no escape sequence reaches a terminal, no XML report breaks."""
    return "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in text)


def kill_uid(uid: int, *, timeout: float = 2.0) -> int:
    """Kill every process running as `uid` (a worker's own); returns how many were signalled.

    Sweeps /proc until a pass finds none alive: a process forking in a loop can add a child after one pass
    read the list, but not after it has been sent SIGKILL, so each pass leaves fewer.
    """
    if os.geteuid() != 0:
        return 0  # without root the worker kept our uid: its process group is all we may kill
    killed, deadline = 0, time.monotonic() + timeout
    while (alive := live_pids(uid)) and time.monotonic() < deadline:
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
    return killed


def live_pids(uid: int) -> list[int]:
    """Pids running as `uid`, zombies left out (they are dead already, waiting for their parent)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = dict(line.split(":", 1) for line in (entry / "status").read_text().splitlines()
                              if ":" in line)
                if int(fields["Uid"].split()[0]) == uid and not fields["State"].strip().startswith("Z"):
                    found.append(int(entry.name))
            except (OSError, ValueError, KeyError, IndexError):
                continue  # it ended meanwhile
    return found


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
