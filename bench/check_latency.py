"""`grade check TOPIC` wall time from the shell, for every topic: served warm, served cold, and in-process.

Run: python bench/check_latency.py [--rounds 3] [--submission solutions] [--topics linear_regression ...]

Each topic: the server is stopped, then timed are the first `grade check` (it starts the server), the median
of `--rounds` later ones (served warm), and one `grade check --no-server` (the in-process path as it was
before the server). Each time is a whole `grade` process, as a student's shell sees it. The server lives in
a temporary runtime folder of its own, stopped at the end. The reference results should be cached already
(run the checks once before): otherwise the first call includes training the reference.
Target (issue #14): the warm median under 5 s for every topic.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
GRADE = [sys.executable, "-m", "graders.cli"]
TARGET_S = 5.0


def timed(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds of one `grade` process, and its exit code."""
    clock = time.perf_counter()
    done = subprocess.run([*GRADE, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - clock
    if done.returncode not in (0, 1):  # 0: all passed, 1: some check failed; anything else is not a check
        sys.exit(f"grade {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    if "grade: note:" in done.stderr:
        print(f"  note from grade {' '.join(args)}: {done.stderr.strip()}")
    return seconds, done.returncode


def bench_topic(topic: str, extra: list[str], rounds: int, env: dict[str, str]) -> dict[str, float]:
    subprocess.run([*GRADE, "server", "stop"], cwd=ROOT, env=env, capture_output=True, timeout=60)
    first, _ = timed(["check", topic, *extra], env)
    warm = [timed(["check", topic, *extra], env)[0] for _ in range(rounds)]
    status = subprocess.run([*GRADE, "server", "status"], cwd=ROOT, env=env, capture_output=True, text=True)
    if f"{rounds + 1} checks served" not in status.stdout:  # a harness file changed meanwhile: a restart was timed
        print(f"  {topic}: the server restarted during the timed calls; rerun for clean figures")
    local, _ = timed(["check", topic, *extra, "--no-server"], env)
    return {"first": first, "warm": statistics.median(warm), "local": local}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="served calls after the first, per topic")
    parser.add_argument("--submission", default=None, help="checked instead of assignments/ (e.g. solutions)")
    parser.add_argument("--topics", nargs="*", default=None)
    args = parser.parse_args()
    topics = args.topics or list(yaml.safe_load((ROOT / "grading.yaml").read_text(encoding="utf-8"))["topics"])
    extra = ["--submission", args.submission] if args.submission else []
    folder = tempfile.mkdtemp(prefix="gs-bench-")
    env = {**os.environ, "GRADE_SERVER_DIR": folder}
    env.pop("GRADE_NO_SERVER", None)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start; "
          f"submission: {args.submission or 'assignments/'}")
    print(f"{'topic':<24} {'first (starts server)':>22} {f'served, median of {args.rounds}':>22} "
          f"{'--no-server':>12}  target {TARGET_S:g} s")
    try:
        for topic in topics:
            t = bench_topic(topic, extra, args.rounds, env)
            verdict = "ok" if t["warm"] < TARGET_S else "OVER"
            print(f"{topic:<24} {t['first']:>20.2f} s {t['warm']:>20.2f} s {t['local']:>10.2f} s  {verdict}",
                  flush=True)
    finally:
        subprocess.run([*GRADE, "server", "stop"], cwd=ROOT, env=env, capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
