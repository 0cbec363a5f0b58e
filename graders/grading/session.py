"""Grade one submission: open it, start its worker, run the instructor's tests through our plugin."""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

import graders
from graders.config import Config
from graders.data import presence
from graders.errors import ConfigError, GradingError, TaskFailed
from graders.grading.calls import TaskRunner, deny_paths
from graders.grading.context import Runs
from graders.grading.plugin import GradingPlugin
from graders.grading.reference import Reference, resolve_device
from graders.results import Environment, SubmissionResult, TopicResult
from graders.submission.open import Submission, open_submission
from graders.worker.client import Worker
from graders.worker.zygote import warm_up


class _Unreadable:
    """Stands in for a submission that could not be opened: every task fails with the same reason."""

    timed_out = False  # no worker ever starts for it

    def __init__(self, reason: str):
        self.reason = reason

    def run(self, topic: str, task: str, **args: Any) -> Any:
        raise TaskFailed(self.reason, kind="missing")

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class GradingOptions:
    """What the harness's own callers set beyond grade_submission's public arguments."""

    reference: Reference | None = None  # one shared across gradings (left open); None: one for this grading
    use_cache: bool = True  # whether the Reference made here reads and fills the reference cache
    seed_offset: int = 0  # trains the submission under another seed than the reference (see `grade calibrate`)
    deny: Sequence[Path] = ()  # folders the worker must not read besides the submission's (a batch's others)
    # A single .py/.ipynb's topic where `topics` names several or others: a batch's file, named for its topic.
    file_topic: str | None = None
    # A second worker for the long trainings a family names (graders/families/prefetch.py), where a core would
    # otherwise idle: a topic graded alone. Batches and the server's two halves keep one worker per grading.
    helper_worker: bool = False


def grade_submission(path: str | Path, *, config: Config, hidden: bool = False, topics: Sequence[str] | None = None,
                     name: str | None = None, options: GradingOptions = GradingOptions()) -> SubmissionResult:
    """Grade `path` (a folder, a .zip, or a .py/.ipynb of the one topic named) on `topics` (default: all): the
    public tests, and the hidden ones too if `hidden`."""
    warm_up(config.threads)  # a no-op when the zygote runs already
    selected = config.select(topics)
    started, clock = datetime.now(timezone.utc).isoformat(timespec="seconds"), time.monotonic()
    file_topic = options.file_topic or (topics[0] if topics and len(topics) == 1 else None)
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        failure = ""
        try:
            submission: Submission | None = open_submission(path, config=config, workdir=Path(tmp),
                                                            topic=file_topic, name=name)
        except GradingError as exc:
            submission, failure = None, str(exc)
        with _worker(Path(path), config, submission, options, Path(tmp)) as worker:
            student = _runner(submission, worker, config, options, Path(path), Path(tmp), failure)
            try:
                plugin = _run_with_reference(config, selected, hidden, student, options)
            finally:
                student.close()
            timed_out = student.timed_out
        result = SubmissionResult(
            submission=name or (submission.name if submission else Path(path).name), source=str(path),
            environment=_environment(config, worker), hidden=hidden, started_at=started,
            topics=[_topic_result(config, t, plugin, submission) for t in selected],
        )
    _settle(result, config, submission, failure, timed_out=timed_out)
    result.duration_s = round(time.monotonic() - clock, 3)
    return result


def _runner(submission: Submission | None, worker: Worker, config: Config, options: GradingOptions, source: Path,
            workdir: Path, failure: str) -> TaskRunner | _Unreadable:
    """The submission's task runner, with its helper worker where the options ask for one."""
    if submission is None:
        return _Unreadable(failure)
    helper = _worker(source, config, submission, options, workdir) if options.helper_worker else None
    return TaskRunner(submission, worker, config, helper=helper)


def _worker(source: Path, config: Config, submission: Submission | None, options: GradingOptions,
            workdir: Path) -> Worker:
    """The submission's worker. Its own folder and its neighbours (classmates beside it) are denied too, where
    hiding them keeps what a worker needs visible."""
    source = source.resolve()
    extra = [source, source.parent, *options.deny] if submission is not None else []
    return Worker(workdir=workdir, config=config, deny_paths=deny_paths(config, *extra))


def _run_with_reference(config: Config, topics: list[str], hidden: bool, student: Runs,
                        options: GradingOptions) -> GradingPlugin:
    """run_tests with the options' reference, or one made (and closed) for this grading."""
    reference = options.reference or Reference(config, use_cache=options.use_cache)
    try:
        return run_tests(config, topics, hidden=hidden, student=student, reference=reference,
                         seed_offset=options.seed_offset)
    finally:
        if options.reference is None:
            reference.close()


