"""Malformed submissions: each is one clear line for that submission (or a topic not submitted), never a
traceback, and the grading of the next submission goes on as if nothing happened."""

from __future__ import annotations

import json
import os
import struct
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from graders.config import load_config
from graders.grading.reference import Reference
from graders.grading.session import GradingOptions, grade_submission

ROOT = Path(__file__).resolve().parents[1]
CONFIG = load_config(ROOT / "grading.yaml")
TOPIC, FOLDER, MODULE = "linear_regression", "01_linear_regression", "linear_regression.py"
SOLUTION = (ROOT / "solutions" / FOLDER / MODULE).read_text(encoding="utf-8")
PUBLIC = {"model_structure", "train_returns_losses", "loss_decreases", "predict_no_grad"}


@dataclass(frozen=True)
class Case:
    build: Callable[[Path], Path]  # writes the submission under a temporary folder, returns what to grade
    expect: str  # "failed": failed to load, the reason naming `names`; "missing": topic not submitted;
    # "graded": graded, the public checks pass; "any": either graded or failed, as long as it is said in one line
    names: tuple[str, ...] = ()  # any of these in the reason (or the notes, when graded)


def folder_with(tmp: Path, files: dict[str, bytes | str], name: str = "student") -> Path:
    root = tmp / name
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    root.mkdir(parents=True, exist_ok=True)
    return root


def in_topic(name: str, content: bytes | str) -> Callable[[Path], Path]:
    return lambda tmp: folder_with(tmp, {f"{FOLDER}/{name}": content})


def notebook(cells: list[str], **changes: object) -> str:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    data = json.loads(nbformat.writes(nb))
    data.update(changes)
    return json.dumps(data)


def zip_of(members: dict[str, bytes], *, name: str = "student.zip", method: int = zipfile.ZIP_DEFLATED,
           symlinks: tuple[str, ...] = ()) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        archive = tmp / name
        with zipfile.ZipFile(archive, "w", method) as zf:
            for member, data in members.items():
                info = zipfile.ZipInfo(member)
                info.compress_type = method
                if member in symlinks:
                    info.external_attr = 0o120777 << 16
                zf.writestr(info, data)
        return archive

    return build


def patched_zip(members: dict[str, bytes], patch: Callable[[bytearray], None]) -> Callable[[Path], Path]:
    """A zip whose header fields are rewritten after the fact (what zipfile itself would never write)."""
    def build(tmp: Path) -> Path:
        archive = zip_of(members)(tmp)
        data = bytearray(archive.read_bytes())
        patch(data)
        archive.write_bytes(bytes(data))
        return archive

    return build


def set_field(local: int, central: int, fmt: str, value: int) -> Callable[[bytearray], None]:
    """Rewrite one field in every local header (offset `local`) and central record (offset `central`)."""
    def patch(data: bytearray) -> None:
        for signature, offset in ((b"PK\x03\x04", local), (b"PK\x01\x02", central)):
            at = data.find(signature)
            while at >= 0:
                struct.pack_into(fmt, data, at + offset, value)
                at = data.find(signature, at + 4)

    return patch


def bomb(tmp: Path) -> Path:
    """201 MB of zeros in a 200 KB zip: past the 200 MB bound on what a zip may unpack to."""
    archive = tmp / "bomb.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf, zf.open(f"{FOLDER}/data.bin", "w") as f:
        zeros = bytes(1 << 20)
        for _ in range(201):
            f.write(zeros)
    return archive


def many_files(tmp: Path) -> Path:
    return zip_of({f"{FOLDER}/f{i}.py": b"" for i in range(2001)}, name="many.zip")(tmp)


def huge_module(tmp: Path) -> Path:
    root = folder_with(tmp, {f"{FOLDER}/{MODULE}": SOLUTION})
    with open(root / FOLDER / MODULE, "r+b") as f:
        f.truncate(21 << 20)  # sparse: 21 MB on paper, nothing on the disk
    return root


def linked(target: Path, *, link: str) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        root = folder_with(tmp, {})
        path = root / link
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
        return root

    return build


def fifo_notebook(tmp: Path) -> Path:
    root = folder_with(tmp, {})
    (root / FOLDER).mkdir()
    os.mkfifo(root / FOLDER / "work.ipynb")
    return root


def renamed(name: str) -> Callable[[Path], Path]:
    return lambda tmp: folder_with(tmp, {f"{FOLDER}/{MODULE}": SOLUTION}, name=name)


