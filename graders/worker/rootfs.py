"""The worker's view of the files: a new root holding only what it may read, or, failing that, covers over the rest."""

from __future__ import annotations

import ctypes
import errno
import functools
import glob
import os
import platform
import re
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from graders.files import under

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
MNT_DETACH = 2
PACKAGE = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # .../graders, never the course above it
# What the interpreter, torch and the C libraries read. A symlink among them (merged /usr) is recreated, not bound.
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")  # empty and capped in the new root
# Directories every user may write to in the grader's root: without a new root, each gets a capped overlay.
SHARED_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
_STAGE = "/tmp"  # where the new root is assembled: every source is opened before the stage covers it
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}  # glibc has no wrapper
_DEV_LINKS = {"/dev/fd": "/proc/self/fd", "/dev/stdin": "/proc/self/fd/0", "/dev/stdout": "/proc/self/fd/1",
              "/dev/stderr": "/proc/self/fd/2"}
Step = tuple[str, bool, Callable[[str], "str | None"]]  # target, is a directory, mount on the staged target: a note


@functools.cache
def libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)  # dlopen(NULL): libc is already loaded, no find_library subprocess


def check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what} failed: {errno.errorcode.get(err, err)}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    args = [None if s is None else os.fsencode(s) for s in (source, target, fstype, data)]
    check(libc().mount(args[0], args[1], args[2], ctypes.c_ulong(flags), args[3]), f"mount on {target}")


def outermost(paths: Sequence[str]) -> list[str]:
    """Existing, absolute, symlink-free paths; one inside another is dropped, the outer mount shows it."""
    kept: list[str] = []
    for path in sorted({r for r in map(os.path.realpath, paths) if os.path.exists(r)}, key=len):
        if not any(under(path, k) for k in kept):
            kept.append(path)
    return kept


def needed_paths(workdir: str, read_paths: Sequence[str], hidden: Sequence[str]) -> list[str]:
    """What the worker reads once locked down, as real paths: its workdir, the interpreter, the graders package,
    the sys.path entries and `read_paths`. An entry holding the package or a denied path (the course's root, put
    on sys.path by `python -m pytest`) is left out: it would show the whole course."""
    entries = [os.path.realpath(p) for p in sys.path if p and os.path.exists(p)]
    entries = [p for p in entries if not any(under(q, p) for q in (PACKAGE, *hidden))]
    paths = [workdir, sys.prefix, sys.base_prefix, PACKAGE, *entries, *read_paths]
    return list(dict.fromkeys(os.path.realpath(p) for p in paths if p and os.path.exists(p)))


