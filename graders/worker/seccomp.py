"""A seccomp-BPF deny-list for the worker: system calls that undo or outlive the sandbox fail, even from native code."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
import sys
from dataclasses import dataclass

from graders.worker.sandbox import Protection

# The audit hook sees ctypes look-ups by name only: libc's unshare reached through a computed address, or an
# extension module, went past it (security issue, finding 9). The kernel applies this filter to every caller.

_EPERM, _ENOSYS = errno.EPERM, errno.ENOSYS
DENIED: dict[str, int] = {
    # Namespaces and mounts: enough to step around the covers lock_down laid, where the kernel allows it.
    "unshare": _EPERM, "setns": _EPERM, "mount": _EPERM, "umount2": _EPERM, "pivot_root": _EPERM, "chroot": _EPERM,
    "open_tree": _EPERM, "open_tree_attr": _EPERM, "move_mount": _EPERM, "fsopen": _EPERM, "fsconfig": _EPERM,
    "fsmount": _EPERM, "fspick": _EPERM, "mount_setattr": _EPERM,
    # New processes and programs: the hook sees os.fork, not _posixsubprocess.fork_exec nor native code. `clone` is
    # judged by its flags below, since threads use it too.
    "fork": _EPERM, "vfork": _EPERM, "execve": _EPERM, "execveat": _EPERM,
    # clone3's flags lie in memory, where BPF cannot read them. glibc's pthread_create falls back to clone on
    # ENOSYS (Docker's default profile does the same).
    "clone3": _ENOSYS,
    # Other processes' memory and descriptors: the grader's, where the worker keeps the grader's uid.
    "ptrace": _EPERM, "process_vm_readv": _EPERM, "process_vm_writev": _EPERM, "pidfd_getfd": _EPERM,
    "process_madvise": _EPERM,
    # The kernel keyring outlives the process: one worker start could leave data there for the next.
    "add_key": _EPERM, "request_key": _EPERM, "keyctl": _EPERM,
    # Kernel attack surface no training needs; io_uring's operations do not pass through seccomp at all.
    "bpf": _EPERM, "perf_event_open": _EPERM, "userfaultfd": _EPERM,
    "io_uring_setup": _EPERM, "io_uring_enter": _EPERM, "io_uring_register": _EPERM,
    # Code loaded into the kernel.
    "kexec_load": _EPERM, "kexec_file_load": _EPERM, "init_module": _EPERM, "finit_module": _EPERM,
    "delete_module": _EPERM,
    # A file handle opens a file without a path look-up, so without meeting the mount covers.
    "name_to_handle_at": _EPERM, "open_by_handle_at": _EPERM,
    # Machine-wide settings: the kernel wants capabilities the worker drops; refused here too in case a worker
    # ever keeps uid 0 with some of them.
    "acct": _EPERM, "swapon": _EPERM, "swapoff": _EPERM, "reboot": _EPERM, "sethostname": _EPERM,
    "setdomainname": _EPERM, "settimeofday": _EPERM, "clock_settime": _EPERM, "clock_adjtime": _EPERM,
    "syslog": _EPERM, "quotactl": _EPERM, "iopl": _EPERM, "ioperm": _EPERM,
}


@dataclass(frozen=True)
class Table:
    """One system call ABI: its audit architecture (AUDIT_ARCH_*) and its numbers."""

    arch: int
    numbers: dict[str, int]  # a name missing here does not exist on this architecture (fork on aarch64)


# From <asm/unistd_64.h> and <asm-generic/unistd.h>; calls since Linux 5.1 (424 on) share one numbering.
_COMMON = {"open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433,
           "clone3": 435, "pidfd_getfd": 438, "process_madvise": 440, "mount_setattr": 442, "open_tree_attr": 467,
           "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427}
TABLES = {
    "x86_64": Table(0xC000003E, {**_COMMON, "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "execveat": 322,
                                 "unshare": 272, "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155,
                                 "chroot": 161, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
                                 "add_key": 248, "request_key": 249, "keyctl": 250, "bpf": 321,
                                 "perf_event_open": 298, "userfaultfd": 323, "kexec_load": 246,
                                 "kexec_file_load": 320, "init_module": 175, "finit_module": 313,
                                 "delete_module": 176, "name_to_handle_at": 303, "open_by_handle_at": 304,
                                 "acct": 163, "swapon": 167, "swapoff": 168, "reboot": 169, "sethostname": 170,
                                 "setdomainname": 171, "settimeofday": 164, "clock_settime": 227,
                                 "clock_adjtime": 305, "syslog": 103, "quotactl": 179, "iopl": 172, "ioperm": 173,
                                 "seccomp": 317}),
    "aarch64": Table(0xC00000B7, {**_COMMON, "clone": 220, "execve": 221, "execveat": 281, "unshare": 97,
                                  "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51,
                                  "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "add_key": 217,
                                  "request_key": 218, "keyctl": 219, "bpf": 280, "perf_event_open": 241,
                                  "userfaultfd": 282, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105,
                                  "finit_module": 273, "delete_module": 106, "name_to_handle_at": 264,
                                  "open_by_handle_at": 265, "acct": 89, "swapon": 224, "swapoff": 225,
                                  "reboot": 142, "sethostname": 161, "setdomainname": 162, "settimeofday": 170,
                                  "clock_settime": 112, "clock_adjtime": 266, "syslog": 116, "quotactl": 60,
                                  "seccomp": 277}),
}

# Classic BPF (<linux/filter.h>, <linux/seccomp.h>).
_LD_ABS, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS; BPF_JMP|op|K; BPF_RET|K
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
_NR, _ARCH, _ARG0 = 0, 4, 16  # struct seccomp_data; _ARG0 is the low half of args[0] (little-endian only)
CLONE_THREAD = 0x00010000
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET: a thread may not bring namespaces either.
CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
# x32 ABI calls on x86_64 carry this bit and numbers of their own, which the list would not match.
_X32_BIT = 0x40000000
_SET_MODE_FILTER, _FLAG_TSYNC, _PR_SET_NO_NEW_PRIVS = 1, 1, 38


def table_for(machine: str, pointer_bytes: int = 8, byteorder: str = "little") -> Table | None:
    """The table for a 64-bit little-endian interpreter on `machine` (platform.machine()), or None.

    The kernel's name is not enough: a 32-bit interpreter on an x86_64 kernel makes i386 calls.
    """
    return TABLES.get(machine) if pointer_bytes == 8 and byteorder == "little" else None


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)  # struct sock_filter


def build(table: Table) -> bytes:
    """The filter program: foreign ABIs refused, DENIED refused, clone allowed for threads only, the rest allowed."""
    refuse = _op(_RET, RET_ERRNO | _EPERM)
    program = [
        _op(_LD_ABS, _ARCH),
        _op(_JEQ, table.arch, jt=1),  # int 0x80 (i386) or arm32 compat calls use other numbers: refuse them all
        refuse,
        _op(_LD_ABS, _NR),
        _op(_JGE, _X32_BIT, jf=1),  # an x32 number, or one no table has
        refuse,
    ]
    for name, err in DENIED.items():
        if name in table.numbers:
            program += [_op(_JEQ, table.numbers[name], jf=1), _op(_RET, RET_ERRNO | err)]
    program += [
        _op(_JEQ, table.numbers["clone"], jf=5),
        _op(_LD_ABS, _ARG0),  # clone's flags (every flag clone() accepts is in the low half)
        _op(_JSET, CLONE_NAMESPACES, jt=2),
        _op(_JSET, CLONE_THREAD, jf=1),  # without it, clone makes a process (glibc's fork, posix_spawn)
        _op(_RET, RET_ALLOW),
        refuse,
        _op(_RET, RET_ALLOW),
    ]
    return b"".join(program)


class _Program(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]  # struct sock_fprog


def install() -> Protection:
    """Put the filter in force for this process, its threads and anything they start, for good.

    Call it after lock_down (which needs unshare and mount) and before the audit hook, which refuses ctypes
    look-ups of `syscall`. Never raises: where it cannot be installed, the Protection says why.
    """
    if sys.platform != "linux":
        return _off(f"needs Linux, this is {sys.platform}")
    table = table_for(platform.machine(), struct.calcsize("P"), sys.byteorder)
    if table is None:
        return _off(f"no system call table for {platform.machine()} ({8 * struct.calcsize('P')}-bit "
                    f"{sys.byteorder}-endian interpreter)")
    try:
        err = _load(build(table), table.numbers["seccomp"])
    except (OSError, AttributeError) as exc:  # no libc to call: the worker goes on without the filter
        err = f"cannot call libc: {exc}"
    if err:
        return _off(err)
    refused = sum(name in table.numbers for name in DENIED)
    return Protection("seccomp", True, f"filter on every thread: {refused} system calls refused (namespaces, mounts, "
                      "new processes, ptrace, keyring, bpf, io_uring, kernel modules, file handles), clone only for "
                      "threads, other ABIs refused")


def _load(code: bytes, seccomp_nr: int) -> str | None:
    """Hand the program to the kernel; None, or why it refused."""
    # A libc handle of our own: a `syscall` resolved on sandbox's cached one would stay reachable to student
    # code without the look-up the audit hook refuses.
    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(code, len(code))
    program = _Program(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    one, zero = ctypes.c_ulong(1), ctypes.c_ulong(0)
    # Without no_new_privs (lock_down sets it), an unprivileged process may not install a filter.
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, one, zero, zero, zero) != 0:
        return _refused("prctl(PR_SET_NO_NEW_PRIVS)")
    # TSYNC: every thread gets the filter, in case one started already (a thread without it could fork).
    ret = libc.syscall(ctypes.c_long(seccomp_nr), ctypes.c_long(_SET_MODE_FILTER), ctypes.c_long(_FLAG_TSYNC),
                       ctypes.byref(program))
    if ret > 0:
        return f"thread {ret} has a filter of its own that cannot be synchronised"
    return _refused("seccomp(SECCOMP_SET_MODE_FILTER)") if ret != 0 else None


def _refused(what: str) -> str:
    err = ctypes.get_errno()
    return f"{what} refused: {errno.errorcode.get(err, err)} ({os.strerror(err)})"


def _off(why: str) -> Protection:
    return Protection("seccomp", False, f"not in force: {why}")
