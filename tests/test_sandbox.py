"""Black-box tests of the worker sandbox: a real child python locks itself down, tries an attack, prints a verdict."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from graders.worker import sandbox

SANDBOX = Path(sandbox.__file__).resolve()
FOUND = {p.name: p for p in sandbox.available()}  # one probe child per session: what this machine enforces
ROOTED = FOUND["filesystem"].detail.startswith("new root")  # the allow-list; else the deny-list covers

# Loads the module by path (no package __init__ runs), locks down unless told not to, then runs the test's body.
PRELUDE = """
import importlib.util, json, os, resource, sys
spec = importlib.util.spec_from_file_location("sandbox", sys.argv[1])
sandbox = sys.modules["sandbox"] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sandbox)
args = json.loads(sys.argv[2])
extra = args.pop("extra", {})
if "nofile_hard" in extra:
    resource.setrlimit(resource.RLIMIT_NOFILE, (extra["nofile_hard"], extra["nofile_hard"]))
if extra.get("no_pivot"):  # stands in for a kernel that refuses pivot_root: the deny-list fallback
    sandbox.rootfs._PIVOT_ROOT.clear()
sys.path[:0] = extra.get("sys_path", [])  # e.g. the course root, as `python -m pytest` puts it there
found = sandbox.lock_down(**args) if args else []

def attempt(action):
    try:
        result = action()
    except BaseException as exc:
        return type(exc).__name__
    return "ok" if result is None else result

def verdict(**outcome):
    found_ = {p.name: [p.active, p.detail] for p in found}
    print(json.dumps({"protections": found_, **outcome}), flush=True)
"""


def needs(name: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(not FOUND[name].active, reason=f"{name} {FOUND[name].detail}")


@dataclass
class Child:
    returncode: int
    verdict: dict[str, Any]
    stderr: str


def run_child(body: str, lock: dict[str, Any] | None, *, cwd: Path | None = None, timeout: float = 30,
              wrapper: tuple[str, ...] = ()) -> Child:
    """Run PRELUDE + body in a new session; whatever it started is killed before returning."""
    script = PRELUDE + textwrap.dedent(body)
    cmd = [*wrapper, sys.executable, "-I", "-c", script, str(SANDBOX), json.dumps(lock or {}, default=str)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the session: forks included, even if the limit failed
        except ProcessLookupError:
            pass
        proc.kill()
        proc.communicate()
    lines = out.strip().splitlines()
    return Child(proc.returncode, json.loads(lines[-1]) if lines else {}, err)


@pytest.fixture
def base() -> Iterator[Path]:
    # Not tmp_path: /tmp/pytest-of-root is mode 700, and the dropped uid must reach its workdir and `outside`.
    path = Path(tempfile.mkdtemp(prefix="sandbox-test-"))
    path.chmod(0o755)
    (path / "work").mkdir()
    (path / "hidden").mkdir()
    (path / "hidden" / "secret.py").write_text("ANSWER = 42\n")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def lock(base: Path) -> dict[str, Any]:
    return dict(workdir=base / "work", deny_paths=[base / "hidden"], memory_mb=1024, cpu_s=30, processes=64,
                file_size_mb=16, open_files=256)


@pytest.fixture
def server() -> Iterator[int]:
    """A TCP server on the grader's loopback: the kind of local service a student must not reach."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


def test_available_reports_every_protection() -> None:
    assert list(FOUND) == list(sandbox.NAMES)
    for p in FOUND.values():
        assert p.detail and (p.active or p.detail.startswith("not in force: "))


@needs("network")
def test_connecting_to_a_loopback_server_fails(lock: dict[str, Any], server: int) -> None:
    socket.create_connection(("127.0.0.1", server), timeout=2).close()  # reachable from the grader
    child = run_child(f"""
        import socket
        verdict(connect=attempt(lambda: socket.create_connection(("127.0.0.1", {server}), timeout=2).close()))
    """, lock)
    assert child.verdict["connect"] in ("OSError", "ConnectionRefusedError", "TimeoutError"), child.stderr


