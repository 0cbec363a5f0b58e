"""The `grade` command line: one module per verb, each a few lines calling one library function."""

from __future__ import annotations

import importlib
import pkgutil

import click


class _LazyVerbs(click.Group):
    """Imports a verb's module only when that verb runs, so `grade report` never pays for torch."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.list_commands(ctx):
            return None
        module = importlib.import_module(f"{__name__}.{cmd_name}")
        return getattr(module, cmd_name)


# Each verb lives in graders/cli/<verb>.py and defines a click command named like the module.
@click.group(cls=_LazyVerbs, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="graders")
def main() -> None:
    """Grade PyTorch course submissions in an isolated worker, against the reference solution."""
