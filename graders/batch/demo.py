"""`make demo`: grade the bundled submissions (reference, untouched stubs, buggy examples) and write reports."""

from __future__ import annotations

from pathlib import Path

from graders.batch.run import BatchResult, grade_batch
from graders.config import Config, load_config


def bundled_submissions(root: Path) -> dict[str, Path]:
    """The example submissions shipped with the course, by name."""
    found = {"reference": root / "solutions", "untouched": root / "assignments"}
    examples = root / "examples"
    if examples.is_dir():
        found.update({p.name: p for p in sorted(examples.iterdir()) if p.is_dir() and not p.name.startswith(".")})
    return found


def run_demo(*, config: Config, out: str | Path | None = None) -> BatchResult:
    """Grade every bundled submission with the hidden tests, in parallel, into reports/ (regraded each time)."""
    return grade_batch(bundled_submissions(config.root), config=config, out=out, force=True)


def print_class(batch: BatchResult) -> None:
    """Per submission: the points of each topic it submitted, its total and status."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(batch.results)} submissions graded into {batch.out} in {batch.duration_s:.0f} s")
    for column in ("submission", "topics graded", "points", "status"):
        table.add_column(column, justify="right" if column == "points" else "left")
    for result in batch.results:
        done = [f"{t.name} {t.points:g}/{t.max_points:g}" for t in result.topics if t.status == "graded"]
        table.add_row(result.submission, ", ".join(done) or "-", f"{result.points:g}/{result.max_points:g}",
                      result.status)
    Console().print(table)


if __name__ == "__main__":
    print_class(run_demo(config=load_config()))