def _settle(result: SubmissionResult, config: Config, submission: Submission | None, failure: str, *,
            timed_out: bool) -> None:
    """The submission's status: not opened, or stopped by its time limit; else its notes."""
    if submission is None:
        result.status, result.reason = "failed to load", failure
    else:
        result.notes = submission.problems
    if timed_out:  # the checks that ran keep their verdicts; those left failed with the reason
        result.status = "timed out"
        result.reason = (f"the submission's time limit ({config.limits.submission_s:g} s) was used up: the worker "
                         "was stopped and the checks still to run failed")


def test_files(config: Config, topics: list[str], *, hidden: bool) -> tuple[list[Path], set[Path]]:
    """The instructor's public test files (and hidden ones), never the submission's copies."""
    public_dirs = {config.root / "assignments" / config.topics[t].folder for t in topics}
    dirs = sorted(public_dirs)
    if hidden:
        dirs += [config.root / "hidden_tests" / config.topics[t].folder for t in topics]
    return [f for d in dirs for f in sorted(d.glob("test_*.py"))], public_dirs


def run_tests(config: Config, topics: list[str], *, hidden: bool, student: Runs, reference: Runs,
              seed_offset: int = 0) -> GradingPlugin:
    """The pytest session over the instructor's test files, `student` and `reference` answering tasks."""
    files, public_dirs = test_files(config, topics, hidden=hidden)
    plugin = GradingPlugin(config=config, student=student, reference=reference, public_dirs=public_dirs,
                           seed_offset=seed_offset)
    with tempfile.TemporaryDirectory(prefix="grade-pytest-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        # Our own ini: no settings of the course's pyproject apply; hidden tests may import their shared
        # modules (hidden_tests/*.py), in this process only.
        shared = f"pythonpath = {config.root / 'hidden_tests'}\n" if hidden else ""
        ini.write_text(f"[pytest]\n{shared}", encoding="utf-8")
        # no:unraisableexception: its two gc.collect() per session cost 0.25 s with torch's heap, a quarter of
        # a warm `grade check` (#14); what it reports (a __del__ failing in our tests) nobody sees here.
        args = [*map(str, files), "-c", str(ini), "--rootdir", str(config.root), "-p", "no:cacheprovider",
                "--noconftest", "--import-mode=importlib", "-p", "no:terminal", "-p", "no:unraisableexception",
                "-W", "ignore::DeprecationWarning"]
        pytest.main(args, plugins=[plugin])
    if plugin.problems:
        raise ConfigError("; ".join(plugin.problems))
    return plugin


def _topic_result(config: Config, name: str, plugin: GradingPlugin, submission: Submission | None) -> TopicResult:
    spec = config.topics[name]
    order = list(spec.checks)  # reports list checks as grading.yaml does, whatever order tests ran in
    checks = sorted((c for c in plugin.results() if c.topic == name), key=lambda c: order.index(c.name))
    result = TopicResult(name=name, title=spec.title or name, checks=checks,
                         data_sources=plugin.data_sources.get(name, []), data_used=presence.uses(config, name),
                         artifacts=plugin.artifacts_of(name),
                         duration_s=round(sum(c.duration_s for c in checks), 3))
    if submission is not None:
        result.notes = submission.notes.get(name, [])
        if submission.module(name) is None:
            result.status, result.reason = "not submitted", f"no {spec.folder}/{spec.module}"
    _not_loaded(result)
    return result


def _not_loaded(topic: TopicResult) -> None:
    """A module that does not import is reported once, for its topic; its checks are listed as not run (#12)."""
    failed = [c for c in topic.checks if c.cause == "not_loaded"]
    if not failed or topic.status != "graded":
        return
    topic.status = "failed to load"
    topic.reason = f"{failed[0].message} (fix this first: the topic's checks did not run)"
    for check in failed:
        check.message, check.hint = "not run: the module could not be loaded", ""


def _environment(config: Config, worker: Worker) -> Environment:
    import torch

    env = worker.environment
    return Environment(
        torch_version=env.get("torch_version", torch.__version__), device=env.get("device", resolve_device(config)),
        threads=env.get("threads", config.threads), seed=config.seed, python=sys.version.split()[0],
        platform=platform.platform(terse=True), harness_version=graders.__version__,
        protections=worker.protections,
    )


def spare_core(config: Config) -> bool:
    """Whether a second worker beside the first would get a core of its own, so that two halves of one grading can
    run at once: two workers on one GPU would only take turns."""
    from graders.worker.processes import usable_cores

    return usable_cores() >= 2 * config.threads and resolve_device(config) == "cpu"


def check_topic(topic: str, *, config: Config, submission: str | Path | None = None) -> SubmissionResult:
    """A student's self-check: public tests of one topic on their working copy (assignments/ by default)."""
    config.topic(topic)
    path = Path(submission) if submission else config.root / "assignments"
    return grade_submission(path, config=config, topics=[topic], hidden=False, name="self-check",
                            options=GradingOptions(helper_worker=spare_core(config)))
