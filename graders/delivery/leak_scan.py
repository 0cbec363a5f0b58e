"""The leak scan of a release: solution code, hidden checks or withheld thresholds where students would see them."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import yaml

from graders.config import Config
from graders.delivery.harness import HARNESS, harness_digest

_MARKER = re.compile(r"^[ \t]*#+[ \t]*(BEGIN|END)[ \t]+(SOLUTION|HIDDEN TESTS)\b", re.MULTILINE | re.IGNORECASE)
_PLACEHOLDERS = {"# YOUR CODE HERE", "raise NotImplementedError()", "raise NotImplementedError"}
MIN_REGION_CHARS = 16  # a shorter region ("pass", "return x") is too common to tell a leak from chance


def public_checks(config: Config, topic: str) -> set[str]:
    """Checks with a test in the instructor's assignments/ folder (parsed, not imported)."""
    folder = config.root / "assignments" / config.topics[topic].folder
    names = set()
    for path in sorted(folder.glob("test_*.py")):
        names |= {n.removeprefix("test_") for n in _bound_names(ast.parse(path.read_text(encoding="utf-8")))
                  if n.startswith("test_")}
    return names & set(config.topics[topic].checks)


def _bound_names(tree: ast.Module) -> set[str]:
    """Names a test module defines: its functions, and the test functions it imports (shared checks)."""
    names = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {alias.asname or alias.name for alias in node.names}
    return names


def scan_release(folder: str | Path, *, config: Config) -> list[str]:
    """Every leak in a release folder, judged with the instructor's `config`: private folders, solution
    regions (whole, in any file; or single lines, in the stub made from that solution), BEGIN/END
    SOLUTION and HIDDEN TESTS markers, hidden checks' test names (also in notebook metadata and outputs),
    hidden checks or withheld thresholds in grading.yaml, and a harness that differs from this one."""
    folder = Path(folder)
    problems = [f"{name}/ is in the release" for name in _private_folders(config) if (folder / name).exists()]
    problems += _harness_changes(folder / "graders")
    solutions = solution_files(config)
    regions = [r for rs, _ in solutions.values() for r in rs if len(" ".join(r)) >= MIN_REGION_CHARS]
    hidden = hidden_check_names(config)
    # A stub's lines outside the solution regions are the instructor's published text: a hidden check
    # named like a common word ("accuracy") may appear there without giving anything away.
    published = {f"assignments/{p.relative_to(config.root / 'solutions').as_posix()}": outside
                 for p, (_, outside) in solutions.items()}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(folder).as_posix()
        if not rel.startswith("graders/"):
            problems += _text_leaks(rel, _texts(path), regions, hidden, published.get(rel, set()))
    problems += _stub_leaks(folder, config, solutions)
    problems += _config_leaks(folder / "grading.yaml", config)
    return list(dict.fromkeys(problems))


def hidden_check_names(config: Config) -> set[str]:
    """Check names that no topic tests publicly (a name public in one topic is no secret in another)."""
    public = {c for t in config.topics for c in public_checks(config, t)}
    return {c for spec in config.topics.values() for c in spec.checks} - public


def _private_folders(config: Config) -> list[str]:
    names = ["solutions", "hidden_tests", "examples"]
    for setting in (config.cache_dir, config.reports_dir):
        path = config.resolve(setting)
        if config.root in path.parents:
            names.append(path.relative_to(config.root).as_posix())
    return names


def _harness_changes(folder: Path) -> list[str]:
    if not folder.is_dir():
        return ["graders/ is missing: the students cannot run `grade check`"]
    theirs, ours = harness_digest(folder), harness_digest(HARNESS)
    changed = sorted(rel for rel in set(theirs) | set(ours) if theirs.get(rel) != ours.get(rel))
    return [f"graders/{rel} differs from the harness (added, changed or missing)" for rel in changed]


