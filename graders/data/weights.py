"""Pretrained AlexNet/VGG16 weights from a local torch hub cache, verified; seeded stand-ins when absent."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from pathlib import Path

import torch
import torchvision
from torch import Tensor

from graders.data.checkpoints import CHECKPOINTS

_BUILDERS = {"alexnet": torchvision.models.alexnet, "vgg16": torchvision.models.vgg16}
# torch.hub's convention: the hex digits after the last dash are the start of the file's sha256.
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{6,})\.[^.-]+$")
# Gain of the last conv layer in the stand-ins: He init alone hands the head dense features with an
# RMS of 2.6 (AlexNet) or 1.1 (VGG16) on normalised images, and the course's learning rates then
# diverge; scaled, the features reach the head at an RMS of about 0.2.
_FEATURE_GAIN = {"alexnet": 0.08, "vgg16": 0.2}


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
    for folder in (Path(weights_dir) / "hub" / "checkpoints", Path(weights_dir)):
        if (folder / name).is_file():
            return load_checkpoint(folder / name), f"ImageNet weights: {folder / name}"
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
