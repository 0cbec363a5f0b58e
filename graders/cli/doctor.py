"""`grade doctor`: what this machine offers the grader (protections, torch, threads, data, weights, cache)."""

from __future__ import annotations

import sys

import click

from graders.cli._common import reports_errors
from graders.config import load_config


@click.command()
@click.option("--config", "config_path", type=click.Path(), default="grading.yaml", show_default=True)
@reports_errors
def doctor(config_path: str) -> None:
    """Report the worker protections this machine enforces, torch and CUDA, threads, datasets, weights and
    whether the reference cache is warm.

    Exit code 1 when a protection grading relies on is missing (or device: cuda without a GPU).

    Example: grade doctor
    """
    from rich.console import Console

    from graders.doctor import as_table, problems
    from graders.doctor import doctor as examine

    findings = examine(config=load_config(config_path))
    Console().print(as_table(findings))
    missing = problems(findings)
    if missing:
        click.echo(f"grade doctor: missing: {', '.join(f.name for f in missing)} (see docs/threat-model.md)", err=True)
    sys.exit(1 if missing else 0)
