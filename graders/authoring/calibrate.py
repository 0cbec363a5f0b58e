"""`grade calibrate`: measure how much a correct solution varies over seeds and threads, set thresholds from it.

Timing checks (`training_time`) are ratios of seconds, calibrated apart (issue #12, finding 6): only from runs at
the configured thread count (grading's; 2-thread runs on a shared machine spin 4-20x slower), against a reference
timed in the same session (never a cached time), with honest variants (`examples/*_variant_styles`) counted as
honest, a multiplicative margin, and the per-sample loops (`examples/*_per_sample_loop`) timed to show whether
the threshold still fails them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from graders.config import Config
from graders.errors import ConfigError
from graders.results import CheckResult

if TYPE_CHECKING:  # both import torch: only when calibrating, never for `grade calibrate --help` (#14)
    from graders.grading.reference import Reference

TIME_CHECKS = frozenset({"training_time"})  # seconds / the reference's seconds: calibrated with a factor
# Honest ratios graded under load against a reference timed idle reached up to 2.5x the worst idle ratio of the same
# topic (topic 2: 4.33 against 1.75; bench/training_time_ratios.py, issue #12 finding 6).
TIME_MARGIN = 2.5


@dataclass
class Calibration:
    """One reference-relative check: the ratios a correct solution reached, and the threshold they imply.

    A timing check's margin is a factor, and `slow` holds the ratios of submissions it must fail (per-sample loops);
    `marked` is False for one measured only to be reported (no `calibrate:` in grading.yaml): never rewritten.
    """

    topic: str
    check: str
    direction: str  # "higher_is_better" or "lower_is_better"
    old: float
    ratios: list[float] = field(default_factory=list)
    margin: float = 0.0
    slow: list[float] = field(default_factory=list)
    marked: bool = True

    @property
    def timing(self) -> bool:
        return self.check in TIME_CHECKS

    @property
    def new(self) -> float:
        if self.timing:
            return math.ceil(round(max(self.ratios) * self.margin * 10, 6)) / 10  # up to a tenth: never below
        if self.direction == "higher_is_better":
            return round(min(self.ratios) - self.margin, 3)
        return round(max(self.ratios) + self.margin, 3)

    @property
    def separates(self) -> bool | None:
        """Whether the new threshold still fails every slow submission timed; None when none was."""
        return min(self.slow) > self.new if self.slow else None

    def comment(self) -> str:
        when = f"calibrated {date.today().isoformat()}"
        if not self.timing:
            return (f"{when}: the reference reached {min(self.ratios):.3f}-{max(self.ratios):.3f} of itself over "
                    f"{len(self.ratios)} runs, margin {self.margin:g}")
        text = (f"{when}: honest runs took {min(self.ratios):.2f}-{max(self.ratios):.2f}x the reference's time "
                f"over {len(self.ratios)} runs, margin x{self.margin:g}")
        if self.slow:
            verdict = "fail" if self.separates else "DO NOT fail"
            text += f"; per-sample loops {min(self.slow):.2f}-{max(self.slow):.2f}x {verdict}"
        return text


def calibrate(*, config: Config, seeds: int = 3, threads: Sequence[int] = (1, 2),
              margin: float = 0.02, topics: list[str] | None = None, write: bool = True,
              time_margin: float = TIME_MARGIN, honest: Sequence[str | Path] | None = None,
              slow: Sequence[str | Path] | None = None) -> list[Calibration]:
    """Grade the reference against itself under shifted seeds and each thread count; rewrite thresholds.

    Timing checks are measured on every topic (and rewritten only where marked `calibrate:`): from the runs at the
    configured thread count, plus `honest` submissions (default `examples/*_variant_styles`), each once per seed;
    `slow` ones (default `examples/*_per_sample_loop`) are timed once, to report whether the threshold fails them.
    """
    found = _calibrations(config, topics, margin=margin, time_margin=time_margin)
    honest_paths = _examples(config, "*_variant_styles") if honest is None else [Path(p) for p in honest]
    slow_paths = _examples(config, "*_per_sample_loop") if slow is None else [Path(p) for p in slow]
    for count in threads:
        _measure(dataclasses.replace(config, threads=count), found, seeds=seeds, timed=count == config.threads,
                 honest=honest_paths, slow=slow_paths)
    missing = [f"{c.topic}.{c.check}" for c in found.values() if c.marked and not c.ratios]
    if missing:
        raise ConfigError(f"{config.path}: timing checks are calibrated from runs at the configured {config.threads} "
                          f"thread(s), and --threads {config.threads} was not run: {', '.join(missing)}")
    results = [c for c in found.values() if c.ratios]  # a timing check only reported, without runs: left out
    if write:
        rewrite_thresholds(config.path, [c for c in results if c.marked])
    return results


def _calibrations(cfg: Config, topics: list[str] | None, *, margin: float,
                  time_margin: float) -> dict[tuple[str, str], Calibration]:
    """The checks marked `calibrate:`, and every timing check (reported; rewritten only where marked)."""
    found = {(t, c): Calibration(t, c, spec.calibrate, _threshold(cfg, t, c), margin=margin)
             for t, topic in cfg.topics.items() if topics is None or t in topics
             for c, spec in topic.checks.items() if spec.calibrate != "none"}
    if not found:
        raise ConfigError(f"{cfg.path}: no check has `calibrate:` set (higher_is_better or lower_is_better)")
    for t, topic in cfg.topics.items():
        for c, spec in topic.checks.items():
            if c in TIME_CHECKS and (t, c) in found:
                found[t, c].margin = time_margin
            elif c in TIME_CHECKS and (topics is None or t in topics) and spec.threshold:
                found[t, c] = Calibration(t, c, "lower_is_better", spec.threshold, margin=time_margin, marked=False)
    return found


def _measure(run_cfg: Config, found: dict[tuple[str, str], Calibration], *, seeds: int, timed: bool,
             honest: list[Path], slow: list[Path]) -> None:
    """The reference under shifted seeds at one thread count; where `timed` (grading's thread count, the only one
    whose seconds mean anything), the honest and slow examples too."""
    from graders.grading.reference import Reference
    from graders.grading.session import GradingOptions, grade_submission

    selected = sorted({t for t, _ in found})
    # Timed now, beside the runs it is compared with: a cached reference keeps the seconds of another day.
    reference = Reference(run_cfg, use_cache=not timed)
    try:
        for offset in range(1, seeds + 1):
            result = grade_submission(run_cfg.root / "solutions", config=run_cfg, hidden=True, topics=selected,
                                      options=GradingOptions(reference=reference, seed_offset=offset))
            for check in result.checks():
                cal = found.get((check.topic, check.name))
                if cal is not None and (timed or not cal.timing):
                    cal.ratios.append(_ratio(check, cal))
            for path in honest if timed else []:
                _time(path, run_cfg, reference, selected, found, "ratios", offset)
        for path in slow if timed else []:
            _time(path, run_cfg, reference, selected, found, "slow")
    finally:
        reference.close()


def _examples(cfg: Config, pattern: str) -> list[Path]:
    return sorted(p for p in (cfg.root / "examples").glob(pattern) if p.is_dir())


def _time(path: Path, cfg: Config, reference: Reference, topics: list[str], found: dict[tuple[str, str], Calibration],
          into: str, offset: int = 0) -> None:
    """Grade `path` on the topics it has a module for; add its timing ratios to `into` of their calibrations."""
    from graders.grading.session import GradingOptions, grade_submission

    own = [t for t in topics if (path / cfg.topics[t].folder / cfg.topics[t].module).is_file()
           and any(c.timing for (ct, _), c in found.items() if ct == t)]
    if not own:
        return
    result = grade_submission(path, config=cfg, hidden=True, topics=own,
                              options=GradingOptions(reference=reference, seed_offset=offset))
    for check in result.checks():
        cal = found.get((check.topic, check.name))
        if cal is not None and cal.timing:
            if check.measured is None:
                raise ConfigError(f"calibration of {cal.topic}.{cal.check} failed on {path}: {check.message}")
            getattr(cal, into).append(check.measured)


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
