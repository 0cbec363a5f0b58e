"""Measure `grade batch` throughput: submissions per minute, time per topic and peak memory per grading process.

Run: python bench/batch_bench.py [--copies 6] [--config grading.yaml] [--modes local-1,local-2,dask-2].
The submissions are copies of the bundled examples (solutions/, assignments/, examples/*), cycled up to
--copies; each mode grades them into its own temporary reports folder with the hidden tests. The reference
cache is the course's own, so only the first mode can include training the reference (shown as "warm s").
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from itertools import cycle, islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graders.batch import BatchResult, default_workers, grade_batch  # noqa: E402
from graders.config import load_config  # noqa: E402
from graders.demo import bundled_submissions  # noqa: E402

MODES = {"local-1": {"workers": 1}, "local-2": {"workers": 2}, "dask-2": {"dask_local": 2}}


def make_copies(config: Path, count: int, into: Path) -> list[str]:
    """`count` submissions cycling through the bundled examples, named <example>-<n>."""
    examples = bundled_submissions(load_config(config).root)
    names = []
    for number, (name, source) in enumerate(islice(cycle(examples.items()), count), start=1):
        target = into / f"{name}-{number}"
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
        else:
            target = target.with_suffix(source.suffix)
            shutil.copyfile(source, target)
        names.append(target.name)
    return names


def measure(mode: str, config: Path, submissions: Path, out: Path) -> BatchResult:
    return grade_batch(submissions, config=config, out=out, quiet=True, **MODES[mode])


def report(mode: str, result: BatchResult) -> list[str]:
    count = len(result.stats)
    fanout = max(result.duration_s - result.warm_s, 1e-9)
    by_pid: dict[float, dict[str, float]] = {}
    for stats in result.stats.values():
        peak = by_pid.setdefault(stats.get("pid", 0), {"grader": 0.0, "worker": 0.0})
        peak["grader"] = max(peak["grader"], stats.get("grader_rss_mb", 0.0))
        peak["worker"] = max(peak["worker"], stats.get("worker_rss_mb", 0.0))
    grader = max((p["grader"] for p in by_pid.values()), default=0.0)
    worker = max((p["worker"] for p in by_pid.values()), default=0.0)
    line = (f"{mode:<8} {count:>4} {result.duration_s:>7.1f} {result.warm_s:>6.1f} {count / fanout * 60:>9.1f} "
            f"{count / result.duration_s * 60:>9.1f} {len(by_pid):>5} {grader:>10.0f} {worker:>10.0f}")
    topics: dict[str, list[float]] = {}
    for row in result.results:
        for topic in row.topics:
            topics.setdefault(topic.name, []).append(topic.duration_s)
    breakdown = ", ".join(f"{name} {statistics.mean(times):.1f} s" for name, times in topics.items())
    return [line, f"{'':<8} mean check time per topic: {breakdown or 'none'}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=6, help="submissions to grade (cycling the examples)")
    parser.add_argument("--config", type=Path, default=ROOT / "grading.yaml")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of: {', '.join(MODES)}")
    args = parser.parse_args()
    cfg = load_config(args.config)
    print(f"{args.copies} submissions; threads {cfg.threads} per worker; default workers here: "
          f"{default_workers(cfg)}; limits call {cfg.limits.call_s:g} s, submission {cfg.limits.submission_s:g} s")
    print(f"{'mode':<8} {'subs':>4} {'wall s':>7} {'warm s':>6} {'fan/min':>9} {'all/min':>9} {'procs':>5} "
          f"{'grader MB':>10} {'worker MB':>10}")
    with tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        submissions = Path(tmp) / "submissions"
        submissions.mkdir()
        make_copies(args.config, args.copies, submissions)
        for mode in args.modes.split(","):
            result = measure(mode, args.config, submissions, Path(tmp) / f"out-{mode}")
            print("\n".join(report(mode, result)), flush=True)
    print("fan/min: submissions per minute after the reference warm-up; all/min: over the whole batch.\n"
          "grader MB / worker MB: peak RSS of one grading process / of its largest worker (getrusage).")


if __name__ == "__main__":
    main()
