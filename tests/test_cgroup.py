"""The worker's memory cgroup (graders/worker/cgroup.py), on this machine's real hierarchy: made, joined, limited,
emptied and removed. Skipped where no memory cgroup can be made (not root, or no delegated memory controller)."""

from __future__ import annotations

import mmap
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graders.worker import cgroup

AVAILABLE, WHY = cgroup.probe()
needs_cgroup = pytest.mark.skipif(not AVAILABLE, reason=f"no memory cgroup here: {WHY}")


@pytest.fixture
def group():  # type: ignore[no-untyped-def]
    made = cgroup.Cgroup.create(f"test-{os.getpid()}-{time.monotonic_ns()}", memory_mb=128)
    yield made
    made.remove()
    assert not made.path.exists()


def _child(group: cgroup.Cgroup, body) -> int:  # type: ignore[no-untyped-def]
    """Fork a child that joins the group and runs `body`; its wait status."""
    pid = os.fork()
    if pid == 0:
        try:
            cgroup.join(str(group.path))
            body()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return status


@needs_cgroup
def test_shared_memory_over_the_limit_is_killed_and_reported(group):
    def grab_shared() -> None:
        area = mmap.mmap(-1, 256 << 20)  # MAP_SHARED: RLIMIT_DATA would not see it
        for _ in range(256):
            area.write(bytes(1 << 20))

    status = _child(group, grab_shared)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert group.oom_killed()


@needs_cgroup
def test_staying_under_the_limit_is_not_an_oom(group):
    status = _child(group, lambda: mmap.mmap(-1, 32 << 20).write(bytes(32 << 20)))
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert not group.oom_killed()


@needs_cgroup
def test_kill_empties_the_group_of_a_forking_loop(group):
    loop = subprocess.Popen(["sh", "-c", f"echo 0 > {group.path}/cgroup.procs; while :; do sleep 60 & done"],
                            start_new_session=True)
    deadline = time.monotonic() + 10
    while len(group.pids()) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(group.pids()) >= 20, "the loop never got going"
    group.kill()
    assert group.pids() == []
    loop.wait(timeout=5)


@needs_cgroup
def test_discard_kills_and_removes(tmp_path):
    made = cgroup.Cgroup.create(f"test-discard-{os.getpid()}", memory_mb=64)
    sleeper = subprocess.Popen([sys.executable, "-c", f"open({str(made.path / 'cgroup.procs')!r}, 'w').write('0');"
                                "import time; time.sleep(60)"])
    deadline = time.monotonic() + 10
    while not made.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    cgroup.discard(str(made.path))
    assert sleeper.wait(timeout=5) == -signal.SIGKILL
    assert not made.path.exists()


def test_unavailable_hierarchy_says_why(monkeypatch):
    monkeypatch.setattr(cgroup, "_cgroup_mounts", lambda: {})
    with pytest.raises(cgroup.CgroupUnavailable, match="no cgroup v1 memory hierarchy is mounted"):
        cgroup.Cgroup.create("never", memory_mb=64)


def test_mount_paths_resolve_under_a_namespaced_root():
    assert cgroup._under_mount(("/sys/fs/cgroup/memory", "/"), "/a/b") == Path("/sys/fs/cgroup/memory/a/b")
    assert cgroup._under_mount(("/sys/fs/cgroup", "/a"), "/a/b") == Path("/sys/fs/cgroup/b")


def test_v2_parent_without_the_memory_controller_says_so(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu io\n")
    assert "memory controller is not available" in cgroup._v2_delegates_memory(tmp_path)


def test_v2_parent_hands_memory_down_to_children(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("cpu\n")
    assert cgroup._v2_delegates_memory(tmp_path) is None
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory"  # what the kernel is asked


def test_v2_parent_holding_processes_cannot_delegate(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("memory\n")
    (tmp_path / "cgroup.subtree_control").mkdir()  # writing fails, as EBUSY does on a cgroup with processes
    assert "cannot enable memory for children" in cgroup._v2_delegates_memory(tmp_path)
