"""Lock the worker process down before it runs student code: namespaces, an unprivileged uid, rlimits, an audit hook."""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from graders.files import under
from graders.worker import rootfs
from graders.worker.rootfs import MS_PRIVATE, MS_REC
from graders.worker.rootfs import check as _check  # the old names: tests and other modules call them
from graders.worker.rootfs import libc as _libc

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = 0x00020000, 0x10000000, 0x40000000
CLONE_NEWIPC = 0x08000000
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
CAP_SYS_ADMIN = 21
MB = 1 << 20
NAMES = ("network", "filesystem", "scratch", "user", "memory", "cpu_time", "processes", "file_size", "open_files",
         "seccomp", "audit_hook", "memory_cgroup")
_NAMESPACED = NAMES[:4]  # what needs Linux namespaces; the rest are rlimits and the hook


@dataclass(frozen=True)
class Protection:
    """One protection and whether it is in force; `detail` says how, or why not."""

    name: str  # one of NAMES
    active: bool
    detail: str


def _off(name: str, why: str) -> Protection:
    return Protection(name, False, f"not in force: {why}")


def _unshare(flag: int, what: str) -> None:
    _check(_libc().unshare(flag), f"unshare({what})")


def _status(field: str) -> str:
    with open("/proc/self/status") as f:
        return next(line.split(":", 1)[1].strip() for line in f if line.startswith(field + ":"))


def lock_down(*, workdir: str, deny_paths: Sequence[str], memory_mb: int, cpu_s: int, processes: int,
              file_size_mb: int, open_files: int, allow_network: bool = False, uid: int = 65534,
              read_paths: Sequence[str] = (), scratch_mb: int | None = None) -> list[Protection]:
    """Confine this process for good; call it first, before any thread starts (importing torch starts some).

    Relative paths are taken from the current directory. `uid` is the unprivileged uid (and gid) a root worker
    drops to: give each parallel worker its own, since RLIMIT_NPROC and signals are per uid. `read_paths` are
    extra files and directories the worker must still read after the drop (checkpoints, a data folder): with the
    workdir, the interpreter and the graders package, they are all a new root holds (rootfs.enter). `scratch_mb`
    caps what the worker may write to its workdir and to each scratch directory (default: 4 x file_size_mb); those
    writes stay in memory of this worker's own and vanish with it.
    """
    workdir = os.path.realpath(workdir)
    if not os.path.isdir(workdir):
        raise ValueError(f"workdir {workdir} is not a directory")
    limits = (memory_mb, cpu_s, processes, file_size_mb, open_files)
    if sys.platform != "linux":  # a student's Mac: rlimits only
        why = f"needs Linux, this is {sys.platform}"
        return _settle(workdir, [_off(name, why) for name in _NAMESPACED] + _limits(*limits, nproc_off=why))
    if _status("Threads") != "1":  # unshare(CLONE_NEWUSER/CLONE_NEWNS) refuse a multi-threaded caller
        raise RuntimeError("lock_down must run before any thread starts (importing torch starts some)")
    hidden = rootfs.outermost(deny_paths)
    needed = rootfs.needed_paths(workdir, read_paths, hidden)
    for path in hidden:
        clash = next((n for n in needed if under(n, path)), None)
        if clash:
            raise ValueError(f"deny path {path} contains {clash}, which the worker needs")
    root = os.getuid() == 0  # asked before a user namespace can hide it
    privileged = bool(int(_status("CapEff"), 16) >> CAP_SYS_ADMIN & 1)
    userns = None if privileged else _enter_user_namespace()
    where = "" if privileged else " in a user namespace"
    network = _network(allow_network, where, userns)
    scratch_mb = scratch_mb if scratch_mb is not None else max(64, 4 * file_size_mb)
    filesystem, scratch, bridge = _filesystem(hidden, workdir, needed, read_paths, scratch_mb, where, userns)
    user = _become(uid, workdir, needed, bridge)
    exempt = "the kernel exempts uid 0 from RLIMIT_NPROC" if root and not user.active else None
    return _settle(workdir, [network, filesystem, scratch, user, *_limits(*limits, nproc_off=exempt)])