def odd_notebook(name: str) -> Callable[[Path], Path]:
    return in_topic(name, notebook([SOLUTION.replace('if __name__ == "__main__":', "if False:")]))


SOLUTION_ZIP = {f"{FOLDER}/{MODULE}": SOLUTION.encode()}

CASES = {
    # zips
    "broken_zip": Case(lambda tmp: (tmp / "broken.zip").write_bytes(b"PK\x03\x04 not really") and tmp / "broken.zip",
                       "failed", ("broken.zip",)),
    "empty_zip_file": Case(lambda tmp: (tmp / "empty.zip").write_bytes(b"") or tmp / "empty.zip", "failed",
                           ("empty.zip",)),
    "zip_without_members": Case(zip_of({}), "missing"),
    "zip_bomb_ratio": Case(bomb, "failed", ("bomb.zip",)),
    "zip_bomb_many_files": Case(many_files, "failed", ("many.zip",)),
    "zip_sizes_that_lie": Case(patched_zip({f"{FOLDER}/{MODULE}": bytes(5 << 20)}, set_field(22, 24, "<I", 1024)),
                               "failed", ("student.zip",)),
    "zip_symlink_member": Case(zip_of({f"{FOLDER}/{MODULE}": b"/etc/passwd"}, symlinks=(f"{FOLDER}/{MODULE}",)),
                               "missing"),
    "zip_encrypted_member": Case(patched_zip(SOLUTION_ZIP, set_field(6, 8, "<H", 0x1)), "failed",
                                 ("student.zip", MODULE)),
    "zip_unknown_method": Case(patched_zip(SOLUTION_ZIP, set_field(8, 10, "<H", 99)), "failed",
                               ("student.zip", MODULE)),
    "zip_name_too_long": Case(zip_of({f"{FOLDER}/{'a' * 300}.py": b"", **SOLUTION_ZIP}), "failed",
                              ("student.zip", "a" * 40)),
    "zip_file_where_folder": Case(zip_of({FOLDER: b"not a folder", **SOLUTION_ZIP}), "failed",
                                  ("student.zip", FOLDER)),
    # notebooks
    "notebook_empty": Case(in_topic("work.ipynb", b""), "failed", ("work.ipynb",)),
    "notebook_binary": Case(in_topic("work.ipynb", os.urandom(4096)), "failed", ("work.ipynb",)),
    "notebook_invalid_json": Case(in_topic("work.ipynb", '{"cells": [}'), "failed", ("work.ipynb",)),
    "notebook_json_list": Case(in_topic("work.ipynb", "[1, 2, 3]"), "failed", ("work.ipynb",)),
    "notebook_nbformat_99": Case(in_topic("work.ipynb", notebook(["x = 1"], nbformat=99)), "failed",
                                 ("work.ipynb",)),
    "notebook_latin1": Case(in_topic("work.ipynb", notebook(["s = 'é'"]).encode("latin-1")), "any",
                            ("work.ipynb",)),
    "notebook_utf16": Case(in_topic("work.ipynb", notebook(["x = 1"]).encode("utf-16")), "failed",
                           ("work.ipynb",)),
    "notebook_too_deep_to_parse": Case(in_topic("work.ipynb", notebook([SOLUTION, "x = " + "-" * 100_000 + "1"])),
                                       "graded", ("cannot be parsed",)),
    "notebook_fifo": Case(fifo_notebook, "failed", ("work.ipynb",)),
    # modules
    "module_latin1": Case(in_topic(MODULE, "s = 'é'\n".encode("latin-1")), "failed", (MODULE,)),
    "module_utf16": Case(in_topic(MODULE, SOLUTION.encode("utf-16")), "failed", (MODULE,)),
    "module_utf8_bom": Case(in_topic(MODULE, b"\xef\xbb\xbf" + SOLUTION.encode()), "graded"),
    "module_huge": Case(huge_module, "failed", (MODULE,)),
    "module_symlink_to_etc_passwd": Case(linked(Path("/etc/passwd"), link=f"{FOLDER}/{MODULE}"), "failed",
                                         (MODULE,)),
    "module_symlink_to_hidden_tests": Case(linked(ROOT / "hidden_tests" / FOLDER / "test_hidden.py",
                                                  link=f"{FOLDER}/{MODULE}"), "failed", (MODULE,)),
    "folder_symlink_to_hidden_tests": Case(linked(ROOT / "hidden_tests" / FOLDER, link=FOLDER), "failed",
                                           (FOLDER,)),
    "folder_symlink_to_solutions": Case(linked(ROOT / "solutions" / FOLDER, link=FOLDER), "failed", (FOLDER,)),
    "helper_symlink_to_etc_shadow": Case(lambda tmp: linked(Path("/etc/shadow"), link=f"{FOLDER}/helpers.py")(
        tmp) if (tmp / "student" / FOLDER / MODULE).parent.mkdir(parents=True, exist_ok=True) or
        (tmp / "student" / FOLDER / MODULE).write_text(SOLUTION) else None, "graded"),
    # folders and names
    "empty_folder": Case(lambda tmp: folder_with(tmp, {}), "missing"),
    "file_where_folder_expected": Case(lambda tmp: folder_with(tmp, {FOLDER: "not a folder"}), "missing"),
    "missing_path": Case(lambda tmp: tmp / "nowhere", "failed", ("nowhere",)),
    "unknown_suffix": Case(lambda tmp: (tmp / "work.txt").write_text(SOLUTION) and tmp / "work.txt", "failed",
                           ("work.txt",)),
    "name_with_spaces": Case(renamed("a student name"), "graded"),
    "name_with_unicode": Case(renamed("étudiant-ß-学生"), "graded"),
    "name_with_newline": Case(renamed("two\nlines"), "graded"),
    "name_with_leading_dash": Case(renamed("--help"), "graded"),
    "notebook_named_oddly": Case(odd_notebook("-my notebook é\n.ipynb"), "graded"),
}

