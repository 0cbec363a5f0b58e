"""The grading server's process: one request at a time on a Unix socket, each graded as `grade check` grades."""

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
from typing import IO, Any

import graders
from graders.errors import GradingError, ServerError
from graders.server import LOCK, LOG, SOCKET, fingerprint, peer_uid, receive, send

_LOCK_S = 10.0  # how long a new server waits for a stopping one to end (closing its zygote takes up to 2 s)
# The course folders pytest imports test modules from (graders.grading.test_files), and hidden tests' helpers.
_COURSE_TESTS = ("assignments", "hidden_tests")


class Server:
    """The listening socket, the idle clock and what `grade server status` tells."""

    def __init__(self, folder: Path, listener: socket.socket, *, idle_s: float, threads: int | None):
        self.folder, self.listener, self.idle_s, self.threads = folder, listener, idle_s, threads
        self.fingerprint = fingerprint()
        self.started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.clock = time.monotonic()
        self.requests = 0
        self.running = True

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
            if op == "check":
                with stopped_if_gone(conn, on_stop=self._fresh_zygote):
                    reply = self._check(message)
            elif op == "status":
                reply = self.status()
            elif op == "stop":
                self.close()  # the socket is gone before the client reads this: it may start the next server
                reply = {"stopping": os.getpid()}
            else:
                reply = {"error": {"type": "ServerError", "message": f"unknown request {op!r}", "exit_code": 10}}
            send(conn, reply)

    def _check(self, message: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        clock = time.monotonic()
        try:
            reply = grade(message)
        finally:
            os.chdir(self.folder)
        outcome = reply["error"]["message"] if "error" in reply else reply["result"]["status"]
        log(f"check {message.get('topic')!r}: {outcome} in {time.monotonic() - clock:.2f} s")
        return reply

    def _fresh_zygote(self) -> None:
        """An interrupt may have come between a request to the zygote and its reply, which the next request
        would then read as its own: start afresh, in the background, while the student edits."""
        from graders.worker.zygote import close_all, warm_up

        close_all()
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


def grade(message: dict[str, Any]) -> dict[str, Any]:
    """One `grade check` request: the config read afresh, graded by check_topic; the result or the error as JSON."""
    try:
        topic, config_path, cwd = (_text(message, key) for key in ("topic", "config", "cwd"))
        submission = message.get("submission")
        if submission is not None and not isinstance(submission, str):
            raise ServerError("malformed request: 'submission' is not a path")
        _chdir(cwd)
        from graders.config import load_config
        from graders.grading import check_topic

        config = load_config(config_path)
        forget_course_modules(config.root)
        try:
            result = check_topic(topic, submission=submission, config=config)
        finally:
            forget_course_modules(config.root)
        return {"result": result.to_dict()}
    except GradingError as exc:
        return {"error": {"type": type(exc).__name__, "message": str(exc), "exit_code": exc.exit_code}}
    except Exception as exc:  # a bug of ours: the traceback goes to the log, the client gets one line
        log(f"a check failed:\n{traceback.format_exc()}")
        return {"error": {"type": "GradingError", "exit_code": GradingError.exit_code,
                          "message": f"the grading server failed ({type(exc).__name__}: {exc}); see {LOG} "
                                     f"in {Path.cwd()}"}}


def _text(message: dict[str, Any], key: str) -> str:
    value = message.get(key)
    if not isinstance(value, str):
        raise ServerError(f"malformed request: {key!r} is not a string")
    return value


def _chdir(folder: str) -> None:
    """The client's folder, for whatever is relative there (the submission and config paths come resolved)."""
    try:
        os.chdir(folder)
    except OSError as exc:
        raise GradingError(f"{folder}: {exc.strerror}") from None


def forget_course_modules(root: Path) -> list[str]:
    """Drop the modules imported from the course's test folders, so that the next check reads them afresh.

    pytest's importlib mode reuses a module already in sys.modules (_pytest.pathlib.import_path): without
    this, an edited public test or a hidden tests' helper would run as first loaded for the server's life.
    """
    folders = tuple(f"{root / name}{os.sep}" for name in _COURSE_TESTS)
    names = [name for name, module in list(sys.modules.items()) if _loaded_from(module, folders)]
    for name in names:
        del sys.modules[name]
    return names


def _loaded_from(module: Any, folders: tuple[str, ...]) -> bool:
    try:
        places = [getattr(module, "__file__", None), *(getattr(module, "__path__", None) or [])]
    except Exception:  # a module may answer getattr strangely; it is not one of the course's
        return False
    return any(isinstance(p, str) and (p + os.sep).startswith(folders) for p in places)


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


_LOG_FD = [2]  # a copy of the log's descriptor, taken at start: pytest captures fds 1 and 2 while tests run


def log(text: str) -> None:
    line = f"{datetime.now().isoformat(timespec='seconds')} [{os.getpid()}] {text}\n"
    with contextlib.suppress(OSError):
        os.write(_LOG_FD[0], line.encode(errors="replace"))


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
    import graders.grading  # noqa: F401 - torch, pytest and the plugin: the seconds this server saves


def _exit_now(lock: IO[bytes]) -> None:
    """End without the interpreter's teardown: the kernel then releases `lock` as the process ends."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graders.server_process")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--idle", type=float, required=True, help="seconds without a request before stopping")
    parser.add_argument("--threads", type=int, default=None, help="warm the worker fork server for this many")
    args = parser.parse_args(argv)
    os.umask(0o077)
    os.chdir(args.folder)
    _LOG_FD[0] = os.dup(2)
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
