"""The pytest plugin that runs instructor tests against a submission: fixtures in, CheckResults out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from graders.checks import Outcome
from graders.config import Config
from graders.errors import GradingError, TaskFailed, WorkerError
from graders.grading.context import Runs, TopicContext, TopicProxy
from graders.results import Cause, CheckResult

# The hint for a failure that is not the check's own verdict (issue #12): about its cause, never the check's usual
# advice ("check the learning rate" for a NameError would send a student the wrong way).
_HINTS: dict[Cause, str] = {
    "not_implemented": "implement the function: it still raises NotImplementedError",
    "missing": "keep the file, class and function names from the assignment",
    "invalid": "check the return type and shape against the docstring",
    "error": "your code raised this exception: fix it at the function and line named (running that code on its "
             "own shows the whole traceback)",
    "not_loaded": "",
    "worker": "make sure the code finishes quickly and does not exit the process",
    "grader": "ask the instructor: this is not your fault",
}


# A loss curve's points in reports: a plot shows no more, and a submission's runs must not inflate reports (#11).
MAX_POINTS = 2000


class CheckFailed(AssertionError):
    """Raised by `expect` so pytest marks the test failed; carries the Outcome for the report."""

    def __init__(self, outcome: Outcome):
        super().__init__(outcome.message)
        self.outcome = outcome


@dataclass
class _Record:
    topic: str
    check: str
    public: bool
    outcomes: list[Outcome] = field(default_factory=list)
    failure: str = ""
    hint: str = ""
    cause: Cause = ""
    passed: bool = False
    duration_s: float = 0.0


class GradingPlugin:
    """Registered with pytest.main(plugins=[...]); collects one CheckResult per test."""

    def __init__(self, *, config: Config, student: Runs, reference: Runs, public_dirs: set[Path],
                 seed_offset: int = 0):
        self._config = config
        self._student = student
        self._reference = reference
        self.seed_offset = seed_offset
        self.public_dirs = {p.resolve() for p in public_dirs}
        self.records: dict[str, _Record] = {}
        self._artifacts: dict[str, dict[str, Any]] = {}
        self.problems: list[str] = []
        self.data_sources: dict[str, list[str]] = {}
        self._prefetched: set[str] = set()

    # -- collection ---------------------------------------------------------------------------
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            topic = self._config.topic_by_folder(item.path.parent.name)
            check = getattr(item, "originalname", item.name).removeprefix("test_")
            if topic is None:
                self.problems.append(f"{item.path}: folder {item.path.parent.name!r} is not a topic's folder")
            elif check not in self._config.topics[topic].checks:
                self.problems.append(f"{item.path}: test_{check} has no check '{check}' under "
                                     f"topics.{topic}.checks in grading.yaml")
            else:
                public = item.path.parent.resolve() in self.public_dirs
                self.records[item.nodeid] = _Record(topic, check, public)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.problems.append(f"{report.nodeid}: the test file does not import: {_first_line(report)}")

    # -- running ------------------------------------------------------------------------------
    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        outcome = yield
        report = outcome.get_result()
        record = self.records.get(item.nodeid)
        if record is None or report.when == "teardown":
            return
        record.duration_s += report.duration
        if report.when == "call":
            record.passed = report.passed
        if report.failed and call.excinfo is not None:
            record.failure, record.hint, record.cause = _explain(call.excinfo.value)

    # -- fixtures -----------------------------------------------------------------------------
    def _topic_of(self, request: pytest.FixtureRequest) -> str:
        record = self.records.get(request.node.nodeid)
        if record is None:
            raise GradingError(f"{request.node.nodeid} is not a graded check")
        return record.topic

    @pytest.fixture
    def config(self) -> Config:
        return self._config

    @pytest.fixture
    def topic(self, request: pytest.FixtureRequest) -> TopicContext:
        return TopicContext.of(self._config, self._topic_of(request))

    @pytest.fixture
    def submission(self, request: pytest.FixtureRequest) -> TopicProxy:
        topic = self._topic_of(request)
        proxy = TopicProxy(self._student, topic, self.seed_offset)
        if topic not in self._prefetched:
            self._prefetched.add(topic)
            self._prefetch(proxy, topic)
        return proxy

    def _prefetch(self, proxy: TopicProxy, topic: str) -> None:
        """Start the topic's longest trainings early where the runner has a second worker (families/prefetch.py)."""
        from graders.families import prefetch

        hidden = any(not r.public for r in self.records.values() if r.topic == topic)
        try:
            calls = prefetch.calls(TopicContext.of(self._config, topic), hidden=hidden)
        except Exception:  # noqa: BLE001 - only a head start: the check that needs the call makes it and reports
            return
        proxy.prefetch(calls)

    @pytest.fixture
    def reference(self, request: pytest.FixtureRequest) -> TopicProxy:
        return TopicProxy(self._reference, self._topic_of(request))

    @pytest.fixture
    def artifacts(self, request: pytest.FixtureRequest) -> dict[str, Any]:
        """Plot material for the topic's feedback (see TopicResult.artifacts)."""
        return self._artifacts.setdefault(self._topic_of(request), {})

    @pytest.fixture
    def data_source(self, request: pytest.FixtureRequest) -> Any:
        """Call with a description of the data a check used ("real MNIST: ...", "built-in stand-in")."""
        sources = self.data_sources.setdefault(self._topic_of(request), [])
        return lambda text: sources.append(text) if text not in sources else None

    @pytest.fixture
    def expect(self, request: pytest.FixtureRequest) -> Any:
        record = self.records[request.node.nodeid]

        def expect(outcome: Outcome) -> Outcome:
            record.outcomes.append(outcome)
            if not outcome.passed:
                raise CheckFailed(outcome)
            return outcome

        return expect

    # -- results ------------------------------------------------------------------------------
    def artifacts_of(self, topic: str) -> dict[str, Any]:
        """A topic's plot material, every series at most MAX_POINTS long: reports stay small whatever a test kept."""
        return _capped(self._artifacts.get(topic, {}))

    def results(self) -> list[CheckResult]:
        return [self._result(r) for r in self.records.values()]

    def _result(self, record: _Record) -> CheckResult:
        spec = self._config.topics[record.topic].checks[record.check]
        figures = next((o for o in reversed(record.outcomes) if o.measured is not None), None)
        if record.passed:
            # The last outcome is the check's verdict; the earlier ones validated what it rests on.
            message = record.outcomes[-1].message if record.outcomes else "passed"
        else:
            message = record.failure or "did not run"
        # The check's usual advice only where it failed on its own subject; another cause brings its own hint.
        hint = "" if record.passed else record.hint or (spec.hint if not record.cause else "")
        return CheckResult(
            topic=record.topic, name=record.check, points=spec.points if record.passed else 0.0,
            max_points=spec.points, passed=record.passed, message=message, visibility=spec.visibility,
            public=record.public, description=spec.description, hint=hint,
            measured=figures.measured if figures else None, threshold=figures.threshold if figures else None,
            show_threshold=spec.show_threshold or spec.visibility == "visible", duration_s=record.duration_s,
            cause="" if record.passed else record.cause,
        )


