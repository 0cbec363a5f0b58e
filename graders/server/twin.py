"""A second grader forked from the warm grading server, so that `grade submission` grades two halves at once (#14)."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import select
import signal
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from graders.config import Config
from graders.results import SubmissionResult
from graders.server.client import MAX_MESSAGE

_STOP_S = 5.0  # a twin asked to stop closes its worker and its fork server (up to 2 s each)


class Twin:
    """A fork of the server, started on the first `grade submission`, that grades the topics it is sent.

    Forked, not started afresh: torch and the harness are loaded already, and the course's test modules are
    forgotten as in the server. It has a worker fork server of its own, so that its workers run beside the
    server's on the other core. Each half is graded as `grade submission` grades those topics alone, in a
    worker of its own whose results do not depend on what runs beside it (a worker's torch threads are the
    config's: 1), the training-time checks' bounds (5-10x the reference's time) aside.
    """

    def __init__(self, *, lock: Path):
        self.lock = lock  # the server's lock: the twin must not hold it for a server that has ended
        self.pid: int | None = None
        self.costs: dict[str, float] = {}  # seconds each topic took last time: how the halves are balanced
        self._jobs = -1
        self._replies: Any = None

    def splits(self, config: Config, topics: list[str]) -> bool:
        """Whether grading these topics in two halves can be faster: two topics or more, and a core for each
        half's worker on the CPU (two workers on one GPU would only take turns)."""
        from graders.grading.session import spare_core

        return len(topics) >= 2 and spare_core(config)

    def halves(self, topics: list[str]) -> tuple[list[str], list[str]]:
        """Ours and the twin's, balanced on the last durations (longest first, each to the lighter half); the
        twin gets the lighter one, as its worker fork server may still be starting. Config order kept."""
        known = [self.costs[t] for t in topics if t in self.costs]
        guess = sum(known) / len(known) if known else 1.0
        loads: list[float] = [0.0, 0.0]
        groups: list[set[str]] = [set(), set()]
        for topic in sorted(topics, key=lambda t: -self.costs.get(t, guess)):
            lighter = loads.index(min(loads))
            groups[lighter].add(topic)
            loads[lighter] += self.costs.get(topic, guess)
        ours, theirs = (0, 1) if loads[0] >= loads[1] else (1, 0)
        return [t for t in topics if t in groups[ours]], [t for t in topics if t in groups[theirs]]

    def learn(self, result: SubmissionResult) -> None:
        for topic in result.topics:
            self.costs[topic.name] = topic.duration_s

    def send(self, job: dict[str, Any], *, threads: int) -> None:
        """Hand the twin one job (forking it first if none runs): grade_submission's arguments as JSON."""
        if self.pid is None or _ended(self.pid):
            self.stop()
            self._fork(threads)
        os.write(self._jobs, json.dumps(job).encode() + b"\n")  # a few hundred bytes: within the pipe's buffer

    def receive(self, *, timeout: float) -> dict[str, Any]:
        """The twin's answer to its job: {"result": ...} or {"error": ...}; {"error"} too if it ended, or
        gave no answer within `timeout` seconds (then it is stopped)."""
        if not select.select([self._replies], [], [], timeout)[0]:
            self.stop()
            return {"error": {"message": f"the twin grader gave no answer within {timeout:g} s"}}
        line = self._replies.readline(MAX_MESSAGE + 1)  # as bounded as the server's own answers
        try:
            reply = json.loads(line) if line.endswith(b"\n") else None
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            self.stop()
            return {"error": {"message": "the twin grader ended or answered malformed JSON"}}
        return reply

    def interrupt(self) -> None:
        """Ctrl-C on the client: the twin's half stops as the server's does (KeyboardInterrupt in pytest)."""
        if self.pid is not None:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGINT)

    def stop(self) -> None:
        """End the twin (it stops its worker and fork server on the way out); never blocks for long."""
        pid, self.pid = self.pid, None
        if self._jobs >= 0:
            os.close(self._jobs)  # end of its jobs: an idle twin leaves at once
            self._jobs = -1
        if self._replies is not None:
            self._replies.close()
            self._replies = None
        if pid is None:
            return
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)  # a busy one: SystemExit in its grading, whose `finally`s still run
        deadline = time.monotonic() + _STOP_S
        while not _ended(pid):
            if time.monotonic() > deadline:
                with contextlib.suppress(OSError):  # it may have ended since
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                return
            time.sleep(0.02)

    def _fork(self, threads: int) -> None:
        from graders.worker.zygote import Zygote, worker_env

        # Ours first: the thread that warms it up holds the zygotes' lock meanwhile, and a lock forked held
        # stays held in the twin for ever.
        Zygote.shared(worker_env(threads))
        jobs_read, self._jobs = os.pipe()
        replies_read, replies_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the twin: it never returns into the server's code
            code = 1
            try:
                os.close(self._jobs)
                os.close(replies_read)
                code = _serve(jobs_read, replies_write, threads=threads, lock=self.lock)
            finally:
                os._exit(code)
        os.close(jobs_read)
        os.close(replies_write)
        self.pid, self._replies = pid, os.fdopen(replies_read, "rb")


