"""The reference solution, run exactly like a submission; its results cached on disk across runs."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

import graders
from graders.config import Config
from graders.errors import GradingError
from graders.grading.calls import TaskRunner, call_key, deny_paths
from graders.submission.open import open_submission
from graders.worker.client import Worker
from graders.worker.protocol import decode, encode

# Part of every cache key: bumped when what a cached result holds changes (2: `import_seconds`).
_CACHE_FORMAT = "2"


class Reference:
    """The reference solution, run exactly like a submission; results cached on disk across runs."""

    def __init__(self, config: Config, *, use_cache: bool = True):
        self.config = config
        self.use_cache = use_cache
        self.cache = config.resolve(config.cache_dir) / "reference"
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._runner: TaskRunner | None = None
        self._read: dict[Path, Any] = {}  # cache files decoded, by path: the reference's results alone

    def run(self, topic: str, task: str, **args: Any) -> Any:
        path = self.cache / f"{self._key(topic, task, args)}.safetensors"
        if path in self._read:
            return self._read[path]
        if self.use_cache and path.is_file():
            # Read once per Reference: a grading asks for the same result in several checks (issue #14).
            self._read[path] = decode(path.read_bytes(), max_bytes=1 << 34)
            return self._read[path]
        try:
            value = self._start().run(topic, task, **args)
        except GradingError as exc:
            raise GradingError(f"the reference solution failed on {topic}/{task}: {exc}") from None
        if self.use_cache:
            self.cache.mkdir(parents=True, exist_ok=True)
            # A temporary name of its own: several grading processes may fill the same entry at once.
            fd, tmp = tempfile.mkstemp(dir=self.cache, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                handle.write(encode(value))
            os.replace(tmp, path)
        return value

    def _key(self, topic: str, task: str, args: dict[str, Any]) -> str:
        spec = self.config.topic(topic)
        solution = self.config.root / "solutions" / spec.folder / spec.module
        parts = [call_key(topic, task, args), _file_hash(solution), torch.__version__, resolve_device(self.config),
                 str(self.config.threads), self.config.digest(), graders.__version__, _tasks_hash(), _CACHE_FORMAT]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]

    def _start(self) -> TaskRunner:
        if self._runner is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="grade-reference-")
            workdir = Path(self._tmp.name)
            submission = open_submission(self.config.root / "solutions", config=self.config, workdir=workdir,
                                         name="reference")
            # No watchdog: this worker serves a whole run of submissions; each call still has call_s.
            worker = Worker(workdir=workdir, config=self.config, deny_paths=deny_paths(self.config), watchdog=False)
            self._runner = TaskRunner(submission, worker, self.config)
        return self._runner

    def close(self) -> None:
        self._read.clear()
        if self._runner is not None:
            self._runner.worker.close()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def resolve_device(config: Config) -> str:
    if config.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return config.device


def _file_hash(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "missing"


def _tasks_hash() -> str:
    """Changing a task's code changes what it computes, so it invalidates cached references."""
    folder = Path(graders.__file__).parent / "worker" / "tasks"
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
