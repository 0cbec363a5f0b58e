"""The `grade` command line: one module per verb, each a few lines calling one library function."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import click


class _LazyVerbs(click.Group):
    """Imports a verb's module only when that verb runs, so `grade report` never pays for torch."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        # A module name cannot hold a hyphen: graders/cli/config_docs.py is `grade config-docs`.
        return sorted(info.name.replace("_", "-") for info in pkgutil.iter_modules(__path__)
                      if not info.name.startswith("_"))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.list_commands(ctx):
            return None
        module = importlib.import_module(f"{__name__}.{_module(cmd_name)}")
        return getattr(module, _module(cmd_name))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The verbs and the first line of their docstrings, read from the source: `grade --help` imports no
        verb, hence no torch (issue #14: 5 s before, when listing the verbs imported every one)."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max((len(n) for n in names), default=0)  # as click.Group lays them out
        # A bare command holding the docstring shortens it exactly as the verb's own command would.
        rows = [(name, click.Command(name, help=_docstring(name)).get_short_help_str(limit)) for name in names]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _module(verb: str) -> str:
    """The module, and the command function in it, of a verb: `config-docs` lives in config_docs.py."""
    return verb.replace("-", "_")


def _docstring(verb: str) -> str:
    """The docstring of the verb's command function in its module, which click shows as the verb's help."""
    source = Path(__file__).with_name(f"{_module(verb)}.py").read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == _module(verb):
            return ast.get_docstring(node) or ""
    return ""


# Each verb lives in graders/cli/<verb>.py (hyphens as underscores) and defines a click command named
# like the module.
@click.group(cls=_LazyVerbs, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="graders")
def main() -> None:
    """Grade PyTorch course submissions in an isolated worker, against the reference solution."""