def _settle(workdir: str, protections: list[Protection]) -> list[Protection]:
    os.chdir(workdir)
    os.environ.update(HOME=workdir, TMPDIR=workdir)
    os.umask(0o077)  # what the student writes stays private to its uid
    return protections


def _enter_user_namespace() -> str | None:
    """Without CAP_SYS_ADMIN, a user namespace of our own grants it for new namespaces; None or why not."""
    uid, gid = os.getuid(), os.getgid()
    try:
        _unshare(CLONE_NEWUSER, "CLONE_NEWUSER")
    except OSError as exc:
        return exc.strerror or str(exc)
    try:
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    except OSError:
        pass  # mapping uid 0 needs CAP_SETFCAP: unmapped, ids read as 65534, the namespaces still work
    return None


def _network(allow: bool, where: str, userns: str | None) -> Protection:
    if allow:
        return _off("network", "network allowed by the configuration")
    try:
        _unshare(CLONE_NEWNET, "CLONE_NEWNET")
    except OSError as exc:
        return _off("network", _why(exc, userns))
    names = ", ".join(name for _, name in socket.if_nameindex())
    return Protection("network", True, f"new network namespace{where}: interfaces {names or 'none'}, all down")


def _why(exc: OSError, userns: str | None) -> str:
    extra = f"; no user namespace either: {userns}" if userns else ""
    return f"{exc.strerror}{' (not root)' if os.geteuid() else ''}{extra}"


def _filesystem(hidden: list[str], workdir: str, needed: list[str], read_paths: Sequence[str], scratch_mb: int,
                where: str, userns: str | None) -> tuple[Protection, Protection, bool]:
    """In a private mount namespace, a new root holding only `needed` (rootfs.enter); where the kernel refuses
    one, covers over each denied path. The flag says whether the dropped uid still needs rootfs.bridge."""
    try:
        _unshare(CLONE_NEWNS, "CLONE_NEWNS")
        # Without this, mounts under shared "/" would propagate back to the grader's namespace.
        rootfs.mount(None, "/", None, MS_REC | MS_PRIVATE)
    except OSError as exc:
        why = _why(exc, userns)
        return _off("filesystem", why), _off("scratch", why), False
    ipc = _ipc()
    try:
        view = rootfs.enter(workdir=workdir, needed=needed, hidden=hidden, scratch_mb=scratch_mb, written=read_paths)
    except OSError as exc:
        return (*_covers(hidden, workdir, scratch_mb, where, f"no new root: {exc.strerror}", ipc), True)
    scratch = (f"empty {', '.join(rootfs.SCRATCH)} and an overlay on the workdir, tmpfs of this worker's own "
               f"({scratch_mb} MB each): writes never reach the disk; {ipc}")
    return (Protection("filesystem", True, f"new root{where} (allow-list), nothing else: {view}"),
            Protection("scratch", True, scratch), False)


def _ipc() -> str:
    """A new IPC namespace: System V shared memory and POSIX message queues die with the worker."""
    try:
        _unshare(CLONE_NEWIPC, "CLONE_NEWIPC")
    except OSError as exc:
        return f"shares the grader's IPC namespace ({exc.strerror})"
    return "own IPC namespace"


