"""Grade the course's reference solutions on the GPU (device: cuda) and print each topic's time.

Run: python bench/gpu_course.py [--topic NAME ...] [--compare-cpu]. Pin one GPU with CUDA_VISIBLE_DEVICES=0
(the worker inherits it). Without a CUDA device it says so and exits 0. Each topic grades the solutions
with the hidden tests, the reference computed afresh (no cache), so the times are a full grading's;
the course's budgets keep the whole run under three minutes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graders.config import Config, load_config  # noqa: E402
from graders.grading.session import GradingOptions, grade_submission  # noqa: E402


def grade_topic(config: Config, topic: str, device: str) -> tuple[float, str, list[str]]:
    """(seconds, "points / max", failed checks) of the reference solution graded on `device`."""
    on_device = config.with_overrides(device=device)
    started = time.perf_counter()
    result = grade_submission(config.root / "solutions", config=on_device, topics=[topic], hidden=True,
                              name=f"reference-{device}", options=GradingOptions(use_cache=False))
    seconds = time.perf_counter() - started
    if result.environment.device != device:
        raise SystemExit(f"the worker ran on {result.environment.device}, not {device}")
    failed = [c.name for c in result.checks() if not c.passed]
    return seconds, f"{result.points:g} / {result.max_points:g}", failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "grading.yaml")
    parser.add_argument("--topic", action="append", dest="topics", help="only this topic (repeatable)")
    parser.add_argument("--compare-cpu", action="store_true", help="also grade each topic on the CPU")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device visible (torch.cuda.is_available() is False): nothing to measure")
        return 0
    config = load_config(args.config)
    with tempfile.TemporaryDirectory(prefix="gpu-bench-") as tmp:
        config = dataclasses.replace(config, cache_dir=tmp, reports_dir=tmp)  # leave the course's cache alone
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "(all)")
        print(f"torch {torch.__version__}, {torch.cuda.device_count()} device(s) visible "
              f"(CUDA_VISIBLE_DEVICES={visible}), using {torch.cuda.get_device_name(0)}")
        print(f"{'topic':<24} {'device':<6} {'seconds':>8} {'points':>10}  failed")
        total = time.perf_counter()
        for topic in args.topics or list(config.topics):
            for device in ("cuda", "cpu") if args.compare_cpu else ("cuda",):
                seconds, points, failed = grade_topic(config, topic, device)
                print(f"{topic:<24} {device:<6} {seconds:8.1f} {points:>10}  {', '.join(failed) or '-'}", flush=True)
        print(f"total {time.perf_counter() - total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
