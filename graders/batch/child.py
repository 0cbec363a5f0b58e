"""A grading process of a batch: `python -m graders.batch.child` grades the jobs it reads, one JSON line each."""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from graders.config import Config

# Replies to the batch; a JSON line each. Jobs come on stdin the same way. Only JSON crosses, never pickle.
Reply = dict[str, Any]
_interrupted = threading.Event()


def main() -> int:
    replies = _private_stdout()
    _die_with_parent(os.getppid())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the batch's to handle; it stops us with SIGTERM
    signal.signal(signal.SIGTERM, _stop)
    import graders.grading.session  # noqa: F401  (torch and pytest load once, before the first job's clock starts)

    _send(replies, {"ready": True, "pid": os.getpid()})
    try:
        for line in sys.stdin:
            if line.strip():
                reply = handle(json.loads(line))
                if _interrupted.is_set():
                    return 1  # a run cut short is not a result
                _send(replies, reply)
    except KeyboardInterrupt:
        return 1
    return 0


def handle(job: dict[str, Any]) -> Reply:
    """Grade one job; anything that goes wrong on our side becomes a reason, never an exception."""
    from graders.errors import GradingError

    clock = time.monotonic()
    try:
        body = warm_reference(job) if job.get("kind") == "warm" else grade(job)
        reply: Reply = {"ok": True, **body}
    except GradingError as exc:
        reply = {"ok": False, "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001  a bug of ours must cost this submission, not the batch
        reply = {"ok": False, "reason": f"internal error of the grader: {type(exc).__name__}: {exc}"}
    return {"id": job.get("id"), **reply, "stats": _stats(time.monotonic() - clock)}


def grade(job: dict[str, Any]) -> dict[str, Any]:
    from graders.grading.session import GradingOptions, grade_submission

    # A single file is graded on its own topic (from its name) unless the batch chose topics (--topic).
    own = job.get("topic")
    options = GradingOptions(deny=[Path(p) for p in job.get("deny", [])], file_topic=own)
    result = grade_submission(job["source"], config=job_config(job), hidden=job["hidden"],
                              topics=job.get("topics") or ([own] if own else None), name=job["name"], options=options)
    return {"result": result.to_dict()}


def warm_reference(job: dict[str, Any]) -> dict[str, Any]:
    """Run every test with the reference on both sides: its cache fills once, before the fan-out, and a
    reference that fails its own checks shows up before any student is graded."""
    from graders.grading.reference import Reference
    from graders.grading.session import run_tests

    config = job_config(job)
    reference = Reference(config)
    try:
        topics = job.get("topics") or list(config.topics)  # a batch's --topic: warm only what it grades
        plugin = run_tests(config, topics, hidden=job["hidden"], student=reference, reference=reference)
    finally:
        reference.close()
    failed = [f"{c.topic}/{c.name}: {c.message}" for c in plugin.results() if not c.passed]
    return {"failed": failed}


def job_config(job: dict[str, Any]) -> Config:
    """grading.yaml with the batch's overrides: its reports folder (denied to workers like reports_dir) and
    the device. It must be the grading.yaml the batch started with: one edited mid-batch would grade some
    students under other settings than the rest, and than their batch.json says."""
    from graders.config import load_config
    from graders.errors import ConfigError
    from graders.grading.calls import hideable

    out = job.get("out")
    config = load_config(job["config"]).with_overrides(device=job.get("device"),
                                                       reports_dir=out if out and hideable(Path(out)) else None)
    if job.get("digest") and config.digest() != job["digest"]:
        raise ConfigError(f"{job['config']} changed during the batch; rerun with --resume once it is final")
    return config


def _stats(wall_s: float) -> dict[str, float]:
    """This job's time and the grading process's peak memory so far; workers are forked by the zygote, so
    their memory is not ours to ask (bench/batch_bench.py polls /proc for it)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1024 if sys.platform == "darwin" else 1  # ru_maxrss is bytes on macOS, KiB on Linux
    return {"wall_s": round(wall_s, 3), "grader_rss_mb": round(peak / scale / 1024, 1), "pid": os.getpid()}


def _private_stdout() -> TextIO:
    """Keep the real stdout for replies and send fd 1 to stderr, so a stray print cannot corrupt a reply."""
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return replies


def _send(stream: TextIO, reply: Reply) -> None:
    stream.write(json.dumps(reply, allow_nan=True) + "\n")
    stream.flush()


def _stop(signum: int, frame: Any) -> None:
    # KeyboardInterrupt ends the pytest session cleanly, so the student's worker is stopped on the way out.
    _interrupted.set()
    raise KeyboardInterrupt


def _die_with_parent(parent: int) -> None:
    """A batch killed with SIGKILL cannot stop us: notice that our parent is gone and stop ourselves."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(20.0)  # time to stop the worker; then go whatever the state
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