def _covers(hidden: list[str], workdir: str, scratch_mb: int, where: str, why: str,
            ipc: str) -> tuple[Protection, Protection]:
    """The deny-list: capped overlays on the writable directories (what is there stays readable), then, on top of
    them, an empty read-only mount over each denied path."""
    try:
        layered = rootfs.overlay_shared(workdir, scratch_mb)
        scratch = Protection("scratch", True, f"writes to {', '.join(layered)} stay in tmpfs layers of this "
                                              f"worker{where} ({scratch_mb} MB each); {ipc}")
    except OSError as exc:
        scratch = _off("scratch", f"{exc.strerror}: writes reach the disk; {ipc}")
    try:
        covered = ", ".join(rootfs.cover(hidden)) or "nothing to cover"
    except OSError as exc:
        return _off("filesystem", f"{exc.strerror}"), scratch
    detail = f"private mount namespace{where}, deny-list ({why}); emptied read-only: {covered}; {rootfs.private_proc()}"
    return Protection("filesystem", True, detail), scratch


def _become(uid: int, workdir: str, needed: list[str], bridge: bool) -> Protection:
    """Drop to `uid` so the student cannot undo the namespaces nor write the grader's files."""
    _check(_libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")  # setuid binaries: no
    if os.geteuid() != 0:
        _drop_capabilities()  # our user namespace gave us all of them: enough to umount the covers
        return _off("user", "not root: runs as the grader's own uid; capabilities dropped")
    try:
        os.setgroups([])
        bridged = rootfs.bridge(needed) if bridge else []
        blocked = _unreadable_as(uid, [p for p in needed if p != workdir] + [os.__file__], workdir)
        if not blocked:  # only now: a capability-less root could not enter a workdir it gave away
            _chown_tree(workdir, uid)
    except OSError as exc:
        blocked = f"cannot switch to it ({exc.strerror})"
    if blocked:
        _drop_capabilities()
        return _off("user", f"kept uid 0 without capabilities; uid {uid}: {blocked}")
    os.setgid(uid)  # as root these set the real, effective and saved ids: no way back
    os.setuid(uid)
    via = f"; reachable through covers on {', '.join(bridged)}" if bridged else ""
    return Protection("user", True, f"uid {uid}, gid {uid}, no groups, no_new_privs; owns the workdir{via}")


def _chown_tree(top: str, uid: int) -> None:
    # fwalk and dir_fd: a symlink left by an earlier worker (same workdir after a restart) is never followed
    for _, dirs, files, dir_fd in os.fwalk(top):
        for name in dirs + files:
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode) or info.st_nlink == 1:  # a hard link may be a file outside too
                os.chown(name, uid, uid, dir_fd=dir_fd, follow_symlinks=False)
    os.chown(top, uid, uid)
    os.chmod(top, 0o700)


def _unreadable_as(uid: int, paths: list[str], workdir: str) -> str | None:
    """Read the paths (and reach the workdir, not yet its own) under the kernel's checks as `uid`, then back."""
    try:
        os.setegid(uid)
        os.seteuid(uid)
        for path in paths:
            try:
                os.listdir(path) if os.path.isdir(path) else open(path, "rb").close()
            except OSError as exc:
                return f"{path} is not readable ({exc.strerror})"
        try:
            os.stat(workdir)
        except OSError as exc:
            return f"the workdir is out of reach ({exc.strerror})"
        return None
    finally:
        os.seteuid(0)
        os.setegid(0)


def _drop_capabilities() -> None:
    """Clear every capability of this (only) thread, and the bounding set so exec cannot restore them."""
    for cap in range(64):
        _libc().prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # fails harmlessly past the last cap or without CAP_SETPCAP
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, the calling thread
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable for two 32-bit words: all zero
    _check(_libc().capset(header, data), "capset")


def _limits(memory_mb: int, cpu_s: int, processes: int, file_size_mb: int, open_files: int, *,
            nproc_off: str | None) -> list[Protection]:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write then fails with EFBIG, not a dead worker
    _lower(resource.RLIMIT_CORE, 0)
    return [
        _rlimit("memory", resource.RLIMIT_DATA, memory_mb * MB, MB, "MB of heap and private mappings"),
        _rlimit("cpu_time", resource.RLIMIT_CPU, cpu_s, 1, "CPU s, all threads: SIGXCPU, SIGKILL 1 s later", 1),
        _off("processes", nproc_off) if nproc_off else _processes(processes),
        _rlimit("file_size", resource.RLIMIT_FSIZE, file_size_mb * MB, MB, "MB per written file (EFBIG)"),
        _rlimit("open_files", resource.RLIMIT_NOFILE, open_files, 1, "open file descriptors"),
    ]


