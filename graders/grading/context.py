"""What the instructor's tests and the family helpers are handed about a topic: its context, and a proxy that runs
tasks for it on one side (the submission or the reference)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from graders.config import Config, TopicConfig
from graders.errors import GradingError


class Runs(Protocol):
    def run(self, topic: str, task: str, **args: Any) -> Any: ...


@dataclass
class TopicContext:
    """What a test knows about its topic: name, budget, thresholds, the seeds, and the folders its data and
    weights are read from (resolved here once, so no helper resolves them again)."""

    name: str
    spec: TopicConfig
    seed: int
    eval_seed: int  # for generated held-out data: never sent to a worker
    data_dir: Path  # grading.yaml's data_dir, relative to the course folder
    weights_dir: Path  # grading.yaml's weights_dir, `~` expanded

    @classmethod
    def of(cls, config: Config, name: str) -> TopicContext:
        """The context of topic `name` under `config` (KeyError for a topic the config lacks)."""
        return cls(name, config.topics[name], config.seed, config.eval_seed_for(name),
                   config.resolve(config.data_dir), Path(config.weights_dir).expanduser())

    @property
    def budget(self) -> dict[str, float]:
        return self.spec.budget

    def held_out_order(self, n: int) -> torch.Tensor:
        """The order held-out items are handed to the worker in: a permutation from the secret seed.

        Datasets come sorted or class by class; in that order an item's position would tell its label (issue #11).
        """
        return torch.randperm(n, generator=torch.Generator().manual_seed(self.eval_seed))

    def threshold(self, check: str) -> float:
        value = self.spec.checks[check].threshold
        if value is None:
            raise GradingError(f"grading.yaml: topics.{self.name}.checks.{check} needs a threshold")
        return value


@dataclass
class TopicProxy:
    """`submission` / `reference` in a test: run a named task on that side for the test's topic.

    `seed_offset` shifts the training seed of this side only (the data stay the same): `grade calibrate`
    uses it to measure how much a correct solution varies from one seed to another.
    """

    runner: Runs
    topic: str
    seed_offset: int = 0

    def run(self, task: str, **args: Any) -> Any:
        return self.runner.run(self.topic, task, **self._shifted(args))

    def prefetch(self, calls: list[tuple[str, dict[str, Any]]]) -> None:
        """Start `calls` early where this side's runner can (a second worker); `run` then finds them answered."""
        start = getattr(self.runner, "prefetch", None)
        if start is not None:
            start(self.topic, [(task, self._shifted(args)) for task, args in calls])

    def _shifted(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.seed_offset and "seed" in args:
            return {**args, "seed": args["seed"] + self.seed_offset}
        return args