@needs("filesystem")
@pytest.mark.parametrize("new_root", [True, False], ids=["new_root", "deny_list_only"])
def test_denied_paths_read_as_empty(base: Path, lock: dict[str, Any], new_root: bool) -> None:
    course = base / "course"
    (course / "solutions").mkdir(parents=True)
    (course / "solutions" / "answer.py").write_text("ANSWER = 42\n")
    (course / "grading.yaml").write_text("secret: true\n")
    (course / "public.txt").write_text("public")
    (base / "link").symlink_to(course / "solutions")
    (base / "dangling").symlink_to(base / "nowhere")
    # Relative, through a symlink, a file, missing paths: each is resolved or skipped. The course is allowed, so
    # in a new root the covers are what hides its secrets (the second layer).
    lock["deny_paths"] += ["../link", "grading.yaml", base / "missing", base / "dangling"]
    lock.update(read_paths=[course], extra={"no_pivot": not new_root})
    child = run_child(f"""
        read = lambda path: open(path).read()
        verdict(secret=attempt(lambda: read("{base}/hidden/secret.py")),
                listing=attempt(lambda: os.listdir("{base}/hidden")),
                answer=attempt(lambda: read("{course}/solutions/answer.py")),
                config=attempt(lambda: read("{course}/grading.yaml")),
                public=attempt(lambda: read("{course}/public.txt")))
    """, lock, cwd=course)
    v = child.verdict
    assert (v["secret"], v["answer"]) == ("FileNotFoundError", "FileNotFoundError"), child.stderr
    assert v["listing"] == ("FileNotFoundError" if new_root and ROOTED else [])  # not in the allow-list, or emptied
    assert (v["config"], v["public"]) == ("", "public")
    assert "/course/solutions" in v["protections"]["filesystem"][1]
    assert v["protections"]["filesystem"][1].startswith("new root") == (new_root and ROOTED)


def test_deny_path_holding_the_workdir_is_refused(base: Path, lock: dict[str, Any]) -> None:
    lock["deny_paths"] = [base]
    child = run_child(f"""
        kwargs = json.loads({json.dumps(json.dumps(lock, default=str))})
        verdict(result=attempt(lambda: sandbox.lock_down(**kwargs)))
    """, None)
    assert child.verdict["result"] == "ValueError", child.stderr


@needs("user")
def test_cannot_write_outside_the_workdir(base: Path, lock: dict[str, Any]) -> None:
    (base / "outside").mkdir(mode=0o755)  # root's, like the grader's own files
    (base / "work" / "given.txt").write_text("from the grader")
    lock["read_paths"] = [base / "outside"]  # visible, so that the write meets the kernel's checks
    child = run_child(f"""
        def write(path):
            with open(path, "a") as f:
                f.write("x")
        def unmount():  # the workdir's overlay: without it the student's writes would reach the grader's disk
            sandbox._check(sandbox._libc().umount2(b"{base}/work", 0), "umount2")
        def unmount_from_own_user_namespace():  # full capabilities there, but the covers came locked
            sandbox._unshare(sandbox.CLONE_NEWUSER | sandbox.CLONE_NEWNS, "CLONE_NEWUSER|CLONE_NEWNS")
            unmount()
        outcome = dict(uid=os.getuid(), cwd=os.getcwd(), outside=attempt(lambda: write("{base}/outside/x")),
                       mine=attempt(lambda: write("new.txt")), given=attempt(lambda: write("given.txt")),
                       back_to_root=attempt(lambda: os.setuid(0)), unmount=attempt(unmount))
        outcome["unmount_in_userns"] = attempt(unmount_from_own_user_namespace)
        verdict(listing=attempt(lambda: os.listdir("{base}/hidden")), **outcome)
    """, lock)
    v = child.verdict
    assert (v["uid"], v["cwd"]) == (65534, str(base / "work")), child.stderr
    assert v["outside"] in ("PermissionError", "OSError") and (v["mine"], v["given"]) == ("ok", "ok")  # OSError: EROFS
    assert (v["back_to_root"], v["unmount"]) == ("PermissionError", "PermissionError")
    assert v["listing"] == ("FileNotFoundError" if ROOTED else [])
    assert v["unmount_in_userns"] in ("OSError", "PermissionError")  # EINVAL: locked; EPERM: no user namespaces
    assert not (base / "outside" / "x").exists()


