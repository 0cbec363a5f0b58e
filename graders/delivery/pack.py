"""`grade pack`: check a student's working copy and zip it, with a manifest, ready to upload."""

from __future__ import annotations

import ast
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from graders.config import Config
from graders.errors import DeliveryError, SubmissionError
from graders.files import write_atomic
from graders.results import SubmissionResult, TopicResult
from graders.submission.manifest import MANIFEST, build_manifest
from graders.submission.notebook import notebook_to_module, read_notebook

MAX_FILE_MB = 5.0  # notebooks without outputs and modules are far smaller; bigger files are data or weights
# Folders never worth copying: caches and environments; and, in a student's upload, data the grader brings.
CACHE_DIRS = frozenset({"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".git",
                        ".venv", "venv", ".grading_cache", "__MACOSX"})
DATA_DIRS = frozenset({"reports", "data", "datasets", "MNIST", "cifar-10-batches-py", "hymenoptera_data",
                       "checkpoints", "runs", "wandb", "lightning_logs"})
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same files always give the same bytes
_NOTEBOOK_CELL_KEYS = ("nbgrader", "tags", "deletable", "editable")
_NOTEBOOK_KEYS = ("kernelspec", "language_info", "nbgrader")


@dataclass
class Packed:
    """What `pack` wrote and what the student should know before uploading it."""

    archive: Path
    files: list[str] = field(default_factory=list)  # paths inside the zip, MANIFEST.json excluded
    skipped: list[str] = field(default_factory=list)  # "path: why it was left out"
    problems: list[str] = field(default_factory=list)  # missing definitions, modules that do not import
    incomplete: list[str] = field(default_factory=list)  # topics whose code still raises NotImplementedError
    allow_incomplete: bool = False  # whether unfinished topics are fine (a partial hand-in on purpose)
    result: SubmissionResult | None = None  # the public checks, when they ran

    @property
    def needs_fixing(self) -> bool:
        """Whether the student should look before uploading: `grade pack` then exits 1."""
        return bool(self.problems) or (bool(self.incomplete) and not self.allow_incomplete)


def pack(*, config: Config, out: str | Path | None = None,
         topics: list[str] | None = None, run_checks: bool = True, max_file_mb: float = MAX_FILE_MB,
         allow_incomplete: bool = False) -> Packed:
    """Zip the working copy's assignments/ (default out: submission.zip beside grading.yaml) after checking
    that every required name is defined, which topics are unfinished (`allow_incomplete`: on purpose) and,
    with `run_checks`, that the public checks run."""
    selected = config.select(topics)  # an unknown topic is a ConfigError naming the known ones
    folder = config.root / "assignments"
    if not folder.is_dir():
        raise DeliveryError(f"{folder}: no assignments/ folder; run `grade pack` in your copy of the course")
    archive = Path(out) if out is not None else config.root / "submission.zip"
    packed = Packed(archive=archive, allow_incomplete=allow_incomplete)
    members = _members(folder, config, selected, archive, int(max_file_mb * (1 << 20)), packed.skipped)
    if not any(rel.endswith((".py", ".ipynb")) for rel in members):
        raise DeliveryError(f"{folder}: nothing to pack for {', '.join(selected)}")
    present = [t for t in selected if module_file(folder / config.topics[t].folder, config.topics[t].module)]
    packed.problems = [p for t in selected for p in missing_definitions(config, t, folder)]
    packed.incomplete = [p for t in selected if (p := unfinished(config, t, folder))]
    if run_checks and present:
        from graders.grading.session import grade_submission  # imports pytest and torch: only when checks run

        packed.result = grade_submission(folder, config=config, topics=present, hidden=False, name="pack")
        packed.problems += [p for t in packed.result.topics if (p := import_failure(t))]
    contents = {rel: _content(path, rel, packed.skipped) for rel, path in members.items()}
    packed.files = sorted(contents)
    manifest = build_manifest(contents, config=config, topics=selected, skipped=packed.skipped)
    write_atomic(archive, _zip_bytes({**contents, MANIFEST: manifest}))
    return packed


