"""`grade calibrate`: measure how much a correct solution varies over seeds and threads, set thresholds from it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from graders.config import Config, load_config
from graders.errors import ConfigError
from graders.grading import grade_submission
from graders.results import CheckResult
from graders.runner import Reference


@dataclass
class Calibration:
    """One reference-relative check: the ratios a correct solution reached, and the threshold they imply."""

    topic: str
    check: str
    direction: str  # "higher_is_better" or "lower_is_better"
    old: float
    ratios: list[float] = field(default_factory=list)
    margin: float = 0.0

    @property
    def new(self) -> float:
        if self.direction == "higher_is_better":
            return round(min(self.ratios) - self.margin, 3)
        return round(max(self.ratios) + self.margin, 3)

    def comment(self) -> str:
        return (f"calibrated {date.today().isoformat()}: the reference reached {min(self.ratios):.3f}-"
                f"{max(self.ratios):.3f} of itself over {len(self.ratios)} runs, margin {self.margin:g}")


def calibrate(*, config: str | Path = "grading.yaml", seeds: int = 3, threads: Sequence[int] = (1, 2),
              margin: float = 0.02, topics: list[str] | None = None, write: bool = True) -> list[Calibration]:
    """Grade the reference against itself under shifted seeds and each thread count; rewrite thresholds."""
    cfg = load_config(config)
    found = {(t, c): Calibration(t, c, spec.calibrate, _threshold(cfg, t, c), margin=margin)
             for t, topic in cfg.topics.items() if topics is None or t in topics
             for c, spec in topic.checks.items() if spec.calibrate != "none"}
    if not found:
        raise ConfigError(f"{cfg.path}: no check has `calibrate:` set (higher_is_better or lower_is_better)")
    for count in threads:
        run_cfg = dataclasses.replace(cfg, threads=count)
        reference = Reference(run_cfg)
        try:
            for offset in range(1, seeds + 1):
                result = grade_submission(cfg.root / "solutions", config=run_cfg, hidden=True, reference=reference,
                                          topics=sorted({t for t, _ in found}), seed_offset=offset)
                for check in result.checks():
                    if (check.topic, check.name) in found:
                        found[check.topic, check.name].ratios.append(_ratio(check, found[check.topic, check.name]))
        finally:
            reference.close()
    if write:
        rewrite_thresholds(cfg.path, list(found.values()))
    return list(found.values())


def _threshold(cfg: Config, topic: str, check: str) -> float:
    value = cfg.topics[topic].checks[check].threshold
    if value is None or value <= 0:
        raise ConfigError(f"{cfg.path}: topics.{topic}.checks.{check}: `calibrate` needs a positive threshold")
    return value


def _ratio(check: CheckResult, cal: Calibration) -> float:
    """The reference-relative ratio a run reached: measured / reference, where bound = reference * old."""
    if check.measured is None or check.threshold is None:
        raise ConfigError(f"calibration of {cal.topic}.{cal.check} failed: {check.message}")
    reference = check.threshold / cal.old
    return check.measured / reference if reference else 1.0


def rewrite_thresholds(path: Path, calibrations: list[Calibration]) -> None:
    """Replace each threshold's value in place, keeping every other line and comment of the file."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for cal in calibrations:
        node = _threshold_node(path, lines, cal)
        line = lines[node.start_mark.line]
        head, tail = line[: node.start_mark.column], line[node.end_mark.column :]
        tail = tail.split("#")[0].rstrip() if "#" in tail else tail.rstrip("\n")
        lines[node.start_mark.line] = f"{head}{cal.new:g}{tail}  # {cal.comment()}\n"
    path.write_text("".join(lines), encoding="utf-8")


def _threshold_node(path: Path, lines: list[str], cal: Calibration) -> yaml.Node:
    node = yaml.compose("".join(lines))
    for key in ("topics", cal.topic, "checks", cal.check, "threshold"):
        node = next((v for k, v in getattr(node, "value", []) if getattr(k, "value", None) == key), None)
        if node is None:
            raise ConfigError(f"{path}: topics.{cal.topic}.checks.{cal.check}.threshold not found to rewrite")
    return node
