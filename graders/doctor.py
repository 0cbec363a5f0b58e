"""What this machine offers the grader: worker protections, torch and CUDA, threads, data, weights, reference cache."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from graders.config import Config
from graders.worker.processes import usable_cores

if TYPE_CHECKING:
    from rich.table import Table

# Without these, student code could read hidden material, reach the network or take the machine down
# (docs/threat-model.md). The others degrade gracefully: `user` needs root, `processes` needs the uid drop.
REQUIRED_PROTECTIONS = frozenset({"network", "filesystem", "memory", "cpu_time", "file_size", "seccomp", "audit_hook"})


@dataclass(frozen=True)
class Finding:
    """One thing `grade doctor` looked at, and whether it is as grading needs it."""

    area: str  # "protection", "torch", "threads", "data", "weights", "cache"
    name: str
    ok: bool
    detail: str
    required: bool = False  # not ok and required: grading here would not be safe or would fail


def doctor(*, config: Config) -> list[Finding]:
    """Everything `grade doctor` reports, in display order; `problems()` picks the ones that matter."""
    return [*_protections(), *_torch(config), _threads(config), *_files(config), _cache(config)]


def problems(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.required and not f.ok]


def _protections() -> list[Finding]:
    from graders.worker import sandbox

    return [Finding("protection", p.name, p.active, p.detail, required=p.name in REQUIRED_PROTECTIONS)
            for p in sandbox.available()]


def _torch(cfg: Config) -> list[Finding]:
    import torch

    cuda = torch.cuda.is_available()
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
    gpus = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())) if cuda else "none"
    device = "cuda" if cfg.device == "cuda" or (cfg.device == "auto" and cuda) else "cpu"
    found = [Finding("torch", "version", True, f"torch {torch.__version__} ({build})"),
             Finding("torch", "cuda", cuda or cfg.device != "cuda", f"GPUs: {gpus}; grading.yaml device: "
                     f"{cfg.device}, so workers train on {device}", required=cfg.device == "cuda")]
    return found


def _threads(cfg: Config) -> Finding:
    cores = usable_cores()
    ok = cfg.threads <= cores
    detail = f"threads: {cfg.threads} per worker (torch), {cores} cores available"
    return Finding("threads", "threads", ok, detail if ok else f"{detail}: workers would compete for cores")


def _files(cfg: Config) -> list[Finding]:
    """Datasets and pretrained weights on disk; without them grading uses the built-in stand-ins."""
    from graders.data import presence
    from graders.data.prepare import ITEMS, _where
    from graders.data.weights import CHECKPOINTS

    data, weights = cfg.resolve(cfg.data_dir), Path(cfg.weights_dir).expanduser()
    found = []
    for item in ITEMS:
        path = _where(item, data, weights)
        # The question grading asks (both splits of a dataset, a checkpoint in either layout), not the folder's
        # existence: a folder with one MNIST split would read "ok" here and still grade on the stand-in.
        present = presence.present(item, data_dir=data, weights_dir=weights)
        detail = str(path) if present else f"not at {path}: built-in stand-ins are used (grade data prepare)"
        found.append(Finding("weights" if item in CHECKPOINTS else "data", item, present, detail))
    return found


def _cache(cfg: Config) -> Finding:
    folder = cfg.resolve(cfg.cache_dir) / "reference"
    entries = list(folder.glob("*.safetensors")) if folder.is_dir() else []
    if not entries:
        return Finding("cache", "reference", False, f"{folder} is empty: the first grading runs the reference "
                                                    "solution too (grade batch warms it first)")
    return Finding("cache", "reference", True, f"{len(entries)} cached reference results in {folder} (entries "
                                               "for other settings or torch versions are recomputed)")


def as_table(findings: Iterable[Finding]) -> Table:
    """The findings as a rich table, problems first in red."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="grade doctor", title_justify="left")
    for column in ("area", "name", "status", "detail"):
        table.add_column(column, overflow="fold", ratio=3 if column == "detail" else None)
    for f in findings:
        status, style = ("ok", "green") if f.ok else ("MISSING", "bold red") if f.required else ("absent", "yellow")
        table.add_row(Text(f.area), Text(f.name), Text(status, style=style), Text(f.detail))
    return table