def _explain(exc: BaseException) -> tuple[str, str, Cause]:
    """A failure's one-line message, hint and cause; never a traceback."""
    if isinstance(exc, CheckFailed):
        outcome = exc.outcome
        return outcome.message, outcome.hint or _HINTS.get(outcome.cause, ""), outcome.cause
    if isinstance(exc, TaskFailed):
        cause = exc.kind if exc.kind in _HINTS else "error"
        return str(exc), _HINTS[cause], cause
    if isinstance(exc, WorkerError):
        return f"worker: {exc}", _HINTS["worker"], "worker"
    if isinstance(exc, AssertionError):
        return (str(exc).strip().splitlines() or ["assertion failed"])[0], "", ""
    if isinstance(exc, GradingError):
        return f"grader error: {exc}", _HINTS["grader"], "grader"
    return f"grader error: {type(exc).__name__}: {exc}", _HINTS["grader"], "grader"


def _first_line(report: pytest.CollectReport) -> str:
    text = str(report.longrepr).strip().splitlines()
    return text[-1] if text else "collection failed"


def _capped(value: Any) -> Any:
    """`value` with every list longer than MAX_POINTS thinned to MAX_POINTS evenly spaced items (ends kept)."""
    if isinstance(value, dict):
        return {k: _capped(v) for k, v in value.items()}
    if isinstance(value, list) and len(value) > MAX_POINTS:
        step = (len(value) - 1) / (MAX_POINTS - 1)
        return [value[round(i * step)] for i in range(MAX_POINTS)]
    return value

