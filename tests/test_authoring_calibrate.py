"""`grade calibrate` on a copy of the course: thresholds rewritten in place from measured ratios."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from graders.authoring.calibrate import TIME_MARGIN, Calibration, calibrate, rewrite_thresholds
from graders.config import load_config
from graders.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def course(tmp_path):
    for name in ("assignments", "solutions", "hidden_tests"):
        shutil.copytree(ROOT / name / "01_linear_regression", tmp_path / name / "01_linear_regression")
    for shared in (ROOT / "hidden_tests").glob("*.py"):  # modules the hidden tests of topics 1-3 share
        shutil.copy(shared, tmp_path / "hidden_tests")
    text = (ROOT / "grading.yaml").read_text().split("\n  logistic_regression:")[0] + "\n"
    (tmp_path / "grading.yaml").write_text(text)
    return tmp_path


def test_calibration_rewrites_only_marked_thresholds(course):
    before = (course / "grading.yaml").read_text()
    results = calibrate(config=load_config(course / "grading.yaml"), seeds=2, threads=(2,), margin=0.05)
    assert {(c.topic, c.check) for c in results} == {("linear_regression", "fit_quality"),
                                                      ("linear_regression", "model_with_harness_loop")}
    for cal in results:
        assert len(cal.ratios) == 2 and all(r > 0 for r in cal.ratios)
        assert cal.new == round(max(cal.ratios) + 0.05, 3)  # lower_is_better: worst ratio plus the margin
    config = load_config(course / "grading.yaml")
    assert config.topics["linear_regression"].checks["fit_quality"].threshold == results[0].new
    after = (course / "grading.yaml").read_text()
    assert after.count("# calibrated") == 2
    assert len(after.splitlines()) == len(before.splitlines())
    assert "# torch threads per worker" in after  # other comments survive


def test_rewrite_keeps_the_rest_of_the_line(tmp_path):
    path = tmp_path / "grading.yaml"
    path.write_text("topics:\n  t:\n    checks:\n      c: {points: 1, threshold: 0.9}\n      d:\n"
                    "        threshold: 1.5  # old note\n")
    rewrite_thresholds(path, [Calibration("t", "c", "higher_is_better", 0.9, [0.97, 0.99], 0.02),
                              Calibration("t", "d", "lower_is_better", 1.5, [1.01, 1.1], 0.1)])
    lines = path.read_text().splitlines()
    assert lines[3].startswith("      c: {points: 1, threshold: 0.95}  # calibrated")
    assert lines[5].startswith("        threshold: 1.2  # calibrated") and "old note" not in lines[5]


def test_nothing_to_calibrate_is_an_error(course):
    path = course / "grading.yaml"
    path.write_text(path.read_text().replace("calibrate: lower_is_better", "calibrate: none"))
    with pytest.raises(ConfigError, match="no check has `calibrate:`"):
        calibrate(config=load_config(path), seeds=1, threads=(2,))


def _mark_training_time(path: Path) -> None:
    text, key = path.read_text(), "      training_time:\n"
    assert text.count(key) == 1
    path.write_text(text.replace(key, key + "        calibrate: lower_is_better\n"))


def test_timing_is_calibrated_with_a_factor_and_checked_against_per_sample_loops(course):
    # An honest variant (the solution itself, under another name) and the bundled per-sample loop, found by name.
    honest = course / "examples" / "copy_variant_styles" / "01_linear_regression"
    honest.mkdir(parents=True)
    shutil.copy(course / "solutions" / "01_linear_regression" / "linear_regression.py", honest)
    shutil.copytree(ROOT / "examples" / "linear_per_sample_loop", course / "examples" / "linear_per_sample_loop")
    _mark_training_time(course / "grading.yaml")
    results = calibrate(config=load_config(course / "grading.yaml"), seeds=1, threads=(1,), margin=0.05)
    timing = next(c for c in results if c.check == "training_time")
    assert timing.marked and timing.margin == TIME_MARGIN
    assert len(timing.ratios) == 2 and len(timing.slow) == 1  # the solution and the variant; the loop once
    assert timing.new == math.ceil(round(max(timing.ratios) * TIME_MARGIN * 10, 6)) / 10
    assert timing.separates, timing  # a per-sample loop costs 10x and more on any machine
    config = load_config(course / "grading.yaml")
    assert config.topics["linear_regression"].checks["training_time"].threshold == timing.new
    assert "per-sample loops" in (course / "grading.yaml").read_text()


def test_an_unmarked_timing_check_is_reported_not_rewritten(course):
    before = load_config(course / "grading.yaml").topics["linear_regression"].checks["training_time"].threshold
    results = calibrate(config=load_config(course / "grading.yaml"), seeds=1, threads=(1,), honest=[], slow=[])
    timing = next(c for c in results if c.check == "training_time")
    assert not timing.marked and len(timing.ratios) == 1 and timing.slow == [] and timing.separates is None
    assert load_config(course / "grading.yaml").topics["linear_regression"].checks["training_time"].threshold == before


def test_a_marked_timing_check_needs_the_configured_thread_count(course):
    _mark_training_time(course / "grading.yaml")
    with pytest.raises(ConfigError, match="--threads 1 was not run: linear_regression.training_time"):
        calibrate(config=load_config(course / "grading.yaml"), seeds=1, threads=(2,), honest=[], slow=[])


def test_timing_threshold_rounds_up_and_says_whether_loops_fail():
    cal = Calibration("t", "training_time", "lower_is_better", 20, [0.8, 1.21], margin=2.5, slow=[15.0, 22.0])
    assert cal.new == 3.1 and cal.separates  # 1.21 * 2.5 = 3.025, up to a tenth
    assert "1.21x" in cal.comment() and "15.00-22.00x fail" in cal.comment()
    close = Calibration("t", "training_time", "lower_is_better", 20, [1.3], margin=2.5, slow=[2.4])
    assert close.new == 3.3 and close.separates is False and "DO NOT fail" in close.comment()
