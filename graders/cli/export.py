"""`grade export REPORTS`: put a batch's scores into an nbgrader gradebook (formgrader shows them)."""

from __future__ import annotations

import click

from graders.cli._common import default_of, reports_errors
from graders.config import load_config
from graders.reports import export_folder


@click.command()
@click.argument("reports", type=click.Path())
@click.option("--nbgrader-db", "db_url", required=True, help="the gradebook, e.g. sqlite:///gradebook.db")
@click.option("--assignment", required=True, help="the nbgrader assignment the scores belong to")
@click.option("--topic", "topics", multiple=True, metavar="NAME",
              help="export this topic only (repeatable); default: every topic the results hold")
@click.option("--course-id", default=default_of(export_folder, "course_id"), show_default=True)
@click.option("--config", "config_path", type=click.Path(), default="grading.yaml",
              show_default=True)
@reports_errors
def export(reports: str, db_url: str, assignment: str, topics: tuple[str, ...], course_id: str,
           config_path: str) -> None:
    """Export the scores of every REPORTS/<student>/result.json into an nbgrader gradebook.

    Each topic's score goes to the grade cell <topic>-checks of the notebook named after the topic's module,
    the cell `grade generate` writes. An assignment made by `nbgrader generate_assignment` must hold every
    exported topic's notebook (pass --topic for the topics it has); a new one is created with those notebooks.

    Example: grade export reports --nbgrader-db sqlite:///gradebook.db --assignment week1 --topic linear_regression
    """
    students = export_folder(reports, db_url=db_url, assignment=assignment, topics=topics,
                             config=load_config(config_path), course_id=course_id)
    click.echo(f"exported {len(students)} students to {db_url} (assignment {assignment})")