@needs("user")
def test_unreadable_read_path_keeps_uid_0_without_capabilities(base: Path, lock: dict[str, Any]) -> None:
    (base / "closed").mkdir(mode=0o700)
    lock["read_paths"] = [base / "closed"]
    child = run_child(f"""
        unmount = lambda: sandbox._check(sandbox._libc().umount2(b"{base}/work", 0), "umount2")
        verdict(uid=os.getuid(), cwd=os.getcwd(), caps=sandbox._status("CapEff"), unmount=attempt(unmount))
    """, lock)
    v = child.verdict
    assert not v["protections"]["user"][0] and "closed is not readable" in v["protections"]["user"][1], child.stderr
    assert (v["uid"], v["cwd"], int(v["caps"], 16), v["unmount"]) == (0, str(base / "work"), 0, "PermissionError")
    assert not v["protections"]["processes"][0]


@needs("user")
@pytest.mark.parametrize("new_root", [True, False], ids=["new_root", "bridge"])
def test_interpreter_and_workdir_behind_a_private_directory_stay_reachable(base: Path, lock: dict[str, Any],
                                                                           new_root: bool) -> None:
    # Like /root (mode 700) holding pyenv, or /tmp/pytest-of-root holding a workdir. A new root makes the
    # directories above what it binds 0755; without one, the bridge covers the private directory.
    (base / "private" / "work").mkdir(parents=True)
    (base / "private" / "other").mkdir()
    (base / "private").chmod(0o700)
    lock.update(workdir=base / "private" / "work", extra={"no_pivot": not new_root})
    child = run_child(f"""
        verdict(write=attempt(lambda: open("mine.txt", "w").close()), private=os.listdir("{base}/private"))
    """, lock)
    v = child.verdict
    assert v["protections"]["user"][0], child.stderr
    assert (f"{base}/private" in v["protections"]["user"][1]) == (not (new_root and ROOTED))  # bridged
    assert (v["write"], v["private"]) == ("ok", ["work"])  # the rest of the private directory stays hidden


def test_memory_limit_stops_a_big_allocation(lock: dict[str, Any]) -> None:
    lock.update(memory_mb=256, extra={"nofile_hard": 100})  # a lower hard limit is never raised
    child = run_child("""
        verdict(small=attempt(lambda: len(bytearray(32 << 20)) and None),
                big=attempt(lambda: len(bytearray(1 << 30)) and None),
                nofile=resource.getrlimit(resource.RLIMIT_NOFILE))
    """, lock)
    assert (child.verdict["small"], child.verdict["big"]) == ("ok", "MemoryError"), child.stderr
    assert child.verdict["nofile"] == [100, 100]


def test_cpu_limit_kills_a_busy_loop(lock: dict[str, Any]) -> None:
    lock["cpu_s"] = 1
    start = time.monotonic()
    child = run_child("""
        verdict(locked=True)
        while True:
            pass
    """, lock, timeout=20)
    assert child.verdict["locked"] and child.returncode in (-signal.SIGXCPU, -signal.SIGKILL), child.stderr
    assert time.monotonic() - start < 15  # 1-2 s when the machine is idle


@needs("processes")
def test_fork_loop_is_stopped(lock: dict[str, Any]) -> None:
    lock.update(processes=5, uid=64321)  # a uid of its own: nothing else's tasks come and go under it
    # Bounded loop, and each child exits at once: harmless even if the limit were not in force.
    # Unreaped children stay zombies, which still count against RLIMIT_NPROC.
    child = run_child("""
        forked, error = 0, None
        for _ in range(40):
            try:
                pid = os.fork()
            except OSError as exc:
                error = type(exc).__name__
                break
            if pid == 0:
                os._exit(0)
            forked += 1
        verdict(forked=forked, error=error)
    """, lock)
    assert child.verdict["error"] == "BlockingIOError", child.stderr
    assert child.verdict["forked"] <= 5


