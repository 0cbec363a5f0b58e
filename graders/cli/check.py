"""`grade check TOPIC`: a student's self-check of one topic with the public tests."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from graders.cli._common import print_summary, reports_errors, served
from graders.config import load_config
from graders.server import client as server


@click.command()
@click.argument("topic")
@click.option("--submission", type=click.Path(), default=None,
              help="your working copy (default: assignments/ beside grading.yaml)")
@click.option("--config", "config_path", type=click.Path(), default="grading.yaml", show_default=True)
@click.option("--no-server", is_flag=True, envvar="GRADE_NO_SERVER",
              help="grade in this process, without the warm local grading server (env GRADE_NO_SERVER=1)")
@reports_errors
def check(topic: str, submission: str | None, config_path: str, no_server: bool) -> None:
    """Run the public checks of TOPIC on your code, in an isolated worker.

    A local grading server (`grade server`) keeps torch loaded between checks, so later checks answer in
    about a second; it starts on the first check and stops after 15 idle minutes.

    Example: grade check linear_regression
    """
    config = load_config(config_path)  # a configuration error is told before torch loads (#14)
    config.topic(topic)
    result = None if no_server else served(
        server.check, topic, submission=Path(submission) if submission else None, config=config)
    if result is None:
        from graders.grading.session import check_topic  # torch: imported when the verb runs, not for its --help

        result = check_topic(topic, submission=submission, config=config)
    print_summary(result, audience="student")
    sys.exit(0 if all(c.passed for c in result.checks()) else 1)
