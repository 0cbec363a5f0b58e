"""Native calls the audit hook never sees: libc entry points found by reading libc's symbol table from disk."""

from __future__ import annotations

import platform
import struct
import sys
from pathlib import Path

import pytest

from graders.worker import seccomp
from tests.adversarial.conftest import hostile

# Where the kernel has seccomp and the worker a system call table, the filter must be in force: these tests do
# not skip on a worker that merely reports it off (that is the failure they are here to catch).
pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or "Seccomp:" not in Path("/proc/self/status").read_text()
    or seccomp.table_for(platform.machine(), struct.calcsize("P"), sys.byteorder) is None,
    reason="no seccomp in this kernel, or no system call table for this architecture",
)

# The audit hook refuses ctypes look-ups of `unshare` and `syscall` by name. This finds them without one: the
# address of an allowed function (getpid), minus its offset in libc's .dynsym, is where libc was loaded; the
# offsets of the refused names come from the same table, read from the file /proc/self/maps names.
NATIVE = '''
import ctypes, errno, os, platform, struct

# What the hostile code brings along: the numbers of the calls it makes through syscall().
_NR = {"x86_64": {"unshare": 272, "add_key": 248, "keyctl": 250, "clone": 56},
       "aarch64": {"unshare": 97, "add_key": 217, "keyctl": 219, "clone": 220}}[platform.machine()]
CLONE_NEWNS, CLONE_NEWUSER, SIGCHLD = 0x00020000, 0x10000000, 17


def _libc_path():
    with open("/proc/self/maps") as f:
        return next(line.split()[-1] for line in f if "/libc.so" in line or "/libc-" in line)


def _dynsym(path):
    """Name -> offset of every function libc exports, from the ELF file itself."""
    with open(path, "rb") as f:
        elf = f.read()
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", elf, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    symbols = next(s for s in sections if s[1] == 11)  # SHT_DYNSYM
    names = sections[symbols[6]][4]  # the offset of its string table (sh_link)
    found = {}
    for at in range(symbols[4], symbols[4] + symbols[5], 24):  # Elf64_Sym
        name, _, _, shndx, value, _ = struct.unpack_from("<IBBHQQ", elf, at)
        if shndx and value:
            found.setdefault(elf[names + name:elf.index(b"\\0", names + name)].decode(), value)
    return found


def _native(address, *argtypes):
    """The C function at `address`: errno kept, and the GIL held (a raw clone's child must run Python to exit)."""
    class Function(ctypes._CFuncPtr):
        _argtypes_ = argtypes
        _restype_ = ctypes.c_long
        _flags_ = ctypes._FUNCFLAG_CDECL | ctypes._FUNCFLAG_PYTHONAPI | ctypes._FUNCFLAG_USE_ERRNO
    return Function(address)


def _resolve(*names):
    offsets = _dynsym(_libc_path())
    base = ctypes.cast(ctypes.CDLL(None).getpid, ctypes.c_void_p).value - offsets["getpid"]  # an allowed look-up
    return [base + offsets[name] for name in names]


def _errno(call, *args):
    """The errno name of a failed call, or what it returned."""
    ctypes.set_errno(0)
    ret = call(*args)
    return errno_name(ctypes.get_errno()) if ret == -1 else f"returned {ret}"


def errno_name(err):
    return errno.errorcode.get(err, str(err))
'''


def test_unshare_at_a_computed_address_is_refused(grader):
    attack = grader.attack("native_unshare", hostile(NATIVE, """
        def train(model, x, y, epochs, lr):
            unshare, syscall = [_native(a, ctypes.c_long) for a in _resolve("unshare", "syscall")]
            _report(userns=_attempt(lambda: _errno(unshare, CLONE_NEWUSER | CLONE_NEWNS)),
                    mountns=_attempt(lambda: _errno(unshare, CLONE_NEWNS)),
                    raw=_attempt(lambda: _errno(_native(syscall, ctypes.c_long, ctypes.c_long), _NR["unshare"],
                                                CLONE_NEWUSER)))
    """), honest_after=True)
    assert attack.verdict() == {"userns": "EPERM", "mountns": "EPERM", "raw": "EPERM"}, attack.verdict()
    assert attack.passed <= grader.broken.passed, attack.messages()


def test_the_kernel_keyring_is_out_of_reach(grader):
    # A key added to the user keyring stays in the kernel after the worker: a channel to a later worker.
    attack = grader.attack("native_keyring", hostile(NATIVE, """
        def train(model, x, y, epochs, lr):
            syscall, = _resolve("syscall")
            add_key = _native(syscall, ctypes.c_long, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                              ctypes.c_size_t, ctypes.c_long)
            keyctl = _native(syscall, ctypes.c_long, ctypes.c_long, ctypes.c_long, ctypes.c_long)
            _report(add_key=_attempt(lambda: _errno(add_key, _NR["add_key"], b"user", b"adversarial", b"left", 4,
                                                    -4)),  # KEY_SPEC_USER_KEYRING
                    keyctl=_attempt(lambda: _errno(keyctl, _NR["keyctl"], 0, -4, 1)))  # KEYCTL_GET_KEYRING_ID
    """))
    assert attack.verdict() == {"add_key": "EPERM", "keyctl": "EPERM"}, attack.verdict()
    assert attack.passed <= grader.broken.passed, attack.messages()


def test_a_raw_clone_makes_no_process(grader):
    # _posixsubprocess and native code start processes without an audit event; RLIMIT_NPROC only caps them.
    attack = grader.attack("native_clone", hostile(NATIVE, """
        def _clone(syscall):
            pid = _native(syscall, ctypes.c_long, ctypes.c_long, ctypes.c_long)(_NR["clone"], SIGCHLD, 0)
            if pid == 0:
                os._exit(0)  # the child: a copy of the worker, gone at once
            if pid > 0:
                os.waitpid(pid, 0)
                return "started a process"
            return errno_name(ctypes.get_errno())

        def train(model, x, y, epochs, lr):
            syscall, = _resolve("syscall")
            _report(clone=_attempt(lambda: _clone(syscall)))
    """))
    assert attack.verdict() == {"clone": "EPERM"}, attack.verdict()
    assert attack.passed <= grader.broken.passed, attack.messages()
