"""The worker's new root: after lock_down a child sees its copy, the interpreter and empty scratch, nothing else."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_sandbox import FOUND, ROOTED, run_child

from graders.worker import rootfs

COURSE = Path(rootfs.PACKAGE).parent  # the folder holding the graders package: this repository, a course
rooted = pytest.mark.skipif(not ROOTED, reason=f"no new root here: {FOUND['filesystem'].detail}")


@pytest.fixture
def base() -> Iterator[Path]:
    # Not tmp_path (mode 700): a world-readable folder, so only the new root can hide its parts from the worker.
    path = Path(tempfile.mkdtemp(prefix="rootfs-test-"))
    path.chmod(0o755)
    for folder in ("work", "sibling", "data"):
        (path / folder).mkdir()
    (path / "work" / "own.py").write_text("OWN = 1\n")
    (path / "sibling" / "result.json").write_text('{"score": 86}\n')  # another grading's --out
    (path / "data" / "weights.pth").write_bytes(b"w" * 16)
    (path / "data" / "other.pth").write_bytes(b"o")
    (path / "alias").symlink_to(path / "data")
    (path / "link").symlink_to("alias")  # a chain of links, one of them relative
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def stray() -> Iterator[Path]:
    """A file another program left in the machine's /tmp, readable by everyone."""
    fd, name = tempfile.mkstemp(prefix="rootfs-stray-", dir="/tmp")
    os.close(fd)
    os.chmod(name, 0o644)
    yield Path(name)
    os.unlink(name)


def lock(base: Path, **extra: Any) -> dict[str, Any]:
    # The checkpoint is handed over as the grader would write it: through the links.
    return dict(workdir=base / "work", deny_paths=[], memory_mb=1024, cpu_s=30, processes=64, file_size_mb=16,
                open_files=256, scratch_mb=8, read_paths=[base / "link" / "weights.pth"], extra=extra)


LISTS = """
def listing(path):
    return sorted(os.listdir(path))

def size(path):
    with open(path, "rb") as f:
        return len(f.read())
"""


def locked_child(body: str, lock: dict[str, Any]) -> dict[str, Any]:
    child = run_child(LISTS + textwrap.dedent(body), lock)
    assert child.verdict, child.stderr
    return child.verdict


def shown_in(folder: str | Path) -> list[str]:
    """The names a listing of `folder` shows in the new root: the first step towards each bound path of the Python
    environment below it (a clone under /tmp has its virtual environment there), nothing else."""
    bound = [rootfs.PACKAGE, sys.prefix, sys.base_prefix]
    return sorted({Path(p).relative_to(folder).parts[0] for p in map(os.path.realpath, bound)
                   if Path(p).is_relative_to(folder) and Path(p) != Path(folder)})


@rooted
def test_only_the_allow_list_is_there(base: Path, stray: Path) -> None:
    v = locked_child(f"""
        verdict(course=attempt(lambda: listing("{COURSE}")), pyproject=attempt(lambda: size("{COURSE}/pyproject.toml")),
                base=attempt(lambda: listing("{base}")), sibling=attempt(lambda: listing("{base}/sibling")),
                tmp=attempt(lambda: listing("/tmp")), stray=attempt(lambda: size("{stray}")),
                other=attempt(lambda: size("{base}/data/other.pth")), opt=attempt(lambda: listing("/opt")),
                weights=attempt(lambda: size("{base}/link/weights.pth")), own=attempt(lambda: size("own.py")),
                package=attempt(lambda: size(sandbox.rootfs.__file__)), passwd=attempt(lambda: size("/etc/passwd")),
                null=attempt(lambda: open("/dev/null", "w").write("x")), dev=listing("/dev"),
                proc=attempt(lambda: size("/proc/self/status")), prefix=attempt(lambda: len(listing(sys.prefix))))
    """, lock(base, sys_path=[str(COURSE)]))  # the course root on sys.path, as `python -m pytest` puts it
    assert v["course"] == shown_in(COURSE), v  # the directories above what is bound show nothing else
    assert (v["pyproject"], v["sibling"], v["stray"], v["other"]) == ("FileNotFoundError",) * 4
    assert v["opt"] == "FileNotFoundError"
    assert (v["base"], v["tmp"]) == (["alias", "data", "link", "work"], sorted({base.name, *shown_in("/tmp")}))
    assert (v["weights"], v["own"], v["null"]) == (16, 8, 1)
    assert min(v["package"], v["passwd"], v["proc"], v["prefix"]) > 0
    assert set(v["dev"]) <= {*rootfs.DEVICES, "shm", "fd", "stdin", "stdout", "stderr"} | {
        p.name for p in Path("/dev").glob("nvidia*")}
    assert v["protections"]["user"][0] and v["protections"]["filesystem"][1].startswith("new root")


