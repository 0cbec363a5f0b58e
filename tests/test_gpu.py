"""Grading on a GPU (device: cuda): the same verdicts as on the CPU; the GPU benchmark; pinning one GPU.
The GPU tests are marked `gpu` and skipped where torch sees no CUDA device."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from graders.config import load_config
from graders.grading.session import grade_submission

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "gpu_course.py"
TOPIC = "linear_regression"
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def verdicts(path: Path, device: str, cache: Path, *, hidden: bool = True) -> tuple[str, dict[str, bool]]:
    config = dataclasses.replace(load_config(ROOT / "grading.yaml"), device=device, cache_dir=str(cache))
    result = grade_submission(path, config=config, topics=[TOPIC], hidden=hidden, name=device)
    return result.environment.device, {c.name: c.passed for c in result.checks()}


def test_bench_without_a_gpu_says_so_and_exits_0():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # hides every GPU, where there are some
    done = subprocess.run([sys.executable, str(BENCH)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "no CUDA device" in done.stdout


@pytest.mark.gpu
@needs_cuda
def test_reference_passes_on_cuda_as_on_cpu(tmp_path):
    device, on_cuda = verdicts(ROOT / "solutions", "cuda", tmp_path)
    assert device == "cuda"
    assert on_cuda == verdicts(ROOT / "solutions", "cpu", tmp_path)[1]
    assert all(on_cuda.values()), on_cuda


@pytest.mark.gpu
@needs_cuda
def test_a_buggy_submission_fails_the_same_checks_on_cuda(tmp_path):
    examples = sorted(p for p in (ROOT / "examples").iterdir() if (p / "01_linear_regression").is_dir())
    buggy = examples[0] if examples else ROOT / "assignments"
    assert verdicts(buggy, "cuda", tmp_path) == ("cuda", verdicts(buggy, "cpu", tmp_path)[1])


@pytest.mark.gpu
@needs_cuda
def test_bench_on_one_pinned_gpu():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0"}
    done = subprocess.run([sys.executable, str(BENCH), "--topic", TOPIC], env=env, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr
    assert "1 device(s) visible (CUDA_VISIBLE_DEVICES=0)" in done.stdout
    row = next(line for line in done.stdout.splitlines() if line.startswith(TOPIC))
    assert row.split()[1] == "cuda" and row.rstrip().endswith("-")  # no failed checks
