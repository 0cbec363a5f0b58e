"""The `grade` command line: one module per verb, each a few lines calling one library function."""

from __future__ import annotations

import importlib

import click

# Each verb lives in graders/cli/<name>.py and defines a click command named like the module.
VERBS = ("check", "submission", "report")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="graders")
def main() -> None:
    """Grade PyTorch course submissions in an isolated worker, against the reference solution."""


for _verb in VERBS:
    _module = importlib.import_module(f"graders.cli.{_verb}")
    main.add_command(getattr(_module, _verb))
