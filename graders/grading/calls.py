"""A submission's task calls on its worker, memoised in memory; the folders a worker must never read."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import threading
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
    """Calls tasks on one submission's worker; the same call twice is answered from memory.

    With a `helper` (a second worker, where a core is free) the calls named by `prefetch` are queued: the helper
    runs them at once, beside the calls the checks make, and a check that would wait for one of them runs queued
    ones on the first worker meanwhile. Every call seeds everything itself in a worker of the submission's, and a
    deliberate repeat (`attempt` > 1) runs in a fresh one, so which worker answers does not change the answer.
    """

    def __init__(self, submission: Submission, worker: Worker, config: Config, *, helper: Worker | None = None):
        self.submission = submission
        self.worker = worker
        self.config = config
        self.helper = helper
        self._memo: dict[str, tuple[str, Any]] = {}
        self._queue: list[tuple[str, Path, str, dict[str, Any]]] = []  # prefetched calls no worker has started
        self._pending: dict[str, threading.Event] = {}  # prefetched calls not answered yet: queued or running
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._imports: dict[tuple[int | None, Path], float] = {}  # (worker pid, module) -> seconds its import took
        self._unloadable: dict[Path, TaskFailed] = {}  # modules whose import ended or outran the worker

    def run(self, topic: str, task: str, **args: Any) -> Any:
        module = self._module(topic)
        key = call_key(topic, task, args)
        while key in self._pending:  # prefetched: help with the queue rather than wait idle, then wait
            job = self._next_job()
            if job is None:
                event = self._pending.get(key)
                if event is not None:
                    event.wait()
                break
            self._run_job(self.worker, job)
        if key not in self._memo:
            self._memo[key] = self._call(self.worker, module, task, args)
        kind, value = self._memo[key]
        if kind == "error":
            raise value
        return value

    def prefetch(self, topic: str, calls: list[tuple[str, dict[str, Any]]]) -> None:
        """Queue `calls` for the helper worker, which starts on them at once; nothing without a helper or a module."""
        module = self.submission.module(topic)
        if self.helper is None or module is None:
            return
        with self._lock:
            for task, args in calls:
                key = call_key(topic, task, args)
                if key not in self._memo and key not in self._pending:
                    self._pending[key] = threading.Event()
                    self._queue.append((key, module, task, args))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._help, name="prefetch", daemon=True)
                self._thread.start()

    def _help(self) -> None:
        assert self.helper is not None
        while (job := self._next_job()) is not None:
            self._run_job(self.helper, job)

    def _next_job(self) -> tuple[str, Path, str, dict[str, Any]] | None:
        with self._lock:
            return self._queue.pop(0) if self._queue else None

    def _run_job(self, worker: Worker, job: tuple[str, Path, str, dict[str, Any]]) -> None:
        key, module, task, args = job
        try:
            self._memo[key] = self._call(worker, module, task, args)
        finally:
            self._pending.pop(key).set()  # a bug here must not leave a check waiting for ever

    def close(self) -> None:
        """Stop the helper (a call no check needed may still run there) and wait for its thread."""
        with self._lock:
            self._queue.clear()
        if self.helper is not None:
            self.helper.close()
        if self._thread is not None:
            self._thread.join()

    @property
    def timed_out(self) -> bool:
        return self.worker.timed_out or (self.helper is not None and self.helper.timed_out)

    def _module(self, topic: str) -> Path:
        module = self.submission.module(topic)
        if module is None:
            spec = self.config.topic(topic)
            raise TaskFailed(f"the submission has no {spec.folder}/{spec.module}", kind="missing")
        return module

    def _call(self, worker: Worker, module: Path, task: str, args: dict[str, Any]) -> tuple[str, Any]:
        """("ok", the task's value) or ("error", the GradingError): a failure is remembered too, so that a hanging
        train() costs its time limit once, not per test."""
        if args.get("attempt", 1) > 1:
            # A deliberate repeat runs in a fresh worker: nothing the first run kept in memory
            # (or on its scratch disk) can be replayed.
            worker.stop()
        try:
            import_s = self._load(worker, module)
            value = worker.call(task, module=module, args=args)
            if isinstance(value, dict):
                value["call_seconds"] = worker.last_call_s
                value["import_seconds"] = import_s
            return "ok", value
        except GradingError as exc:
            return "error", exc

    def _load(self, worker: Worker, module: Path) -> float:
        """Import the module in a call of its own, once per worker start; the seconds it took.

        Timed like any call: code run at import (training included) is work the submission did, and
        training_time counts it (finding 8), for the reference alike.
        """
        if module in self._unloadable:
            raise self._unloadable[module]
        if (worker.pid, module) not in self._imports:
            try:
                worker.call("load", module=module, args={})
            except WorkerError as exc:  # os._exit() or an endless loop at import: the topic could not be loaded
                if worker.timed_out:  # the submission's time ran out: that is the reason, said once for all
                    raise
                self._unloadable[module] = TaskFailed(f"importing {module.name} stopped the worker: {exc}",
                                                      kind="not_loaded")
                raise self._unloadable[module] from None
            self._imports[(worker.pid, module)] = worker.last_call_s
        return self._imports[(worker.pid, module)]


def call_key(topic: str, task: str, args: dict[str, Any]) -> str:
    digest = hashlib.sha256(encode({"topic": topic, "task": task, "args": args}))
    return digest.hexdigest()
