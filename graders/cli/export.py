"""`grade export REPORTS`: put a batch's scores into an nbgrader gradebook (formgrader shows them)."""

from __future__ import annotations

import click

from graders.cli._common import default_of, reports_errors
from graders.reports import export_folder


@click.command()
@click.argument("reports", type=click.Path())
@click.option("--nbgrader-db", "db_url", required=True, help="the gradebook, e.g. sqlite:///gradebook.db")
@click.option("--assignment", required=True, help="the nbgrader assignment the scores belong to")
@click.option("--course-id", default=default_of(export_folder, "course_id"), show_default=True)
@reports_errors
def export(reports: str, db_url: str, assignment: str, course_id: str) -> None:
    """Export the scores of every REPORTS/<student>/result.json into an nbgrader gradebook.

    Example: grade export reports --nbgrader-db sqlite:///gradebook.db --assignment week1
    """
    students = export_folder(reports, db_url=db_url, assignment=assignment, course_id=course_id)
    click.echo(f"exported {len(students)} students to {db_url} (assignment {assignment})")
