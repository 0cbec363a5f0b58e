"""`grade pack`: check your working copy and zip it, with a manifest, ready to upload."""

from __future__ import annotations

import sys

import click

from graders.cli._common import default_of, print_summary, reports_errors
from graders.config import load_config
from graders.delivery.pack import pack as build_pack
from graders.delivery.pack import summary_lines


@click.command()
@click.option("--out", type=click.Path(), default=default_of(build_pack, "out"),
              help="the zip to write (default: submission.zip beside grading.yaml)")
@click.option("--topic", "topics", multiple=True, help="pack only this topic; repeat for several (default: all)")
@click.option("--no-checks", is_flag=True, default=not default_of(build_pack, "run_checks"),
              help="skip running the public checks (faster; the import is then not verified)")
@click.option("--max-file-mb", type=float, default=default_of(build_pack, "max_file_mb"), show_default=True,
              help="leave out files larger than this (data, weights)")
@click.option("--allow-incomplete", is_flag=True, default=default_of(build_pack, "allow_incomplete"),
              help="hand in topics that still raise NotImplementedError without exit code 1")
@click.option("--config", "config_path", type=click.Path(), default="grading.yaml", show_default=True)
@reports_errors
def pack(out: str | None, topics: tuple[str, ...], no_checks: bool, max_file_mb: float, allow_incomplete: bool,
         config_path: str) -> None:
    """Check your code and write submission.zip to upload: every required name defined, the code imports,
    the public checks run (their scores are shown); notebook outputs, caches and large files are left out.

    Exit code 0 when nothing needs fixing, 1 when something does (the zip is written anyway), including a
    topic whose code still raises NotImplementedError, unless --allow-incomplete.

    Example: grade pack --topic linear_regression
    """
    packed = build_pack(out=out, config=load_config(config_path), topics=list(topics) or None, run_checks=not no_checks,
                        max_file_mb=max_file_mb, allow_incomplete=allow_incomplete)
    if packed.result is not None:
        print_summary(packed.result, audience="student")
    for line in summary_lines(packed):
        click.echo(line)
    sys.exit(1 if packed.needs_fixing else 0)