@rooted
def test_writes_land_in_empty_capped_scratch(base: Path) -> None:
    v = locked_child(f"""
        def fill(path):  # 64 MB into an 8 MB scratch
            with open(path, "wb") as f:
                for _ in range(64):
                    f.write(b"x" * (1 << 20))

        empty = [listing(d) for d in ("/var/tmp", "/dev/shm")]
        note = attempt(lambda: open("/tmp/{base.name}.txt", "w").write("hi"))
        verdict(empty=empty, note=note, tmp=listing("/tmp"), full=attempt(lambda: fill("/tmp/big")),
                mine=attempt(lambda: open("mine.txt", "w").write("x")), usr=attempt(lambda: open("/usr/x", "w")))
    """, lock(base))
    assert (v["empty"], v["note"], v["mine"]) == ([[], []], 2, 1), v
    assert sorted(v["tmp"]) == sorted({base.name, f"{base.name}.txt", *shown_in("/tmp")})
    assert (v["full"], v["usr"]) == ("OSError", "OSError")  # ENOSPC at the cap; EROFS
    assert not Path(f"/tmp/{base.name}.txt").exists() and not (base / "work" / "mine.txt").exists()


@rooted
def test_a_refused_pivot_leaves_the_grader_tree_as_it_was(base: Path, stray: Path) -> None:
    (base / "hidden").mkdir()
    v = locked_child(f"""
        verdict(seen=attempt(lambda: "{stray.name}" in listing("/tmp")), hidden=listing("{base}/hidden"))
    """, {**lock(base, no_pivot=True), "deny_paths": [base / "hidden", base / "sibling"]})
    # The stage over /tmp is gone again: the deny-list fallback sees the real /tmp (its known weakness).
    assert (v["seen"], v["hidden"]) == (True, []), v
    assert "deny-list (no new root" in v["protections"]["filesystem"][1]


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
def test_a_user_namespace_gets_a_new_root_too(base: Path, stray: Path) -> None:
    # Root without CAP_SYS_ADMIN, as in a container: the namespaces come from a user namespace of its own.
    # CAP_SETFCAP lets it map uid 0 there; unmapped, tmpfs refuses its files (EOVERFLOW) and the covers remain.
    child = run_child(LISTS + textwrap.dedent(f"""
        verdict(stray=attempt(lambda: size("{stray}")), tmp=listing("/tmp"), own=attempt(lambda: size("own.py")),
                write=attempt(lambda: open("/tmp/{base.name}.x", "w").write("x")),
                usr=attempt(lambda: open("/usr/x", "w")))
    """), lock(base), wrapper=("setpriv", "--bounding-set", "-all,+setfcap", "--inh-caps", "-all", "--"))
    v = child.verdict
    if not v or not v["protections"]["network"][0]:
        pytest.skip(f"no user namespaces here: {v or child.stderr}")
    assert v["protections"]["filesystem"][1].startswith("new root in a user namespace"), v
    assert (v["stray"], v["tmp"], v["own"], v["write"], v["usr"]) == (
        "FileNotFoundError", sorted({base.name, *shown_in("/tmp")}), 8, 1, "OSError")
    assert not Path(f"/tmp/{base.name}.x").exists()


def test_needed_paths_leave_out_what_holds_the_package_or_a_denied_path(base: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    (base / "hidden").mkdir()
    monkeypatch.setattr(sys, "path", [str(COURSE), "/", str(base), *sys.path])
    needed = rootfs.needed_paths(str(base / "work"), [str(base / "link" / "weights.pth")], [str(base / "hidden")])
    assert str(COURSE) not in needed and "/" not in needed and str(base) not in needed
    assert needed[0] == str(base / "work") and rootfs.PACKAGE in needed
    assert str(base / "data" / "weights.pth") in needed  # real paths
