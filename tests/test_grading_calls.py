"""The task runner: calls memoised by their arguments, and the long ones started early on a helper worker (#14)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from graders.config import load_config
from graders.errors import TaskFailed
from graders.grading.calls import TaskRunner

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "grading.yaml")
MODULE = Path("/submission/05_cnn/cnn.py")


class FakeSubmission:
    def module(self, topic: str) -> Path | None:
        return MODULE if topic == "cnn" else None


class FakeWorker:
    """Answers every task with its own name and the call's arguments; `fail` raises. A task starts `started`, then
    waits for `gate` (if any), and opens `opens` (if any) when done: the tests order the two workers with them."""

    def __init__(self, name: str, *, fail: bool = False, gate: threading.Event | None = None,
                 opens: threading.Event | None = None):
        self.name, self.fail, self.gate, self.opens = name, fail, gate, opens
        self.started = threading.Event()
        self.calls: list[tuple[str, dict]] = []
        self.pid: int | None = None
        self.last_call_s, self.timed_out, self.closed = 0.0, False, False
        self.threads: set[str] = set()
        self.stops = 0

    def call(self, task: str, *, module: Path, args: dict) -> dict:
        self.pid = self.pid or id(self)
        self.calls.append((task, args))
        self.threads.add(threading.current_thread().name)
        if task == "load":
            return {}
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(10), "the other worker never opened the gate"
        if self.opens is not None:
            self.opens.set()
        if self.fail:
            raise TaskFailed(f"{self.name}: train_one_epoch() raised", kind="error")
        return {"by": self.name, **args}

    def stop(self) -> None:
        self.pid = None
        self.stops += 1

    def close(self) -> None:
        self.closed = True


def runner(helper: FakeWorker | None) -> tuple[TaskRunner, FakeWorker]:
    main = FakeWorker("main")
    return TaskRunner(FakeSubmission(), main, CONFIG, helper=helper), main  # type: ignore[arg-type]


def tasks(worker: FakeWorker) -> list[str]:
    return [task for task, _ in worker.calls if task != "load"]


def test_a_prefetched_call_is_answered_by_the_helper_and_never_again_by_the_worker():
    gate = threading.Event()
    helper = FakeWorker("helper", gate=gate)
    taskrunner, main = runner(helper)
    main.opens = gate  # the helper's call ends only after the main worker's
    taskrunner.prefetch("cnn", [("images.fit", {"seed": 0})])
    assert helper.started.wait(10)
    taskrunner.run("cnn", "images.inspect", seed=0)  # the main worker goes on meanwhile
    value = taskrunner.run("cnn", "images.fit", seed=0)  # waits for the helper's answer
    assert value["by"] == "helper" and value["seed"] == 0 and "call_seconds" in value
    assert tasks(main) == ["images.inspect"] and tasks(helper) == ["images.fit"]
    assert helper.threads == {"prefetch"}  # it ran beside the checks, not in their thread
    assert taskrunner.run("cnn", "images.fit", seed=0) is value  # memoised: one run answers every check
    taskrunner.close()
    assert helper.closed


def test_a_prefetched_failure_is_raised_to_the_check_that_asks_as_without_a_helper():
    helper = FakeWorker("helper", fail=True)
    taskrunner, main = runner(helper)
    taskrunner.prefetch("cnn", [("images.fit", {"seed": 0})])
    assert helper.started.wait(10)
    for _ in range(2):  # remembered: a failing train costs its time once, not per check
        with pytest.raises(TaskFailed, match="helper: train_one_epoch"):
            taskrunner.run("cnn", "images.fit", seed=0)
    assert tasks(main) == []
    taskrunner.close()


def test_other_arguments_are_another_call_made_by_the_worker():
    helper = FakeWorker("helper")
    taskrunner, main = runner(helper)
    taskrunner.prefetch("cnn", [("images.fit", {"seed": 0})])
    assert taskrunner.run("cnn", "images.fit", seed=0, attempt=2)["by"] == "main"  # the determinism repeat
    assert helper.started.wait(10)
    taskrunner.close()
    assert tasks(helper) == ["images.fit"]


def test_without_a_helper_or_a_module_prefetch_does_nothing():
    taskrunner, main = runner(None)
    taskrunner.prefetch("cnn", [("images.fit", {"seed": 0})])
    assert taskrunner.run("cnn", "images.fit", seed=0)["by"] == "main"
    helper = FakeWorker("helper")
    other, _ = runner(helper)
    other.prefetch("linear_regression", [("regression.train", {"seed": 0})])  # not submitted
    other.close()
    assert helper.calls == []


def test_a_helper_that_times_out_marks_the_submission_timed_out():
    helper = FakeWorker("helper")
    taskrunner, main = runner(helper)
    assert not taskrunner.timed_out
    helper.timed_out = True
    assert taskrunner.timed_out


def test_a_check_waiting_for_the_helper_runs_the_queued_calls_itself_meanwhile():
    gate = threading.Event()
    helper = FakeWorker("helper", gate=gate)
    taskrunner, main = runner(helper)
    main.opens = gate  # the helper's first call ends only after the main worker ran one
    taskrunner.prefetch("cnn", [("images.fit", {"variant": "cifarnet"}),
                                ("images.fit", {"variant": "lenet", "attempt": 2})])
    assert helper.started.wait(10)  # the helper has taken the first
    assert taskrunner.run("cnn", "images.fit", variant="cifarnet")["by"] == "helper"
    # The repeat ran meanwhile on the first worker, restarted for it (a fresh worker: nothing replayed).
    assert tasks(main) == ["images.fit"] and main.stops == 1
    assert taskrunner.run("cnn", "images.fit", variant="lenet", attempt=2)["by"] == "main"
    taskrunner.close()
    assert tasks(helper) == ["images.fit"]


def test_a_repeat_the_helper_takes_runs_on_a_fresh_helper():
    helper = FakeWorker("helper")
    taskrunner, main = runner(helper)
    taskrunner.prefetch("cnn", [("images.fit", {"variant": "lenet", "attempt": 2})])
    assert taskrunner.run("cnn", "images.fit", variant="lenet", attempt=2)["by"] in ("helper", "main")
    taskrunner.close()
    assert helper.stops + main.stops == 1
