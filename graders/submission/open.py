"""Open a submission (folder, .zip, .py or .ipynb) into a clean copy the worker can import."""

from __future__ import annotations

import importlib.util
import shutil
import stat
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from graders.config import Config
from graders.errors import SubmissionError
from graders.submission.manifest import verify_manifest
from graders.submission.notebook import notebook_to_module

# Files a submission may ship that would hijack imports or the test run; never copied to the worker.
_HIJACKERS = {"conftest.py", "sitecustomize.py", "usercustomize.py", "__init__.py"}
_MAX_ZIP_BYTES = 200 << 20
_MAX_ZIP_FILES = 2000
_MAX_FILE_BYTES = 20 << 20


@dataclass
class Submission:
    """A submission normalised into `root/<topic folder>/<module>.py`, with notes on what was left out."""

    name: str
    source: Path
    root: Path
    modules: dict[str, Path] = field(default_factory=dict)  # topic -> module file in the copy
    notes: dict[str, list[str]] = field(default_factory=dict)  # topic -> skipped cells, ignored files
    problems: list[str] = field(default_factory=list)  # about the whole submission (e.g. its manifest)

    def module(self, topic: str) -> Path | None:
        return self.modules.get(topic)


def open_submission(path: str | Path, *, config: Config, workdir: Path, topic: str | None = None,
                    name: str | None = None) -> Submission:
    """Copy what the worker needs from `path` into `workdir/submission`; raise SubmissionError if unreadable."""
    source = Path(path)
    if not source.exists():
        raise SubmissionError(f"{source}: no such file or folder; pass a submission folder, .zip, .py or .ipynb")
    root = workdir / "submission"
    root.mkdir(parents=True)
    sub = Submission(name=name or _name_of(source), source=source, root=root)
    if source.is_dir() or source.suffix == ".zip":
        sub.problems = [f"manifest: {problem}" for problem in verify_manifest(source)]
    if source.is_dir():
        _collect_folder(source, sub, config)
    elif source.suffix == ".zip":
        with tempfile.TemporaryDirectory(prefix="grade-unzip-") as tmp:
            _collect_folder(_unzip(source, Path(tmp)), sub, config)
    elif source.suffix in (".py", ".ipynb"):
        if topic is None:
            raise SubmissionError(f"{source}: a single file needs --topic NAME (topics: {', '.join(config.topics)})")
        _collect_file(source, topic, sub, config)
    else:
        raise SubmissionError(f"{source}: not a folder, .zip, .py or .ipynb")
    return sub


def _name_of(source: Path) -> str:
    return source.resolve().name.removesuffix(".zip") or "submission"


def _collect_folder(folder: Path, sub: Submission, config: Config) -> None:
    for topic, spec in config.topics.items():
        for candidate in (folder / spec.folder, folder):
            if candidate.exists() and not _inside(candidate, folder):
                raise SubmissionError(f"{candidate.name}: links out of the submission; submit the folder itself")
            module = candidate / spec.module
            notebook = _notebook(candidate, spec.module, topic_folder=candidate != folder)
            if module.is_file() and not (notebook and _untouched_stub(module, config, topic)):
                _collect_file(module, topic, sub, config)
                _copy_helpers(candidate, topic, sub, config)
                break
            if notebook:
                _collect_file(notebook, topic, sub, config)
                if module.is_file():
                    sub.notes.setdefault(topic, []).append(f"graded {notebook.name}: {module.name} is the "
                                                           "untouched stub")
                break


def _inside(path: Path, top: Path) -> bool:
    """Whether `path`, links resolved, stays inside the submission (a linked folder could point at solutions/)."""
    return path.resolve() == top.resolve() or top.resolve() in path.resolve().parents


def _notebook(folder: Path, module: str, *, topic_folder: bool) -> Path | None:
    """The topic's notebook: the one named like the module, else (in a topic's own folder) the only one."""
    named = folder / (Path(module).stem + ".ipynb")
    if named.is_file():
        return named
    found = sorted(folder.glob("*.ipynb")) if topic_folder and folder.is_dir() else []
    return found[0] if len(found) == 1 else None


