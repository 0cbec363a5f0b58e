"""The `grade` command line, run as a user would: exit codes, one-line errors, help with examples."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from graders.cli import main

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "grading.yaml")


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.mark.parametrize("verb", main.list_commands(None))  # type: ignore[arg-type]
def test_every_verb_has_help_with_an_example(verb):
    result = run(verb, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output, f"grade {verb} --help shows no example"


def test_the_verb_list_imports_no_verb_and_shows_what_each_verb_says_of_itself():
    # issue #14: `grade --help` listed the verbs by importing every one, torch with them (5 s here).
    code = ("import sys\nfrom graders.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO TORCH')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().endswith("NO TORCH"), done.stdout + done.stderr
    # The list read from the sources is the one click makes by importing every verb.
    ctx = click.Context(main)
    lazy, eager = click.HelpFormatter(width=80), click.HelpFormatter(width=80)
    main.format_commands(ctx, lazy)
    click.Group.format_commands(main, ctx, eager)
    assert lazy.getvalue() == eager.getvalue() and re.search(r"^  submission +Grade", lazy.getvalue(), re.M)


@pytest.mark.parametrize("verb", main.list_commands(None))  # type: ignore[arg-type]
def test_a_verbs_help_imports_neither_torch_nor_nbformat(verb):
    # issue #14: help must come at once; torch (4 s here) and nbformat (1 s) load when a verb runs.
    code = (f"import sys\nfrom graders.cli import main\ntry:\n    main(['{verb}', '--help'])\nexcept SystemExit:\n"
            "    pass\nprint(sorted({'torch', 'nbformat'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout + done.stderr


@pytest.mark.parametrize("args", [["check", "nosuch"], ["check", "linear_regression", "--config", "nope.yaml"],
                                  ["submission", "solutions", "--config", "nope.yaml"],
                                  ["batch", "examples", "--config", "nope.yaml"]])
def test_a_configuration_error_is_told_before_torch_loads(args):
    code = (f"import sys\nfrom graders.cli import main\ntry:\n    main({args!r})\nexcept SystemExit as exc:\n"
            "    print('exit', exc.code, sorted({'torch'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.stdout.strip().splitlines()[-1] == "exit 3 []", done.stdout + done.stderr
    assert done.stderr.startswith("grade: error: "), done.stderr


def test_check_on_the_stubs_fails_with_not_implemented():
    result = run("check", "linear_regression", "--config", CONFIG)
    assert result.exit_code == 1
    assert "not implemented" in result.output


def test_submission_writes_reports_and_exits_zero_when_all_pass(tmp_path):
    result = run("submission", str(ROOT / "solutions"), "--hidden", "--out", str(tmp_path), "--config", CONFIG)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "result.json").read_text())
    assert data["points"] == data["max_points"] > 0
    assert {"results.json", "junit.xml", "feedback.md", "feedback.html"} <= {p.name for p in tmp_path.iterdir()}


def test_unreadable_submission_exits_4_and_still_writes_a_result(tmp_path):
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"nope")
    result = run("submission", str(broken), "--out", str(tmp_path / "out"), "--config", CONFIG)
    assert result.exit_code == 4
    assert json.loads((tmp_path / "out" / "result.json").read_text())["status"] == "failed to load"


def test_config_mistake_is_one_line_with_file_and_line(tmp_path):
    bad = tmp_path / "grading.yaml"
    bad.write_text((ROOT / "grading.yaml").read_text().replace("seed: 0", "seed: zero"))
    result = subprocess.run([sys.executable, "-m", "graders.cli", "check", "linear_regression", "--config", str(bad)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"grade: error: {bad}:3: seed: expected an integer")
    assert "Traceback" not in result.stderr


def test_unknown_topic_is_a_clear_error():
    result = CliRunner().invoke(main, ["check", "quantum", "--config", CONFIG])
    assert result.exit_code == 3
    assert "no topic 'quantum'" in result.output
