"""A fork server: imports torch once, then forks a fresh worker per submission in milliseconds.

Importing torch takes seconds; a grading process starts many workers (one per submission, one for the
reference, one more after each crash). The zygote runs only our code: each forked child locks itself down
(graders/worker/sandbox.py) before it touches student code, exactly as a freshly started process would.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

from graders.errors import WorkerCrashed

_MESSAGE = 1 << 16
# Every exchange with the zygote has a deadline: the grader must never wait on it for ever (finding 4).
_START_S = 120.0  # importing torch and torchvision, on a busy machine
_REPLY_S = 15.0  # a fork, or a reap: the zygote waits at most _REAP_S for a killed worker to end
_REAP_S = 5.0
# Environment variables the worker gets; nothing else of the grader's environment crosses.
_PASSED_ENV = ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def worker_env(threads: int) -> dict[str, str]:
    """The zygote's (and so every worker's) environment; lock_down sets HOME and TMPDIR.

    The same for every worker of a config, so that they share one zygote.
    """
    env = {k: os.environ[k] for k in _PASSED_ENV if k in os.environ}
    env.update(PYTHONHASHSEED="0", OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               CUBLAS_WORKSPACE_CONFIG=":4096:8", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    return env


class Zygote:
    """The grader's handle on one fork server (one per environment, shared by the process's workers)."""

    _instances: dict[str, Zygote] = {}
    _instances_lock = threading.Lock()

    def __init__(self, env: dict[str, str]):
        self._lock = threading.Lock()
        self._sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-m", "graders.worker.zygote", str(theirs.fileno())],
            pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        theirs.close()
        if self._request({"hello": True}, timeout=_START_S).get("ready") is not True:
            self.close()
            raise WorkerCrashed("the worker fork server did not start")

    @classmethod
    def shared(cls, env: dict[str, str]) -> Zygote:
        """The running zygote for this environment, started (or restarted) when needed."""
        key = _key(env)
        with cls._instances_lock:
            zygote = cls._instances.get(key)
            if zygote is None or zygote._proc.poll() is not None:
                if zygote is not None:
                    zygote.close()
                zygote = cls._instances[key] = Zygote(env)
        return zygote

    def spawn(self, spec: dict[str, Any], fds: list[int]) -> int:
        """Fork a worker that serves `spec` over `fds` (request read end, response write end, log)."""
        return int(self._request({"spawn": spec}, fds)["pid"])

    def reap(self, pid: int) -> int | None:
        """Wait (briefly) for a worker that was killed; its exit code as Popen.returncode gives it, or None if it
        has not ended yet (the zygote reaps it later)."""
        return self._request({"wait": pid, "timeout": _REAP_S}).get("code")

    def _request(self, message: dict[str, Any], fds: list[int] | None = None, *,
                 timeout: float = _REPLY_S) -> dict[str, Any]:
        with self._lock:
            try:
                self._sock.settimeout(timeout)
                socket.send_fds(self._sock, [json.dumps(message).encode()], fds or [])
                reply = self._sock.recv(_MESSAGE)
            except TimeoutError:
                # A late reply would answer the next request: this zygote is done for; the next worker starts
                # another (Zygote.shared).
                self._proc.kill()
                raise WorkerCrashed(f"the worker fork server did not answer within {timeout:g} s") from None
            except OSError as exc:
                raise WorkerCrashed(f"the worker fork server is gone ({exc.strerror})") from None
        if not reply:
            raise WorkerCrashed("the worker fork server ended")
        return json.loads(reply)

    def close(self) -> None:
        self._sock.close()
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def _key(env: dict[str, str]) -> str:
    return json.dumps(env, sort_keys=True)


@atexit.register
def close_all() -> None:
    """Close this process's fork servers; the next worker starts a fresh one. A long-lived grader (the grading
    server, #14) calls it when an interrupted request may have left a reply unread on a zygote's socket."""
    with Zygote._instances_lock:  # a warm-up thread may still be adding one
        zygotes = list(Zygote._instances.values())
        Zygote._instances.clear()
    for zygote in zygotes:
        zygote.close()


def warm_up(threads: int) -> None:
    """Start the zygote in the background: its import of torch overlaps with the grader's own start-up.

    A failure is left for the first worker to report (Zygote.shared tries again there).
    """
    running = Zygote._instances.get(_key(worker_env(threads)))
    if running is not None and running._proc.poll() is None:
        return  # already warm: no thread to start

    def start() -> None:
        try:
            Zygote.shared(worker_env(threads))
        except (WorkerCrashed, OSError):
            pass

    threading.Thread(target=start, name="zygote-warm-up", daemon=True).start()


def main(fd: int) -> None:
    """The zygote itself: import once, then serve spawn/wait requests until the grader hangs up or dies.

    Not PR_SET_PDEATHSIG here: it fires when the *thread* that started us ends, and a grader may start
    the zygote from a short-lived thread. The socket's timeout lets the loop notice a dead grader.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the grader decides when workers and the zygote end
    import numpy  # noqa: F401
    import torch  # noqa: F401
    import torchvision  # noqa: F401

    import graders.worker.tasks  # noqa: F401
    from graders.worker import serve as serve_loop

    sock = socket.socket(fileno=fd)
    sock.settimeout(1.0)
    groups: list[str] = []  # the workers' memory cgroups: a grader that dies cannot remove them
    try:
        _serve(sock, serve_loop, groups, set())
    finally:
        from graders.worker import cgroup

        for path in groups:
            cgroup.discard(path)


def _serve(sock: socket.socket, serve_loop: Any, groups: list[str], pending: set[int]) -> None:
    grader = os.getppid()
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, _MESSAGE, 3)
        except TimeoutError:
            if os.getppid() != grader:
                return  # the grader died without hanging up: our workers die with us (their PDEATHSIG)
            for pid in list(pending):
                _reap(pid, pending, timeout=0)
            continue
        except OSError:
            return
        if not data:
            return
        message = json.loads(data)
        reply: dict[str, Any]
        if "spawn" in message:
            reply = {"pid": _fork(message["spawn"], fds, sock, serve_loop)}
            groups += [g["path"] for g in [message["spawn"].get("cgroup", {})] if "path" in g]
        elif "wait" in message:
            reply = {"code": _reap(message["wait"], pending, timeout=message.get("timeout", _REAP_S))}
        else:
            reply = {"ready": True}
        sock.send(json.dumps(reply).encode())


def _reap(pid: int, pending: set[int], *, timeout: float) -> int | None:
    """A worker's exit code, waiting at most `timeout` for it to end (one stuck in the kernel after SIGKILL must
    not hold the zygote, and so the grader); None if it has not, and it stays `pending`, reaped later."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pending.discard(pid)
            return None
        if done:
            pending.discard(pid)
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            pending.add(pid)
            return None
        time.sleep(0.005)


def _fork(spec: dict[str, Any], fds: list[int], sock: socket.socket, serve_loop: Any) -> int:
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)  # only the child may hold the pipes, so the grader sees EOF when it dies
        return pid
    code = 1
    try:
        sock.close()
        os.setsid()  # its own session: the grader kills the worker and whatever it starts as one group
        request_fd, response_fd, log_fd = fds
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        code = serve_loop.serve({**spec, "request_fd": request_fd, "response_fd": response_fd})
    except BaseException:  # noqa: B036 - the child must never return into the zygote's loop
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    main(int(sys.argv[1]))
