"""What a batch shows while it runs: a live progress bar, or one line per submission for CI logs."""

from __future__ import annotations

import time
from typing import Any

from graders.reports import disclosure as dc
from graders.reports.summary import batch_counts, needs_look, worker_failures
from graders.results import SCORED, SubmissionResult


def is_failure(result: SubmissionResult) -> bool:
    """A submission a person should look at, exactly as summary.html's "Needs a human look" and every count of
    "to look at" decide it (issue #13: the terminal and the summary disagreed)."""
    return bool(needs_look(result))


def describe(result: SubmissionResult) -> str:
    """One line: name, status, points, and the reason or the worker's trouble."""
    text = f"{result.submission}: {result.status}"
    if result.status not in SCORED:
        return f"{text}: {result.reason}"
    text += f", {dc.points(result.points)}/{dc.points(result.max_points)} points in {result.duration_s:.1f} s"
    crashed = worker_failures(result)
    return text + (f", {dc.count(crashed, 'check')} lost to a worker crash or timeout" if crashed else "")


def closing_lines(results: list[SubmissionResult], *, graded_now: int, reused: int, duration_s: float,
                  listed: bool) -> list[str]:
    """What `grade batch` prints at the end: summary.html's counts (one function makes both, issue #13), what this
    run did, and with `listed` every submission to look at with the reasons the summary gives."""
    lines = [f"{batch_counts(results).text()}; {graded_now} graded now, {reused} kept from before, "
             f"in {duration_s:.0f} s"]
    if listed:
        lines += [f"  {r.submission}: {'; '.join(needs_look(r))}" for r in results if needs_look(r)]
    return lines


class Progress:
    """A rich progress bar (count, rate, ETA, failures), or with `quiet` a plain line per submission."""

    def __init__(self, total: int, *, quiet: bool):
        from rich.console import Console

        self.quiet, self.total, self.done, self.failed = quiet, total, 0, 0
        self.started, self.graded = time.monotonic(), 0
        # soft_wrap: a CI log gets each submission on one line, however narrow the "terminal"
        self.console = Console(stderr=not quiet, highlight=False, soft_wrap=quiet)
        self._bar: Any = None
        if not quiet:
            self._bar = _bar(self.console)
            self._task = self._bar.add_task("grading", total=total, failed=0, rate="")  # failed: to look at
            self._bar.start()

    def known(self, result: SubmissionResult, *, reused: bool) -> None:
        """A row that needs no grading now: an entry that cannot be graded, or a result kept by --resume."""
        self.done += 1
        self.failed += is_failure(result)
        if self._bar is None:
            self._print(f"[{self.done}/{self.total}] {describe(result)}" + (" (kept from before)" if reused else ""))
            return
        if not reused:
            self._print(describe(result))
        self._bar.update(self._task, completed=self.done, failed=self.failed)

    def reference(self, failures: list[str], wall_s: float) -> None:
        if not failures:
            self._print(f"reference solution: every check passes ({wall_s:.1f} s; its results are now cached)")
            return
        self._print(f"warning: the reference solution fails {dc.count(len(failures), 'check')} of its own; "
                    "check the thresholds (grade calibrate):")
        for failure in failures:
            self._print(f"  {failure}")

    def advance(self, result: SubmissionResult) -> None:
        self.done, self.graded = self.done + 1, self.graded + 1
        self.failed += is_failure(result)
        if self._bar is None:
            self._print(f"[{self.done}/{self.total}] {describe(result)}")
            return
        if is_failure(result):
            self._print(describe(result))
        minutes = (time.monotonic() - self.started) / 60
        self._bar.update(self._task, completed=self.done, failed=self.failed,
                         rate=f"{self.graded / minutes:.1f}/min" if minutes > 0 else "")

    def _print(self, text: str) -> None:
        target = self._bar.console if self._bar is not None else self.console
        target.print(text, markup=False, highlight=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _bar(console: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TextColumn("ETA"), TimeRemainingColumn(),
                    TextColumn("[red]{task.fields[failed]} to look at"), console=console, transient=False)