def enter(*, workdir: str, needed: Sequence[str], hidden: Sequence[str], scratch_mb: int,
          written: Sequence[str] = ()) -> str:
    """Pivot into a new root holding `needed` read-only, the workdir under a capped overlay, empty capped scratch,
    a minimal /dev, /proc and /sys; detach the old root. Returns what the new root holds.

    `needed` are real paths; the symlinks on the way to `written` (read_paths as the grader wrote them), to the
    interpreter and to sys.path entries are recreated, so those paths stay valid too.

    Call it in a private mount namespace. Raises OSError, the grader's tree as it was, where the kernel refuses a
    step: the caller then falls back to covers (`cover`).
    """
    readonly = outermost([*SYSTEM, *(p for p in needed if not under(p, workdir))])
    devices = [f"/dev/{name}" for name in DEVICES] + sorted(glob.glob("/dev/nvidia*"))  # CUDA's device files
    devices = [d for d in devices if os.path.exists(d)]
    with _opened([*readonly, *devices, workdir, "/proc", "/sys", "/dev/null"]) as fd:
        steps: list[Step] = [(p, os.path.isdir(p), functools.partial(_bind, fd[p], readonly=True)) for p in readonly]
        steps += [(d, True, functools.partial(_tmpfs, size_mb=scratch_mb)) for d in SCRATCH]
        steps += [(d, os.path.isdir(d), functools.partial(_bind, fd[d], readonly=False)) for d in devices]
        steps += [("/proc", True, functools.partial(_proc, fd["/proc"])),
                  (workdir, True, functools.partial(_workdir, fd[workdir], size_mb=scratch_mb))]
        steps += [("/sys", True, functools.partial(_sys, fd["/sys"]))] if "/sys" in fd else []
        interpreter = [sys.prefix, sys.base_prefix, *(p for p in sys.path if os.path.isabs(p))]
        links = {**_links([*SYSTEM, *interpreter, *written]), **_DEV_LINKS}
        mount("tmpfs", _STAGE, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=0755")
        try:
            notes = _assemble(_STAGE, steps, links)
            covered = cover(hidden, stage=_STAGE, null=fd["/dev/null"])
            # Read-only last: what the worker may write lies in the mounts above, capped.
            mount(None, _STAGE, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)
            _pivot(_STAGE)
        except OSError:
            libc().umount2(os.fsencode(_STAGE), MNT_DETACH)  # everything assembled goes with it
            raise
    names = ", ".join(d.removeprefix("/dev/") for d in devices)
    return (f"read-only: {', '.join(readonly)}; empty {', '.join(SCRATCH)}; /dev: {names}; "
            f"{'; '.join(n for n in notes if n)}; denied paths inside, emptied: {', '.join(covered) or 'none'}")


@contextmanager
def _opened(paths: Sequence[str]) -> Iterator[dict[str, str]]:
    """Path -> /proc/self/fd/N of an O_PATH descriptor: the sources stay reachable once the stage covers /tmp.
    Every descriptor is closed again, whatever happens: none into the grader's tree may reach the student."""
    fds: dict[str, int] = {}
    try:
        for path in dict.fromkeys(paths):
            if os.path.lexists(path):
                fds[path] = os.open(path, os.O_PATH | os.O_CLOEXEC)
        yield {p: f"/proc/self/fd/{fd}" for p, fd in fds.items()}
    finally:
        for fd in fds.values():
            os.close(fd)


def _assemble(stage: str, steps: list[Step], links: dict[str, str]) -> list[str | None]:
    """Mount each step on its path under `stage`, parents first, then add the symlinks where nothing is."""
    old_umask = os.umask(0o022)  # the skeleton is root's, 0755: traversable by the dropped uid, not writable
    try:
        notes = []
        for target, is_dir, action in sorted(steps, key=lambda step: step[0]):
            staged = stage + target
            os.makedirs(os.path.dirname(staged), exist_ok=True)
            if not os.path.lexists(staged):
                os.mkdir(staged) if is_dir else os.close(os.open(staged, os.O_CREAT | os.O_WRONLY, 0o644))
            notes.append(action(staged))
        for link, text in sorted(links.items()):
            if not os.path.lexists(stage + link):
                os.makedirs(os.path.dirname(stage + link), exist_ok=True)
                os.symlink(text, stage + link)
        return notes
    finally:
        os.umask(old_umask)


def _links(paths: Sequence[str]) -> dict[str, str]:
    """Every symlink met on the way to `paths` (/lib -> usr/lib, a venv reached through a link): the new root
    binds real paths, and these links keep the paths as written (sys.path, module __file__) valid there."""
    found: dict[str, str] = {}
    todo = [os.path.abspath(p) for p in paths]
    while todo and len(found) < 256:  # a bound on link loops
        current = "/"
        for part in todo.pop().strip("/").split("/"):
            step = os.path.join(current, part)
            if os.path.islink(step) and step not in found:
                found[step] = os.readlink(step)
                todo.append(os.path.normpath(os.path.join(current, found[step])))
            current = os.path.realpath(step)
    return found


def _bind(source: str, target: str, *, readonly: bool) -> None:
    # MS_REC: a user namespace refuses to split a mount from those below it (Docker's /etc/hosts under /etc).
    mount(source, target, None, MS_BIND | MS_REC)
    if readonly:  # MS_RDONLY on a bind applies to one mount: each of those below needs its own remount
        for point in [target, *_submounts(target)]:
            kept = os.statvfs(point).f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC)  # ST_* equal MS_* for these
            mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)  # a user namespace may not drop them


def _submounts(target: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:  # field 5 is the mount point, with \040-style escapes
        points = [re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), line.split()[4]) for line in f]
    return [p for p in points if under(p, target) and p != target]


def _tmpfs(target: str, *, size_mb: int) -> None:
    # nr_inodes: empty files cost kernel memory that size= does not count.
    mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,nr_inodes=65536,mode=1777")


def _workdir(source: str, target: str, *, size_mb: int) -> str:
    mount(source, target, None, MS_BIND | MS_REC)
    overlay(target, size_mb)
    return f"the workdir under an overlay ({size_mb} MB)"


def _proc(source: str, target: str) -> str:
    """A /proc of our own that shows only the worker's processes once it drops its uid (see `private_proc`);
    where the kernel refuses one (a user namespace without its own pid namespace), the grader's."""
    try:
        mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible")
        return "/proc shows only the worker's own processes"
    except OSError as exc:
        mount(source, target, None, MS_BIND | MS_REC)
        return f"/proc shows every process ({exc.strerror})"


def _sys(source: str, target: str) -> str:
    """/sys read-only (torch reads the CPU topology there, CUDA the devices); left out where the kernel refuses."""
    try:
        _bind(source, target, readonly=True)
        return "/sys read-only"
    except OSError as exc:
        libc().umount2(os.fsencode(target), MNT_DETACH)  # whatever part of it was mounted
        return f"no /sys ({exc.strerror})"


