"""What every command shares: error handling that turns library exceptions into one-line messages."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from graders.errors import GradingError

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(func: F) -> F:
    """Print a GradingError as `grade: error: ...` and exit with its code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except GradingError as exc:
            click.echo(f"grade: error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("grade: interrupted; results written so far are kept", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def served(ask: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """What `ask` (a function of graders.server.client) gets from the local grading server (issue #14); None, said in
    one line, when the server cannot answer, for the command to grade in its own process instead."""
    from graders.errors import ServerError

    def note(text: str) -> None:
        click.echo(f"grade: note: {text}", err=True)

    try:
        return ask(*args, **kwargs, on_wait=note)
    except ServerError as exc:
        note(f"{exc}; grading in this process instead")
        return None


def default_of(func: Callable[..., Any], name: str) -> Any:
    """The keyword default of a library function, so each default lives in one place."""
    import inspect

    return inspect.signature(func).parameters[name].default


def print_summary(result: Any, *, audience: str) -> None:
    """The summary table every run ends with."""
    from rich.console import Console

    from graders.reports import terminal

    terminal.print_summary(result, console=Console(), audience=audience)
