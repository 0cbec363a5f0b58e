"""Find one entry per student in a submissions folder: plain folders and files, nbgrader, Gradescope exports."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from graders.config import Config
from graders.errors import BatchError
from graders.results import Status

GRADESCOPE_METADATA = "submission_metadata.yml"
KINDS = (".zip", ".py", ".ipynb")
# Names collected by archivers and file managers, never a student's entry.
_IGNORED = {"__MACOSX", "Thumbs.db", GRADESCOPE_METADATA}
_SEPARATORS = "_-. "
# Files the batch writes beside the per-student folders; an entry named like one gets a suffix.
RESERVED = {"gradebook.csv", "summary.html", "roster.csv"}


@dataclass
class Entry:
    """One student's submission: where it is, the name its reports go under, and why it cannot be graded."""

    name: str
    path: Path  # what is graded: the entry itself, or the folder inside it that holds the topics
    label: str = ""  # the entry as listed in the submissions folder (alice.zip, submission_123)
    topic: str | None = None  # set for a single .py/.ipynb file
    students: list[dict[str, str]] = field(default_factory=list)  # Gradescope submitters: name, email, sid
    status: Status | Literal[""] = ""  # for an entry that is not graded: the SubmissionResult status it gets
    reason: str = ""


Source = str | Path | Mapping[str, Path]


def find_entries(folder: Source, *, config: Config, skip: Path | None = None) -> list[Entry]:
    """Every entry of `folder`, sorted by name; duplicates and unusable entries come back with a reason.
    A mapping of name -> entry path (as `graders.batch.demo.bundled_submissions` gives) names the entries itself."""
    if isinstance(folder, Mapping):
        return _finish([_named(name, Path(path), config) for name, path in folder.items()])
    folder = Path(folder)
    if not folder.is_dir():
        raise BatchError(f"{folder}: not a folder; pass the folder holding one submission per student")
    if (folder / GRADESCOPE_METADATA).is_file():
        entries = _gradescope(folder, config)
    elif (folder / "submitted").is_dir():  # nbgrader: submitted/<student>/<assignment>/
        entries = [_folder_entry(p, config) for p in _children(folder / "submitted", skip) if p.is_dir()]
    else:
        entries = [_entry(p, config) for p in _children(folder, skip)]
    return _finish(entries)


def _named(name: str, path: Path, config: Config) -> Entry:
    if not path.exists():
        return Entry(safe_name(name), path, str(path), status="failed to load",
                     reason=f"{path}: no such file or folder")
    return dataclasses.replace(_entry(path, config), name=safe_name(name))


def _finish(entries: list[Entry]) -> list[Entry]:
    for entry in entries:
        if entry.name.casefold() in RESERVED:
            entry.name += "_"
    return sorted(_mark_duplicates(entries), key=lambda e: (e.name.casefold(), e.name))


def _children(folder: Path, skip: Path | None) -> list[Path]:
    skip = skip.resolve() if skip else None
    return [p for p in sorted(folder.iterdir()) if not p.name.startswith(".") and p.name not in _IGNORED
            and p.resolve() != skip]


def _entry(path: Path, config: Config) -> Entry:
    if path.is_dir():
        return _folder_entry(path, config)
    if path.suffix == ".zip":
        return Entry(safe_name(path.stem), path, path.name)
    if path.suffix in (".py", ".ipynb"):
        return _file_entry(path, config)
    return Entry(safe_name(path.name), path, path.name, status="failed to load",
                 reason=f"{path.name}: not a folder, .zip, .py or .ipynb")


def _folder_entry(path: Path, config: Config, name: str | None = None, **fields: Any) -> Entry:
    return Entry(safe_name(name or path.name), _content_folder(path, config), path.name, **fields)


