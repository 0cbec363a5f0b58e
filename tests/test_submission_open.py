"""Opening submissions: folders, zips, single files and notebooks, and what is left out of the copy."""

import zipfile
from pathlib import Path

import nbformat
import pytest

from graders.config import load_config
from graders.errors import SubmissionError
from graders.submission.open import open_submission

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "grading.yaml")
MODULE = "01_linear_regression/linear_regression.py"


def make_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "student"
    (folder / "01_linear_regression").mkdir(parents=True)
    (folder / MODULE).write_text("X = 1\n", encoding="utf-8")
    for extra in ("helpers.py", "test_public.py", "conftest.py", "torch.py", "sitecustomize.py"):
        (folder / "01_linear_regression" / extra).write_text("Y = 2\n", encoding="utf-8")
    return folder


def test_folder_copies_module_and_helpers_but_no_tests_or_hijackers(tmp_path):
    sub = open_submission(make_folder(tmp_path), config=CONFIG, workdir=tmp_path / "w")
    copied = sorted(p.name for p in (sub.root / "01_linear_regression").iterdir())
    assert copied == ["helpers.py", "linear_regression.py"]
    notes = " ".join(sub.notes["linear_regression"])
    for name in ("test_public.py", "conftest.py", "torch.py", "sitecustomize.py"):
        assert name in notes
    assert sub.module("linear_regression") == sub.root / MODULE


def test_zip_with_a_top_folder(tmp_path):
    folder = make_folder(tmp_path)
    archive = tmp_path / "alice.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(folder / MODULE, f"student/{MODULE}")
    sub = open_submission(archive, config=CONFIG, workdir=tmp_path / "w")
    assert sub.name == "alice"
    assert sub.module("linear_regression").read_text() == "X = 1\n"


@pytest.mark.parametrize("member", ["../evil.py", "/abs/evil.py", "a/../../evil.py"])
def test_zip_with_unsafe_paths_is_refused(tmp_path, member):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(member, "x = 1\n")
    with pytest.raises(SubmissionError, match="unsafe path"):
        open_submission(archive, config=CONFIG, workdir=tmp_path / "w")
    assert not (tmp_path / "evil.py").exists()


def test_broken_zip(tmp_path):
    archive = tmp_path / "broken.zip"
    archive.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(SubmissionError, match="broken.zip: not a valid zip file"):
        open_submission(archive, config=CONFIG, workdir=tmp_path / "w")


def test_single_file_needs_a_topic(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text("X = 1\n", encoding="utf-8")
    with pytest.raises(SubmissionError, match="--topic"):
        open_submission(path, config=CONFIG, workdir=tmp_path / "w")
    sub = open_submission(path, config=CONFIG, workdir=tmp_path / "w2", topic="linear_regression")
    assert sub.module("linear_regression").read_text() == "X = 1\n"


def test_notebook_in_a_topic_folder_is_reduced(tmp_path):
    folder = tmp_path / "nbsub" / "01_linear_regression"
    folder.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("def train():\n    pass\n\ntrain()")]
    nbformat.write(nb, str(folder / "work.ipynb"))
    sub = open_submission(folder.parent, config=CONFIG, workdir=tmp_path / "w")
    assert "def train" in sub.module("linear_regression").read_text()
    assert any("skipped top-level expr" in n for n in sub.notes["linear_regression"])


def test_missing_and_wrong_kinds(tmp_path):
    with pytest.raises(SubmissionError, match="no such file"):
        open_submission(tmp_path / "absent", config=CONFIG, workdir=tmp_path / "w")
    odd = tmp_path / "work.txt"
    odd.write_text("hi")
    with pytest.raises(SubmissionError, match="not a folder, .zip"):
        open_submission(odd, config=CONFIG, workdir=tmp_path / "w2")


def test_non_utf8_module(tmp_path):
    path = tmp_path / "latin.py"
    path.write_bytes("x = 'é'\n".encode("latin-1"))
    with pytest.raises(SubmissionError, match="latin.py: not UTF-8"):
        open_submission(path, config=CONFIG, workdir=tmp_path / "w", topic="linear_regression")


def test_empty_folder_submits_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    sub = open_submission(tmp_path / "empty", config=CONFIG, workdir=tmp_path / "w")
    assert sub.modules == {}
