"""`grade generate`: build assignments/ (stubs, notebooks) and the instructor notebooks from solutions/."""

from __future__ import annotations

import sys

import click

from graders.authoring.generate import generate as build
from graders.cli._common import reports_errors
from graders.config import load_config


@click.command()
@click.option("--check", is_flag=True, help="write nothing; exit 1 if a generated file is out of date")
@click.option("--config", "config_path", type=click.Path(), default="grading.yaml", show_default=True)
@reports_errors
def generate(check: bool, config_path: str) -> None:
    """Build the student stubs and notebooks (with nbgrader cell metadata) from the solutions' marked regions.

    Example: grade generate --check
    """
    stale = build(config=load_config(config_path), check=check)
    for path in stale:
        click.echo(f"{'out of date' if check else 'wrote'}: {path}")
    sys.exit(1 if check and stale else 0)
