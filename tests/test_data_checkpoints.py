"""Which cached checkpoint files a worker is handed to read (its read_paths)."""

from __future__ import annotations

from pathlib import Path

import pytest

from graders.data import checkpoints, weights


def test_cached_lists_the_known_checkpoints_present_in_either_folder(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / checkpoints.CHECKPOINTS["alexnet"]).write_bytes(b"a")
    (tmp_path / "torch" / checkpoints.CHECKPOINTS["vgg16"]).write_bytes(b"v")  # beside it, not in hub/
    (hub / "resnet18-f37072fd.pth").write_bytes(b"r")  # not one the course uses: the worker never sees it
    monkeypatch.setenv("HOME", str(tmp_path))
    assert checkpoints.cached("~/torch") == [str(hub / checkpoints.CHECKPOINTS["alexnet"]),
                                             str(tmp_path / "torch" / checkpoints.CHECKPOINTS["vgg16"])]
    assert checkpoints.cached(str(tmp_path / "missing")) == []
    assert weights.CHECKPOINTS is checkpoints.CHECKPOINTS  # one table, whoever imports it


def test_worker_reads_the_standin_folder_unless_a_denied_path_holds_it(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "cache" / "graders" / "standin-weights"
    assert checkpoints.worker_reads(str(tmp_path / "torch"), denied=[str(tmp_path / "course")]) == [str(folder)]
    assert oct(folder.stat().st_mode & 0o777) == "0o755"  # made readable by a worker's dropped uid, whatever the umask
    # Inside a denied path the sandbox would refuse to start the worker: it generates its stand-ins instead.
    assert checkpoints.worker_reads(str(tmp_path / "torch"), denied=[str(tmp_path / "cache")]) == []
    folder.chmod(0o777)
    checkpoints.standin_dir()
    assert oct(folder.stat().st_mode & 0o777) == "0o755"  # nobody else may write what workers load unchecked
