"""`grade data prepare`: download the real datasets and weights (grading itself never downloads)."""

from __future__ import annotations

import sys

import click

from graders.cli._common import reports_errors
from graders.config import load_config
from graders.data.prepare import ITEMS, prepare


@click.group()
def data() -> None:
    """Datasets and pretrained weights on disk.

    Example: grade data prepare --only mnist
    """


@data.command(name="prepare")
@click.option("--only", "items", multiple=True, type=click.Choice(ITEMS), help="just these (repeat the option)")
@click.option("--config", "config_path", type=click.Path(), default="grading.yaml", show_default=True)
@reports_errors
def prepare_command(items: tuple[str, ...], config_path: str) -> None:
    """Download MNIST, CIFAR-10, the ants/bees images and the AlexNet/VGG16 ImageNet weights where missing.

    Example: grade data prepare
    """
    results = prepare(config=load_config(config_path), items=items or ITEMS)
    for done in results:
        click.echo(f"{done.item:12} {done.status:10} {done.detail}")
    sys.exit(1 if any(d.status == "failed" for d in results) else 0)
