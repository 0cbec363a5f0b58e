"""`grade submission PATH --hidden` wall time from the shell: served cold, served warm and in-process (issue #14).

Run: python bench/submission_latency.py [--rounds 3] [--path solutions] [--public-only]

The server is stopped, then timed are the first `grade submission` (it starts the server, and the twin grader
on its first submission), then `--rounds` pairs of a served call and a `grade submission --no-server` call,
alternating, so that a change in the machine's load weighs on both alike. Each time is a whole `grade`
process, as a shell sees it, reports included. Every call must give the same verdicts (result.json), served
or not. The server lives in a temporary runtime folder of its own, stopped at the end. The reference results
should be cached already (grade the solutions once before): otherwise the first call includes training it.
Target (issue #14): the served warm median under 12 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GRADE = [sys.executable, "-m", "graders.cli"]
TARGET_S = 12.0


def timed(args: list[str], out: Path, env: dict[str, str]) -> tuple[float, list[tuple[str, str, bool]]]:
    """Wall seconds of one `grade submission` process, and the verdicts it wrote."""
    clock = time.perf_counter()
    done = subprocess.run([*GRADE, "submission", *args, "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    seconds = time.perf_counter() - clock
    if done.returncode not in (0, 1):  # 0: all passed, 1: some check failed; anything else is not a grading
        sys.exit(f"grade submission {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    if "grade: note:" in done.stderr:
        print(f"  note: {done.stderr.strip()}")
    data = json.loads((out / "result.json").read_text(encoding="utf-8"))
    return seconds, [(c["topic"], c["name"], c["passed"]) for t in data["topics"] for c in t["checks"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="served and --no-server calls after the first")
    parser.add_argument("--path", default="solutions", help="the submission graded (default: solutions)")
    parser.add_argument("--public-only", action="store_true", help="without --hidden")
    args = parser.parse_args()
    grading = [args.path] + ([] if args.public_only else ["--hidden"])
    folder, reports = tempfile.mkdtemp(prefix="gs-bench-"), Path(tempfile.mkdtemp(prefix="gs-bench-reports-"))
    env = {**os.environ, "GRADE_SERVER_DIR": folder}
    env.pop("GRADE_NO_SERVER", None)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start; "
          f"grade submission {' '.join(grading)}")
    served: list[float] = []
    local: list[float] = []
    try:
        first, expected = timed(grading, reports / "first", env)
        print(f"first (starts the server) {first:6.2f} s", flush=True)
        for n in range(args.rounds):
            seconds, verdicts = timed(grading, reports / f"served{n}", env)
            served.append(seconds)
            in_process, local_verdicts = timed([*grading, "--no-server"], reports / f"local{n}", env)
            local.append(in_process)
            if not verdicts == local_verdicts == expected:
                sys.exit("the verdicts differ between calls: see the result.json files in " + str(reports))
            print(f"round {n + 1}: served {seconds:6.2f} s, --no-server {in_process:6.2f} s", flush=True)
        status = subprocess.run([*GRADE, "server", "status"], cwd=ROOT, env=env, capture_output=True, text=True)
        if f"{args.rounds + 1} checks served" not in status.stdout:  # a harness file changed: a restart was timed
            print("  the server restarted during the timed calls; rerun for clean figures")
    finally:
        subprocess.run([*GRADE, "server", "stop"], cwd=ROOT, env=env, capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(reports, ignore_errors=True)
    warm = statistics.median(served)
    print(f"served, median of {args.rounds}: {warm:.2f} s (first {first:.2f} s); --no-server, median of "
          f"{args.rounds}: {statistics.median(local):.2f} s; target {TARGET_S:g} s: "
          f"{'ok' if warm < TARGET_S else 'OVER'}")
    print(f"load average {os.getloadavg()[0]:.2f} at the end; identical verdicts in all {2 * args.rounds + 1} calls")


if __name__ == "__main__":
    main()
