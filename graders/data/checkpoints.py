"""Pretrained checkpoints' file names and where they are cached, without importing torch (the grader asks too)."""

from __future__ import annotations

from pathlib import Path

# torchvision's own file names, as `torch.hub` stores them under $TORCH_HOME/hub/checkpoints/.
CHECKPOINTS = {"alexnet": "alexnet-owt-7be5be79.pth", "vgg16": "vgg16-397923af.pth"}


def cached(weights_dir: str) -> list[str]:
    """The checkpoint files present in `weights_dir` (`~` expanded): in `hub/checkpoints/` ($TORCH_HOME layout)
    or in the folder itself. A worker is handed these to read (its `read_paths`); nothing else of the folder."""
    root = Path(weights_dir).expanduser()
    found = [folder / name for folder in (root / "hub" / "checkpoints", root) for name in CHECKPOINTS.values()]
    return [str(path) for path in found if path.is_file()]
