"""`make demo`: grade the bundled submissions (reference, untouched stubs, buggy examples) and write reports."""

from __future__ import annotations

from pathlib import Path

from graders.config import load_config
from graders.grading import grade_submission
from graders.reports import write_reports
from graders.runner import Reference


def bundled_submissions(root: Path) -> dict[str, Path]:
    """The example submissions shipped with the course, by name."""
    found = {"reference": root / "solutions", "untouched": root / "assignments"}
    examples = root / "examples"
    if examples.is_dir():
        found.update({p.name: p for p in sorted(examples.iterdir()) if not p.name.startswith(".")})
    return found


def run_demo(*, config: str | Path = "grading.yaml", out: str | Path | None = None) -> list[Path]:
    """Grade every bundled submission with hidden tests; return the report folders written."""
    from rich.console import Console

    from graders.reports import terminal

    cfg = load_config(config)
    folder = Path(out) if out else cfg.resolve(cfg.reports_dir)
    console, written = Console(), []
    reference = Reference(cfg)
    try:
        for name, path in bundled_submissions(cfg.root).items():
            result = grade_submission(path, config=cfg, hidden=True, name=name, reference=reference)
            write_reports(result, folder / name, audience="student")
            terminal.print_summary(result, console=console, audience="instructor")
            written.append(folder / name)
    finally:
        reference.close()
    console.print(f"reports written under {folder}")
    return written


if __name__ == "__main__":
    run_demo()
