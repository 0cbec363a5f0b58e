"""Grade a folder of submissions in parallel (local processes or Dask), resumable, into one gradebook."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import platform
import subprocess
import sys
import time
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import graders
from graders.batch.progress import Progress, is_failure
from graders.batch.sources import Entry, Source, content_hash, find_entries
from graders.config import Config, Device
from graders.errors import BatchError, ReportError
from graders.files import write_atomic
from graders.reports import ALL_FORMATS, AUDIENCES, read_result, write_batch_reports, write_reports
from graders.results import Environment, Status, SubmissionResult
from graders.worker.processes import usable_cores

STUDENT_COPY = "student"  # <out>/<name>/student/: the reports a student may be sent, with --audience student
SIDECAR = "batch.json"  # beside result.json: what it was graded from, so --resume can tell it is still valid


@dataclass
class BatchResult:
    """Every entry's result (sorted by name) and what this run did."""

    results: list[SubmissionResult]
    out: Path
    graded: int = 0  # graded by this run
    reused: int = 0  # valid results of an earlier run, kept by --resume
    failed: int = 0  # not graded, or a worker crashed or timed out
    retry: list[str] = field(default_factory=list)  # not graded for a reason on our side: --resume tries again
    reference_failures: list[str] = field(default_factory=list)  # the reference's own failed checks
    reports: list[Path] = field(default_factory=list)  # gradebook.csv, summary.html
    duration_s: float = 0.0
    warm_s: float = 0.0  # the reference's run before the fan-out (seconds, training included when not cached)
    # Per submission graded now: its grading process's pid, wall_s and peak RSS of the process and its workers.
    stats: dict[str, dict[str, float]] = field(default_factory=dict)


def grade_batch(submissions: Source, *, config: Config, out: str | Path | None = None,
                workers: int | None = None, resume: bool = False, force: bool = False, hidden: bool = True,
                quiet: bool = False, scheduler: str | None = None, dask_local: int | None = None,
                device: str | None = None, require_real_data: bool = False,
                audience: str = "instructor", topics: Sequence[str] = ()) -> BatchResult:
    """Grade every entry of `submissions` (a folder with one entry per student, or a mapping of name -> entry)
    into `out` (default: the config's reports_dir). `require_real_data`: refuse to start (BatchError) when a
    topic would be graded on built-in stand-in data or weights. `audience="student"`: also write each student's
    copy of the reports to `<out>/<name>/student/` (STUDENT_COPY). `topics` (default: all) are the ones graded
    and scored: a week-1 batch is graded out of topic 1's points (#13)."""
    clock = time.monotonic()
    _check_options(resume=resume, force=force, workers=workers, scheduler=scheduler, dask_local=dask_local,
                   device=device)
    if audience not in AUDIENCES:
        raise BatchError(f"--audience {audience!r}: choose one of {', '.join(AUDIENCES)}")
    config.select(topics)  # here, not in every worker: an unknown name would fail each submission alike
    if require_real_data:
        require_real(config, list(topics) or list(config.topics))
    folder = Path(out) if out is not None else config.resolve(config.reports_dir)
    entries = find_entries(submissions, config=config, skip=folder)
    if not (resume or force) and any(folder.glob("*/result.json")):
        raise BatchError(f"{folder} already holds results of an earlier batch; pass --resume to grade only "
                         "what is missing or changed, or --force to grade everything again")
    batch = _Batch(config, folder, hidden=hidden, device=device, resume=resume, topics=list(topics))
    batch.student_copies = audience == "student"
    jobs = batch.plan(entries)
    progress = Progress(len(entries), quiet=quiet)
    try:
        for name, result in sorted(batch.results.items()):
            progress.known(result, reused=name in batch.reused)
        if jobs:
            with _pool(config, workers=workers, scheduler=scheduler, dask_local=dask_local, device=device,
                       jobs=len(jobs)) as pool:
                batch.warm(pool, progress)
                pool.run(jobs, lambda job, reply: progress.advance(batch.finish(job, reply)))
    finally:
        progress.close()
    return batch.conclude(time.monotonic() - clock)


