"""Pretrained checkpoints' file names and where they are cached, without importing torch (the grader asks too)."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from graders.files import under

# torchvision's own file names, as `torch.hub` stores them under $TORCH_HOME/hub/checkpoints/.
CHECKPOINTS = {"alexnet": "alexnet-owt-7be5be79.pth", "vgg16": "vgg16-397923af.pth"}


def locate(weights_dir: Path, arch: str) -> Path | None:
    """The cached checkpoint of `arch` (`~` expanded), in `hub/checkpoints/` ($TORCH_HOME layout) or in the folder
    itself; None where neither holds it. Grading, `grade doctor` and the loader all look here."""
    for folder in _folders(weights_dir):
        if (folder / CHECKPOINTS[arch]).is_file():
            return folder / CHECKPOINTS[arch]
    return None


def _folders(weights_dir: Path) -> tuple[Path, Path]:
    """Where a checkpoint may be cached: `hub/checkpoints/` ($TORCH_HOME layout) first, then the folder itself."""
    root = weights_dir.expanduser()
    return root / "hub" / "checkpoints", root


def cached(weights_dir: str) -> list[str]:
    """The checkpoint files present in `weights_dir` (`~` expanded): in `hub/checkpoints/` ($TORCH_HOME layout)
    or in the folder itself. A worker is handed these to read (its `read_paths`); nothing else of the folder."""
    found = [folder / name for folder in _folders(Path(weights_dir)) for name in CHECKPOINTS.values()]
    return [str(path) for path in found if path.is_file()]


def worker_reads(weights_dir: str, *, denied: Sequence[str]) -> list[str]:
    """What a worker is handed to read of the weights (its `read_paths`): the cached checkpoints, and the folder
    of saved stand-ins unless a denied path holds it (the sandbox would refuse to start such a worker)."""
    folder = standin_dir()
    hidden = folder is not None and any(under(os.path.realpath(folder), os.path.realpath(d)) for d in denied)
    return [*cached(weights_dir), *([str(folder)] if folder is not None and not hidden else [])]


def standin_dir() -> Path | None:
    """The folder of the stand-in weights the grader saves for its workers (`weights.saved_standin`), made if
    missing: `$XDG_CACHE_HOME/graders/standin-weights`, by default under `~/.cache`.

    None where it cannot be made, or where another user could write it or the folder above it: a worker loads
    these files without checking a hash. Mode 0755: a worker that dropped to another uid must read them (were it
    refused, the sandbox would keep uid 0); they hold nothing secret, only values drawn from the seed the worker
    is sent anyway.
    """
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        folder = base / "graders" / "standin-weights"
        folder.mkdir(parents=True, exist_ok=True)
        return folder if all(_ours_alone(path) for path in (folder.parent, folder)) else None
    except (OSError, RuntimeError):  # RuntimeError: no home directory to be found
        return None


def _ours_alone(folder: Path) -> bool:
    """Owned by this user, writable by no one else and readable by everyone (made so where it is not)."""
    info = folder.stat()
    if info.st_uid != os.getuid() or not stat.S_ISDIR(info.st_mode):
        return False
    if stat.S_IMODE(info.st_mode) != 0o755:
        os.chmod(folder, 0o755)  # ours: made under a umask of 077 (unreadable) or 002 (group-writable)
    return True