def _lower(which: int, soft: int, extra_hard: int = 0) -> int:
    """Set a limit, never above the current hard one; returns the soft limit now in force."""
    _, hard = resource.getrlimit(which)
    clamp = (lambda v: v) if hard == resource.RLIM_INFINITY else (lambda v: min(v, hard))
    resource.setrlimit(which, (clamp(soft), clamp(soft + extra_hard)))
    return clamp(soft)


def _rlimit(name: str, which: int, value: int, unit: int, what: str, extra_hard: int = 0) -> Protection:
    try:
        return Protection(name, True, f"{_lower(which, value, extra_hard) // unit} {what}")
    except (OSError, ValueError) as exc:
        return _off(name, f"setrlimit failed: {exc}")


def _processes(processes: int) -> Protection:
    uid = os.getuid()
    # RLIMIT_NPROC counts every task (threads too) the uid runs, so leave room for those already running.
    already = _tasks_of(uid)
    try:
        limit = _lower(resource.RLIMIT_NPROC, already + processes)
    except (OSError, ValueError) as exc:
        return _off("processes", f"setrlimit failed: {exc}")
    return Protection("processes", True, f"{limit} tasks (threads count) for uid {uid}, {already} already running")


def _tasks_of(uid: int) -> int:
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue  # it ended meanwhile
        if int(fields["Uid"].split()[0]) == uid:
            total += int(fields["Threads"])
    return total


_PATH_ARGS = {"open": (0,), "os.listdir": (0,), "os.scandir": (0,), "os.chdir": (0,), "os.mkdir": (0,),
              "os.remove": (0,), "os.rmdir": (0,), "os.rename": (0, 1), "os.link": (0, 1), "os.symlink": (0, 1),
              "os.truncate": (0,), "os.chmod": (0,), "os.chown": (0,), "os.utime": (0,)}
_FORBIDDEN = {"subprocess.Popen", "os.system", "os.exec", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn",
              "pty.spawn", "os.killpg"}
# Every family, AF_UNIX too: socket files reach host daemons (Docker's socket is root); socketpair() still works.
_NETWORK = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"}
# Symbols a student could reach through ctypes (even via ctypes.pythonapi) to leave the hook's reach; numerical
# libraries look up others at run time (threadpoolctl under scikit-learn), so only these are refused.
_SYMBOLS = {"fork", "vfork", "_Fork", "__libc_fork", "clone", "clone3", "__clone", "execve", "execv", "execvp",
            "execvpe", "execl", "execlp", "execle", "fexecve", "execveat", "system", "popen", "posix_spawn",
            "posix_spawnp", "syscall", "unshare", "setns", "mount", "umount", "umount2", "ptrace", "kill", "tgkill",
            "socket", "connect", "bind", "dlopen", "dlmopen", "__libc_dlopen_mode", "_PySys_ClearAuditHooks"}