def _check_options(*, resume: bool, force: bool, workers: int | None, scheduler: str | None,
                   dask_local: int | None, device: str | None) -> None:
    if resume and force:
        raise BatchError("--resume keeps earlier results and --force regrades them: choose one")
    if scheduler and dask_local:
        raise BatchError("--scheduler uses an existing Dask cluster and --dask-local starts one: choose one")
    for name, value in (("--workers", workers), ("--dask-local", dask_local)):
        if value is not None and value < 1:
            raise BatchError(f"{name} must be at least 1, got {value}")
    devices = typing.get_args(Device)
    if device is not None and device not in devices:
        raise BatchError(f"--device {device!r}: choose one of {', '.join(devices)}")


class _Batch:
    """The state of one batch: which entries are done, and writing each result as soon as it arrives."""

    def __init__(self, cfg: Config, out: Path, *, hidden: bool, device: str | None, resume: bool,
                 topics: list[str] | None = None):
        self.cfg, self.out, self.hidden, self.device, self.resume = cfg, out, hidden, device, resume
        self.topics = topics or []  # empty: every topic
        self.key = grading_key(cfg, hidden=hidden, device=device, topics=self.topics)
        self.digest = cfg.with_overrides(device=device).digest()
        self.results: dict[str, SubmissionResult] = {}
        self.reused: set[str] = set()
        self.entries: list[Entry] = []
        self.hashes: dict[str, str] = {}
        self.summary = BatchResult(results=[], out=out)
        self.student_copies = False  # grade_batch(audience="student") sets it

    def plan(self, entries: list[Entry]) -> list[dict[str, Any]]:
        """Results for what needs no grading (problems, valid earlier results); a job for the rest."""
        self.entries = entries
        jobs: list[dict[str, Any]] = []
        for entry in entries:
            if entry.status:  # the entry cannot be graded; its reason says why
                self._record(self._unrun(entry.name, entry.path, entry.status, entry.reason), persist=False)
                continue
            try:
                self.hashes[entry.name] = content_hash(entry.path)
            except OSError as exc:
                reason = f"{entry.label}: cannot be read ({exc.strerror or exc})"
                self._record(self._unrun(entry.name, entry.path, "failed to load", reason), persist=False)
                continue
            earlier = self._earlier(entry.name) if self.resume else None
            if earlier is not None:
                self.results[entry.name] = earlier
                self.reused.add(entry.name)
            else:
                jobs.append(self._job(entry, len(jobs)))
        return jobs

    def _job(self, entry: Entry, number: int) -> dict[str, Any]:
        # Every entry's folder is denied to every worker: no student reads a classmate's files.
        deny = sorted({str(e.path.resolve().parent) for e in self.entries} | {str(entry.path.resolve().parent)})
        return {"kind": "grade", "id": number, "name": entry.name, "source": str(entry.path.resolve()),
                "topic": entry.topic, "deny": deny, **self._common()}

    def _common(self) -> dict[str, Any]:
        return {"config": str(self.cfg.path.resolve()), "hidden": self.hidden, "out": str(self.out.resolve()),
                "device": self.device, "digest": self.digest, "topics": self.topics or None}

    def warm(self, pool: Any, progress: Progress) -> None:
        """Fill the reference cache once, before the fan-out, so parallel processes never all train it."""
        job = {"kind": "warm", "id": -1, "name": "reference", **self._common()}
        reply = pool.warm(job)
        if not reply.get("ok"):
            raise BatchError(f"the reference solution could not be run, so no submission can be graded: "
                             f"{reply.get('reason')}")
        self.summary.reference_failures = list(reply.get("failed", []))
        self.summary.warm_s = float(reply.get("stats", {}).get("wall_s", 0.0))
        progress.reference(self.summary.reference_failures, self.summary.warm_s)

    def finish(self, job: dict[str, Any], reply: dict[str, Any]) -> SubmissionResult:
        """Turn a reply into a result and write it; a reply that is not a result becomes status "error"."""
        name, source = job["name"], Path(job["source"])
        if isinstance(reply.get("stats"), dict):
            self.summary.stats[name] = reply["stats"]
        result = None
        if reply.get("ok"):
            try:
                result = SubmissionResult.from_dict(reply["result"])
            except (KeyError, TypeError, ValueError) as exc:
                reply = {"reason": f"the grading process sent an invalid result ({exc})"}
        if result is None:
            result = self._unrun(name, source, "error", str(reply.get("reason", "unknown failure")))
            self.summary.retry.append(name)
        else:
            self.summary.graded += 1
        self._record(result, persist=name not in self.summary.retry, source_hash=self.hashes.get(name))
        return result

    def _record(self, result: SubmissionResult, *, persist: bool, source_hash: str | None = None) -> None:
        """Write the reports, then result.json, then the sidecar that marks it done: a batch killed between
        any two writes leaves either a complete, valid result or one that --resume grades again."""
        self.results[result.submission] = result
        folder = self.out / result.submission
        audience = "instructor" if self.hidden else "student"
        try:
            write_reports(result, folder, formats=[f for f in ALL_FORMATS if f != "json"], audience=audience)
        except ReportError as exc:
            result.notes.append(f"some reports were not written: {exc}")
        write_reports(result, folder, formats=["json"], audience=audience)
        if persist and source_hash:
            sidecar = {"source": result.source, "source_sha256": source_hash, "grading": self.key,
                       "result_sha256": _sha256((folder / "result.json").read_bytes())}
            write_atomic(folder / SIDECAR, json.dumps(sidecar, indent=2) + "\n")

    def _earlier(self, name: str) -> SubmissionResult | None:
        """A result of an earlier run that still stands: same submission content, same grading inputs, and
        the very result.json the sidecar vouches for."""
        folder = self.out / name
        try:
            sidecar = json.loads((folder / SIDECAR).read_text(encoding="utf-8"))
            data = (folder / "result.json").read_bytes()
        except (OSError, ValueError):
            return None
        if not isinstance(sidecar, dict) or (sidecar.get("source_sha256"), sidecar.get("grading"),
                                             sidecar.get("result_sha256")) != (self.hashes[name], self.key,
                                                                               _sha256(data)):
            return None
        try:
            return read_result(folder / "result.json")
        except ReportError:
            return None

    def _unrun(self, name: str, source: Path, status: Status, reason: str) -> SubmissionResult:
        """A row for an entry that was not graded: no topics, so it lowers no topic's maximum."""
        env = Environment(torch_version=_torch_version(), device=self.device or self.cfg.device,
                          threads=self.cfg.threads, seed=self.cfg.seed, python=sys.version.split()[0],
                          platform=platform.platform(terse=True), harness_version=graders.__version__)
        return SubmissionResult(submission=name, source=str(source), environment=env, status=status,
                                reason=reason, hidden=self.hidden)

    def conclude(self, duration_s: float) -> BatchResult:
        summary = self.summary
        summary.reused = len(self.reused)
        summary.results = [self.results[name] for name in sorted(self.results, key=lambda n: (n.casefold(), n))]
        summary.reports = []
        if self.student_copies:  # at the end, so results kept by --resume get their copy too
            summary.reports += [path for result in summary.results for path in write_student_copy(result, self.out)]
        summary.failed = sum(is_failure(r) for r in summary.results)  # after any note a copy added
        summary.reports += write_batch_reports(summary.results, self.out)
        if any(entry.students for entry in self.entries):
            summary.reports.append(write_atomic(self.out / "roster.csv", roster_csv(self.entries)))
        summary.duration_s = round(duration_s, 3)
        return summary