def _ended(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done != 0


def _serve(jobs_fd: int, replies_fd: int, *, threads: int, lock: Path) -> int:
    """The twin: grade each job it reads, answer each on its line, until the server closes the pipe."""
    import torch

    from graders.server.answer import answer, log
    from graders.worker.zygote import close_all, warm_up

    # GNU OpenMP is not fork-safe: a parallel region after the fork waits for ever on the server's thread pool,
    # which was not copied. One thread enters none; the grader's own tensors are small (the workers' are
    # theirs). Seen as a twin forked after the server had graded hung in its first clone().
    torch.set_num_threads(1)
    close_all()  # the server's fork server answers the server only: a socket two processes ask mixes replies
    _drop_server_files(lock, keep={jobs_fd, replies_fd})
    signal.signal(signal.SIGINT, signal.default_int_handler)
    warm_up(threads)  # ours, in the background: its import of torch runs while the first job starts
    log("twin grader ready")
    try:
        with os.fdopen(jobs_fd, "rb") as jobs, os.fdopen(replies_fd, "wb") as replies:
            for job in _lines(jobs):
                reply = answer(job["cwd"], job["config"], functools.partial(_grade, job))
                replies.write(json.dumps(reply).encode() + b"\n")
                replies.flush()
    finally:
        close_all()
    return 0


def _grade(job: dict[str, Any], config: Config) -> SubmissionResult:
    from graders.grading.session import grade_submission

    return grade_submission(job["path"], config=config, hidden=job["hidden"], topics=job["topics"],
                            name=job["name"])


def _lines(stream: Any) -> Iterator[dict[str, Any]]:
    """The jobs, one JSON object a line; a Ctrl-C forwarded after its job ended is no reason to stop."""
    while True:
        try:
            line = stream.readline()
        except KeyboardInterrupt:
            continue
        if not line:
            return
        yield json.loads(line)


def _drop_server_files(lock: Path, *, keep: set[int]) -> None:
    """Close what the fork copied of the server's sockets (its listener, the client) and its lock: a twin
    still grading must not keep a stopped server's lock or socket."""
    try:
        lock_id = (os.stat(lock).st_dev, os.stat(lock).st_ino)
    except OSError:
        lock_id = None
    for name in os.listdir("/proc/self/fd"):  # Linux, as the server itself is (SO_PEERCRED)
        fd = int(name)
        if fd in keep or fd <= 2:
            continue
        try:
            info = os.fstat(fd)
        except OSError:  # the listing's own descriptor, closed by now
            continue
        if stat.S_ISSOCK(info.st_mode) or (info.st_dev, info.st_ino) == lock_id:
            os.close(fd)


@contextlib.contextmanager
def forwarded_interrupts(twin: Twin) -> Iterator[None]:
    """While both halves run, a Ctrl-C (the server's client hanging up) stops the twin's half too."""
    previous = signal.getsignal(signal.SIGINT)

    def forward(signum: int, frame: Any) -> None:
        twin.interrupt()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, forward)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def merged(ours: SubmissionResult, theirs: SubmissionResult, order: list[str]) -> SubmissionResult:
    """One result of two halves, topics in `order`: as one grading of them all would have given it."""
    topics = {t.name: t for t in [*ours.topics, *theirs.topics]}
    ours.topics = [topics[name] for name in order]
    if ours.status == "graded" and theirs.status != "graded":  # the twin's half ran out of time
        ours.status, ours.reason = theirs.status, theirs.reason
    return ours


def grade_halves(path: str, *, twin: Twin, config: Config, hidden: bool, topics: list[str], name: str | None,
                 grade: Callable[[list[str]], SubmissionResult]) -> SubmissionResult:
    """`grade` (this process's grading of some topics) on one half, the twin on the other, at once."""
    from graders.server.answer import log

    clock = time.monotonic()
    deadline = clock + 2 * config.limits.submission_s  # its worker's time limit, and as long for the rest
    ours, theirs = twin.halves(topics)
    job = {"path": path, "hidden": hidden, "topics": theirs, "name": name, "config": str(config.path),
           "cwd": os.getcwd()}
    try:
        twin.send(job, threads=config.threads)
    except OSError as exc:  # it ended as the job went: one process grades them all, as without a twin
        log(f"the twin grader is gone ({exc.strerror}): grading every topic here")
        twin.stop()
        return grade(topics)
    try:
        with forwarded_interrupts(twin):
            result = grade(ours)
            # Its worker has the submission's time limit as ours has; beyond that, it is stuck itself.
            reply = twin.receive(timeout=max(1.0, deadline - time.monotonic()))
    except BaseException:
        twin.stop()  # its half may be anywhere: the next submission forks a fresh twin
        raise
    try:
        other = SubmissionResult.from_dict(reply["result"])
    except (KeyError, TypeError, ValueError):  # whatever went wrong there, this process grades that half too
        log(f"the twin grader failed ({reply.get('error')}): grading {theirs} here")
        other = grade(theirs)
    log(f"halves: {ours} in {result.duration_s:.2f} s here, {theirs} in {other.duration_s:.2f} s in the twin")
    result = merged(result, other, topics)
    result.duration_s = round(time.monotonic() - clock, 3)
    twin.learn(result)
    return result
