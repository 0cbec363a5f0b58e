"""The batch's side of its grading processes: start one, send it a job, wait with a deadline, replace it if it dies."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from queue import Queue
from typing import Any

Reply = dict[str, Any]
OnReply = Callable[[dict[str, Any], Reply], None]
# A grading process runs many pytest sessions; a fresh one now and then keeps a long batch's memory flat.
RECYCLE_AFTER = 50
STOP_GRACE_S = 10.0  # SIGTERM lets the process stop the student's worker; then SIGKILL


class ProcessFailed(Exception):
    """The grading process died, hung or broke the protocol; the message says which."""


class GradingProcess:
    """One `python -m graders.batch.child` process, reused job after job, started again after a failure."""

    def __init__(self, *, startup_s: float, env: dict[str, str] | None = None):
        self.startup_s = startup_s
        self.env = env or {}
        self.jobs = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._ready = False
        self._buffer = b""
        self._log = tempfile.TemporaryFile()

    def start(self) -> None:
        """Start without waiting, so that importing torch overlaps with other work."""
        if self._proc is not None and self._proc.poll() is None:
            return
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "graders.batch.child"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, env={**os.environ, **self.env},
            start_new_session=True,  # a Ctrl-C in the terminal is the batch's to handle, not each process's
        )
        self._ready, self._buffer, self.jobs = False, b"", 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def grade(self, job: dict[str, Any], *, timeout: float) -> Reply:
        """The reply to `job`; a process that fails costs this job only (an `infra` reply) and is replaced."""
        try:
            self._ensure_ready()
            assert self._proc is not None and self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(job).encode() + b"\n")
            self._proc.stdin.flush()
            reply = self._read_line(time.monotonic() + timeout, f"ran past {timeout:.0f} s")
        except (ProcessFailed, OSError) as exc:
            self.stop()
            return {"id": job.get("id"), "ok": False, "infra": True, "reason": f"the grading process {exc}"}
        self.jobs += 1
        if self.jobs >= RECYCLE_AFTER:
            self.stop()
        return reply

    def _ensure_ready(self) -> None:
        self.start()
        if not self._ready:
            hello = self._read_line(time.monotonic() + self.startup_s, f"did not start in {self.startup_s:.0f} s")
            self._ready = bool(hello.get("ready"))

    def _read_line(self, deadline: float, late: str) -> Reply:
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise ProcessFailed(f"{late} and was stopped")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise ProcessFailed(f"ended unexpectedly ({self._exit()}): {self.log_tail()}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            reply = json.loads(line)
        except ValueError:
            raise ProcessFailed("sent an unreadable reply") from None
        if not isinstance(reply, dict):
            raise ProcessFailed("sent an unexpected reply")
        return reply

    def _exit(self) -> str:
        assert self._proc is not None
        try:
            code = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "its output closed"
        return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"

    def log_tail(self, size: int = 300) -> str:
        """The end of what the process wrote to stderr (our tracebacks; student output stays in the worker)."""
        self._log.seek(0, os.SEEK_END)
        self._log.seek(max(0, self._log.tell() - size))
        return " ".join(self._log.read().decode("utf-8", "replace").split()) or "no output"

    def terminate(self) -> None:
        """Ask the process to stop (from another thread: signals only, its pipes are the owner's)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass  # a broken pipe to a dead process: nothing left to flush

    def close(self) -> None:
        self.stop()
        self._log.close()


class LocalPool:
    """N grading processes on this machine, each grading one submission at a time."""

    def __init__(self, workers: int, *, timeout: float, startup_s: float, gpus: list[str] | None = None):
        self.timeout = timeout
        envs = [{"CUDA_VISIBLE_DEVICES": gpus[i % len(gpus)]} if gpus else {} for i in range(workers)]
        self.processes = [GradingProcess(startup_s=startup_s, env=env) for env in envs]
        for process in self.processes:
            process.start()
        self._idle: Queue[GradingProcess] = Queue()
        for process in self.processes:
            self._idle.put(process)

    def warm(self, job: dict[str, Any]) -> Reply:
        return self._grade(job)

    def run(self, jobs: Iterable[dict[str, Any]], on_reply: OnReply) -> None:
        """Grade `jobs` in parallel; `on_reply` runs in this thread as each one finishes."""
        pool = ThreadPoolExecutor(len(self.processes), thread_name_prefix="grading")
        try:
            futures = {pool.submit(self._grade, job): job for job in jobs}
            for future in as_completed(futures):
                on_reply(futures[future], future.result())
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            for process in self.processes:  # running jobs end now; their threads see the pipe close
                process.terminate()
            pool.shutdown(wait=True)

    def _grade(self, job: dict[str, Any]) -> Reply:
        process = self._idle.get()
        try:
            return process.grade(job, timeout=self.timeout)
        finally:
            self._idle.put(process)

    def close(self) -> None:
        for process in self.processes:
            process.close()


# The grading processes of this Dask worker, idle between tasks; a task takes one and gives it back.
_idle_remote: list[GradingProcess] = []
_idle_lock = threading.Lock()


def grade_remote(job_text: str, timeout: float, startup_s: float) -> str:
    """A Dask task: grade one job in a grading process on this Dask worker's machine. JSON in, JSON out, so
    nothing of ours is pickled, and no student code or pytest session runs in the Dask worker itself."""
    with _idle_lock:
        process = _idle_remote.pop() if _idle_remote else GradingProcess(startup_s=startup_s)
    try:
        return json.dumps(process.grade(json.loads(job_text), timeout=timeout), allow_nan=True)
    finally:
        with _idle_lock:
            _idle_remote.append(process)


def close_remote() -> int:
    """Run on each Dask worker at the end of a batch: the next batch starts fresh processes, which load the
    harness and grading.yaml as they are then, and idle ones do not hold memory between batches."""
    with _idle_lock:
        processes = list(_idle_remote)
        _idle_remote.clear()
    for process in processes:
        process.close()
    return len(processes)
