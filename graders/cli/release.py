"""`grade release OUT`: write the students' copy of the course (no solutions, hidden tests or thresholds)."""

from __future__ import annotations

import click

from graders.cli._common import default_of, reports_errors
from graders.config import load_config
from graders.delivery.release import release as build_release


@click.command()
@click.argument("out", type=click.Path())
@click.option("--topic", "topics", multiple=True, help="release only this topic; repeat for several (default: all)")
@click.option("--no-ci", "no_ci", is_flag=True, default=not default_of(build_release, "ci"),
              help="leave out the GitHub Actions workflow (.github/) for student repositories")
@click.option("--force", is_flag=True, default=default_of(build_release, "force"),
              help="replace OUT if it holds a previous release")
@click.option("--config", "config_path", type=click.Path(), default="grading.yaml", show_default=True)
@reports_errors
def release(out: str, topics: tuple[str, ...], no_ci: bool, force: bool, config_path: str) -> None:
    """Write the students' copy of the course to OUT: stubs, notebooks and public tests, the harness,
    a grading.yaml without hidden checks or withheld thresholds, a README and a CI workflow.

    The copy is scanned for solution code, markers and hidden check names before it is written;
    a leak stops the release (exit code 8) and names the file.

    Example: grade release ../course-release --topic linear_regression
    """
    made = build_release(out=out, config=load_config(config_path), topics=list(topics) or None, ci=not no_ci,
                         force=force)
    for warning in made.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"released {len(made.files)} files to {made.folder}")
