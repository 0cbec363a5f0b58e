"""A submission's task calls on its worker, memoised in memory; the folders a worker must never read."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import graders
from graders.config import Config
from graders.errors import GradingError, TaskFailed, WorkerError
from graders.submission.open import Submission
from graders.worker.client import Worker
from graders.worker.protocol import encode


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
