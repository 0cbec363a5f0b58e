"""Measure the hidden `training_time` ratio (student seconds / reference seconds, as `checks.time_ratio` computes it)
for honest submissions and for correct but unvectorised per-sample loops, idle and under load (issue #12, finding 6).

Run: python bench/training_time_ratios.py [--reps 3] [--topic T ...] [--load idle --load loaded] [--json OUT]
     python bench/training_time_ratios.py --from-json OUT   (the tables again, from a saved run)
     python bench/training_time_ratios.py --model-only      (image topics: train_one_epoch alone, no data pipeline)

Cases per topic, each graded with the hidden tests against a fresh, uncached reference (so that both sides are
timed under the same load; a new reference per repetition, so its own spread shows):
  reference seed+1, seed+2   the solution under shifted training seeds, as `grade calibrate` runs it
  ... threads=2              the solution at seed+1 with 2 torch threads on both sides
  style:NAME                 examples/*_variant_styles/ (honest variants), where they exist
  per-sample                 examples/*_per_sample_loop/ where bundled (topics 1, 4), else the solution with its
                             `criterion(model(...), ...)` line turned into a loop over samples (made here, not kept)
Each call is also timed by the worker's CPU time (schedstat of its threads), to compare with a check that counted
CPU time instead of wall time. "loaded" runs two busy loops (`yes > /dev/null`, one per core here) while it
measures and stops them by their ids. The tables also show the ratios with other floors of the reference's time,
and with the reference timed under the other condition (a reference cached idle, a student graded under load).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graders import checks  # noqa: E402
from graders.config import load_config  # noqa: E402
from graders.grading.reference import Reference  # noqa: E402
from graders.grading.session import GradingOptions, grade_submission  # noqa: E402
from graders.worker import client  # noqa: E402

TOOK = re.compile(r"training took (\S+) s, .* the reference's (\S+) s")
FLOORS = (0.05, 0.02, 0.01, 0.005, 0.0)

# The line each solution's training loop computes its batch loss with, and the same loss summed per sample.
PER_SAMPLE = {
    "full_batch": ("        loss = criterion(model(x), y)\n",
                   "        total = 0.0\n"
                   "        for i in range(len(x)):\n"
                   "            total = total + criterion(model(x[i : i + 1]), y[i : i + 1])\n"
                   "        loss = total / len(x)\n"),
    "loader": ("        loss = criterion(model(inputs), labels)\n",
               "        logits = torch.cat([model(inputs[i : i + 1]) for i in range(inputs.shape[0])])\n"
               "        loss = criterion(logits, labels)\n"),
}


def per_sample_submission(config, topic: str, out: Path) -> Path:
    """The bundled per-sample example of `topic`, or one made from its solution under `out`."""
    folder = config.topics[topic].folder
    bundled = sorted((ROOT / "examples").glob(f"*_per_sample_loop/{folder}"))
    if bundled:
        return bundled[0].parent
    spec = config.topics[topic]
    text = (config.root / "solutions" / folder / spec.module).read_text()
    for old, new in PER_SAMPLE.values():
        if old in text:
            target = out / f"{topic}_per_sample" / folder / spec.module
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text.replace(old, new))
            return target.parents[1]
    raise SystemExit(f"no loss line to turn into a per-sample loop in {folder}/{spec.module}")


def cases(config, topic: str, threads: int, out: Path) -> list[tuple[str, Path, int]]:
    """(name, submission folder, seed offset) for one topic and thread count (`config` has grading's count)."""
    folder = config.topics[topic].folder
    if threads != config.threads:
        return [("reference seed+1", config.root / "solutions", 1)]
    found = [("reference seed+1", config.root / "solutions", 1), ("reference seed+2", config.root / "solutions", 2)]
    found += [(f"style:{p.parent.name}", p.parent, 0)
              for p in sorted((ROOT / "examples").glob(f"*_variant_styles/{folder}"))]
    return [*found, ("per-sample", per_sample_submission(config, topic, out), 0)]


def measure(config, topics: list[str], reps: int, threads: list[int], condition: str, out: Path) -> list[dict]:
    rows = []
    for rep in range(reps):
        for count in threads:
            cfg = dataclasses.replace(config, threads=count)
            reference = Reference(cfg, use_cache=False)  # timed now, under this condition
            try:
                for topic in topics:
                    for name, path, offset in cases(config, topic, count, out):
                        started, TIMED[:] = time.monotonic(), []
                        options = GradingOptions(reference=reference, seed_offset=offset)
                        result = grade_submission(path, config=cfg, hidden=True, topics=[topic], options=options)
                        check = next(c for c in result.checks() if c.name == "training_time")
                        took = TOOK.search(check.message or "")
                        wall_s, wall_ref, cpu_s, cpu_ref = TIMED[-1] if TIMED else (None,) * 4
                        row = {"condition": condition, "rep": rep, "threads": count, "topic": topic, "case": name,
                               "measured": check.measured, "passed": check.passed,
                               "student_s": wall_s if took else None, "reference_s": wall_ref if took else None,
                               "student_cpu_s": cpu_s if took else None, "reference_cpu_s": cpu_ref if took else None,
                               "other_failures": sorted(c.name for c in result.checks()
                                                        if not c.passed and c.name != "training_time"),
                               "grading_s": round(time.monotonic() - started, 1)}
                        rows.append(row)
                        print(json.dumps(row), flush=True)
            finally:
                reference.close()
    return rows


def cpu_seconds(pid: int | None) -> float:
    """CPU time of every thread of process `pid` so far (schedstat: nanoseconds, unlike stat's 10 ms ticks)."""
    total = 0
    for path in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that ended meanwhile
    return total / 1e9


class Timed(float):
    """Wall seconds of a worker call that also carry its CPU seconds through the hidden test's sums."""

    cpu: float

    def __new__(cls, wall: float, cpu: float) -> Timed:
        made = super().__new__(cls, wall)
        made.cpu = cpu
        return made

    def __add__(self, other: float) -> Timed:
        return Timed(float(self) + float(other), self.cpu + getattr(other, "cpu", float(other)))

    __radd__ = __add__


TIMED: list[tuple[float, float, float, float]] = []  # (student wall, reference wall, student CPU, reference CPU)


def record_cpu_time() -> None:
    """Every worker call's `last_call_s` becomes a Timed: the wall time the check uses, and the CPU time the worker
    spent on the call (frozen between calls, it spends none elsewhere). time_ratio's arguments are kept in TIMED."""
    exchange, time_ratio = client.Worker._exchange, checks.time_ratio

    def timed_exchange(self, request):
        pid = self._pid
        before = cpu_seconds(pid)
        try:
            return exchange(self, request)
        finally:
            self.last_call_s = Timed(self.last_call_s, max(0.0, cpu_seconds(pid) - before))

    def recorded(student_s, reference_s, **kwargs):
        TIMED.append((float(student_s), float(reference_s), getattr(student_s, "cpu", math.nan),
                      getattr(reference_s, "cpu", math.nan)))
        return time_ratio(student_s, reference_s, **kwargs)

    client.Worker._exchange = timed_exchange
    checks.time_ratio = recorded


def busy_loops(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(count)]


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
        proc.wait()


def ratio(student_s: float, reference_s: float, floor_s: float) -> float:
    return student_s / max(reference_s, floor_s) if max(reference_s, floor_s) > 0 else float("inf")


# --model-only: the image topics' models trained on ready tensors (no PIL transforms, no worker), as the topic's
# budget trains them: (topic, model builder, input shape, n_train, epochs, batch size, optimizer).
MODEL_ONLY = [
    ("deep_neural_network", "Classifier", (1, 28, 28), 1000, 3, 50, "adam"),
    ("cnn", "LeNet", (1, 28, 28), 600, 2, 50, "adam"),
    ("cnn", "CifarNet", (3, 32, 32), 1000, 3, 25, "adam"),
    ("transfer_learning", "build_alexnet", (3, 64, 64), 16, 1, 8, "sgd"),
    ("transfer_learning", "build_vgg16", (3, 32, 32), 8, 1, 8, "sgd"),
]


def model_only(config, reps: int, out: Path) -> None:
    """Seconds of train_one_epoch alone, the solution's against the per-sample loop's, in this process (1 thread):
    what a training_time check would see if it timed the model's work without the data pipeline."""
    import importlib.util

    import torch
    from torch.utils.data import DataLoader, TensorDataset

    torch.set_num_threads(config.threads)

    def load(path: Path, name: str):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    print(f"\n## model only: train_one_epoch on ready tensors, {config.threads} thread(s), seconds per rep (wall/CPU)")
    print(f"{'topic':20} {'model':14} {'reference':>30} {'per-sample':>30} {'ratio wall':>10} {'ratio cpu':>9}")
    for topic, build, shape, n, epochs, batch, opt in MODEL_ONLY:
        spec = config.topics[topic]
        sides = {"reference": config.root / "solutions" / spec.folder / spec.module,
                 "per-sample": per_sample_submission(config, topic, out) / spec.folder / spec.module}
        seconds: dict[str, list[tuple[float, float]]] = {}
        for side, path in sides.items():
            module = load(path, f"{side.replace('-', '_')}_{topic}")
            for _ in range(reps):
                torch.manual_seed(0)
                net = getattr(module, build)(*([2] if build.startswith("build_") else []))  # 2 classes
                params = [q for q in net.parameters() if q.requires_grad]
                optim = torch.optim.Adam(params, lr=1e-3) if opt == "adam" else torch.optim.SGD(params, lr=1e-3,
                                                                                                  momentum=0.9)
                data = TensorDataset(torch.randn(n, *shape), torch.randint(0, 2, (n,)))
                loader = DataLoader(data, batch_size=batch, shuffle=True, generator=torch.Generator().manual_seed(0))
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(epochs):
                    module.train_one_epoch(net, loader, torch.nn.CrossEntropyLoss(), optim, torch.device("cpu"))
                seconds.setdefault(side, []).append((time.perf_counter() - wall, time.process_time() - cpu))
        ref, loop = seconds["reference"], seconds["per-sample"]
        shown = [" ".join(f"{w:.2f}/{c:.2f}" for w, c in side) for side in (ref, loop)]
        ratios = [min(x[k] for x in loop) / min(x[k] for x in ref) for k in (0, 1)]
        print(f"{topic:20} {build:14} {shown[0]:>30} {shown[1]:>30} {ratios[0]:10.2f} {ratios[1]:9.2f}")


CLOCKS = {"wall": ("student_s", "reference_s"), "cpu": ("student_cpu_s", "reference_cpu_s")}


def report(rows: list[dict]) -> None:
    """Per topic, case and condition: the ratios by wall clock (as the check computes them) and by CPU time; then
    the honest maximum against the per-sample minimum for other floors; then a reference timed elsewhere."""
    graded = min(r["threads"] for r in rows)  # grading's thread count (1 in the course)
    ok = [{**r, "case": r["case"] + (f" threads={r['threads']}" if r["threads"] != graded else "")}
          for r in rows if r["student_s"] is not None]
    order = list(dict.fromkeys(r["topic"] for r in rows))
    keys = sorted({(r["topic"], r["case"], r["condition"]) for r in ok},
                  key=lambda k: (order.index(k[0]), k[1] == "per-sample", k[1], k[2]))
    for clock, (stu, ref) in CLOCKS.items():
        how = "as the check computes it" if clock == "wall" else "if the check counted CPU time"
        print(f"\n## training_time ratio by {clock} clock, floor 0.05 s ({how})")
        print(f"{'topic':20} {'case':34} {'cond':6} {'ratios':30} {'student s':>14} {'reference s':>14}")
        for topic, case, cond in keys:
            sel = [r for r in ok if (r["topic"], r["case"], r["condition"]) == (topic, case, cond)]
            ratios = " ".join(f"{ratio(r[stu], r[ref], 0.05):.2f}" for r in sel)
            print(f"{topic:20} {case:34} {cond:6} {ratios:30} {_span([r[stu] for r in sel]):>14} "
                  f"{_span([r[ref] for r in sel]):>14}")
    print(f"\n## honest max vs per-sample min at {graded} thread(s), each against the reference timed in its own "
          "condition")
    print(f"{'topic':20} {'clock':5} {'floor s':>7} {'honest max idle':>16} {'honest max':>11} {'per-sample min':>15} "
          f"{'min/max':>8}")
    for topic in order:
        mine = [r for r in ok if r["topic"] == topic and r["threads"] == graded]
        # Other floors only change anything where the reference took less than the largest.
        floors = FLOORS if mine and min(r[k] for r in mine for k in ("reference_s", "reference_cpu_s")) < FLOORS[0] \
            else FLOORS[:1]
        for clock, (stu, ref) in CLOCKS.items():
            for floor in floors:
                honest = [ratio(r[stu], r[ref], floor) for r in mine if r["case"] != "per-sample"]
                idle = [ratio(r[stu], r[ref], floor) for r in mine if r["case"] != "per-sample"
                        and r["condition"] == "idle"] or [math.nan]
                loops = [ratio(r[stu], r[ref], floor) for r in mine if r["case"] == "per-sample"]
                if honest and loops:
                    print(f"{topic:20} {clock:5} {floor:7g} {max(idle):16.2f} {max(honest):11.2f} {min(loops):15.2f} "
                          f"{min(loops) / max(honest):8.2f}")
    conditions = sorted({r["condition"] for r in ok})
    if len(conditions) < 2:
        return
    print(f"\n## student timed in one condition, reference (median, {graded} thread(s)) in the other (a cached "
          "reference), floor 0.05 s")
    print(f"{'topic':20} {'case':34} {'student':8} {'ref':6} {'wall ratios':24} {'cpu ratios':24}")
    for topic, case, cond in keys:
        for other in conditions:
            at = [r for r in ok if r["topic"] == topic and r["threads"] == graded]
            sel = [r for r in at if (r["case"], r["condition"]) == (case, cond)]
            refs = [r for r in at if r["condition"] == other]
            if other == cond or not (sel and refs):
                continue
            out = []
            for stu, ref in CLOCKS.values():
                median = statistics.median(r[ref] for r in refs)
                out.append(" ".join(f"{ratio(r[stu], median, 0.05):.2f}" for r in sel))
            print(f"{topic:20} {case:34} {cond:8} {other:6} {out[0]:24} {out[1]:24}")


def _span(values: list[float]) -> str:
    return f"{min(values):.3g}-{max(values):.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "grading.yaml"))
    parser.add_argument("--topic", action="append", dest="topics", help="repeat; default every topic")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, action="append", help="repeat; default: the config's and 2")
    parser.add_argument("--load", action="append", choices=["idle", "loaded"], help="repeat; default both")
    parser.add_argument("--busy", type=int, default=2, help="busy loops while loaded (default 2, one per core here)")
    parser.add_argument("--json", help="write every row here (JSON lines)")
    parser.add_argument("--from-json", help="print the tables of a saved run and stop")
    parser.add_argument("--model-only", action="store_true",
                        help="only time the image topics' train_one_epoch on ready tensors, in this process")
    args = parser.parse_args()
    if args.model_only:
        with tempfile.TemporaryDirectory(prefix="training-time-") as tmp:
            model_only(load_config(args.config), args.reps, Path(tmp))
        return
    if args.from_json:
        report([json.loads(line) for line in Path(args.from_json).read_text().splitlines() if line.strip()])
        return
    config = load_config(args.config)
    record_cpu_time()
    topics = args.topics or list(config.topics)
    threads = args.threads or sorted({config.threads, 2})
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="training-time-") as tmp:
        for condition in args.load or ["idle", "loaded"]:
            procs = busy_loops(args.busy) if condition == "loaded" else []
            try:
                print(f"# {condition}: load average {os.getloadavg()[0]:.2f}, busy loops {[p.pid for p in procs]}",
                      flush=True)
                rows += measure(config, topics, args.reps, threads, condition, Path(tmp))
            finally:
                stop(procs)
            if args.json:
                Path(args.json).write_text("".join(json.dumps(r) + "\n" for r in rows))
    report(rows)


if __name__ == "__main__":
    main()
