"""A worker's processes, found by process group and by uid: frozen between calls, thawed for the next, killed."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from graders.worker.cgroup import Cgroup


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container or `taskset` narrows), at least 1."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

_STOPPED = ("T", "t")  # stopped by a signal, or in a tracing stop: either way it runs no code


def freeze(pid: int, uid: int, *, sweep: bool = True, timeout: float = 2.0) -> None:
    """Stop the worker and everything it started, so that no student code runs while the grader works.

    SIGSTOP cannot be caught or ignored. The group is signalled first (one call), then, with `sweep`, every
    process of the worker's uid (a setsid() escapes the group), pass after pass until none is left running: a
    process forking in a loop may add a child after one pass read the list, and one not yet stopped may SIGCONT
    another, but neither once it has stopped. The passes sleep in between: on a busy machine a process needs the
    CPU to stop, and a grader polling without a pause takes it away (a 2-core machine with two busy loops: 2 s a
    freeze). Without `sweep` (a worker that cannot make processes: seccomp) the group is all there is, and the
    /proc scans, a few milliseconds each on every call, are saved.
    """
    _signal_group(pid, signal.SIGSTOP)
    if not sweep:
        return
    deadline, pause = time.monotonic() + timeout, 0.0005
    while (running := [p for p, state in _own(uid) if state not in _STOPPED]) and time.monotonic() < deadline:
        for target in running:
            _signal(target, signal.SIGSTOP)
        time.sleep(pause)
        pause = min(2 * pause, 0.05)


def thaw(pid: int, uid: int, *, sweep: bool = True) -> None:
    """Let a frozen worker run again: its group and (`sweep`) every process of its uid."""
    _signal_group(pid, signal.SIGCONT)
    for target, state in _own(uid) if sweep else []:
        if state in _STOPPED:
            _signal(target, signal.SIGCONT)


def kill_worker(pid: int | None, uid: int, group: Cgroup | None) -> None:
    """SIGKILL the worker's session, everything in its memory cgroup (under any session) and of its uid."""
    if pid is not None:
        _signal_group(pid, signal.SIGKILL)  # the session: children the student started die too
    if group is not None:
        group.kill()
    kill_uid(uid)


def kill_uid(uid: int, *, timeout: float = 2.0) -> int:
    """Kill every process running as `uid` (a worker's own); returns how many were signalled.

    Sweeps /proc until a pass finds none alive: a process forking in a loop can add a child after one pass
    read the list, but not after it has been sent SIGKILL, so each pass leaves fewer.
    """
    killed, passes, deadline = 0, 0, time.monotonic() + timeout
    # At least MIN_PASSES whatever the clock: under load one pass over thousands of processes can outlast the
    # deadline, and the children forked while it read /proc need the next one (the forker is dead by then).
    while (alive := [pid for pid, _ in _own(uid)]) and (passes < MIN_PASSES or time.monotonic() < deadline):
        killed += sum(_signal(pid, signal.SIGKILL) for pid in alive)
        passes += 1
    return killed


MIN_PASSES = 3


def live_pids(uid: int) -> list[int]:
    """Pids running as `uid`, zombies left out (they are dead already, waiting for their parent)."""
    return [pid for pid, _ in _scan(uid)]


def _own(uid: int) -> list[tuple[int, str]]:
    """The processes of a worker's uid we may signal; none without root, where the worker kept our own uid
    (signalling by uid would reach the grader): its process group is all we may touch then."""
    return _scan(uid) if os.geteuid() == 0 and uid != 0 else []


def _scan(uid: int) -> list[tuple[int, str]]:
    """(pid, state letter) of the live processes of `uid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = dict(line.split(":", 1) for line in (entry / "status").read_text().splitlines()
                              if ":" in line)
                state = fields["State"].strip()[:1]
                if int(fields["Uid"].split()[0]) == uid and state != "Z":
                    found.append((int(entry.name), state))
            except (OSError, ValueError, KeyError, IndexError):
                continue  # it ended meanwhile
    return found


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _signal(pid: int, sig: signal.Signals) -> bool:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True