def _texts(path: Path) -> list[str]:
    """The text of a file; for a notebook every string in it (sources, outputs, metadata)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return []  # images and other binary files hold no code
    if path.suffix != ".ipynb":
        return [text]
    try:
        return list(_strings(json.loads(text)))
    except ValueError:
        return [text]


def _strings(node: Any) -> Any:
    if isinstance(node, str):
        yield node
    elif isinstance(node, list) and node and all(isinstance(item, str) for item in node):
        yield "".join(node)  # nbformat stores multi-line text as a list of lines
    elif isinstance(node, (list, dict)):
        for item in node.values() if isinstance(node, dict) else node:
            yield from _strings(item)
        if isinstance(node, dict):
            yield from (key for key in node if isinstance(key, str))


def _text_leaks(rel: str, texts: list[str], regions: list[tuple[str, ...]], hidden: set[str],
                published: set[str]) -> list[str]:
    problems = []
    for text in texts:
        if _MARKER.search(text):
            problems.append(f"{rel}: has a BEGIN/END SOLUTION or HIDDEN TESTS marker")
        lines = normalized_lines(text)
        for region in regions:
            if _contains(lines, region):
                problems.append(f"{rel}: has solution code: {region[0]!r}")
        own = "\n".join(line for line in text.splitlines() if not set(normalized_lines(line)) & published)
        # A hidden check's test function gives it away; its bare name ("accuracy", "zero_grad") is an
        # ordinary word that hints and docstrings use freely.
        for name in sorted(hidden):
            if re.search(rf"\btest_{re.escape(name)}\b", own):
                problems.append(f"{rel}: names the hidden check {name!r}")
    return problems


def _contains(lines: list[str], region: tuple[str, ...]) -> bool:
    size = len(region)
    return any(tuple(lines[i:i + size]) == region for i, line in enumerate(lines) if line == region[0])


def _stub_leaks(folder: Path, config: Config, solutions: dict[Path, Any]) -> list[str]:
    """Single solution lines in the stub made from that solution (lines outside the regions may stay)."""
    problems = []
    for path, (regions, outside) in solutions.items():
        rel = path.relative_to(config.root / "solutions").as_posix()
        stub = folder / "assignments" / rel
        if not stub.is_file():
            continue
        secret = {line for region in regions for line in region} - outside - _PLACEHOLDERS
        found = sorted(secret & {line for text in _texts(stub) for line in normalized_lines(text)})
        if found:
            problems.append(f"assignments/{rel}: has {len(found)} line(s) of the solution, e.g. {found[0]!r}")
    return problems


def _config_leaks(path: Path, config: Config) -> list[str]:
    if not path.is_file():
        return ["grading.yaml is missing: the students cannot run `grade check`"]
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    problems = []
    for topic, settings in (raw.get("topics") or {}).items():
        public = public_checks(config, topic) if topic in config.topics else set()
        for check, values in ((settings or {}).get("checks") or {}).items():
            spec = config.topics[topic].checks.get(check) if topic in config.topics else None
            if check not in public:
                problems.append(f"grading.yaml: has the hidden check {topic}.{check}")
            elif spec and spec.visibility != "visible" and not spec.show_threshold and "threshold" in values:
                problems.append(f"grading.yaml: has the withheld threshold of {topic}.{check}")
    return problems


def normalized_lines(text: str) -> list[str]:
    """Lines as compared for leaks: stripped, trailing comments dropped, blank and comment lines skipped."""
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if "'" not in line and '"' not in line:
            line = re.sub(r"\s+#.*$", "", line)
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def solution_files(config: Config) -> dict[Path, tuple[list[tuple[str, ...]], set[str]]]:
    """Every solution module and notebook -> (its solution regions, its lines outside them). Regions come
    from marker pairs or, in a notebook, from whole cells marked as nbgrader solution cells."""
    paths = sorted(p for p in (config.root / "solutions").rglob("*") if p.suffix in (".py", ".ipynb"))
    return {p: _regions(p) for p in paths if "__pycache__" not in p.parts}


def _regions(path: Path) -> tuple[list[tuple[str, ...]], set[str]]:
    regions: list[tuple[str, ...]] = []
    outside: set[str] = set()
    for text, whole in _sources(path):
        if whole and not _MARKER.search(text):
            regions.append(tuple(normalized_lines(text)))
            continue
        current: list[str] | None = None
        for line in text.splitlines():
            marker = _MARKER.match(line)
            if marker and marker[1].upper() == "BEGIN":
                current = []
            elif marker and current is not None:
                regions.append(tuple(normalized_lines("\n".join(current))))
                current = None
            elif current is not None:
                current.append(line)
            else:
                outside.update(normalized_lines(line))
    return [r for r in regions if r], outside


def _sources(path: Path) -> list[tuple[str, bool]]:
    """(source text, is a whole solution cell) of a module or of each notebook cell."""
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".ipynb":
        return [(text, False)]
    cells = json.loads(text).get("cells", [])
    return [("".join(c["source"]) if isinstance(c.get("source"), list) else str(c.get("source", "")),
             bool(c.get("metadata", {}).get("nbgrader", {}).get("solution")))
            for c in cells]
