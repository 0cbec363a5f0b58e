"""A long-lived local grading server that keeps torch, the harness and the worker fork server warm (issue #14)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import select
import socket
import stat
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import graders
from graders import errors
from graders.errors import GradingError, ServerError
from graders.results import SubmissionResult

if TYPE_CHECKING:
    from graders.config import Config

DIR_ENV = "GRADE_SERVER_DIR"  # where the socket, lock and log live; tests point it at a folder of their own
IDLE_ENV = "GRADE_SERVER_IDLE"
# 15 minutes: a student's edit-and-check loop keeps the server warm; one forgotten frees its memory (torch, the
# zygote: about 1 GiB) soon after.
IDLE_S = 900.0
SOCKET, LOCK, LOG = "server.sock", "server.lock", "server.log"
MAX_MESSAGE = 64 << 20  # a result carrying plot material (misclassified images) is a few MiB
_CONNECT_S = 30.0  # a new server binds its socket before importing torch: this is Python's start, on a busy machine
_LOCK_S = 10.0  # a new server waits this long for a stopping one to let go (closing its zygote takes up to 2 s)
_WAIT_NOTE_S = 1.0
# Environment the grading depends on beyond the code: a server started under another GPU selection is stale.
_FINGERPRINT_ENV = ("CUDA_VISIBLE_DEVICES",)


def runtime_dir() -> Path:
    """This user's server folder: $GRADE_SERVER_DIR, $XDG_RUNTIME_DIR/graders or /tmp/graders-<uid>, created 0700.

    A folder that is a symlink, another user's, or open to others is refused: whoever controls it could put a
    socket of their own there and read the submissions sent to it.
    """
    if os.environ.get(DIR_ENV):
        folder = Path(os.environ[DIR_ENV])
    elif os.environ.get("XDG_RUNTIME_DIR"):
        folder = Path(os.environ["XDG_RUNTIME_DIR"]) / "graders"
    else:
        folder = Path(tempfile.gettempdir()) / f"graders-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError as exc:
        raise ServerError(f"{folder}: cannot create the grading server's folder: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ServerError(f"{folder}: not a private folder of yours (a symlink, another user's, or open to others)")
    return folder


def fingerprint() -> str:
    """The harness code a server runs: a server whose fingerprint differs from its client's is restarted."""
    package = Path(graders.__file__).parent
    digest = hashlib.sha256(f"{sys.executable}|{graders.__version__}".encode())
    for name in _FINGERPRINT_ENV:
        digest.update(f"|{name}={os.environ.get(name)}".encode())
    for path in sorted(package.rglob("*.py")):  # sizes and mtimes: 80 stat calls, no reading (a few ms)
        info = path.stat()
        digest.update(f"\n{path.relative_to(package)}|{info.st_size}|{info.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def idle_seconds() -> float:
    """The idle timeout new servers get: $GRADE_SERVER_IDLE seconds, or IDLE_S."""
    text = os.environ.get(IDLE_ENV, "")
    try:
        value = float(text) if text else IDLE_S
    except ValueError:
        raise ServerError(f"{IDLE_ENV}={text!r}: expected a number of seconds") from None
    if not value > 0:
        raise ServerError(f"{IDLE_ENV}={text!r}: expected a positive number of seconds")
    return value


# ---- the client's side --------------------------------------------------------------------------------------------


def check(topic: str, *, submission: Path | None, config: Config,
          on_wait: Callable[[str], None] | None = None) -> SubmissionResult:
    """`grade check` answered by this user's server, started (or restarted, if stale) when needed: the result
    graders.grading.session.check_topic gives in-process. ServerError when no server can be started or reached."""
    message = {"op": "check", "topic": topic, "submission": str(submission.resolve()) if submission else None,
               "config": str(config.path.resolve()), "cwd": os.getcwd()}
    return _graded(message, config=config, on_wait=on_wait)


def submission(path: str, *, hidden: bool, topic: str | None, name: str | None, config: Config,
               on_wait: Callable[[str], None] | None = None) -> SubmissionResult:
    """`grade submission` answered by this user's server: the result graders.grading.session.grade_submission gives
    in-process. ServerError when no server can be started or reached."""
    # `path` goes as typed, with our folder: the server grades it from there, so the result names its source
    # as an in-process grading does (result.json, the reports).
    message = {"op": "submission", "path": path, "hidden": hidden, "topic": topic, "name": name,
               "config": str(config.path.resolve()), "cwd": os.getcwd()}
    return _graded(message, config=config, on_wait=on_wait)


def _graded(message: dict[str, Any], *, config: Config, on_wait: Callable[[str], None] | None) -> SubmissionResult:
    reply = request(message, start=True, threads=config.threads, on_wait=on_wait)
    if "error" in reply:
        raise _rebuilt(reply["error"])
    try:
        return SubmissionResult.from_dict(reply["result"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ServerError(f"the grading server answered a malformed result ({exc})") from None


class _NotRunning(ServerError):
    """No server listens on the socket (and none was to be started)."""


def start(*, idle_s: float | None = None, threads: int | None = None) -> dict[str, Any]:
    """Start this user's server unless a current one runs; its status."""
    return request({"op": "status"}, start=True, threads=threads, idle_s=idle_s)


def status() -> dict[str, Any] | None:
    """The running server's status (pid, uptime, requests served, fingerprint...), or None when none runs."""
    try:
        return request({"op": "status"}, start=False)
    except _NotRunning:
        return None


def stop() -> int | None:
    """Stop the running server and wait until it has ended; its pid, or None when none ran."""
    try:
        reply = request({"op": "stop"}, start=False)
    except _NotRunning:
        return None
    _wait_unlocked(runtime_dir() / LOCK, timeout=_LOCK_S)
    return int(reply["stopping"])


def request(message: dict[str, Any], *, start: bool, threads: int | None = None, idle_s: float | None = None,
            on_wait: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Send one request to this user's server and read its answer.

    With `start`, a server is started when none runs, and one running other harness code is stopped and
    replaced first. One request at a time: a second client waits for the first one's answer.
    """
    folder = runtime_dir()
    for _ in range(3):
        sock, started = _connect(folder, start=start, threads=threads, idle_s=idle_s)
        with sock, sock.makefile("rb") as stream:
            hello = _hello(sock, stream, on_wait=None if started else on_wait)
            if start and hello.get("fingerprint") != fingerprint():
                send(sock, {"op": "stop"})
                receive(stream)
                continue  # it unlinked its socket before answering: the next round starts a current one
            send(sock, message)
            return receive(stream)
    raise ServerError(f"the grading server keeps running other harness code; see {folder / LOG}")


def _connect(folder: Path, *, start: bool, threads: int | None,
             idle_s: float | None) -> tuple[socket.socket, bool]:
    """A connection to the server, and whether this call started it."""
    path = folder / SOCKET
    sock = _open(path)
    if sock is not None:
        return sock, False
    if not start:
        raise _NotRunning(f"no grading server is running ({path})")
    pid = _spawn(folder, threads=threads, idle_s=idle_s if idle_s is not None else idle_seconds())
    deadline = time.monotonic() + _CONNECT_S
    while time.monotonic() < deadline:
        sock = _open(path)
        if sock is not None:
            return sock, True
        # Exit code 0: it found another server starting (two checks at once) and left it the socket.
        if _exit_code(pid) not in (None, 0):
            break
        time.sleep(0.02)
    raise ServerError(f"the grading server did not start; see {folder / LOG}")


def _open(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):  # none, or one killed without cleaning up
        sock.close()
        return None
    except OSError as exc:
        sock.close()
        raise ServerError(f"{path}: cannot connect to the grading server: {exc.strerror}") from None
    if peer_uid(sock) != os.getuid():
        sock.close()
        raise ServerError(f"{path}: the grading server there runs as another user")
    return sock


def _spawn(folder: Path, *, threads: int | None, idle_s: float) -> int:
    """Start a server detached from this terminal (a session of its own), logging to the folder's server.log."""
    args = [sys.executable, "-I", "-m", "graders.server.process", str(folder), "--idle", str(idle_s)]
    if threads is not None:
        args += ["--threads", str(threads)]
    actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
               (os.POSIX_SPAWN_OPEN, 1, str(folder / LOG), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
               (os.POSIX_SPAWN_DUP2, 1, 2)]
    try:
        return os.posix_spawn(sys.executable, args, dict(os.environ), file_actions=actions, setsid=True)
    except OSError as exc:
        raise ServerError(f"cannot start the grading server: {exc.strerror}") from None


def _exit_code(pid: int) -> int | None:
    try:
        done, code = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return 0
    return os.waitstatus_to_exitcode(code) if done else None


def _hello(sock: socket.socket, stream: Any, *, on_wait: Callable[[str], None] | None) -> dict[str, Any]:
    """The server's greeting, sent when it takes this connection: later while it serves another client."""
    if on_wait is not None and not select.select([sock], [], [], _WAIT_NOTE_S)[0]:
        on_wait("waiting for the grading server to finish another check")
    return receive(stream)


def _rebuilt(error: dict[str, Any]) -> GradingError:
    """The server's GradingError, as the CLI would have seen it in-process (same class, message and exit code)."""
    cls = getattr(errors, str(error.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, GradingError)) or issubclass(cls, ServerError):
        cls = GradingError
    exc = cls(str(error.get("message", "the grading server failed")))
    exc.exit_code = int(error.get("exit_code", cls.exit_code))
    return exc


def _wait_unlocked(path: Path, *, timeout: float) -> None:
    """Wait until no process holds the server lock: the server has ended."""
    deadline = time.monotonic() + timeout
    with open(path, "a+b") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServerError(f"the grading server did not stop within {timeout:g} s") from None
                time.sleep(0.02)


# ---- the wire: one JSON object a line ------------------------------------------------------------------------------


def send(sock: socket.socket, message: dict[str, Any]) -> None:
    try:
        sock.sendall(json.dumps(message).encode() + b"\n")
    except OSError as exc:
        raise ServerError(f"the grading server connection broke: {exc.strerror}") from None


def receive(stream: Any) -> dict[str, Any]:
    try:
        line = stream.readline(MAX_MESSAGE + 1)
    except OSError as exc:
        raise ServerError(f"the grading server connection broke: {exc.strerror}") from None
    if not line:
        raise ServerError("the grading server hung up before answering")
    try:
        message = json.loads(line) if line.endswith(b"\n") else None
    except ValueError:
        message = None
    if not isinstance(message, dict):
        raise ServerError("the grading server sent a malformed message")
    return message


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a Unix socket, as the kernel recorded it at connect()."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]  # pid, uid, gid