# What the harness does not handle yet; each flips to a pass once fixed (strict).
KNOWN: dict[str, str] = {}  # cases a known weakness still breaks (none now)


@pytest.fixture(scope="module")
def reference():
    ref = Reference(CONFIG)
    yield ref
    ref.close()


def grade(path: Path, reference: Reference, *, timeout: float = 60):
    """grade_submission, with a timer that unblocks a read stuck on a FIFO, so the test fails instead of hanging.

    The grading itself stays on this thread: the worker's fork server dies with the thread that started it.
    """
    timer = threading.Timer(timeout, _unblock, [path])
    timer.daemon = True
    timer.start()
    start = time.monotonic()
    try:
        result = grade_submission(path, config=CONFIG, topics=[TOPIC], hidden=False,
                                  options=GradingOptions(reference=reference))
    except Exception as exc:  # noqa: BLE001 - the traceback a user would see
        raise AssertionError(f"grading raised {type(exc).__name__}: {exc}") from exc
    finally:
        timer.cancel()
    assert time.monotonic() - start < timeout, f"grading {path} blocked until the test unblocked it"
    return result


def _unblock(path: Path) -> None:
    """Open the writing end of any FIFO in the submission, so a reader stuck on it gets EOF."""
    for fifo in path.rglob("*") if path.is_dir() else []:
        if fifo.is_fifo():
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


@pytest.mark.parametrize("case", [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=KNOWN[name]))
                                  if name in KNOWN else name for name in CASES])
def test_malformed_submission_is_one_clear_line(case, reference, tmp_path):
    spec = CASES[case]
    path = spec.build(tmp_path)
    result = grade(path, reference)
    topic = result.topics[0]
    if spec.expect == "any":
        assert "\n" not in result.reason.strip() and "Traceback" not in json.dumps(result.to_dict())
    elif spec.expect == "failed":
        assert result.status == "failed to load", (result.status, topic.status, topic.notes)
        assert "\n" not in result.reason.strip() and "Traceback" not in result.reason, result.reason
        assert any(name in result.reason for name in spec.names), result.reason
        assert result.points == 0 and all(c.message for c in result.checks())
    elif spec.expect == "missing":
        assert result.status == "graded" and topic.status == "not submitted", (result.status, result.reason)
        assert result.points == 0
    else:
        assert result.status == "graded" and topic.status == "graded", (result.reason, topic.reason)
        assert {c.name for c in result.checks() if c.passed} == PUBLIC, [c.message for c in result.checks()]
        notes = " ".join(topic.notes)
        assert all(name in notes for name in spec.names), notes


def test_an_honest_submission_after_all_of_them_grades_normally(reference, tmp_path):
    result = grade(folder_with(tmp_path, {f"{FOLDER}/{MODULE}": SOLUTION}), reference)
    assert result.status == "graded" and {c.name for c in result.checks() if c.passed} == PUBLIC
