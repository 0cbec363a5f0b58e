"""Finding one entry per student: plain folders and files, nbgrader, Gradescope exports, duplicates, hashes."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from graders.batch.sources import content_hash, find_entries, safe_name
from graders.config import load_config
from graders.errors import BatchError

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "grading.yaml")
MODULE = "01_linear_regression/linear_regression.py"


def write(path: Path, text: str = "X = 1\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def rows(entries) -> dict[str, tuple]:
    return {e.name: (e.label, e.topic, e.status, e.reason) for e in entries}


def test_plain_folder_one_entry_per_student(tmp_path):
    write(tmp_path / "carol" / MODULE)
    with zipfile.ZipFile(tmp_path / "dave.zip", "w") as zf:
        zf.writestr(MODULE, "X = 1\n")
    write(tmp_path / "erin_linear_regression.py")
    write(tmp_path / "linear_regression-frank.ipynb", "{}")
    write(tmp_path / "notes.txt")
    write(tmp_path / "gina_homework.py")
    write(tmp_path / ".DS_Store")
    write(tmp_path / "__MACOSX" / "junk")
    found = rows(find_entries(tmp_path, config=CONFIG))
    assert found["carol"] == ("carol", None, "", "")
    assert found["dave"] == ("dave.zip", None, "", "")
    assert found["erin"] == ("erin_linear_regression.py", "linear_regression", "", "")
    assert found["frank"][1] == "linear_regression"
    assert found["notes.txt"][2:] == ("failed to load", "notes.txt: not a folder, .zip, .py or .ipynb")
    assert found["gina_homework"][2] == "failed to load" and "cannot tell its topic" in found["gina_homework"][3]
    assert set(found) == {"carol", "dave", "erin", "frank", "notes.txt", "gina_homework"}


def test_duplicates_are_reported_not_graded(tmp_path):
    write(tmp_path / "alice" / MODULE)
    with zipfile.ZipFile(tmp_path / "Alice.zip", "w") as zf:
        zf.writestr(MODULE, "X = 1\n")
    write(tmp_path / "bob" / MODULE)
    found = rows(find_entries(tmp_path, config=CONFIG))
    assert set(found) == {"alice", "Alice.zip", "bob"}
    for name in ("alice", "Alice.zip"):
        assert found[name][2] == "error"
        assert "duplicate entries for one student (Alice.zip, alice)" in found[name][3]
    assert found["bob"][2] == ""


def test_the_reports_folder_and_reserved_names_are_not_students(tmp_path):
    write(tmp_path / "reports" / "x" / "result.json", "{}")
    write(tmp_path / "gradebook.csv" / MODULE)
    found = rows(find_entries(tmp_path, config=CONFIG, skip=tmp_path / "reports"))
    assert set(found) == {"gradebook.csv_"}


def test_nbgrader_layout_grades_the_assignment_folder(tmp_path):
    write(tmp_path / "submitted" / "alice" / "ps1" / MODULE)
    write(tmp_path / "submitted" / "bob" / MODULE)  # assignment folder named like the topic
    write(tmp_path / "source" / "ps1" / MODULE)
    entries = {e.name: e for e in find_entries(tmp_path, config=CONFIG)}
    assert set(entries) == {"alice", "bob"}
    assert entries["alice"].path == tmp_path / "submitted" / "alice" / "ps1"
    assert entries["bob"].path == tmp_path / "submitted" / "bob"


def test_gradescope_export_names_rows_after_submitters(tmp_path):
    (tmp_path / "submission_metadata.yml").write_text(
        "submission_111:\n"
        "  :submitters:\n"
        "  - :name: Alice Liddell\n"
        "    :email: alice@uni.edu\n"
        "    :sid: '42'\n"
        "  :score: 0.0\n"
        "submission_222:\n"
        "  :submitters:\n"
        "  - :name: '=Bob'\n"
        "  - :name: Carol\n"
        "    :email: carol@uni.edu\n"
        "submission_333:\n"
        "  :submitters:\n"
        "  - :name: Dan\n", encoding="utf-8")
    write(tmp_path / "submission_111" / "linear_regression.py")
    write(tmp_path / "submission_222" / "work" / MODULE)
    entries = {e.name: e for e in find_entries(tmp_path, config=CONFIG)}
    assert set(entries) == {"alice@uni.edu", "Bob+carol@uni.edu", "Dan"}
    assert entries["alice@uni.edu"].students == [{"name": "Alice Liddell", "email": "alice@uni.edu", "sid": "42"}]
    assert entries["Bob+carol@uni.edu"].path == tmp_path / "submission_222" / "work"
    assert entries["Dan"].status == "not submitted"


def test_unreadable_gradescope_metadata_is_a_batch_error(tmp_path):
    (tmp_path / "submission_metadata.yml").write_text("[unclosed", encoding="utf-8")
    with pytest.raises(BatchError, match="cannot read the Gradescope metadata"):
        find_entries(tmp_path, config=CONFIG)


def test_content_hash_follows_content_not_bytecode(tmp_path):
    module = write(tmp_path / "s" / MODULE)
    first = content_hash(tmp_path / "s")
    write(tmp_path / "s" / "01_linear_regression" / "__pycache__" / "x.pyc", "junk")
    assert content_hash(tmp_path / "s") == first
    module.write_text("X = 2\n", encoding="utf-8")
    assert content_hash(tmp_path / "s") != first


@pytest.mark.parametrize("raw, safe", [("Alice Liddell", "Alice_Liddell"), ("../etc", "etc"), ("=1+2", "1+2"),
                                       ("-rf", "rf"), ("", "unnamed"), ("a/b\\c", "a_b_c")])
def test_safe_name(raw, safe):
    assert safe_name(raw) == safe


def test_a_mapping_names_its_entries(tmp_path):
    write(tmp_path / "a" / MODULE)
    found = rows(find_entries({"reference": tmp_path / "a", "gone": tmp_path / "nope"}, config=CONFIG))
    assert found["reference"] == ("a", None, "", "")
    assert found["gone"][2] == "failed to load" and "no such file or folder" in found["gone"][3]
