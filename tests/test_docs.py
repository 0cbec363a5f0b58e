"""Generated docs stay in sync with the code they describe."""

from pathlib import Path

from graders.config import reference_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_config_reference_is_current(update_goldens):
    path = ROOT / "docs" / "config.md"
    if update_goldens:
        path.write_text(reference_markdown(), encoding="utf-8")
    assert path.read_text(encoding="utf-8") == reference_markdown(), "run pytest --update-goldens"


def test_readme_starts_with_the_two_commands():
    head = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## ")[0]
    assert "make demo" in head and "make test" in head