def write_student_copy(result: SubmissionResult, out: Path) -> list[Path]:
    """What the student may see of `result` (as `grade report --audience student` writes it) in
    `out`/<name>/student/; never result.json, the instructor's full record. A format that fails becomes a note."""
    formats = [name for name in ALL_FORMATS if name != "json"]
    try:
        return write_reports(result, out / result.submission / STUDENT_COPY, formats=formats, audience="student")
    except ReportError as exc:
        result.notes.append(f"some of the student's reports were not written: {exc}")
        return list(exc.written)


def require_real(cfg: Config, topics: list[str]) -> None:
    """Raise BatchError naming every stand-in `topics` would be graded on; checks files only, no torch (#13)."""
    from graders.data import presence

    missing = presence.missing(cfg, topics)
    if missing:
        what = "; ".join(f"{topic}: {', '.join(use.label for use in uses)}" for topic, uses in missing.items())
        raise BatchError(f"--require-real-data: built-in stand-ins would be used for {what}; run `grade data "
                         f"prepare` or put the files in {cfg.resolve(cfg.data_dir)} (data) and "
                         f"{Path(cfg.weights_dir).expanduser()} (weights); `grade doctor` lists them")


def roster_csv(entries: list[Entry]) -> str:
    """Who is behind each row of a Gradescope export: the gradebook names rows, this maps them to people."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", "entry", "names", "emails", "sids"])
    for entry in sorted(entries, key=lambda e: e.name):
        people = entry.students
        writer.writerow([entry.name, _cell(entry.label), *(_cell("; ".join(p.get(k, "") for p in people))
                                                           for k in ("name", "email", "sid"))])
    return buffer.getvalue()


def _cell(text: str) -> str:
    """Names come from students: one starting like a formula is quoted so spreadsheets show it as text."""
    return "'" + text if text.startswith(("=", "+", "-", "@")) else text


def _pool(cfg: Config, *, workers: int | None, scheduler: str | None, dask_local: int | None,
          device: str | None, jobs: int) -> Any:
    limits = cfg.limits
    # A guard against a grading process that hangs on our side; student code is bounded well inside it by the
    # worker's limits (the whole submission, one more worker start after a crash, the reference's own run).
    timeout = 2 * limits.submission_s + 2 * limits.startup_s + 60
    startup = limits.startup_s
    resolved = device or cfg.device
    if scheduler or dask_local:
        from graders.batch.dask import DaskPool

        return _Closing(DaskPool(scheduler=scheduler, local_workers=dask_local, timeout=timeout, startup_s=startup,
                                 gpu=resolved == "cuda"))
    from graders.batch.pool import LocalPool

    gpus = visible_gpus() if resolved in ("cuda", "auto") else []
    count = workers or (len(gpus) if gpus else default_workers(cfg))
    # No more processes than submissions: each one costs an import of torch and its memory.
    return _Closing(LocalPool(min(count, jobs), timeout=timeout, startup_s=startup, gpus=gpus or None))


class _Closing:
    """`with` for the pools: their processes and clusters are closed whatever happens."""

    def __init__(self, pool: Any):
        self.pool = pool

    def __enter__(self) -> Any:
        return self.pool

    def __exit__(self, *exc: object) -> None:
        self.pool.close()


def default_workers(cfg: Config) -> int:
    """One grading process per `threads` cores: each worker trains with that many torch threads."""
    return max(1, usable_cores() // max(1, cfg.threads))


def visible_gpus() -> list[str]:
    """GPU ids this machine offers (CUDA_VISIBLE_DEVICES, else nvidia-smi), without importing torch here."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        return [g for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip() and g.strip() != "-1"]
    try:
        listing = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                                 text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in listing.splitlines() if line.strip()]


def grading_key(cfg: Config, *, hidden: bool, device: str | None = None, topics: Sequence[str] = ()) -> str:
    """Everything besides the submission that decides its result: settings, topics, tests, solutions, versions."""
    root = cfg.root
    effective = cfg.with_overrides(device=device)
    tests = [content_hash(p) for p in sorted(root.glob("assignments/*/test_*.py"))]
    trees = [content_hash(root / name) if (root / name).exists() else "-" for name in ("solutions", "hidden_tests")]
    # The topics only when chosen, so that the results of a batch of every topic keep their key.
    parts = [effective.digest(), str(hidden), graders.__version__, _torch_version(), *tests, *trees,
             *([f"topics={','.join(sorted(topics))}"] if topics else [])]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _torch_version() -> str:
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "unknown"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
