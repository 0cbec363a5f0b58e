"""Measure `grade batch` throughput: submissions per minute, time per topic and peak memory per process.

Run: python bench/batch_bench.py [--copies 4,12,30] [--topics a,b] [--config grading.yaml]
[--modes local-1,local-2,dask-2]. The course (grading.yaml with the chosen topics, their assignments,
solutions and hidden tests) is snapshot into a temporary folder, so edits during the run change nothing,
with a cache of its own: only the first mode includes training the reference ("warm s"). The submissions
are copies of the bundled examples (solutions/, assignments/, examples/*), cycled up to --copies; each
mode grades them with the hidden tests into its own reports folder.
Memory is the peak PSS of each process under this one, polled from /proc/PID/smaps_rollup: a page shared by
n processes counts 1/n in each, so a forked worker's share of the zygote's torch pages is not counted twice
(target, issue #14: under 1.5 GB per worker). RSS, which counts shared pages in full, is printed beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import threading
from itertools import cycle, islice
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _proc import descendants, pss_mib  # noqa: E402  (bench/, this script's folder)

from graders.batch.demo import bundled_submissions  # noqa: E402
from graders.batch.run import BatchResult, default_workers, grade_batch  # noqa: E402
from graders.config import load_config  # noqa: E402

MODES = {"local-1": {"workers": 1}, "local-2": {"workers": 2}, "dask-2": {"dask_local": 2}}
KINDS = ("grader", "zygote", "worker", "dask")


class MemoryPoll:
    """Peak RSS (MiB) of every descendant of this process, by kind, sampled every `every` seconds."""

    def __init__(self, every: float = 0.25):  # a /proc walk costs a few ms: keep the poller off the 2 cores
        self.every = every
        self.peaks: dict[tuple[int, str], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> MemoryPoll:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            for pid, cmdline, parent_cmdline, rss in descendants(os.getpid()):
                key = (pid, _kind(cmdline, parent_cmdline))
                old_rss, old_pss = self.peaks.get(key, (0.0, 0.0))
                self.peaks[key] = (max(old_rss, rss), max(old_pss, pss_mib(pid)))

    def summary(self) -> dict[str, tuple[int, float, float]]:
        """kind -> (processes seen, largest peak PSS, largest peak RSS, in MiB)."""
        found: dict[str, list[tuple[float, float]]] = {}
        for (_, kind), peaks in self.peaks.items():
            found.setdefault(kind, []).append(peaks)
        return {kind: (len(v), max(p for _, p in v), max(r for r, _ in v)) for kind, v in found.items()}


def _kind(cmdline: str, parent_cmdline: str) -> str:
    if "graders.worker.zygote" in cmdline:  # forked workers keep the zygote's command line
        return "worker" if "graders.worker.zygote" in parent_cmdline else "zygote"
    if "graders.worker" in cmdline:
        return "worker"
    return "grader" if "graders.batch.child" in cmdline else "dask"


def snapshot(config: Path, topics: list[str] | None, into: Path) -> Path:
    """A copy of the course with only `topics`; data and weights still come from the course's folders."""
    cfg = load_config(config)
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    chosen = topics or list(cfg.topics)
    for name in chosen:
        folder = cfg.topic(name).folder
        for part in ("assignments", "solutions", "hidden_tests"):
            if (cfg.root / part / folder).is_dir():
                shutil.copytree(cfg.root / part / folder, into / part / folder,
                                ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("assignments", "solutions", "hidden_tests"):  # modules the topics' tests share (hidden_tests/*.py)
        for shared in (cfg.root / part).glob("*.py"):
            shutil.copyfile(shared, into / part / shared.name)
    raw.update(topics={name: raw["topics"][name] for name in chosen}, data_dir=str(cfg.resolve(cfg.data_dir)),
               weights_dir=str(cfg.resolve(cfg.weights_dir)))
    (into / "grading.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return into / "grading.yaml"


def make_copies(config: Path, count: int, into: Path) -> None:
    """`count` submissions cycling through the bundled examples, named <example>-<n>."""
    examples = bundled_submissions(load_config(config).root)
    for number, (name, source) in enumerate(islice(cycle(examples.items()), count), start=1):
        target = into / f"{name}-{number}"
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
        else:
            shutil.copyfile(source, target.with_suffix(source.suffix))


def report(mode: str, result: BatchResult, memory: dict[str, tuple[int, float, float]]) -> list[str]:
    count = len(result.stats)
    fanout = max(result.duration_s - result.warm_s, 1e-9)
    peaks = " ".join(f"{memory.get(kind, (0, 0.0, 0.0))[1]:>5.0f}/{memory.get(kind, (0, 0.0, 0.0))[2]:<5.0f}"
                     for kind in KINDS)
    line = (f"{mode:<8} {count:>4} {result.duration_s:>7.1f} {result.warm_s:>6.1f} {count / fanout * 60:>8.1f} "
            f"{count / result.duration_s * 60:>8.1f} {memory.get('grader', (0, 0, 0))[0]:>5} "
            f"{memory.get('worker', (0, 0, 0))[0]:>7} {peaks}")
    topics: dict[str, list[float]] = {}
    for row in result.results:
        for topic in row.topics:
            topics.setdefault(topic.name, []).append(topic.duration_s)
    breakdown = ", ".join(f"{name} {statistics.mean(times):.2f} s" for name, times in topics.items())
    return [line, f"{'':<8} mean check time per submission and topic: {breakdown or 'none'}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", default="6", help="comma-separated batch sizes to grade, e.g. 4,12,30 "
                        "(submissions cycling the bundled examples)")
    parser.add_argument("--config", type=Path, default=ROOT / "grading.yaml")
    parser.add_argument("--topics", default=None, help="comma-separated topics to grade (default: all)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of: {', '.join(MODES)}")
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="batch-bench-")
    root = Path(tmp.name)
    config = snapshot(args.config, args.topics.split(",") if args.topics else None, root / "course")
    cfg = load_config(config)
    print(f"topics: {', '.join(cfg.topics)}; threads {cfg.threads} per worker; "
          f"{os.cpu_count()} cores; default workers here: {default_workers(cfg)}")
    print(f"{'mode':<8} {'subs':>4} {'wall s':>7} {'warm s':>6} {'fan/min':>8} {'all/min':>8} {'procs':>5} "
          f"{'seen':>7} " + " ".join(f"{kind + ' PSS/RSS MB':>11}" for kind in KINDS))
    with tmp:
        for copies in (int(n) for n in args.copies.split(",")):
            submissions = root / f"submissions-{copies}"
            submissions.mkdir()
            make_copies(args.config, copies, submissions)
            for mode in args.modes.split(","):
                # quiet's line per submission would bury the table
                with MemoryPoll() as memory, contextlib.redirect_stdout(io.StringIO()):
                    result = grade_batch(submissions, config=cfg, out=root / f"out-{mode}-{copies}", quiet=True,
                                         **MODES[mode])
                print("\n".join(report(mode, result, memory.summary())), flush=True)
    print("fan/min: submissions per minute after the reference warm-up; all/min: over the whole batch, with\n"
          "process and cluster start. procs: grading processes; seen: sandboxed workers the 0.25 s poll caught.\n"
          "MB: largest peak PSS / RSS of one grading process, zygote (fork server), worker, Dask worker process.")


if __name__ == "__main__":
    main()
