"""The grader's side of the worker: start it with limits, call tasks with deadlines, restart after a crash."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from graders.config import Config
from graders.errors import GradingError, TaskFailed, WorkerCrashed, WorkerError, WorkerTimeout
from graders.worker.protocol import read_message, write_message

# Environment variables the worker gets; nothing else of the grader's environment crosses.
_UID_BASE, _UID_SPAN = 1_000_000, 1_000_000_000  # far above system and login users
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
        # A uid of its own: RLIMIT_NPROC and signals are per uid, so parallel workers must not share one,
        # and whatever the student left running (even after setsid) can be found and killed by uid.
        self.uid = _UID_BASE + secrets.randbelow(_UID_SPAN)
        self._proc: subprocess.Popen[bytes] | None = None
        self._unstartable: GradingError | None = None  # the worker never started: don't retry per test
        self._log = tempfile.TemporaryFile()

    def call(self, task: str, *, module: Path, args: dict[str, Any]) -> Any:
        """Run one task; student exceptions raise TaskFailed, worker failures WorkerError."""
        if time.monotonic() >= self.deadline:
            raise WorkerTimeout(f"the submission's time limit ({self.limits.submission_s:g} s) was used up")
        if self._unstartable is not None:
            raise self._unstartable
        if self._proc is None:
            self._start()
        deadline = min(time.monotonic() + self.limits.call_s, self.deadline)
        try:
            write_message(self._requests, {"task": task, "module": str(module), "args": args})
            answer = read_message(self._response_fd, deadline=deadline, max_bytes=self.limits.message_mb << 20)
        except (WorkerError, BrokenPipeError, OSError) as exc:
            raise self._failed(exc) from None
        if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
            self.stop()
            raise WorkerError("the worker answered with an unexpected message")
        if answer["ok"]:
            return answer.get("value")
        error = answer.get("error") if isinstance(answer.get("error"), dict) else {}
        raise TaskFailed(str(error.get("message", "task failed"))[:500], kind=str(error.get("kind", "error")))

    def _start(self) -> None:
        req_read, req_write = os.pipe()
        resp_read, resp_write = os.pipe()
        limits = {name: getattr(self.limits, name) for name in self.limits.__dataclass_fields__}
        spec = {"request_fd": req_read, "response_fd": resp_write, "workdir": str(self.workdir),
                "deny_paths": self.deny_paths, "limits": limits, "threads": self.config.threads,
                "device": self.config.device, "uid": self.uid}
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-m", "graders.worker", json.dumps(spec)],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.workdir,
            env=self._env(), pass_fds=(req_read, resp_write), start_new_session=True,
        )
        os.close(req_read)
        os.close(resp_write)
        self._requests = os.fdopen(req_write, "wb")
        self._response_fd = resp_read
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
        env.update(HOME=str(self.workdir), TMPDIR=str(self.workdir), PYTHONHASHSEED="0",
                   OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads,
                   CUBLAS_WORKSPACE_CONFIG=":4096:8", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
        return env

    def _failed(self, exc: BaseException, *, starting: bool = False) -> GradingError:
        """Kill the worker (it restarts on the next call) and explain what happened."""
        proc = self._proc
        self.stop(graceful=False)
        self.restarts += 1
        if isinstance(exc, WorkerTimeout):
            return WorkerTimeout(f"timed out: the call ran past {self.limits.call_s:g} s (or the submission's "
                                 f"{self.limits.submission_s:g} s); the worker was stopped")
        code = proc.returncode if proc else None
        why = _exit_reason(code)
        if starting:
            return WorkerCrashed(f"the worker failed to start ({why}): {self.output_tail(300)}")
        return WorkerCrashed(f"the worker process ended during the call ({why})")

    def output_tail(self, size: int = 2000) -> str:
        """The last bytes the worker printed (student prints included), for feedback."""
        self._log.seek(0, os.SEEK_END)
        self._log.seek(max(0, self._log.tell() - size))
        return self._log.read().decode("utf-8", "replace").strip()

    def stop(self, *, graceful: bool = True) -> None:
        """End the worker and everything it started (its whole session)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if graceful and proc.poll() is None:
            try:
                write_message(self._requests, {"stop": True})
                proc.wait(timeout=2)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the session: children the student started die too
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
        kill_uid(self.uid)
        for close in (self._requests.close, lambda: os.close(self._response_fd)):
            try:
                close()
            except OSError:
                pass

    def close(self) -> None:
        self.stop()
        self._log.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        name = signal.Signals(-code).name
        hint = {"SIGKILL": "killed: memory or process limit?", "SIGXCPU": "CPU time limit",
                "SIGSEGV": "crashed"}.get(name, "")
        return f"signal {name}" + (f", {hint}" if hint else "")
    return f"exit code {code}: the code called sys.exit/os._exit or crashed"