def _pivot(new_root: str) -> None:
    """Make `new_root` the root and detach the old one: nothing of it stays reachable, not even through `..`."""
    number = _PIVOT_ROOT.get(platform.machine())
    if number is None:
        raise OSError(errno.ENOSYS, f"no pivot_root number known for {platform.machine()}")
    os.chdir(new_root)
    check(libc().syscall(number, b".", b"."), "pivot_root")  # the old root lands on top of the new one, at "."
    if libc().umount2(b".", MNT_DETACH) != 0:  # past the point of return: the old root would show, fail closed
        raise RuntimeError(f"cannot detach the old root: {os.strerror(ctypes.get_errno())}")
    os.chdir("/")


def cover(hidden: Sequence[str], *, stage: str = "", null: str = "/dev/null") -> list[str]:
    """Lay an empty read-only mount over each denied path present under `stage`; returns those covered."""
    covered = []
    for path in hidden:
        target = stage + path
        if os.path.isdir(target):
            mount("tmpfs", target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555")
        elif os.path.lexists(target):  # a file: an empty one reads in its place
            mount(null, target, None, MS_BIND)
        else:
            continue
        covered.append(path)
    return covered


def overlay_shared(workdir: str, size_mb: int) -> list[str]:
    """Without a new root: a capped overlay on the workdir and each world-writable directory; returns them."""
    shared = [os.path.realpath(d) for d in SHARED_DIRS if os.path.isdir(d) and os.stat(d).st_mode & stat.S_IWOTH]
    layered = outermost([*shared, workdir])
    for path in layered:
        overlay(path, size_mb)
    return layered


def overlay(path: str, size_mb: int) -> None:
    """Mount an overlay on `path`: the original below (read-only), a fresh capped tmpfs above for the writes."""
    info = os.stat(path)
    lower = os.open(path, os.O_PATH | os.O_DIRECTORY)  # the original, reachable once the tmpfs covers it
    top = -1
    try:
        # nr_inodes: empty files cost kernel memory that size= does not count.
        mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,nr_inodes=65536,mode=0700")
        top = os.open(path, os.O_PATH | os.O_DIRECTORY)
        for name in ("upper", "work"):
            os.mkdir(os.path.join(path, name), 0o700)
        upper = os.path.join(path, "upper")
        os.chown(upper, info.st_uid, info.st_gid)  # the overlay's root takes the upper root's owner and mode:
        os.chmod(upper, stat.S_IMODE(info.st_mode))  # /tmp stays 1777, a workdir 0700
        options = f"lowerdir=/proc/self/fd/{lower},upperdir=/proc/self/fd/{top}/upper,workdir=/proc/self/fd/{top}/work"
        try:
            mount("overlay", path, "overlay", MS_NOSUID | MS_NODEV, options)
        except OSError:
            mount("overlay", path, "overlay", MS_NOSUID | MS_NODEV, options + ",userxattr")  # in a user namespace
    except OSError:
        if top >= 0:
            libc().umount2(os.fsencode(path), MNT_DETACH)  # leave the path as it was
        raise
    finally:
        for fd in (lower, top):
            if fd >= 0:
                os.close(fd)


def private_proc() -> str:
    """Without a new root: a /proc of our own over the grader's, listing only the worker's uid once it drops.

    The audit hook refuses /proc/<pid> of others by path, but a relative path under an open directory
    (os.open("1/cmdline", dir_fd=...)) carries no absolute path to check. Since Linux 5.8 each proc mount has its
    own options; older kernels refuse "invisible" (EINVAL) and the shared one stays untouched.
    """
    try:
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible")
    except OSError as exc:
        return f"/proc shows every process ({exc.strerror})"
    return "/proc shows only the worker's own processes"


def bridge(needed: Sequence[str]) -> list[str]:
    """Without a new root: make needed paths reachable by the dropped uid; cover each blocking ancestor with a
    root-owned 0755 tmpfs and bind them back. E.g. pyenv under /root (mode 700); the cover hides the rest of /root.
    """
    covers: dict[str, list[str]] = {}
    for path in needed:
        ancestor = _blocking_ancestor(path)
        if ancestor:
            covers.setdefault(ancestor, []).append(path)
    old_umask = os.umask(0o022)
    try:
        for ancestor, paths in covers.items():
            keep = [p for p in paths if not any(q != p and under(p, q) for q in paths)]
            fds = [os.open(p, os.O_PATH) for p in keep]  # handles that survive the cover
            mount("tmpfs", ancestor, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
            for path, fd in zip(keep, fds, strict=True):
                if stat.S_ISDIR(os.fstat(fd).st_mode):
                    os.makedirs(path, exist_ok=True)
                else:  # a read_paths file (a checkpoint)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
                mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)  # MS_REC keeps the deny covers
                os.close(fd)
    finally:
        os.umask(old_umask)
    return list(covers)


def _blocking_ancestor(path: str) -> str | None:
    """The highest directory above `path` that others cannot traverse (like /root, mode 700), if any."""
    parts = path.strip("/").split("/")
    for i in range(1, len(parts)):
        ancestor = "/" + "/".join(parts[:i])
        if not os.stat(ancestor).st_mode & stat.S_IXOTH:
            return ancestor
    return None
