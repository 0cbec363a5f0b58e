"""Run tasks for a submission or for the reference solution, memoised in memory and (reference) on disk."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

import graders
from graders.config import Config
from graders.errors import GradingError, TaskFailed, WorkerError
from graders.submission import Submission, open_submission
from graders.worker.client import Worker
from graders.worker.protocol import decode, encode


def deny_paths(config: Config, *extra: Path) -> list[Path]:
    """What a worker must never read: hidden tests, solutions, caches, reports, data with labels."""
    root = config.root
    paths = [root / "hidden_tests", root / "solutions", root / "assignments", root / ".git",
             config.resolve(config.cache_dir),
             config.resolve(config.reports_dir), config.resolve(config.data_dir), config.path.resolve(), *extra]
    return [p for p in paths if hideable(p)]


def hideable(folder: Path) -> bool:
    """Hiding a folder that holds the interpreter, this package or the workers' temporary folders would stop
    every worker from starting (a batch run with `--out /tmp`): such a folder stays visible."""
    needed = [tempfile.gettempdir(), sys.prefix, sys.base_prefix, str(Path(graders.__file__).resolve().parents[1]),
              *sys.path]
    top = os.path.realpath(folder).rstrip("/") + "/"
    return not any(os.path.realpath(p).rstrip("/") + "/" == top or os.path.realpath(p).startswith(top)
                   for p in needed if p)


class TaskRunner:
    """Calls tasks on one submission's worker; the same call twice is answered from memory."""

    def __init__(self, submission: Submission, worker: Worker, config: Config):
        self.submission = submission
        self.worker = worker
        self.config = config
        self._memo: dict[str, Any] = {}
        self._imports: dict[tuple[int | None, Path], float] = {}  # (worker pid, module) -> seconds its import took
        self._unloadable: dict[Path, TaskFailed] = {}  # modules whose import ended or outran the worker

    def run(self, topic: str, task: str, **args: Any) -> Any:
        module = self.submission.module(topic)
        if module is None:
            spec = self.config.topic(topic)
            raise TaskFailed(f"the submission has no {spec.folder}/{spec.module}", kind="missing")
        key = call_key(topic, task, args)
        if key not in self._memo:
            if args.get("attempt", 1) > 1:
                # A deliberate repeat runs in a fresh worker: nothing the first run kept in memory
                # (or on its scratch disk) can be replayed.
                self.worker.stop()
            try:
                import_s = self._load(module)
                value = self.worker.call(task, module=module, args=args)
                if isinstance(value, dict):
                    value["call_seconds"] = self.worker.last_call_s
                    value["import_seconds"] = import_s
                self._memo[key] = ("ok", value)
            except GradingError as exc:
                # A failure is remembered too: a hanging train() costs its time limit once, not per test.
                self._memo[key] = ("error", exc)
        kind, value = self._memo[key]
        if kind == "error":
            raise value
        return value

    def _load(self, module: Path) -> float:
        """Import the module in a call of its own, once per worker start; the seconds it took.

        Timed like any call: code run at import (training included) is work the submission did, and
        training_time counts it (finding 8), for the reference alike.
        """
        if module in self._unloadable:
            raise self._unloadable[module]
        if (self.worker.pid, module) not in self._imports:
            try:
                self.worker.call("load", module=module, args={})
            except WorkerError as exc:  # os._exit() or an endless loop at import: the topic could not be loaded
                if self.worker.timed_out:  # the submission's time ran out: that is the reason, said once for all
                    raise
                self._unloadable[module] = TaskFailed(f"importing {module.name} stopped the worker: {exc}",
                                                      kind="not_loaded")
                raise self._unloadable[module] from None
            self._imports[(self.worker.pid, module)] = self.worker.last_call_s
        return self._imports[(self.worker.pid, module)]


def call_key(topic: str, task: str, args: dict[str, Any]) -> str:
    digest = hashlib.sha256(encode({"topic": topic, "task": task, "args": args}))
    return digest.hexdigest()


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
    folder = Path(__file__).parent / "tasks"
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
