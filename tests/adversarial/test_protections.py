"""The protections the threat model relies on are in force on this machine, as `grade doctor` reports them.

Every other test here would pass vacuously on a machine that grades without them; this one says so instead.
"""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from graders.cli import main
from graders.config import load_config
from graders.doctor import REQUIRED_PROTECTIONS, doctor, problems
from tests.adversarial.conftest import ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the full sandbox needs root, as in CI")


def test_doctor_finds_every_protection_the_threat_model_needs():
    findings = doctor(config=load_config(ROOT / "grading.yaml"))
    active = {f.name for f in findings if f.area == "protection" and f.ok}
    expected = REQUIRED_PROTECTIONS | {"user", "scratch", "processes", "seccomp"}
    assert expected <= active, [f for f in findings if not f.ok]
    assert not problems(findings)


def test_grade_doctor_prints_a_table_and_exits_zero():
    result = CliRunner().invoke(main, ["doctor", "--config", str(ROOT / "grading.yaml")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "audit_hook" in result.output and "seccomp" in result.output and "reference" in result.output