def _untouched_stub(module: Path, config: Config, topic: str) -> bool:
    """Whether the .py is still the released stub (the student worked in the notebook instead)."""
    from graders.authoring.generate import stub_source

    spec = config.topics[topic]
    try:
        solution = (config.root / "solutions" / spec.folder / spec.module).read_text(encoding="utf-8")
        return module.read_text(encoding="utf-8") == stub_source(solution)
    except (OSError, UnicodeDecodeError, ValueError):
        return False


def _collect_file(path: Path, topic: str, sub: Submission, config: Config) -> None:
    spec = config.topic(topic)
    target = sub.root / spec.folder / spec.module
    target.parent.mkdir(parents=True, exist_ok=True)
    notes = sub.notes.setdefault(topic, [])
    if path.is_symlink():
        raise SubmissionError(f"{path.name}: is a symbolic link; submit the file itself")
    if path.stat().st_size > _MAX_FILE_BYTES:
        raise SubmissionError(f"{path.name}: larger than {_MAX_FILE_BYTES >> 20} MiB; remove data or outputs")
    if path.suffix == ".ipynb":
        source, skipped = notebook_to_module(path)
        notes.append(f"graded the definitions of notebook {path.name}")
        notes.extend(skipped)
    else:
        source = _read_text(path)
    target.write_text(source, encoding="utf-8")
    sub.modules[topic] = target


def _copy_helpers(folder: Path, topic: str, sub: Submission, config: Config) -> None:
    """Copy sibling .py helpers the module may import; leave out tests and import hijackers."""
    spec = config.topic(topic)
    for path in sorted(folder.glob("*.py")):
        if path.name == spec.module or path.is_symlink() or not path.is_file():
            continue
        if path.name.startswith("test_") or path.name in _HIJACKERS or _shadows_package(path.stem):
            sub.notes.setdefault(topic, []).append(f"ignored {path.name}: tests, conftest and modules named "
                                                   "like a package are never run")
            continue
        shutil.copyfile(path, sub.root / spec.folder / path.name)


def _shadows_package(stem: str) -> bool:
    """A module named like something importable (torch.py, numpy.py, json.py) would shadow it."""
    if stem in sys.stdlib_module_names:
        return True
    try:
        return importlib.util.find_spec(stem) is not None
    except (ImportError, ValueError):
        return False


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SubmissionError(f"{path.name}: not UTF-8 text; save the file as UTF-8") from None


def _unzip(archive: Path, into: Path) -> Path:
    """Extract safely (no absolute paths, no `..`, no links, bounded size) and return the content folder."""
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if len(members) > _MAX_ZIP_FILES or sum(m.file_size for m in members) > _MAX_ZIP_BYTES:
                raise SubmissionError(f"{archive.name}: too many or too large files in the zip")
            for member in members:
                _extract_member(zf, member, into, archive)
    except zipfile.BadZipFile:
        raise SubmissionError(f"{archive.name}: not a valid zip file; re-create it with `grade pack`") from None
    except (OSError, RuntimeError, NotImplementedError, EOFError, zlib.error) as exc:
        # Encrypted members, unknown compression, over-long names, a file where a folder should be.
        raise SubmissionError(f"{archive.name}: cannot be unpacked ({type(exc).__name__}: {exc}); "
                              "re-create it with `grade pack`") from None
    entries = [p for p in into.iterdir() if p.name != "__MACOSX"]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else into


def _extract_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo, into: Path, archive: Path) -> None:
    parts = PurePosixPath(member.filename.replace("\\", "/")).parts
    if not parts or member.filename.startswith("/") or ".." in parts:
        raise SubmissionError(f"{archive.name}: unsafe path {member.filename!r} in the zip")
    if stat.S_ISLNK(member.external_attr >> 16):
        return  # links could point anywhere on the grading machine; never follow them
    target = into.joinpath(*parts)
    if member.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(member) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