def module_file(folder: Path, module: str) -> Path | None:
    """The file grading would read for a topic: its module, else the folder's first notebook."""
    if (folder / module).is_file():
        return folder / module
    notebooks = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    return notebooks[0] if notebooks else None


def missing_definitions(config: Config, topic: str, folder: Path) -> list[str]:
    """Problems with a topic's `required` names, found by parsing (the student's code is not run here)."""
    spec = config.topics[topic]
    path = module_file(folder / spec.folder, spec.module)
    if path is None:
        return [f"{topic}: no {spec.folder}/{spec.module} (or notebook); this topic would get no points"]
    try:
        tree = _parse(path)
    except SyntaxError as exc:
        return [f"{topic}: {path.name} does not parse: {exc.msg} at line {exc.lineno}"]
    except (SubmissionError, UnicodeDecodeError) as exc:
        return [f"{topic}: {path.name} cannot be read: {exc}"]
    defined = top_level_names(tree)
    missing = [name for name in spec.required if name not in defined]
    return [f"{topic}: {path.name} defines no {name}; keep the names from the assignment" for name in missing]


def _parse(path: Path) -> ast.Module:
    source = notebook_to_module(path)[0] if path.suffix == ".ipynb" else path.read_text(encoding="utf-8")
    return ast.parse(source)


def unfinished(config: Config, topic: str, folder: Path) -> str | None:
    """The topic's functions that still raise NotImplementedError (the stub's placeholder), as one line, or None.

    A topic worked in its notebook beside the untouched .py is finished: grading takes the notebook then.
    Files that cannot be read or parsed are missing_definitions' to report."""
    spec = config.topics[topic]
    named = folder / spec.folder / (Path(spec.module).stem + ".ipynb")
    paths = [p for p in dict.fromkeys([module_file(folder / spec.folder, spec.module), named]) if p and p.is_file()]
    found: list[tuple[Path, list[str]]] = []
    for path in paths:
        try:
            found.append((path, stubbed_functions(_parse(path))))
        except (SyntaxError, ValueError, SubmissionError, UnicodeDecodeError, OSError, RecursionError):
            continue
    if not found or not all(names for _, names in found):
        return None
    path, names = found[0]
    return f"{topic}: {path.name} still raises NotImplementedError in {', '.join(names)}"


def stubbed_functions(tree: ast.Module) -> list[str]:
    """Qualified names (`Net.forward`) of the functions that raise NotImplementedError, in source order."""
    found: list[tuple[int, str]] = []
    pending: list[tuple[ast.AST, str]] = [(tree, "")]
    while pending:  # a loop, not recursion: a student's deeply nested expression must not overflow the stack
        node, owner = pending.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                pending.append((child, f"{owner}.{child.name}" if owner else child.name))
            elif isinstance(child, ast.Raise) and _not_implemented(child.exc):
                found.append((child.lineno, owner or "the module's top level"))
            else:
                pending.append((child, owner))
    return list(dict.fromkeys(name for _, name in sorted(found)))


