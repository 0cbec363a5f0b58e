"""`grade calibrate`: set reference-relative thresholds from the reference's own spread."""

from __future__ import annotations

import click

from graders.authoring.calibrate import calibrate as run_calibration
from graders.cli._common import default_of, reports_errors
from graders.config import load_config


@click.command()
@click.option("--seeds", type=int, default=default_of(run_calibration, "seeds"), show_default=True,
              help="shifted training seeds per thread count")
@click.option("--threads", type=int, multiple=True, default=default_of(run_calibration, "threads"),
              show_default=True, help="torch thread counts to run (repeat the option)")
@click.option("--margin", type=float, default=default_of(run_calibration, "margin"), show_default=True,
              help="slack added beyond the worst ratio measured")
@click.option("--time-margin", type=float, default=default_of(run_calibration, "time_margin"), show_default=True,
              help="factor on the slowest honest training_time ratio")
@click.option("--honest", multiple=True, type=click.Path(exists=True),
              help="correct submissions timed as honest (repeat; default examples/*_variant_styles)")
@click.option("--slow", multiple=True, type=click.Path(exists=True),
              help="correct but slow submissions training_time must fail (repeat; default examples/*_per_sample_loop)")
@click.option("--topic", "topics", multiple=True, help="only these topics (repeat the option)")
@click.option("--dry-run", is_flag=True, help="print the thresholds without writing grading.yaml")
@click.option("--config", "config_path", type=click.Path(), default="grading.yaml", show_default=True)
@reports_errors
def calibrate(seeds: int, threads: tuple[int, ...], margin: float, time_margin: float, honest: tuple[str, ...],
              slow: tuple[str, ...], topics: tuple[str, ...], dry_run: bool, config_path: str) -> None:
    """Grade the reference against itself under other seeds and thread counts, and rewrite the thresholds
    marked `calibrate:` in grading.yaml so correct but different solutions pass.

    training_time is measured on every topic, from the runs at the configured thread count and the honest
    variants, and set to the slowest honest ratio times --time-margin where marked `calibrate:`; the per-sample
    loops are timed to show whether it still fails them.

    Example: grade calibrate --seeds 3 --threads 1 --threads 2
    """
    results = run_calibration(config=load_config(config_path), seeds=seeds, threads=threads, margin=margin,
                              time_margin=time_margin, honest=list(honest) or None, slow=list(slow) or None,
                              topics=list(topics) or None, write=not dry_run)
    for cal in results:
        note = "" if cal.marked else ", measured only: mark it `calibrate: lower_is_better` to rewrite it"
        click.echo(f"{cal.topic}.{cal.check}: {cal.old:g} -> {cal.new:g} ({cal.comment()}{note})")
