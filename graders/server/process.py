"""The grading server's process: one request at a time on a Unix socket, each graded as it would be in-process."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import os
import signal
import socket
import stat
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import graders
from graders.errors import ServerError
from graders.server import answer as server_answer
from graders.server.answer import answer, error, log
from graders.server.client import LOCK, LOG, SOCKET, fingerprint, peer_uid, receive, send

if TYPE_CHECKING:
    from graders.config import Config
    from graders.results import SubmissionResult
    from graders.server.twin import Twin

_LOCK_S = 10.0  # how long a new server waits for a stopping one to end (closing its zygote takes up to 2 s)
_TEXT, _TEXT_OR_NONE, _FLAG = (str,), (str, type(None)), (bool,)
# The gradings a server does, and the fields of each request: the keyword arguments of check_topic and
# grade_submission that the CLI passes, plus the config's path and the client's folder.
_GRADINGS: dict[str, dict[str, tuple[type, ...]]] = {
    "check": {"topic": _TEXT, "submission": _TEXT_OR_NONE, "config": _TEXT, "cwd": _TEXT},
    "submission": {"path": _TEXT, "hidden": _FLAG, "topic": _TEXT_OR_NONE, "name": _TEXT_OR_NONE, "config": _TEXT,
                   "cwd": _TEXT},
}
_TYPE_NAMES = {_TEXT: "a string", _TEXT_OR_NONE: "a string or null", _FLAG: "true or false"}


class Server:
    """The listening socket, the idle clock and what `grade server status` tells."""

    def __init__(self, folder: Path, listener: socket.socket, *, idle_s: float, threads: int | None):
        self.folder, self.listener, self.idle_s, self.threads = folder, listener, idle_s, threads
        self.fingerprint = fingerprint()
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.clock = time.monotonic()
        self.requests = 0
        self.running = True
        self.twin: Twin | None = None  # forked on the first `grade submission`: checks never pay for it

    def run(self) -> None:
        """Serve connections one after the other (a second client waits in the backlog) until stopped or idle."""
        self.listener.settimeout(self.idle_s)
        while self.running:
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                log(f"idle for {self.idle_s:g} s: stopping")
                return
            with conn:
                try:
                    self._serve(conn)
                except KeyboardInterrupt:  # raised by stopped_if_gone: Ctrl-C on the client
                    log("its check was stopped")
                except ServerError as exc:
                    log(f"a client went away: {exc}")
                except Exception:  # a bug of ours must not end the server: its client falls back in-process
                    log(f"serving a client failed:\n{traceback.format_exc()}")

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(None)
        uid = peer_uid(conn)
        if uid != os.getuid():  # the folder is 0700 already; this holds should someone open it up
            log(f"refused a connection from uid {uid}")
            return
        with conn.makefile("rb") as stream:
            send(conn, {"pid": os.getpid(), "fingerprint": self.fingerprint})
            message = receive(stream)
            op = message.get("op")
            if op in _GRADINGS:
                with stopped_if_gone(conn, on_stop=self._fresh_zygote):
                    reply = self._grade(message)
            elif op == "status":
                reply = self.status()
            elif op == "stop":
                self.close()  # the socket is gone before the client reads this: it may start the next server
                reply = {"stopping": os.getpid()}
            else:
                reply = {"error": {"type": "ServerError", "message": f"unknown request {op!r}", "exit_code": 10}}
            send(conn, reply)

    def _grade(self, message: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        clock = time.monotonic()
        if message.get("op") == "submission" and self.twin is None:
            from graders.server.twin import Twin

            self.twin = Twin(lock=self.folder / LOCK)
        try:
            reply = grade(message, twin=self.twin)
        finally:
            os.chdir(self.folder)
        outcome = reply["error"]["message"] if "error" in reply else reply["result"]["status"]
        subject = message.get("topic") if message.get("op") == "check" else message.get("path")
        log(f"{message.get('op')} {subject!r}: {outcome} in {time.monotonic() - clock:.2f} s")
        return reply

    def _fresh_zygote(self) -> None:
        """An interrupt may have come between a request to the zygote and its reply, which the next request
        would then read as its own: start afresh, in the background, while the student edits."""
        from graders.worker.zygote import close_all, warm_up

        close_all()
        if self.twin is not None:
            self.twin.stop()  # the same may hold for its own zygote: the next submission forks a fresh one
        if self.threads is not None:
            warm_up(self.threads)

    def status(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "fingerprint": self.fingerprint, "version": graders.__version__,
                "python": sys.executable, "folder": str(self.folder), "log": str(self.folder / LOG),
                "started_at": self.started_at, "uptime_s": round(time.monotonic() - self.clock, 1),
                "requests": self.requests, "idle_s": self.idle_s}

    def close(self) -> None:
        """Stop listening; our lock is still held, so the socket we unlink is ours."""
        if self.running:
            self.running = False
            with contextlib.suppress(FileNotFoundError):
                (self.folder / SOCKET).unlink()
            self.listener.close()
            if self.twin is not None:
                self.twin.stop()


def grade(message: dict[str, Any], *, twin: Twin | None = None) -> dict[str, Any]:
    """One `grade check` or `grade submission` request, graded by check_topic or grade_submission (two halves at
    once with a `twin`); the result or the error as JSON."""
    try:
        fields = _fields(message)
    except ServerError as exc:
        return error(exc)
    return answer(fields["cwd"], fields["config"], lambda config: _graded(message["op"], fields, config, twin))


def _graded(op: str, fields: dict[str, Any], config: Config, twin: Twin | None) -> SubmissionResult:
    from graders.grading.session import GradingOptions, check_topic, grade_submission, spare_core

    if op == "check":
        return check_topic(fields["topic"], config=config, submission=fields["submission"])
    path, hidden, name = fields["path"], fields["hidden"], fields["name"]

    def some(topics: list[str] | None, *, helper: bool = False) -> SubmissionResult:
        return grade_submission(path, config=config, hidden=hidden, topics=topics, name=name,
                                options=GradingOptions(helper_worker=helper))

    chosen = [fields["topic"]] if fields["topic"] else None
    topics = config.select(chosen)
    if twin is None or not twin.splits(config, topics):
        return some(chosen, helper=spare_core(config))  # one grading: a second worker takes the longest training
    from graders.server.twin import grade_halves

    return grade_halves(path, twin=twin, config=config, hidden=hidden, topics=topics, name=name, grade=some)


def _fields(message: dict[str, Any]) -> dict[str, Any]:
    """The request's fields, each of the type its kind allows, and nothing else.

    A request names only what a student may choose on the command line: never the reference, the seeds, the
    cache or the worker's denied paths, so that a request grades as `grade check` or `grade submission` would.
    """
    kinds = _GRADINGS[message["op"]]
    unknown = sorted(set(message) - {"op", *kinds})
    if unknown:
        raise ServerError(f"malformed request: unknown field {unknown[0]!r}")
    fields = {key: message.get(key) for key in kinds}
    for key, kind in kinds.items():
        if not isinstance(fields[key], kind):
            raise ServerError(f"malformed request: {key!r} is not {_TYPE_NAMES[kind]}")
    return fields


@contextlib.contextmanager
def stopped_if_gone(conn: socket.socket, *, on_stop: Callable[[], None]) -> Iterator[None]:
    """Interrupt the grading (KeyboardInterrupt, as Ctrl-C does in-process) if the client hangs up meanwhile.

    Else a student's Ctrl-C on an endless training loop would hold the server, and every later check, for
    the submission's whole time limit. `on_stop` runs after an interrupted check.
    """
    guard, busy, fired = threading.Lock(), [True], [False]

    def watch() -> None:
        with contextlib.suppress(OSError):
            while conn.recv(4096):  # the client sends nothing more: data or not, wait for its end
                pass
        with guard:
            if busy[0]:
                log("the client hung up: stopping its check")
                fired[0] = True
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    watcher = threading.Thread(target=watch, name="client-watch", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        with guard:
            busy[0] = False
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_RD)  # wakes the watcher; the answer still goes out
        watcher.join()
        if fired[0]:
            on_stop()


def _take_lock(path: Path) -> IO[bytes] | None:
    """The lock that makes this the folder's one server, held until exit; None if another keeps it."""
    handle = open(path, "a+b")  # noqa: SIM115 - held for the process's life
    deadline = time.monotonic() + _LOCK_S
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                return None
            time.sleep(0.05)


