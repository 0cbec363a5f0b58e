"""`grade gradescope OUT.zip`: build the autograder package to upload to Gradescope."""

from __future__ import annotations

import click

from graders.cli._common import default_of, reports_errors
from graders.config import load_config
from graders.delivery.autograder import build_autograder


@click.command()
@click.argument("out", type=click.Path(), default=default_of(build_autograder, "out"))
@click.option("--topic", "topics", multiple=True,
              help="grade only this topic (one Gradescope assignment per topic); repeat for several")
@click.option("--no-cache", is_flag=True, default=not default_of(build_autograder, "include_cache"),
              help="leave out the warm reference cache (setup.sh fills it when Gradescope builds the image)")
@click.option("--data", "include_data", is_flag=True, default=default_of(build_autograder, "include_data"),
              help="include the data folder (real datasets) instead of the built-in stand-ins")
@click.option("--config", "config_path", type=click.Path(), default="grading.yaml", show_default=True)
@reports_errors
def gradescope(out: str, topics: tuple[str, ...], no_cache: bool, include_data: bool, config_path: str) -> None:
    """Write OUT (default autograder.zip): setup.sh and run_autograder at its root, with the harness, the
    public and hidden tests, the solutions and the reference cache. Upload it as the autograder of a
    Gradescope programming assignment; students upload the zip that `grade pack` writes.

    Example: grade gradescope autograder-week1.zip --topic linear_regression
    """
    path = build_autograder(out=out, config=load_config(config_path), topics=list(topics) or None,
                            include_cache=not no_cache, include_data=include_data)
    click.echo(f"wrote {path}")
