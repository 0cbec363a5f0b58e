"""What every task module builds on: the registry, seeding, and checks of what the student's code returns."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

TASKS: dict[str, Callable[..., Any]] = {}


class InvalidOutput(Exception):
    """Student code returned something of the wrong kind; the message says what was expected."""


class MissingName(InvalidOutput):
    """The student's module lacks a name the assignment asks for (reported as kind "missing", its own hint)."""


def task(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a task under `name` (e.g. "regression.fit")."""

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        TASKS[name] = func
        return func

    return register


def seed_everything(seed: int) -> None:
    """Seed every generator a task may touch, so its outcome depends only on its inputs."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def need(module: Any, name: str) -> Any:
    """A name the student must define; its absence is reported by name."""
    value = getattr(module, name, None)
    if value is None:
        raise MissingName(f"{module.__name__}.py defines no {name}; keep the name from the assignment")
    return value


def floats(values: Any, what: str, *, count: int) -> list[float]:
    """`count` numbers from student code (tensors of one element accepted), or InvalidOutput.

    The count is checked before anything is converted: a list of millions must not cross to the grader (#11).
    """
    if not isinstance(values, (list, tuple)):
        raise InvalidOutput(f"{what} must return a list of floats, got {type(values).__name__}")
    if len(values) != count:
        raise InvalidOutput(f"{what} returned {len(values)} losses for {count} epochs, expected one per epoch")
    try:
        return [float(v) for v in values]
    except (TypeError, ValueError, RuntimeError):
        raise InvalidOutput(f"{what} must return a list of floats (one per epoch)") from None


def tensor(value: Any, what: str) -> Any:
    import torch

    if not isinstance(value, torch.Tensor):
        raise InvalidOutput(f"{what} must return a torch.Tensor, got {type(value).__name__}")
    return value


@task("load")
def load(module: Any, *, device: str) -> dict[str, Any]:
    """Import the student's module (the runner does it once, before any timed task) and list its names."""
    return {"names": sorted(name for name in vars(module) if not name.startswith("_"))}

