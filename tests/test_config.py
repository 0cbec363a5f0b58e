"""grading.yaml loading: the real course file, and each kind of mistake named with file and line."""

from pathlib import Path

import pytest

from graders.config import Config, load_config
from graders.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

MINIMAL = """\
course: Test
topics:
  linear_regression:
    folder: 01_linear_regression
    module: linear_regression.py
    checks:
      model_structure: {points: 1}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grading.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_course_config_loads():
    config = load_config(ROOT / "grading.yaml")
    assert isinstance(config, Config)
    assert config.root == ROOT
    topic = config.topic("linear_regression")
    assert topic.checks["fit_quality"].threshold == pytest.approx(1.1)
    assert config.limits.memory_mb > 0


def test_defaults_fill_missing_keys(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert config.seed == 0 and config.device == "cpu"
    assert config.topics["linear_regression"].checks["model_structure"].visibility == "visible"


def test_a_check_may_carry_no_points(tmp_path):
    # Feedback-only checks (issue #6): what the grader cannot verify outside the worker is reported, not scored.
    config = load_config(write(tmp_path, MINIMAL.replace("{points: 1}", "{points: 0}")))
    assert config.topics["linear_regression"].checks["model_structure"].points == 0
    # The course's own predict_no_grad carries its point again (issue #12): forging it costs more than complying.
    course = load_config(ROOT / "grading.yaml").topics
    assert {course[t].checks["predict_no_grad"].points for t in ("linear_regression", "logistic_regression",
                                                                  "perceptron")} == {1}


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (MINIMAL + "colour: red\n", 8, ["colour", "unknown key", "allowed", "topics"]),
        (MINIMAL.replace("course: Test", "seed: many"), 1, ["seed", "expected an integer", "'many'"]),
        (MINIMAL + "device: tpu\n", 8, ["device", "'tpu' is not allowed", "auto, cpu, cuda"]),
        (MINIMAL.replace("{points: 1}", "{points: 1, visibility: secret}"), 7, ["visibility", "after_due_date"]),
        (MINIMAL.replace("{points: 1}", "{}"), 7, ["points", "required key is missing"]),
        (MINIMAL.replace("{points: 1}", "{points: -2}"), 7, ["points", "must be at least 0, got -2"]),
        (MINIMAL + "limits: {call_s: 0}\n", 8, ["limits.call_s", "must be at least 1, got 0"]),
        (MINIMAL + "threads: 0\n", 8, ["threads", "must be at least 1"]),
        (MINIMAL.replace("    module: linear_regression.py\n", ""), 4, ["module", "required"]),
        ("course: [unclosed\n", 2, ["invalid YAML"]),
        (MINIMAL + "seed: 2026-13-45\n", 8, ["seed", "cannot read '2026-13-45'", "month"]),
        (MINIMAL + "seed: !!python/object:os.system ls\n", 8, ["seed", "cannot read 'ls'", "constructor"]),
    ],
)
def test_mistakes_name_file_line_and_allowed_values(tmp_path, text, line, words):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'grading.yaml'}:{line}:"), message
    for word in words:
        assert word in message
    assert "\n" not in message


def test_no_topics_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no topics"):
        load_config(write(tmp_path, "course: Empty\n"))


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match="not found; run from the course folder"):
        load_config(tmp_path / "nope.yaml")


def test_unknown_topic_lists_topics():
    config = load_config(ROOT / "grading.yaml")
    with pytest.raises(ConfigError, match="topics are: linear_regression"):
        config.topic("quantum")


def test_select_keeps_grading_yaml_order_and_refuses_unknown_topics():
    config = load_config(ROOT / "grading.yaml")
    assert config.select() == config.select([]) == list(config.topics)
    assert config.select(["cnn", "linear_regression", "cnn"]) == ["linear_regression", "cnn"]
    with pytest.raises(ConfigError, match="no topic 'quantum'; topics are: linear_regression"):
        config.select(["linear_regression", "quantum"])


def test_overrides_replace_only_what_is_given():
    config = load_config(ROOT / "grading.yaml")
    assert config.with_overrides() is config and config.with_overrides(device="") is config
    changed = config.with_overrides(device="cuda", reports_dir=Path("/tmp/out"))
    assert (changed.device, changed.reports_dir, changed.topics) == ("cuda", "/tmp/out", config.topics)
    assert changed.digest() != config.digest() == config.with_overrides(reports_dir="elsewhere").digest()
    with pytest.raises(ConfigError, match="device 'tpu'"):
        config.with_overrides(device="tpu")


def test_digest_ignores_presentation_but_not_budgets(tmp_path):
    a = load_config(write(tmp_path, MINIMAL))
    b = load_config(write(tmp_path, MINIMAL.replace("course: Test", "course: Other")))
    c = load_config(write(tmp_path, MINIMAL + "seed: 3\n"))
    assert a.digest() == b.digest() != c.digest()


def test_a_misspelt_folder_is_an_error_naming_its_line(tmp_path):
    # Issue #13: a topic whose folder does not exist graded every submission "not submitted" and exited 0.
    (tmp_path / "assignments" / "01_linear_regression").mkdir(parents=True)
    text = MINIMAL.replace("folder: 01_linear_regression", "folder: 01_linear_regresion")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert str(info.value) == (f"{tmp_path / 'grading.yaml'}:4: topics.linear_regression.folder: "
                               "no folder assignments/01_linear_regresion")


@pytest.mark.parametrize("trees", [(), ("solutions",), ("assignments",), ("assignments", "solutions")])
def test_the_folder_need_only_be_in_one_tree_the_course_holds(tmp_path, trees):
    # A new topic is in solutions/ until `grade generate` writes its assignments/; a release has no solutions/;
    # a grading.yaml on its own (no trees at all) names nothing to check.
    for tree in trees:
        (tmp_path / tree).mkdir()
    if trees:
        (tmp_path / trees[-1] / "01_linear_regression").mkdir()
    (tmp_path / "hidden_tests").mkdir()  # hidden_tests/ may leave a topic out
    assert list(load_config(write(tmp_path, MINIMAL)).topics) == ["linear_regression"]


def test_a_misspelt_folder_stops_grading_before_it_starts(tmp_path):
    from click.testing import CliRunner

    from graders.cli import main

    text = (ROOT / "grading.yaml").read_text(encoding="utf-8").replace("folder: 05_cnn\n", "folder: 05_cnnn\n")
    line = text.splitlines().index("    folder: 05_cnnn") + 1
    for folder in ("assignments", "solutions"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    bad = write(tmp_path, text)
    result = CliRunner().invoke(main, ["submission", str(ROOT / "solutions"), "--config", str(bad)])
    assert result.exit_code == 3
    assert result.output.strip().splitlines() == [
        f"grade: error: {bad}:{line}: topics.cnn.folder: no folder assignments/05_cnnn or solutions/05_cnnn"]
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_config_docs_prints_or_writes_the_reference(tmp_path):
    # grading.yaml's first line sends readers to `grade config-docs` (issue #13: the verb did not exist).
    from click.testing import CliRunner

    from graders.cli import main
    from graders.config import reference_markdown

    assert "`grade config-docs`" in (ROOT / "grading.yaml").read_text(encoding="utf-8").splitlines()[0]
    printed = CliRunner().invoke(main, ["config-docs"])
    assert printed.exit_code == 0 and printed.output == reference_markdown()
    written = CliRunner().invoke(main, ["config-docs", "--output", str(tmp_path / "config.md")])
    assert written.exit_code == 0 and written.output == ""
    assert (tmp_path / "config.md").read_text(encoding="utf-8") == (ROOT / "docs" / "config.md").read_text("utf-8")
