"""Pretrained AlexNet/VGG16 weights from a local torch hub cache, verified; seeded stand-ins when absent."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import math
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torchvision
from torch import Tensor

from graders.data.checkpoints import CHECKPOINTS, locate, standin_dir

_BUILDERS = {"alexnet": torchvision.models.alexnet, "vgg16": torchvision.models.vgg16}
# torch.hub's convention: the hex digits after the last dash are the start of the file's sha256.
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{6,})\.[^.-]+$")
# Gain of the last conv layer in the stand-ins: He init alone hands the head dense features with an
# RMS of 2.6 (AlexNet) or 1.1 (VGG16) on normalised images, and the course's learning rates then
# diverge; scaled, the features reach the head at an RMS of about 0.2.
_FEATURE_GAIN = {"alexnet": 0.08, "vgg16": 0.2}
# Saved stand-ins kept besides the one being written (VGG16's is 553 MB, AlexNet's 244 MB): a course's seed needs
# two; a second seed (tests, `grade calibrate`) fits without each write removing the other seed's files.
_KEPT = 3


def _checkpoint_name(arch: str) -> str:
    if arch not in CHECKPOINTS:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(sorted(CHECKPOINTS))}")
    return CHECKPOINTS[arch]


def load_pretrained(arch: str, weights_dir: str | Path) -> tuple[dict[str, Tensor] | None, str]:
    """(state_dict, "ImageNet weights: <path>") when the checkpoint is cached, else (None, why not).

    Looks in `<weights_dir>/hub/checkpoints/` ($TORCH_HOME layout) and in `weights_dir` itself.
    Raises ValueError when the file is there but its sha256 does not match its name.
    """
    name = _checkpoint_name(arch)
    path = locate(Path(weights_dir), arch)
    if path is not None:
        return load_checkpoint(path), f"ImageNet weights: {path}"
    return None, f"seeded stand-in weights (no {name} in {weights_dir})"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_checkpoint(path: str | Path) -> dict[str, Tensor]:
    """Load a state dict whose file name carries its sha256 prefix, checking the hash first.

    `torch.load` of a cached file never checks it, so a truncated download would otherwise
    surface later as a confusing shape or unpickling error. Raises ValueError with one line.
    """
    path = Path(path)
    match = _HASH_IN_NAME.search(path.name)
    if match is None:
        raise ValueError(f"{path}: no sha256 prefix in the file name (expected name-<hex>.pth)")
    prefix = match.group(1)
    if not _sha256(path).startswith(prefix):
        raise ValueError(f"{path}: sha256 does not match the {prefix} in its name; delete it and download it again")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the hash matched, so the file itself is not a weights-only checkpoint
        raise ValueError(f"{path}: not a loadable state dict ({type(exc).__name__}: {exc})") from exc
    tensors = isinstance(state, Mapping) and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items())
    if not tensors:
        raise ValueError(f"{path}: expected a mapping of names to tensors")
    return dict(state)


def standin_state_dict(arch: str, *, seed: int) -> dict[str, Tensor]:
    """A deterministic He-uniform init of the architecture's weights (biases zero), from a local generator.

    He scaling keeps ReLU activations at a steady scale through the frozen layers, so the features
    stay informative enough for a trained head. The model is built on the meta device, which skips
    torchvision's own (global-RNG, for VGG16 seconds-long) initialisation.
    """
    _checkpoint_name(arch)  # rejects unknown names with the same message as load_pretrained
    with torch.device("meta"):
        model = _BUILDERS[arch]()
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, meta in model.state_dict().items():
        if meta.dim() > 1:
            bound = math.sqrt(6 / meta[0].numel())  # fan_in = in_channels * kernel area
            state[key] = torch.empty(meta.shape).uniform_(-bound, bound, generator=g)
        else:
            state[key] = torch.zeros(meta.shape)
    last_conv = [key for key, value in state.items() if key.startswith("features.") and value.dim() == 4][-1]
    state[last_conv] *= _FEATURE_GAIN[arch]
    return state


def standin_request(arch: str, *, seed: int) -> dict[str, Any]:
    """How a worker is asked for the stand-in (`load_standin`): its architecture and seed, and the file the grader
    saved it in where it could."""
    folder = standin_dir()
    saved = saved_standin(arch, seed=seed, folder=folder) if folder is not None else None
    return {"arch": arch, "seed": seed, **({"saved": str(saved)} if saved is not None else {})}


def saved_standin(arch: str, *, seed: int, folder: Path) -> Path | None:
    """`standin_state_dict(arch, seed=seed)` saved in `folder`, generated and written here the first time; None
    where it cannot be written (each worker then generates it, as before).

    Issue #14: generating VGG16's 138M values cost 1.3 s in every build of a grading, AlexNet's 0.6 s; a worker
    maps this file in for next to nothing (`load_standin`). One process at a time writes: the parallel graders of
    a batch would otherwise each hold a VGG16 in memory to write the same file.
    """
    path = folder / f"{arch}-seed{seed}-{_standin_tag()}.pt"
    if not path.is_file():
        try:
            _write_once(path, arch=arch, seed=seed)
        except (OSError, RuntimeError):  # RuntimeError: torch.save's writer on a full disk
            return None
    return path


@functools.cache
def _standin_tag() -> str:
    """Part of a saved stand-in's name: other code here, another torch or torchvision may draw other values."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(f"{torch.__version__}|{torchvision.__version__}".encode())
    return digest.hexdigest()[:12]


def _write_once(path: Path, *, arch: str, seed: int) -> None:
    # The lock lives beside the folder, not in it: a worker may read the folder, and could hold a lock in it.
    lock = os.open(path.parent.parent / f"{path.parent.name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.is_file():  # another process may have written it while we waited
            _prune(path.parent, keep=f"-{_standin_tag()}.pt")
            _save_atomically(standin_state_dict(arch, seed=seed), path)
    finally:
        os.close(lock)  # and with it the lock


def _prune(folder: Path, *, keep: str) -> None:
    """Make room for one more stand-in: remove those of other tags, all but the newest `_KEPT` of this one, and what
    a write cut short left (we hold the lock: none is under way). A worker handed a file removed meanwhile
    generates the stand-in itself."""
    current = sorted(folder.glob(f"*{keep}"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in folder.iterdir():
        if path.suffix == ".tmp" or (path.suffix == ".pt" and path not in current[:_KEPT]):
            path.unlink(missing_ok=True)


def _save_atomically(state: dict[str, Tensor], path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)  # read by workers of other uids, written by us alone
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())  # a crash must never leave a half-written file under the final name
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_standin(request: Mapping[str, Any]) -> dict[str, Tensor]:
    """The stand-in a worker was asked for (`standin_request`): mapped from the file the grader saved it in, else
    generated here (no file, or one outside this worker's sandbox), which gives the same values.

    No hash is checked, which would cost VGG16 a second: the folder is the grader's user's alone to write
    (`checkpoints.standin_dir`), and a worker sees it read-only (a read-only bind in its new root, else a folder of
    another uid, mode 0755). The mapping is private: a write to a tensor copies the page, the file stays as it is.
    """
    arch, seed = str(request["arch"]), int(request["seed"])
    if not request.get("saved"):
        return standin_state_dict(arch, seed=seed)
    try:
        state = torch.load(str(request["saved"]), map_location="cpu", mmap=True, weights_only=True)
    except Exception:  # unreadable in this sandbox, or refused by its audit hook: generate it instead
        return standin_state_dict(arch, seed=seed)
    if not (isinstance(state, Mapping) and all(isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items())):
        return standin_state_dict(arch, seed=seed)
    return dict(state)
