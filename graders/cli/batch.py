"""`grade batch SUBMISSIONS`: grade one submission per student in parallel, resumable, into one gradebook."""

from __future__ import annotations

import click

from graders.batch.progress import closing_lines
from graders.batch.run import grade_batch
from graders.cli._common import default_of, reports_errors
from graders.config import load_config
from graders.reports import data_notice


def _default(name: str) -> object:
    return default_of(grade_batch, name)


@click.command()
@click.argument("submissions", type=click.Path())
@click.option("--out", type=click.Path(), default=_default("out"), help="reports folder (default: reports_dir)")
@click.option("--workers", type=int, default=_default("workers"),
              help="grading processes (default: cores // threads, or one per GPU)")
@click.option("--resume", is_flag=True, default=_default("resume"), help="keep valid results, grade the rest")
@click.option("--force", is_flag=True, default=_default("force"), help="grade everything again")
@click.option("--hidden/--public-only", default=_default("hidden"), show_default=True,
              help="run the hidden tests too, or the public ones only")
@click.option("--quiet", is_flag=True, default=_default("quiet"), help="one line per submission, no progress bar")
@click.option("--scheduler", default=_default("scheduler"), metavar="tcp://HOST:PORT",
              help="send the work to this Dask scheduler")
@click.option("--dask-local", type=int, default=_default("dask_local"), metavar="N",
              help="start a local Dask cluster of N workers (to try the Dask path)")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default=_default("device"),
              help="override grading.yaml's device")
@click.option("--require-real-data", is_flag=True, default=_default("require_real_data"),
              help="refuse to start if a topic would be graded on built-in stand-in data or weights")
@click.option("--audience", type=click.Choice(["instructor", "student"]), default=_default("audience"),
              show_default=True, help="student: also write each student's copy of the reports, hidden checks and "
              "withheld thresholds left out, to OUT/<name>/student/ (as `grade report --audience student`)")
@click.option("--topic", "topics", multiple=True, metavar="NAME",
              help="grade this topic only (repeatable): a week-1 batch is scored out of topic 1's points")
@click.option("--config", "config_path", type=click.Path(), default="grading.yaml", show_default=True)
@reports_errors
def batch(submissions: str, out: str | None, workers: int | None, resume: bool, force: bool, hidden: bool,
          quiet: bool, scheduler: str | None, dask_local: int | None, device: str | None, require_real_data: bool,
          audience: str, topics: tuple[str, ...], config_path: str) -> None:
    """Grade every entry of SUBMISSIONS: a folder with one folder, .zip or <student>_<module>.py/.ipynb per
    student, an nbgrader course (submitted/<student>/<assignment>/) or a Gradescope export.

    Each result is saved as it finishes; rerun with --resume after an interruption. Ends with gradebook.csv
    and summary.html. Exit code 0 whenever the batch ran, whatever the scores.

    Example: grade batch submissions/ --workers 4 --resume
    """
    result = grade_batch(submissions, config=load_config(config_path), out=out, workers=workers, resume=resume,
                         force=force, hidden=hidden, quiet=quiet, scheduler=scheduler, dask_local=dask_local,
                         device=device, require_real_data=require_real_data, audience=audience, topics=topics)
    for line in closing_lines(result.results, graded_now=result.graded, reused=result.reused,
                              duration_s=result.duration_s, listed=not quiet):
        click.echo(line)
    if result.retry:
        click.echo(f"not graded because of a problem on the grader's side: {', '.join(result.retry)}; "
                   "rerun with --resume to try them again")
    if notice := data_notice.banner([t for r in result.results for t in r.topics], audience="instructor"):
        click.secho(notice, fg="yellow", bold=True)
    click.echo(f"gradebook: {result.out / 'gradebook.csv'}")
