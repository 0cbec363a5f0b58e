"""`grade config-docs`: the reference of every grading.yaml key, generated from graders/config.py."""

from __future__ import annotations

from typing import IO

import click

from graders.config import reference_markdown


@click.command()
@click.option("--output", type=click.File("w", encoding="utf-8"), default="-",
              help="write the reference to this file instead of the terminal (docs/config.md is that file)")
def config_docs(output: IO[str]) -> None:
    """Print the grading.yaml reference: every key, its type, default and meaning, as Markdown.

    Example: grade config-docs --output docs/config.md
    """
    output.write(reference_markdown())
