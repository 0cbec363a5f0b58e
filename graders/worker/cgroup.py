"""A memory cgroup per worker: one limit on all of its memory, shared mappings included, and a list of its processes.

RLIMIT_DATA (graders/worker/sandbox.py) counts heap and private mappings only; `mmap(-1, n)` (MAP_SHARED),
memfd_create and System V segments escape it. The kernel charges those to the process's memory cgroup, so the
grader makes one per worker, under its own, and the worker joins it before it drops root. The cgroup's process
list also finds whatever the worker started, under any uid or session, which `kill()` empties.

cgroup v2 is preferred where the grader's own cgroup can delegate the memory controller; otherwise cgroup v1's
memory hierarchy. Neither: `create` raises CgroupUnavailable with the reason, and the report says the
protection was not in force.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path

MB = 1 << 20
PREFIX = "grader-"


class CgroupUnavailable(OSError):
    """No memory cgroup can be made here; the message says why."""


class Cgroup:
    """One worker's memory cgroup: made by the grader, joined by the worker, emptied and removed by the grader."""

    def __init__(self, path: Path, version: int, limit_mb: int):
        self.path, self.version, self.limit_mb = path, version, limit_mb

    @classmethod
    def create(cls, name: str, *, memory_mb: int) -> Cgroup:
        """Make `grader-<name>` under the grader's own memory cgroup, with `memory_mb` for all its memory."""
        above, version = parent()
        path = above / (PREFIX + name)
        try:
            path.mkdir()
            group = cls(path, version, memory_mb)
            group._limit(memory_mb * MB)
        except OSError as exc:
            _rmdir(path)
            raise CgroupUnavailable(f"cannot make a memory cgroup under {above}: {exc.strerror or exc}") from None
        return group

    def _limit(self, size: int) -> None:
        if self.version == 2:
            (self.path / "memory.max").write_text(str(size))
            _write_if_present(self.path / "memory.swap.max", "0")
        else:
            (self.path / "memory.limit_in_bytes").write_text(str(size))
            _write_if_present(self.path / "memory.memsw.limit_in_bytes", str(size))  # after: must be >= the above

    def describe(self, limit: str = "") -> str:
        limit = limit or f"{self.limit_mb} MB"
        return f"{limit} of all memory, shared mappings included (cgroup v{self.version} {self.path.name})"

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return []

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process here for going over the limit."""
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            fields = dict(line.split() for line in (self.path / name).read_text().splitlines() if line.strip())
        except (OSError, ValueError):
            return False
        return int(fields.get("oom_kill", 0)) > 0

    def kill(self, *, timeout: float = 2.0) -> None:
        """SIGKILL every process in the group until none is left (a forking loop is caught on a later pass)."""
        try:
            if _write_if_present(self.path / "cgroup.kill", "1"):
                return  # cgroup v2 on Linux 5.14+: atomic, forks included
        except OSError:
            pass  # the group is gone, or refuses: the loop below finds no one or does it by hand
        deadline = time.monotonic() + timeout
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.005)

    def remove(self, *, timeout: float = 2.0) -> None:
        """Remove the (emptied) group; processes that are dying still hold it for a moment."""
        deadline = time.monotonic() + timeout
        while not _rmdir(self.path) and time.monotonic() < deadline:
            self.kill(timeout=0.1)
            time.sleep(0.01)


def probe() -> tuple[bool, str]:
    """Whether a worker's memory cgroup can be made here, and how it limits (or why not): made and removed."""
    try:
        group = Cgroup.create(f"probe-{os.getpid()}", memory_mb=64)
    except CgroupUnavailable as exc:
        return False, str(exc)
    group.remove()
    return True, group.describe(limit="memory_mb")


def discard(path: str) -> None:
    """Kill what is left in a worker's group and remove it (a zygote whose grader died cleans up with this)."""
    Cgroup(Path(path), version=0, limit_mb=0).remove()


def join(path: str) -> None:
    """Move the calling process into the group (the worker, as root, before it locks down)."""
    Path(path, "cgroup.procs").write_text("0")  # "0": the writer itself, in v1 and v2


def parent() -> tuple[Path, int]:
    """The directory of this process's own memory cgroup (workers' groups go below), and its version."""
    own = _own_cgroups()
    mounts = _cgroup_mounts()
    reasons = []
    if "" in own and "cgroup2" in mounts:
        path = _under_mount(mounts["cgroup2"], own[""])
        why = _v2_delegates_memory(path)
        if why is None:
            return path, 2
        reasons.append(why)
    if "memory" in own and "memory" in mounts:
        return _under_mount(mounts["memory"], own["memory"]), 1
    reasons.append("no cgroup v1 memory hierarchy is mounted" if "memory" not in mounts else "not in a memory cgroup")
    raise CgroupUnavailable("; ".join(reasons))


def _own_cgroups() -> dict[str, str]:
    """controller -> path from /proc/self/cgroup; "" is cgroup v2's unified hierarchy."""
    found = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                found[name] = path
    except (OSError, ValueError):
        pass
    return found


def _cgroup_mounts() -> dict[str, tuple[str, str]]:
    """"cgroup2" or a v1 controller -> (mount point, the cgroup path mounted there) from /proc/self/mountinfo."""
    found: dict[str, tuple[str, str]] = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        head, _, tail = line.partition(" - ")
        fields, (fstype, _source, options) = head.split(), (tail.split() + ["", "", ""])[:3]
        if fstype == "cgroup2":
            found.setdefault("cgroup2", (fields[4], fields[3]))
        elif fstype == "cgroup":
            for name in options.split(","):
                found.setdefault(name, (fields[4], fields[3]))
    return found


def _under_mount(mount: tuple[str, str], path: str) -> Path:
    point, root = mount
    relative = os.path.relpath(path, root) if path.startswith(root) else path.lstrip("/")
    return Path(point, relative).resolve()


def _v2_delegates_memory(path: Path) -> str | None:
    """None if children of `path` can get a memory limit; else why not."""
    try:
        if "memory" not in (path / "cgroup.controllers").read_text().split():
            return f"cgroup v2: the memory controller is not available in {path}"
        if "memory" not in (path / "cgroup.subtree_control").read_text().split():
            (path / "cgroup.subtree_control").write_text("+memory")
    except OSError as exc:
        # EBUSY: v2 lets no cgroup with processes of its own hand controllers down (the grader is in it).
        return f"cgroup v2: cannot enable memory for children of {path}: {exc.strerror or exc}"
    return None


def _write_if_present(path: Path, value: str) -> bool:
    """Write a control file this kernel or hierarchy may lack (cgroupfs refuses to create one: EACCES)."""
    if not path.exists():
        return False
    path.write_text(value)
    return True


def _rmdir(path: Path) -> bool:
    """True once there is nothing more to do: removed, gone, or refused for good (not merely busy)."""
    try:
        path.rmdir()
    except OSError as exc:
        return exc.errno not in (errno.EBUSY, errno.ENOTEMPTY)
    return True
