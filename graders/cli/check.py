"""`grade check TOPIC`: a student's self-check of one topic with the public tests."""

from __future__ import annotations

import sys

import click

from graders.cli._common import print_summary, reports_errors
from graders.config import load_config


@click.command()
@click.argument("topic")
@click.option("--submission", type=click.Path(), default=None,
              help="your working copy (default: assignments/ beside grading.yaml)")
@click.option("--config", "config_path", type=click.Path(), default="grading.yaml", show_default=True)
@reports_errors
def check(topic: str, submission: str | None, config_path: str) -> None:
    """Run the public checks of TOPIC on your code, in an isolated worker.

    Example: grade check linear_regression
    """
    config = load_config(config_path)  # a configuration error is told before torch loads (#14)
    config.topic(topic)
    from graders.grading import check_topic  # torch: imported when the verb runs, not for its --help

    result = check_topic(topic, submission=submission, config=config)
    print_summary(result, audience="student")
    sys.exit(0 if all(c.passed for c in result.checks()) else 1)
