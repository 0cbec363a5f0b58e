"""`grade server start|stop|status`: the local grading server that answers `grade check` warm (issue #14)."""

from __future__ import annotations

import sys

import click

from graders.cli._common import reports_errors
from graders.errors import ConfigError


@click.group()
def server() -> None:
    """Start, stop or inspect the local grading server that keeps `grade check` and `grade submission` fast.

    `grade check` and `grade submission` start it on first use: it keeps torch and the worker fork server
    loaded, serves only you (a socket in $XDG_RUNTIME_DIR/graders, or /tmp/graders-UID), and stops after
    GRADE_SERVER_IDLE seconds without a request (default 900). On a `grade submission` it forks a twin grader
    that grades half of the topics beside it, on another core. `--no-server` grades without it.

    Example: grade server status
    """


@server.command()
@click.option("--idle", "idle_s", type=click.FloatRange(min=1), default=None,
              help="seconds without a check before it stops [default: $GRADE_SERVER_IDLE or 900]")
@click.option("--config", "config_path", type=click.Path(), default="grading.yaml", show_default=True,
              help="warm the worker fork server for this course's threads setting")
@reports_errors
def start(idle_s: float | None, config_path: str) -> None:
    """Start the server now (it is restarted if it runs older harness code).

    Example: grade server start --idle 3600
    """
    from graders.server import client as grading_server

    state = grading_server.start(idle_s=idle_s, threads=_threads(config_path))
    click.echo(f"grading server running: pid {state['pid']}, log {state['log']}")


@server.command()
@reports_errors
def stop() -> None:
    """Stop the server and wait until it has ended.

    Example: grade server stop
    """
    from graders.server import client as grading_server

    pid = grading_server.stop()
    click.echo("no grading server was running" if pid is None else f"grading server stopped (pid {pid})")


@server.command()
@reports_errors
def status() -> None:
    """Tell whether the server runs (exit 0) or not (exit 1), and what it has served.

    Example: grade server status
    """
    from graders.server import client as grading_server

    state = grading_server.status()
    if state is None:
        click.echo(f"no grading server is running ({grading_server.runtime_dir()})")
        sys.exit(1)
    stale = state["fingerprint"] != grading_server.fingerprint()
    click.echo(f"grading server running: pid {state['pid']}, up {state['uptime_s']:g} s, "
               f"{state['requests']} checks served, stops after {state['idle_s']:g} s idle"
               + ("; stale (the harness changed): the next check restarts it" if stale else ""))
    click.echo(f"socket folder {state['folder']}, log {state['log']}")


def _threads(config_path: str) -> int | None:
    """The course's worker threads, to warm the right fork server; None (no warm-up) outside a course."""
    from graders.config import load_config

    try:
        return load_config(config_path).threads
    except ConfigError:
        return None