def _not_implemented(exc: ast.expr | None) -> bool:
    """`raise NotImplementedError` or `raise NotImplementedError(...)`."""
    if isinstance(exc, ast.Call):
        exc = exc.func
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def top_level_names(tree: ast.Module) -> set[str]:
    """Names a module defines at its top level: functions, classes, assignments and imports."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def import_failure(topic: TopicResult) -> str | None:
    """The import error behind a topic, if its module did not import in the worker (a typed status, issue #12)."""
    if topic.status == "failed to load":
        return f"{topic.name}: the module does not import: {topic.reason}"
    return None


def _members(folder: Path, config: Config, topics: list[str], archive: Path, max_bytes: int,
             skipped: list[str]) -> dict[str, Path]:
    """Files to zip, keyed by their path in the zip (the assignments layout); the rest goes to `skipped`."""
    wanted = {config.topics[t].folder for t in topics}
    members: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name not in wanted or not entry.is_dir() or entry.is_symlink():
            skipped.append(f"{entry.name}{'/' if entry.is_dir() else ''}: not the folder of a topic being packed")
            continue
        notes: list[str] = []
        for rel, path in walk(entry, notes, skip_data=True):
            if path.resolve() == archive.resolve():
                continue
            if path.name.startswith("test_") or path.name == "conftest.py":
                notes.append(f"{rel}: the course's tests (grading uses the instructor's own copy)")
            elif path.stat().st_size > max_bytes:
                notes.append(f"{rel}: larger than {max_bytes / (1 << 20):g} MB (data or weights are not graded)")
            else:
                members[f"{entry.name}/{rel}"] = path
        skipped.extend(f"{entry.name}/{note}" for note in notes)
    return members


def walk(folder: Path, skipped: list[str] | None = None, *, skip_data: bool = False) -> Iterator[tuple[str, Path]]:
    """(posix path relative to `folder`, path) of every regular file worth copying, sorted; caches, hidden
    files, links and, with `skip_data`, data folders are left out (and listed in `skipped` when given)."""
    unwanted_dirs = CACHE_DIRS | DATA_DIRS if skip_data else CACHE_DIRS
    pending = [folder]
    while pending:
        directory = pending.pop()
        subfolders = []
        for path in sorted(directory.iterdir()):
            rel = path.relative_to(folder).as_posix()
            why = _unwanted(path, unwanted_dirs)
            if why:
                if skipped is not None:
                    skipped.append(f"{rel}{'/' if path.is_dir() else ''}: {why}")
            elif path.is_dir():
                subfolders.append(path)
            elif path.is_file():
                yield rel, path
        pending.extend(reversed(subfolders))


def _unwanted(path: Path, unwanted_dirs: frozenset[str]) -> str:
    if path.is_symlink():
        return "a symbolic link"
    if path.is_dir() and path.name in unwanted_dirs:
        return "a cache or data folder"
    if path.name.startswith(".") or path.suffix in (".pyc", ".pyo"):
        return "a hidden or compiled file"
    return ""


def clean_notebook(path: Path, *, strict: bool = False) -> bytes:
    """A notebook without outputs, execution counts or editor metadata; unreadable ones are returned
    as they are (or raise DeliveryError when `strict`)."""
    import nbformat  # here: its import takes a second, which `grade VERB --help` must not pay (#14)

    try:
        nb = read_notebook(path)  # quietly: no MissingIDFieldWarning for a hand-written notebook (issue #13)
    except Exception as exc:  # nbformat raises many types for broken JSON or schema
        if strict:
            raise DeliveryError(f"{path}: not a readable notebook ({type(exc).__name__})") from None
        return path.read_bytes()
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata = {k: v for k, v in cell.get("metadata", {}).items() if k in _NOTEBOOK_CELL_KEYS}
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in _NOTEBOOK_KEYS}
    # nbformat.v4.writes, not nbformat.writes: the same JSON without a validation that logs to the student.
    return (nbformat.v4.writes(nb) + "\n").encode("utf-8")


def _content(path: Path, rel: str, skipped: list[str]) -> bytes:
    if path.suffix != ".ipynb":
        return path.read_bytes()
    try:
        return clean_notebook(path, strict=True)
    except DeliveryError:
        skipped.append(f"{rel}: outputs not stripped (the notebook could not be read); packed as it is")
        return path.read_bytes()


def _zip_bytes(contents: dict[str, bytes]) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel, data in contents.items():
            info = zipfile.ZipInfo(rel, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buffer.getvalue()


def summary_lines(packed: Packed) -> list[str]:
    """What the CLI prints after packing, most important last."""
    lines = [f"left out {item}" for item in packed.skipped]
    lines += [f"{'incomplete' if packed.allow_incomplete else 'problem'}: {item}" for item in packed.incomplete]
    if packed.incomplete and not packed.allow_incomplete:
        lines.append("problem: unfinished topics; pack only the finished ones with --topic NAME, "
                     "or hand them in as they are with --allow-incomplete")
    lines += [f"problem: {item}" for item in packed.problems]
    lines.append(f"wrote {packed.archive} ({len(packed.files)} files + {MANIFEST})")
    return lines

