"""`grade calibrate` on a copy of the course: thresholds rewritten in place from measured ratios."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from graders.calibrate import Calibration, calibrate, rewrite_thresholds
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
    results = calibrate(config=course / "grading.yaml", seeds=2, threads=(2,), margin=0.05)
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
        calibrate(config=path, seeds=1, threads=(2,))
