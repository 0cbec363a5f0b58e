"""The worker's seccomp filter: its program run by a small BPF interpreter, then installed in child processes."""

from __future__ import annotations

import errno
import json
import platform
import struct
import subprocess
import sys
import textwrap

import pytest

from graders.worker import seccomp

NATIVE = seccomp.table_for(platform.machine(), struct.calcsize("P"), sys.byteorder)
needs_filter = pytest.mark.skipif(sys.platform != "linux" or NATIVE is None,
                                  reason=f"no seccomp table for {platform.machine()} on {sys.platform}")
EPERM = seccomp.RET_ERRNO | errno.EPERM
ENOSYS = seccomp.RET_ERRNO | errno.ENOSYS
THREAD_FLAGS = 0x003D0F00  # glibc's pthread_create: CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|*_TID
FORK_FLAGS = 0x01200011  # glibc's fork: CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD
NOT_IN_AARCH64 = {"fork", "vfork", "iopl", "ioperm"}  # no such system calls there


def run_filter(code: bytes, arch: int, nr: int, arg0: int = 0) -> int:
    """What the kernel would return for one call: a classic-BPF interpreter for the few opcodes the filter uses."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)  # struct seccomp_data
    ops = [struct.unpack_from("=HBBI", code, i) for i in range(0, len(code), 8)]
    pc = acc = 0
    while True:
        op, jt, jf, k = ops[pc]  # an IndexError here: a jump past the end
        pc += 1
        if op == 0x06:  # BPF_RET
            return k
        if op == 0x20:  # BPF_LD | BPF_W | BPF_ABS
            acc = struct.unpack_from("=I", data, k)[0]
            continue
        taken = {0x15: acc == k, 0x35: acc >= k, 0x45: bool(acc & k)}[op]
        pc += jt if taken else jf


@pytest.mark.parametrize("machine", sorted(seccomp.TABLES))
def test_program_refuses_the_list_and_allows_threads(machine: str) -> None:
    table = seccomp.TABLES[machine]
    code = seccomp.build(table)
    assert len(code) % 8 == 0 and len(code) // 8 < 4096  # BPF_MAXINSNS
    for name, err in seccomp.DENIED.items():
        if name in table.numbers:
            assert run_filter(code, table.arch, table.numbers[name]) == seccomp.RET_ERRNO | err, name
    clone = table.numbers["clone"]
    assert run_filter(code, table.arch, clone, THREAD_FLAGS) == seccomp.RET_ALLOW
    assert run_filter(code, table.arch, clone, FORK_FLAGS) == EPERM
    assert run_filter(code, table.arch, clone, THREAD_FLAGS | 0x40000000) == EPERM  # a thread with CLONE_NEWNET
    assert run_filter(code, table.arch, table.numbers["clone3"]) == ENOSYS
    listed = {table.numbers[n] for n in seccomp.DENIED if n in table.numbers} | {clone}
    for nr in set(range(512)) - listed:  # a deny-list: everything else goes through (read, futex, mmap...)
        assert run_filter(code, table.arch, nr) == seccomp.RET_ALLOW, nr
    assert run_filter(code, 0x40000003, 1) == EPERM  # AUDIT_ARCH_I386 (int 0x80): any call
    assert run_filter(code, table.arch, 0x40000000 | 272) == EPERM  # an x32 ABI number


def test_tables_cover_the_deny_list() -> None:
    assert set(seccomp.DENIED) <= set(seccomp.TABLES["x86_64"].numbers)
    assert set(seccomp.DENIED) - set(seccomp.TABLES["aarch64"].numbers) == NOT_IN_AARCH64
    for table in seccomp.TABLES.values():
        assert len(set(table.numbers.values())) == len(table.numbers)  # no number given to two names


def test_only_64_bit_little_endian_interpreters_get_a_table() -> None:
    assert seccomp.table_for("x86_64") is seccomp.TABLES["x86_64"]
    assert seccomp.table_for("aarch64") is seccomp.TABLES["aarch64"]
    assert seccomp.table_for("riscv64") is None
    assert seccomp.table_for("x86_64", pointer_bytes=4) is None  # a 32-bit python on a 64-bit kernel
    assert seccomp.table_for("aarch64", byteorder="big") is None


def run_child(body: str, timeout: float = 120) -> dict:
    """Run `body` in a fresh python (the filter cannot be taken back) and return the JSON it prints last."""
    script = "import ctypes, errno, json, os, platform, sys, threading\nfrom graders.worker import seccomp\n"
    proc = subprocess.run([sys.executable, "-I", "-c", script + textwrap.dedent(body)], capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_an_unknown_architecture_is_reported_not_in_force() -> None:
    found = run_child("""
        platform.machine = lambda: "riscv64"
        p = seccomp.install()
        status = open("/proc/self/status").read() if sys.platform == "linux" else "Seccomp: 0"
        print(json.dumps({"active": p.active, "detail": p.detail, "mode": status.split("Seccomp:")[1].split()[0]}))
    """)
    assert found["active"] is False and found["mode"] == "0"
    assert found["detail"].startswith("not in force: ") and ("riscv64" in found["detail"] or "Linux" in found["detail"])


@needs_filter
def test_installed_filter_refuses_escapes_and_keeps_threads() -> None:
    found = run_child("""
        numbers = seccomp.TABLES[platform.machine()].numbers
        p = seccomp.install()
        libc = ctypes.CDLL(None, use_errno=True)

        def errno_of(ret):
            return "ok" if ret >= 0 else errno.errorcode[ctypes.get_errno()]

        def fork():
            try:
                pid = os.fork()
            except OSError as exc:
                return errno.errorcode[exc.errno]
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            return "ok"

        ran = []
        thread = threading.Thread(target=lambda: ran.append(True))
        thread.start()
        thread.join()
        print(json.dumps({
            "active": p.active, "detail": p.detail,
            "unshare": errno_of(libc.unshare(0x10000000 | 0x00020000)),  # CLONE_NEWUSER | CLONE_NEWNS
            "mount": errno_of(libc.mount(b"none", b"/", b"tmpfs", ctypes.c_ulong(0), None)),
            "keyctl": errno_of(libc.syscall(numbers["keyctl"], 0, -4, 1)),  # KEYCTL_GET_KEYRING_ID, user keyring
            "ptrace": errno_of(libc.ptrace(0, 0, None, None)),  # PTRACE_TRACEME
            "clone3": errno_of(libc.syscall(numbers["clone3"], None, 0)),
            "fork": fork(), "thread": bool(ran),
        }))
    """)
    if not found["active"]:
        pytest.skip(found["detail"])
    assert found == {**found, "unshare": "EPERM", "mount": "EPERM", "keyctl": "EPERM", "ptrace": "EPERM",
                     "clone3": "ENOSYS", "fork": "EPERM", "thread": True}


@needs_filter
def test_torch_trains_with_two_threads_under_the_filter() -> None:
    found = run_child("""
        p = seccomp.install()
        import torch

        torch.manual_seed(0)
        torch.set_num_threads(2)
        x = torch.randn(512, 8)  # (N, D)
        y = x @ torch.arange(8.0).unsqueeze(1)  # (N, 1)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=64, num_workers=0)
        model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        losses = []
        for _ in range(20):
            for xb, yb in loader:
                optimizer.zero_grad()
                loss = torch.nn.functional.mse_loss(model(xb), yb)
                loss.backward()
                optimizer.step()
            losses.append(loss.item())
        big = torch.randn(1024, 1024)
        (big @ big).sum().item()  # large enough for the intra-op pool to start its threads
        tasks = len(os.listdir("/proc/self/task"))
        print(json.dumps({"active": p.active, "detail": p.detail, "first": losses[0], "last": losses[-1],
                          "threads": torch.get_num_threads(), "tasks": tasks}))
    """)
    if not found["active"]:
        pytest.skip(found["detail"])
    assert found["threads"] == 2 and found["tasks"] >= 2  # torch's intra-op pool started under the filter
    assert found["last"] < found["first"] / 10, found  # it learnt: first epoch ~100, after 20 epochs ~1
