"""Holding the grader: a worker that stops reading its requests, alone and in a batch, and calls that together
outlast the submission's time limit (finding 4)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import yaml

from graders.batch.run import grade_batch
from graders.config import load_config
from tests.adversarial.conftest import (
    IMAGE_SOLUTION,
    IMAGE_TOPIC,
    LAYOUT,
    ROOT,
    TIME_CHECK,
    hostile,
    patient,
    write_submission,
)

# Keeps the request pipe's read end open (so the grader's writes neither fail nor get read) and puts a pipe nobody
# writes in its place: the worker waits there for ever, and the grader's next request, ~800 KB of images, more
# than a pipe holds, would wait for a reader for ever too. transforms() is the last call before the first fit.
STALL = """
    import fcntl as _fcntl, os as _os

    _kept = []
    _honest_transforms = transforms

    def _swap_request_pipe():
        for name in _os.listdir("/proc/self/fd"):
            fd = int(name)
            try:
                target = _os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith("pipe:") and _fcntl.fcntl(fd, _fcntl.F_GETFL) & _os.O_ACCMODE == _os.O_RDONLY:
                fresh = _os.pipe()  # never written
                _kept.extend([_os.dup(fd), *fresh])
                _os.dup2(fresh[0], fd)

    def transforms():
        if not _kept:
            _swap_request_pipe()
        return _honest_transforms()
"""
# Each stall costs one call's limit: short, yet far above an honest topic-4 call on a busy machine.
STALL_LIMITS = {"call_s": 12, "submission_s": 300}


def test_a_worker_that_stops_reading_cannot_hold_the_grader(grader):
    config = patient(grader.course.config, **STALL_LIMITS)
    attack = grader.attack("stall", hostile(STALL, base=IMAGE_SOLUTION), topic=IMAGE_TOPIC, config=config)
    # The fit's request waited for a reader until the call's deadline; the worker was killed and grading went on.
    message = attack.message("train_returns_losses")
    assert "timed out" in message and "worker" in message, attack.messages()
    assert attack.seconds < config.limits.submission_s, attack.seconds


def test_a_batch_finishes_around_a_stalling_submission(tmp_path):
    course = _image_course(tmp_path / "course")
    submissions = tmp_path / "submissions"
    write_submission(submissions / "honest", IMAGE_SOLUTION, topic=IMAGE_TOPIC)
    write_submission(submissions / "stall", hostile(STALL, base=IMAGE_SOLUTION), topic=IMAGE_TOPIC)
    start = time.monotonic()
    batch = grade_batch(submissions, config=load_config(course), out=tmp_path / "out", workers=2, quiet=True)
    results = {r.submission: r for r in batch.results}
    assert results["honest"].status == "graded", results["honest"].reason
    failed = [f"{c.name}: {c.message}" for c in results["honest"].checks() if not (c.passed or c.name == TIME_CHECK)]
    assert not failed, failed
    stalled = results["stall"]
    assert stalled.status == "graded" and (tmp_path / "out" / "stall" / "result.json").is_file(), stalled.reason
    assert "timed out" in {c.name: c.message for c in stalled.checks()}["train_returns_losses"]
    assert time.monotonic() - start < STALL_LIMITS["submission_s"] + 120  # the reference's warm-up included


def _image_course(root: Path) -> Path:
    """A course of topic 4 only with the stall test's limits: the batch reads its settings from grading.yaml."""
    folder, _ = LAYOUT[IMAGE_TOPIC]
    for part in ("assignments", "hidden_tests", "solutions"):
        shutil.copytree(ROOT / part / folder, root / part / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for shared in (ROOT / "hidden_tests").glob("*.py"):  # the checks topics 4-6 share
        shutil.copy(shared, root / "hidden_tests")
    config = yaml.safe_load((ROOT / "grading.yaml").read_text(encoding="utf-8"))
    config.update(threads=1, limits={**config.get("limits", {}), **STALL_LIMITS},
                  topics={IMAGE_TOPIC: config["topics"][IMAGE_TOPIC]})
    (root / "grading.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return root / "grading.yaml"


def test_the_submission_time_limit_is_a_watchdog(grader):
    # Each call stays well inside call_s; together they outlast submission_s.
    config = patient(grader.course.config, call_s=5, submission_s=6)
    attack = grader.attack("watchdog", hostile("""
        import time

        _honest_train = train

        def train(model, x, y, epochs, lr):
            time.sleep(2)
            return _honest_train(model, x, y, epochs, lr)
    """), config=config, status="timed out")
    assert "time limit (6 s) was used up" in attack.result.reason, attack.result.reason
    used_up = {name for name in attack.checks if "time limit (6 s) was used up" in attack.message(name)}
    assert used_up and not used_up & attack.passed, attack.messages()
    # The checks left fail at once: the grading ends soon after the limit (the reference's answers are cached).
    assert attack.seconds < config.limits.submission_s + 5, attack.seconds