def _listen(path: Path) -> socket.socket:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left by a server killed without cleaning up: we hold the lock, it is no one's
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))  # 0600 under our umask
    listener.listen(16)
    return listener


def _warm(threads: int | None) -> None:
    """Import what grading needs; the zygote imports torch in its own process meanwhile."""
    if threads is not None:
        from graders.worker.zygote import warm_up

        warm_up(threads)
    import graders.grading.session  # noqa: F401 - torch, pytest and the plugin: the seconds this server saves


def _exit_now(lock: IO[bytes]) -> None:
    """End without the interpreter's teardown: the kernel then releases `lock` as the process ends."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graders.server.process")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--idle", type=float, required=True, help="seconds without a request before stopping")
    parser.add_argument("--threads", type=int, default=None, help="warm the worker fork server for this many")
    args = parser.parse_args(argv)
    os.umask(0o077)
    os.chdir(args.folder)
    server_answer.LOG_FD[0] = os.dup(2)
    lock = _take_lock(args.folder / LOCK)
    if lock is None:
        log("another server holds the lock: leaving the socket to it")
        return 0
    # Run last (atexit goes in reverse, and the zygote registers its own handler later): `grade server stop`
    # waits for the lock, so the lock must go with the process, not seconds before it in torch's teardown.
    atexit.register(_exit_now, lock)
    if stat.S_ISREG(os.fstat(1).st_mode):
        os.ftruncate(1, 0)  # one server's log at a time (opened O_APPEND: writes go on from the new end)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # finally and atexit still run: socket, zygote
    # Started from a shell that ignores SIGINT (a background job), we would inherit that: stopped_if_gone needs it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    server = Server(args.folder, _listen(args.folder / SOCKET), idle_s=args.idle, threads=args.threads)
    try:
        log(f"listening on {args.folder / SOCKET} (idle timeout {args.idle:g} s)")
        _warm(args.threads)
        log("ready")
        server.run()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
