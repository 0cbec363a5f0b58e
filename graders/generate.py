"""Build the student's stubs from solutions/: each `### BEGIN SOLUTION` region becomes a NotImplementedError."""

from __future__ import annotations

import re
from pathlib import Path

from graders.config import Config, load_config
from graders.errors import ConfigError

_REGION = re.compile(
    r"^(?P<indent>[ \t]*)### BEGIN SOLUTION[ \t]*\n.*?^[ \t]*### END SOLUTION[ \t]*\n", re.MULTILINE | re.DOTALL
)


def stub_source(solution: str) -> str:
    """The student's version of a solution module."""
    if solution.count("### BEGIN SOLUTION") != solution.count("### END SOLUTION"):
        raise ValueError("unbalanced ### BEGIN SOLUTION / ### END SOLUTION markers")
    return _REGION.sub(lambda m: f"{m['indent']}# YOUR CODE HERE\n{m['indent']}raise NotImplementedError()\n",
                       solution)


def stub_files(config: Config) -> dict[Path, str]:
    """Every stub the course should have, keyed by its path under assignments/."""
    stubs = {}
    for name, spec in config.topics.items():
        solution = config.root / "solutions" / spec.folder / spec.module
        try:
            text = solution.read_text(encoding="utf-8")
            stubs[config.root / "assignments" / spec.folder / spec.module] = stub_source(text)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{solution}: cannot build the stub of topic {name}: {exc}") from None
    return stubs


def generate(*, config: str | Path = "grading.yaml", check: bool = False) -> list[Path]:
    """Write assignments/ stubs from solutions/; with `check`, write nothing and return the stale files."""
    stubs = stub_files(load_config(config))
    stale = [path for path, text in stubs.items() if not path.is_file() or path.read_text("utf-8") != text]
    if not check:
        for path in stale:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(stubs[path], encoding="utf-8")
    return stale