def test_audit_hook_blocks_processes_paths_network_and_ctypes(base: Path, server: int) -> None:
    (base / "work" / "link").symlink_to(base / "hidden")
    (base / "public.txt").write_text("public")
    # The hook alone, without lock_down: every refusal here comes from it, not from the OS layer.
    child = run_child(f"""
        import ctypes, socket, subprocess
        hook = sandbox.install_audit_hook(deny_paths=["{base}/hidden"])
        def fork():
            if os.fork() == 0:
                os._exit(0)
        blocked = dict(
            secret=attempt(lambda: open("{base}/hidden/secret.py").close()),
            listing=attempt(lambda: os.listdir("{base}/hidden")),
            via_symlink=attempt(lambda: open("{base}/work/link/secret.py").close()),
            parent_environ=attempt(lambda: open(f"/proc/{{os.getppid()}}/environ").close()),
            run=attempt(lambda: subprocess.run(["true"])), system=attempt(lambda: os.system("true")),
            fork=attempt(fork), kill_parent=attempt(lambda: os.kill(os.getppid(), 0)),
            connect=attempt(lambda: socket.create_connection(("127.0.0.1", {server}), timeout=2).close()),
            planted_library=attempt(lambda: ctypes.CDLL("{base}/work/planted.so")),
            libc_fork=attempt(lambda: ctypes.CDLL(None).fork),
            pythonapi_system=attempt(lambda: ctypes.pythonapi.system),
        )
        allowed = dict(public=attempt(lambda: open("{base}/public.txt").read()),
                       own_status=attempt(lambda: open("/proc/self/status").close()),
                       socketpair=attempt(lambda: [s.close() for s in socket.socketpair()] and None),
                       kill_self=attempt(lambda: os.kill(os.getpid(), 0)),
                       libm_cos=attempt(lambda: ctypes.CDLL("libm.so.6").cos and None))
        verdict(hook=[hook.active, hook.detail], blocked=blocked, allowed=allowed)
    """, None)
    v = child.verdict
    assert v["blocked"] == dict.fromkeys(v["blocked"], "PermissionError"), child.stderr
    assert v["allowed"] == {"public": "public", "own_status": "ok", "socketpair": "ok", "kill_self": "ok",
                            "libm_cos": "ok"}
    assert v["hook"][0]


def test_torch_trains_after_lock_down_and_hook(lock: dict[str, Any]) -> None:
    lock["memory_mb"] = 3000  # importing torch alone maps ~870 MB of data
    child = run_child(f"""
        import numpy as np, subprocess, torch
        from PIL import Image
        sandbox.install_audit_hook(deny_paths={json.dumps([str(p) for p in lock["deny_paths"]])})
        from torchvision import transforms  # loads its own library through ctypes: allowed from site-packages
        torch.manual_seed(0)
        pixels = np.random.default_rng(0).integers(0, 256, (16, 12, 12, 3), dtype=np.uint8)
        tf = transforms.Compose([transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                                 transforms.Normalize([0.5] * 3, [0.5] * 3)])
        data = [(tf(Image.fromarray(p)), i % 2) for i, p in enumerate(pixels)]
        loader = torch.utils.data.DataLoader(data, batch_size=4, shuffle=True, num_workers=0)
        model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                    torch.nn.Linear(4 * 10 * 10, 2))  # (B, 3, 12, 12) -> (B, 2)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        losses = []
        for epoch in range(5):
            for x, y in loader:
                loss = torch.nn.functional.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
        torch.save(model.state_dict(), "model.pt")
        verdict(first=losses[0], last=losses[-1], run=attempt(lambda: subprocess.run(["true"])))
    """, lock, timeout=60)
    v = child.verdict
    assert v and v["last"] < v["first"], child.stderr
    assert v["run"] == "PermissionError"


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_without_capabilities_namespaces_come_from_a_user_namespace(base: Path, lock: dict[str, Any],
                                                                    server: int) -> None:
    # Root with an empty bounding set stands in for an unprivileged machine (or a container without CAP_SYS_ADMIN).
    child = run_child(f"""
        import socket
        unmount = lambda: sandbox._check(sandbox._libc().umount2(b"{base}/work", 0), "umount2")
        verdict(secret=attempt(lambda: open("{base}/hidden/secret.py").close()), unmount=attempt(unmount),
                connect=attempt(lambda: socket.create_connection(("127.0.0.1", {server}), timeout=2).close()))
    """, lock, wrapper=("setpriv", "--bounding-set", "-all", "--inh-caps", "-all", "--"))
    v = child.verdict
    if not v or not v["protections"]["network"][0]:
        pytest.skip(f"no user namespaces here: {v or child.stderr}")
    assert (v["secret"], v["connect"], v["unmount"]) == ("FileNotFoundError", "OSError", "PermissionError")
    assert "user namespace" in v["protections"]["filesystem"][1]
    assert not v["protections"]["user"][0] and "capabilities dropped" in v["protections"]["user"][1]
    assert not v["protections"]["processes"][0]
