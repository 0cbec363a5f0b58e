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
from graders.worker.protocol import read_message, write_message
from graders.worker.zygote import Zygote

_UID_BASE, _UID_SPAN = 1_000_000, 1_000_000_000  # far above system and login users
# Environment variables the worker gets; nothing else of the grader's environment crosses.
_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


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
                "threads": self.config.threads, "device": self.config.device, "uid": self.uid}
        self._requests = os.fdopen(req_write, "wb")
        self._response_fd = resp_read
        try:
            self._zygote = Zygote.shared(self._env())
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

    def _env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
        threads = str(self.config.threads)
        # The same for every worker of a config, so they share one zygote; lock_down sets HOME and TMPDIR.
        env.update(PYTHONHASHSEED="0",
                   OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads,
                   CUBLAS_WORKSPACE_CONFIG=":4096:8", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
        return env

    def _failed(self, exc: BaseException, *, starting: bool = False) -> GradingError:
        """Kill the worker (it restarts on the next call) and explain what happened."""
        code = self.stop(graceful=False)
        self.restarts += 1
        if isinstance(exc, WorkerTimeout):
            return WorkerTimeout(f"timed out: the call ran past {self.limits.call_s:g} s (or the submission's "
                                 f"{self.limits.submission_s:g} s); the worker was stopped")
        why = _exit_reason(code)
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


def kill_uid(uid: int) -> int:
    """Kill every process running as `uid` (a worker's own); returns how many were signalled."""
    if os.geteuid() != 0:
        return 0  # without root the worker kept our uid: its process group is all we may kill
    killed = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _uid_of(entry) == uid:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
            except (ProcessLookupError, PermissionError):
                pass
    return killed


def _uid_of(proc_dir: Path) -> int | None:
    try:
        for line in (proc_dir / "status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _wait_for_eof(fd: int, *, timeout: float) -> None:
    """Give a worker asked to stop a moment to exit on its own (its end of the pipe closes)."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0 and select.select([fd], [], [], left)[0]:
        try:
            if not os.read(fd, 1 << 16):
                return
        except OSError:
            return


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        name = signal.Signals(-code).name
        hint = {"SIGKILL": "killed: memory or process limit?", "SIGXCPU": "CPU time limit",
                "SIGSEGV": "crashed"}.get(name, "")
        return f"signal {name}" + (f", {hint}" if hint else "")
    return f"exit code {code}: the code called sys.exit/os._exit or crashed"
