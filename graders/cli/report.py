"""`grade report`: rebuild report files from a saved result.json, without grading again."""

from __future__ import annotations

from pathlib import Path

import click

from graders.cli._common import default_of, reports_errors
from graders.reports import ALL_FORMATS, AUDIENCES, FORMATS, regenerate

_FORMAT_HELP = "; ".join(f"{name}: {fmt.filename}, {fmt.description}" for name, fmt in FORMATS.items())


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("result_json", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(ALL_FORMATS),
    help=f"Format to write; repeat for several (default: all). {_FORMAT_HELP}.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    default=default_of(regenerate, "out"),
    help="Folder to write into (default: the folder holding RESULT_JSON).",
)
@click.option(
    "--audience",
    type=click.Choice(AUDIENCES),
    default=default_of(regenerate, "audience"),
    show_default=True,
    help="student hides hidden checks and withheld thresholds; instructor shows all.",
)
@reports_errors
def report(result_json: Path, formats: tuple[str, ...], out: Path | None, audience: str) -> None:
    """Regenerate reports from RESULT_JSON (a result.json written by grading) without regrading.

    \b
    Example:
      grade report reports/alice/result.json --format html --format gradescope --out /tmp/alice
    """
    chosen = formats or default_of(regenerate, "formats")
    for path in regenerate(result_json, formats=chosen, out=out, audience=audience):
        click.echo(str(path))
