"""The `grade` command line: one module per verb, each a few lines calling one library function."""

from __future__ import annotations

import importlib
import pkgutil

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="graders")
def main() -> None:
    """Grade PyTorch course submissions in an isolated worker, against the reference solution."""


# Each verb lives in graders/cli/<verb>.py and defines a click command named like the module.
for _info in pkgutil.iter_modules(__path__):
    if not _info.name.startswith("_"):
        _module = importlib.import_module(f"{__name__}.{_info.name}")
        main.add_command(getattr(_module, _info.name.replace("-", "_")))