def install_audit_hook(*, deny_paths: Sequence[str], allow_network: bool = False) -> Protection:
    """A second layer, for good: PermissionError on denied paths, new processes, planted libraries, network.

    Install it after torch is imported and before student code. Libraries load from the interpreter's prefixes
    and system directories only, so a shared object the student wrote cannot be loaded through ctypes.
    """
    roots = (sys.prefix, sys.base_prefix, "/usr", "/lib", "/lib64", "/opt")
    lib_roots = tuple({os.path.realpath(p).rstrip("/") + "/" for p in roots})
    forbidden = frozenset(_FORBIDDEN if allow_network else _FORBIDDEN | _NETWORK)
    me = os.getpid()
    denied = _path_checker(deny_paths, me)

    def hook(event: str, args: tuple) -> None:
        positions = _PATH_ARGS.get(event)
        if positions is not None:
            for i in positions:
                if i < len(args) and denied(args[i]):
                    raise PermissionError(f"sandbox: {event} on {args[i]!r} is not allowed")
        elif event in forbidden and not (event == "socket.sendmsg" and args[1] is None):  # None: connected
            raise PermissionError(f"sandbox: {event} is not allowed")
        elif event == "os.kill" and args[0] != me:
            raise PermissionError("sandbox: signalling other processes is not allowed")
        elif event == "ctypes.dlopen" and args[0] and "/" in str(args[0]):
            if not (os.path.realpath(os.fsdecode(args[0])) + "/").startswith(lib_roots):
                raise PermissionError(f"sandbox: loading {args[0]!r} is not allowed")
        elif event in ("ctypes.dlsym", "ctypes.dlsym/handle") and args[1] in _SYMBOLS:
            raise PermissionError(f"sandbox: ctypes access to {args[1]} is not allowed")

    sys.addaudithook(hook)
    net = "network calls, " if not allow_network else ""
    return Protection("audit_hook", True, f"blocks new processes, {net}signals to others, planted libraries, "
                      f"other processes' /proc and {len(deny_paths)} denied path(s)")


def _path_checker(deny_paths: Sequence[str], me: int) -> Callable[[object], bool]:
    """A fast test for the hook: is this path (symlinks resolved) denied, or another process's /proc entry?"""
    prefixes = tuple(os.path.realpath(p).rstrip("/") + "/" for p in deny_paths)

    def denied(path: object) -> bool:
        try:
            real = os.path.realpath(os.fsdecode(path)) + "/"  # type: ignore[arg-type]
        except TypeError:
            return False  # a descriptor (or None): the OS layer decides
        if real.startswith(prefixes):
            return True
        pid = real[6:].split("/", 1)[0] if real.startswith("/proc/") else ""
        return pid.isdigit() and int(pid) != me  # another process: its root, cwd, fds, environ

    return denied


_PROBE = """
import dataclasses, importlib.util, json, sys
spec = importlib.util.spec_from_file_location("sandbox_probe", sys.argv[1])
sandbox = sys.modules["sandbox_probe"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sandbox)
args = json.loads(sys.argv[2])
found = sandbox.lock_down(**args)
from graders.worker import seccomp  # before the hook, which refuses its look-up of syscall()
found.append(seccomp.install())
found.append(sandbox.install_audit_hook(deny_paths=args["deny_paths"]))
print(json.dumps([dataclasses.asdict(p) for p in found]))
"""


def available() -> list[Protection]:
    """What lock_down, the seccomp filter and install_audit_hook put in force here, tried in a throwaway child."""
    with tempfile.TemporaryDirectory(prefix="sandbox-probe-") as tmp:
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; the dropped uid must reach the workdir inside
        workdir, denied = os.path.join(tmp, "work"), os.path.join(tmp, "denied")
        os.mkdir(workdir)
        os.mkdir(denied)
        args = dict(workdir=workdir, deny_paths=[denied], memory_mb=4096, cpu_s=60, processes=64,
                    file_size_mb=64, open_files=256)
        try:
            proc = subprocess.run([sys.executable, "-I", "-c", _PROBE, os.path.realpath(__file__), json.dumps(args)],
                                  capture_output=True, text=True, timeout=60, start_new_session=True, check=True)
            found = [Protection(**p) for p in json.loads(proc.stdout)]
        except (subprocess.SubprocessError, ValueError, OSError) as exc:
            why = str(getattr(exc, "stderr", None) or exc).strip()[-300:]
            return [_off(name, f"probe failed: {why}") for name in NAMES]
    from graders.worker import cgroup  # made by the grader, not the worker: probed here

    active, detail = cgroup.probe()
    return [*found, Protection("memory_cgroup", True, detail) if active else _off("memory_cgroup", detail)]
