"""`grade submission PATH`: grade one submission (public tests, and hidden ones with --hidden)."""

from __future__ import annotations

import contextlib
import sys
import threading
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
    warm = threading.Thread(target=_warm_plots, name="warm-plots", daemon=True)
    if not no_server:
        # This process only waits while the server grades: it loads matplotlib for the feedback page meanwhile
        # (0.3-0.4 s of a served run's 10, #14).
        warm.start()
    result = None if no_server else served(server.submission, path, hidden=hidden, topic=topic, name=name,
                                           config=config)
    if result is None:
        result = _in_process(path, hidden=hidden, topic=topic, name=name, config=config)
    if warm.is_alive():  # a quick answer: the reports draw once the warm-up drew, never beside it
        warm.join()
    from graders.reports import write_reports

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
    from graders.grading.session import grade_submission

    return grade_submission(path, config=config, hidden=hidden, topics=[topic] if topic else None, name=name)


def _warm_plots() -> None:
    from graders.reports.plots import loss_curve_png

    with contextlib.suppress(Exception):  # a real failure shows in the real plots, where it is reported
        loss_curve_png({"student": [1.0, 0.5], "reference": [1.0, 0.4]})  # imports matplotlib, loads its fonts
