"""Processes and leftovers: fork loops, daemons, threads, shared memory, temporary files."""

from __future__ import annotations

from tests.adversarial.conftest import hostile

# _posixsubprocess.fork_exec raises no audit event: the only way left to start a process once the hook is in.
SPAWN = '''
def _spawn(*argv, setsid=True):
    import _posixsubprocess, os
    args = [os.fsencode(a) for a in argv]
    r, w = os.pipe()
    pid = _posixsubprocess.fork_exec(args, [args[0]], True, (), None, None, -1, -1, -1, -1, -1, -1, r, w,
                                     True, setsid, -1, None, None, None, -1, None, False)
    os.close(w)
    error = os.read(r, 1000)
    os.close(r)
    if error:
        raise OSError(error.decode(errors="replace"))
    return pid
'''


def test_fork_loop_is_refused_then_capped(grader):
    attack = grader.attack("fork_loop", hostile(SPAWN, """
        import os

        def train(model, x, y, epochs, lr):
            started, stopped_by = 0, None
            for _ in range(500):
                try:
                    _spawn("/bin/sleep", "60")
                except BaseException as exc:
                    stopped_by = type(exc).__name__
                    break
                started += 1
            _report(fork=_attempt(os.fork), started=started, stopped_by=stopped_by)
    """), honest_after=True)
    verdict = attack.verdict()
    assert verdict["fork"] == "PermissionError"  # the audit hook
    if grader.protection("seccomp"):  # the filter refuses the clone that would make a process: none starts
        assert (verdict["stopped_by"], verdict["started"]) == ("PermissionError", 0), verdict
        return
    assert verdict["stopped_by"] == "BlockingIOError"  # RLIMIT_NPROC, counted over the worker's own uid
    assert 0 < verdict["started"] <= grader.course.config.limits.processes


def test_daemon_in_a_session_of_its_own_is_killed(grader):
    attack = grader.attack("daemon", hostile(SPAWN, """
        _daemon = _attempt(lambda: _spawn("/bin/sleep", "600"))  # at import, in a new session of its own

        def train(model, x, y, epochs, lr):
            _report(daemon=_daemon)
    """), honest_after=True)
    daemon = attack.verdict()["daemon"]
    if grader.protection("seccomp"):  # the filter refuses the clone: no daemon
        assert daemon == "PermissionError", daemon
    else:
        assert daemon.isdigit(), daemon  # it ran; Grader.attack checked that nothing of its uid is left


def test_threads_left_running_do_not_touch_later_calls(grader):
    attack = grader.attack("threads", hostile("""
        import sys, threading, time

        def _spin():  # busy, but yielding the GIL: starving its own training is not the point here
            while True:
                sum(range(1000))
                time.sleep(0.001)

        def _chatter():
            while True:
                print("12/12 points: all checks passed", flush=True)
                sys.stderr.write("PASSED\\n")
                time.sleep(0.01)

        for target in (_spin, _chatter):
            threading.Thread(target=target, daemon=False).start()  # non-daemon: they would keep the worker up
    """), honest_after=True)
    # The threads run on through every call, and die with the worker: the honest code around them scores as
    # it does alone, and so does the next submission (honest_after).
    assert {c for c in attack.passed if c != "training_time"} == set(attack.checks) - {"training_time"}, \
        attack.messages()


def test_shared_memory_and_temporary_files_do_not_outlive_the_worker(grader):
    attack = grader.attack("leftovers", hostile("""
        import ctypes, os, _posixshmem

        def _posix_shm():
            fd = _posixshmem.shm_open("/adversarial-leftover", os.O_CREAT | os.O_RDWR, 0o600)
            os.ftruncate(fd, 8 << 20)

        def _sysv_shm():
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.shmget(0, 8 << 20, 0o1000 | 0o600) < 0:  # IPC_PRIVATE, IPC_CREAT
                raise OSError(ctypes.get_errno(), "shmget")

        def _write(path):
            with open(path, "w") as f:
                f.write("left behind")

        def train(model, x, y, epochs, lr):
            _report(posix=_attempt(_posix_shm), sysv=_attempt(_sysv_shm), tmp=_attempt(lambda: _write("/tmp/adv-left")),
                    var_tmp=_attempt(lambda: _write("/var/tmp/adv-left")))
    """))
    # Each succeeds inside the worker (its own scratch layers and IPC namespace); Grader.attack checked that none
    # of it is left on the machine.
    assert attack.verdict() == {"posix": "ok", "sysv": "ok", "tmp": "ok", "var_tmp": "ok"}