def _content_folder(path: Path, config: Config) -> Path:
    """The folder to grade: `path`, or its only subfolder when the topics are one level down
    (nbgrader's `<student>/<assignment>/`, or a folder a student zipped and the LMS unpacked)."""
    markers = {t.folder for t in config.topics.values()} | {t.module for t in config.topics.values()}
    try:
        names = {p.name for p in path.iterdir()}
        subfolders = [p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
    except OSError:
        return path  # unreadable: grading reports why
    if names & markers or len(subfolders) != 1:
        return path
    return subfolders[0]


def _file_entry(path: Path, config: Config) -> Entry:
    """A single file: its topic and student from names like `alice_linear_regression.ipynb`."""
    stem = path.stem
    matches = []
    for topic, spec in config.topics.items():
        module = Path(spec.module).stem
        found = re.search(rf"(^|[{re.escape(_SEPARATORS)}]){re.escape(module)}($|[{re.escape(_SEPARATORS)}])", stem)
        if found:
            matches.append((len(module), topic, found))
    if not matches:
        modules = ", ".join(Path(t.module).stem for t in config.topics.values())
        return Entry(safe_name(stem), path, path.name, status="failed to load",
                     reason=f"{path.name}: cannot tell its topic; name a single file <student>_<module> "
                            f"with one of: {modules}")
    matches.sort(key=lambda m: m[0], reverse=True)  # linear_regression wins over a topic named regression
    _, topic, found = matches[0]
    student = (stem[: found.start()] + stem[found.end():]).strip(_SEPARATORS) or stem
    return Entry(safe_name(student), path, path.name, topic=topic)


def _gradescope(folder: Path, config: Config) -> list[Entry]:
    """A Gradescope export: `submission_<id>/` folders, named after the submitters in the metadata."""
    try:
        metadata = yaml.safe_load((folder / GRADESCOPE_METADATA).read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BatchError(f"{folder / GRADESCOPE_METADATA}: cannot read the Gradescope metadata: {exc}") from None
    if not isinstance(metadata, dict):
        raise BatchError(f"{folder / GRADESCOPE_METADATA}: expected a mapping of submission_<id> to metadata")
    entries = []
    for key, info in metadata.items():
        students = _submitters(info)
        label = "+".join(s.get("email") or s.get("name") or "" for s in students).strip("+") or str(key)
        path = folder / str(key)
        if path.is_dir():
            entries.append(_folder_entry(path, config, label, students=students))
        else:
            entries.append(Entry(safe_name(label), path, str(key), students=students, status="not submitted",
                                 reason=f"the export has no folder {key}/"))
    listed = {str(key) for key in metadata}
    entries += [_folder_entry(p, config) for p in _children(folder, None) if p.is_dir() and p.name not in listed]
    return entries


def _submitters(info: Any) -> list[dict[str, str]]:
    """Gradescope writes Ruby-style keys (`:submitters:`, `:name:`); accept them with or without the colon."""
    def plain(mapping: Any) -> dict[str, Any]:
        return {str(k).lstrip(":"): v for k, v in mapping.items()} if isinstance(mapping, dict) else {}

    people = plain(info).get("submitters") or []
    return [{k: str(v) for k, v in plain(p).items() if k in ("name", "email", "sid") and v is not None}
            for p in people if isinstance(p, dict)]


def _mark_duplicates(entries: list[Entry]) -> list[Entry]:
    """Two entries naming one student (alice/ and alice.zip) are both left ungraded: which one counts is the
    instructor's call. Each keeps a row, named after its own file so the rows stay distinct."""
    groups: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        groups[entry.name.casefold()].append(entry)
    for group in groups.values():
        if len(group) < 2:
            continue
        paths = ", ".join(e.label for e in group)
        for entry in group:
            entry.name = safe_name(entry.label)
            entry.status, entry.reason = "error", (f"duplicate entries for one student ({paths}); keep one "
                                                   "and rerun with --resume")
    return entries


def safe_name(text: str) -> str:
    """A name that is safe as a folder name and a gradebook cell: letters, digits and @ . _ + - only."""
    # No leading - + @: a spreadsheet would read the gradebook cell as a formula.
    name = re.sub(r"[^A-Za-z0-9@._+-]+", "_", text.strip()).strip("._").lstrip("-+@")
    return name[:120] or "unnamed"


def content_hash(path: Path) -> str:
    """A hash of what the entry holds (file names and bytes), so a rerun can tell an unchanged submission."""
    digest = hashlib.sha256()
    if path.is_file():
        digest.update(b"file\0")
        _add_file(digest, path)
        return digest.hexdigest()
    for folder, dirs, files in os.walk(path, onerror=_raise):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")  # written by imports, not by the author
        for name in sorted(files):
            file = Path(folder) / name
            digest.update(str(file.relative_to(path)).encode("utf-8", "surrogateescape") + b"\0")
            if file.is_symlink():  # the copy never follows links: only the link itself counts
                digest.update(b"link\0" + os.readlink(file).encode("utf-8", "surrogateescape"))
            else:
                _add_file(digest, file)
    return digest.hexdigest()


def _add_file(digest: Any, path: Path) -> None:
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    digest.update(b"\0")


def _raise(error: OSError) -> None:
    raise error

