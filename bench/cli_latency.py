"""`grade --help`, every `grade VERB --help` and a configuration error: wall time from the shell (issue #14).

Run: python bench/cli_latency.py [--rounds 5]

Each figure is the median of `--rounds` whole `grade` processes (the console script beside this Python), as a
shell sees them. None of them should import torch: the target is under 0.5 s each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).with_name("grade")
GRADE = [str(SCRIPT)] if SCRIPT.is_file() else [sys.executable, "-m", "graders.cli"]
TARGET_S = 0.5


def timed(args: list[str], rounds: int, *, cwd: Path) -> tuple[float, int]:
    """The median wall seconds of `rounds` runs of `grade ARGS`, and the last exit code."""
    seconds, code = [], 0
    for _ in range(rounds):
        clock = time.perf_counter()
        code = subprocess.run([*GRADE, *args], cwd=cwd, capture_output=True, timeout=120).returncode
        seconds.append(time.perf_counter() - clock)
    return statistics.median(seconds), code


def verbs() -> list[str]:
    """The verbs, as the CLI lists them (its modules, one per verb)."""
    folder = ROOT / "graders" / "cli"
    return sorted(p.stem.replace("_", "-") for p in folder.glob("*.py") if not p.stem.startswith("_"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start; median of {args.rounds}")
    cases = [("grade --help", ["--help"], ROOT)]
    cases += [(f"grade {verb} --help", [verb, "--help"], ROOT) for verb in verbs()]
    with tempfile.TemporaryDirectory() as empty:  # no grading.yaml here: the error a misplaced shell gets
        cases += [("grade check (no grading.yaml)", ["check", "linear_regression"], Path(empty)),
                  ("grade check (unknown topic)", ["check", "no_such_topic"], ROOT)]
        worst = 0.0
        for label, argv, cwd in cases:
            seconds, code = timed(argv, args.rounds, cwd=cwd)
            worst = max(worst, seconds)
            print(f"{label:<36} {seconds:6.3f} s  exit {code}  {'ok' if seconds < TARGET_S else 'OVER'}", flush=True)
    print(f"slowest {worst:.3f} s against the {TARGET_S:g} s target: {'ok' if worst < TARGET_S else 'NOT met'}; "
          f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
