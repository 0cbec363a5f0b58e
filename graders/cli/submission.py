"""`grade submission PATH`: grade one submission (public tests, and hidden ones with --hidden)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from graders.cli._common import print_summary, reports_errors, served
from graders.config import Config, load_config
from graders.results import SubmissionResult
from graders.server import client as server


@click.command()
@click.argument("path", type=click.Path())
@click.option("--hidden", is_flag=True, help="also run the instructor's hidden tests")
@click.option("--topic", default=None, help="grade only this topic (required for a single .py/.ipynb)")
@click.option("--out", type=click.Path(), default=None, help="report folder (default: reports/<name>/)")
@click.option("--name", default=None, help="the submission's name in reports (default: from PATH)")
@click.option("--audience", type=click.Choice(["student", "instructor"]), default=None,
              help="who the feedback files and the table are for (default: instructor with --hidden)")
@click.option("--config", "config_path", type=click.Path(), default="grading.yaml", show_default=True)
@click.option("--no-server", is_flag=True, envvar="GRADE_NO_SERVER",
              help="grade in this process, without the warm local grading server (env GRADE_NO_SERVER=1)")
@reports_errors
def submission(path: str, hidden: bool, topic: str | None, out: str | None, name: str | None,
               audience: str | None, config_path: str, no_server: bool) -> None:
    """Grade the submission at PATH (a folder like assignments/, a .zip, or a .py/.ipynb with --topic).

    Exit code 0 when every check passed, 1 when some failed, 4 when the submission could not be read.
    The local grading server that `grade check` uses grades it too (torch stays loaded); the reports are
    written here.

    Example: grade submission solutions --hidden
    """
    config = load_config(config_path)
    result = None if no_server else served(server.submission, path, hidden=hidden, topic=topic, name=name,
                                           config=config)
    if result is None:
        result = _in_process(path, hidden=hidden, topic=topic, name=name, config=config)
    from graders.reports import write_reports  # no matplotlib: the feedback page draws its plots itself (#14)

    folder = Path(out) if out else config.resolve(config.reports_dir) / result.submission
    audience = audience or ("instructor" if hidden else "student")
    write_reports(result, folder, audience=audience)
    print_summary(result, audience=audience)
    click.echo(f"reports: {folder}")
    if result.status == "failed to load":
        sys.exit(4)
    sys.exit(0 if all(c.passed for c in result.checks()) else 1)


def _in_process(path: str, *, hidden: bool, topic: str | None, name: str | None, config: Config) -> SubmissionResult:
    from graders.worker.zygote import warm_up

    warm_up(config.threads)
    # Imported after the warm-up: the grader's import of torch runs beside the zygote's.
    from graders.grading.session import GradingOptions, grade_submission, spare_core

    return grade_submission(path, config=config, hidden=hidden, topics=[topic] if topic else None, name=name,
                            options=GradingOptions(helper_worker=spare_core(config)))

