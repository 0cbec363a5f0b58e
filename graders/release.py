"""`grade release`: the students' copy of the course, without solutions, hidden tests or withheld thresholds."""

from __future__ import annotations

import ast
import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

import graders
from graders.config import Config, load_config
from graders.errors import ConfigError, DeliveryError
from graders.pack import clean_notebook, walk

TEMPLATES = Path(graders.__file__).parent / "templates"
HARNESS = Path(graders.__file__).parent


@dataclass
class Release:
    """A written release: where, which files, and what the instructor should look at."""

    folder: Path
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def release(*, out: str | Path, config: str | Path | Config = "grading.yaml", topics: list[str] | None = None,
            ci: bool = True, force: bool = False) -> Release:
    """Write the students' copy of the course to `out`: stubs, notebooks and public tests, the harness,
    a trimmed grading.yaml and a README (with `ci`, also a GitHub Actions workflow). The copy is scanned
    for solution code and hidden checks before it appears at `out`; a leak raises DeliveryError."""
    config = config if isinstance(config, Config) else load_config(config)
    selected = _select(config, topics)
    target = Path(out).resolve()
    _check_target(target, config, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        warnings = _write(staging, config, selected, ci)
        problems = scan_release(staging, config=config)
        if problems:
            raise DeliveryError(f"the release would leak, nothing was written to {target}: " + "; ".join(problems))
        _readable_by_all(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    return Release(folder=target, files=files, warnings=warnings)


def _select(config: Config, topics: list[str] | None) -> list[str]:
    for name in topics or []:
        config.topic(name)
    selected = [t for t in config.topics if not topics or t in topics]
    for name in selected:
        folder = config.root / "assignments" / config.topics[name].folder
        if not folder.is_dir():
            raise ConfigError(f"{folder}: topic {name} has no assignments folder; run `grade generate` "
                              "or release the other topics with --topic")
    return selected


def _readable_by_all(folder: Path) -> None:
    """Folders 755, files 644 (755 where executable), whatever the umask and mkdtemp's 700: a release is for others
    to read (issue #13: its root was 700, so a course's other accounts saw nothing)."""
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            continue
        executable = path.is_dir() or bool(path.stat().st_mode & 0o100)
        path.chmod(0o755 if executable else 0o644)


def _check_target(target: Path, config: Config, force: bool) -> None:
    root = config.root
    inside = [root / name for name in ("assignments", "solutions", "hidden_tests", "graders")]
    if target == root or target in root.parents or any(f == target or f in target.parents for f in inside):
        raise DeliveryError(f"{target}: choose a folder outside the course's own folders")
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        return
    if not force:
        raise DeliveryError(f"{target}: exists and is not empty; pass --force to replace it")
    # --force replaces a previous release, never an arbitrary folder (a typo must not delete a home folder).
    if not all((target / name).exists() for name in ("grading.yaml", "assignments", "graders")):
        raise DeliveryError(f"{target}: not a previous release (no grading.yaml, assignments/, graders/); "
                            "--force only replaces a release")


def _write(staging: Path, config: Config, topics: list[str], ci: bool) -> list[str]:
    warnings: list[str] = []
    _copy_assignments(staging, config, topics)
    copy_harness(staging / "graders")
    (staging / "pyproject.toml").write_text(pyproject_text(), encoding="utf-8")
    trimmed, warnings = public_config(config, topics)
    (staging / "grading.yaml").write_text(trimmed, encoding="utf-8")
    load_config(staging / "grading.yaml")  # the students' config must load: fail here, not on their laptops
    (staging / "README.md").write_text(student_readme(config, topics), encoding="utf-8")
    (staging / ".gitignore").write_text(render_template("release/gitignore"), encoding="utf-8")
    if ci:
        workflow = staging / ".github" / "workflows"
        workflow.mkdir(parents=True)
        (workflow / "autograde.yml").write_text(render_template("github/autograde.yml"), encoding="utf-8")
        script = staging / ".github" / "autograde.sh"
        script.write_text(render_template("github/autograde.sh"), encoding="utf-8")
        script.chmod(0o755)
    return warnings


def _copy_assignments(staging: Path, config: Config, topics: list[str]) -> None:
    source = config.root / "assignments"
    wanted = {config.topics[t].folder for t in topics}
    for rel, path in walk(source):
        parts = rel.split("/")
        if len(parts) > 1 and parts[0] not in wanted:
            continue  # another topic's folder: not released yet
        target = staging / "assignments" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".ipynb":
            target.write_bytes(clean_notebook(path, strict=True))
        else:
            shutil.copyfile(path, target)


def copy_harness(target: Path) -> None:
    """The graders package as source files, without caches."""
    for rel, path in harness_files().items():
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / rel)


def harness_files() -> dict[str, Path]:
    """The harness's own files (relative path -> file), the same wherever it is installed."""
    return dict(walk(HARNESS))


def harness_digest(folder: Path) -> dict[str, str]:
    return {rel: hashlib.sha256(path.read_bytes()).hexdigest() for rel, path in walk(folder)}


def pyproject_text() -> str:
    """The harness's pyproject.toml, so `pip install .` in a copy installs `grade`; built from the
    installed metadata when the harness was installed from a wheel."""
    source = HARNESS.parent / "pyproject.toml"
    if source.is_file() and 'name = "graders"' in source.read_text(encoding="utf-8"):
        return source.read_text(encoding="utf-8")
    requires = [r for r in metadata.requires("graders") or [] if "extra ==" not in r]
    deps = "".join(f'    "{r}",\n' for r in requires)
    return (f'[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "graders"\nversion = "{graders.__version__}"\nrequires-python = ">=3.10"\n'
            f'dependencies = [\n{deps}]\n\n[project.scripts]\ngrade = "graders.cli:main"\n\n'
            f'[tool.setuptools.packages.find]\ninclude = ["graders*"]\n\n'
            f'[tool.setuptools.package-data]\ngraders = ["**/*.json", "templates/*/*"]\n')


def render_template(name: str, **values: str) -> str:
    """A file from graders/templates with @TORCH_VERSION@, @TORCHVISION_VERSION@ (the versions
    installed here, which the reference cache was computed with) and `values` filled in."""
    fills = {"TORCH_VERSION": _public_version("torch"), "TORCHVISION_VERSION": _public_version("torchvision"),
             **values}
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    for key, value in fills.items():
        text = text.replace(f"@{key}@", value)
    return text


def _public_version(package: str) -> str:
    """2.14.1 for 2.14.1+cu130: the local build tag names a wheel index, not a release."""
    try:
        return metadata.version(package).split("+")[0]
    except metadata.PackageNotFoundError:
        return "unknown"


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


def public_config(config: Config, topics: list[str]) -> tuple[str, list[str]]:
    """grading.yaml for students: public checks only, thresholds and points of the checks students may
    not see removed; and a warning for each public check whose test will now miss its threshold."""
    raw: dict[str, Any] = yaml.safe_load(config.path.read_text(encoding="utf-8"))
    raw.pop("eval_seed", None)  # the held-out data's secret
    warnings = []
    released = {}
    for name in topics:
        topic = dict(raw["topics"][name])
        public = public_checks(config, name)
        checks = {}
        for check, settings in (topic.get("checks") or {}).items():
            if check not in public:
                continue
            spec = config.topics[name].checks[check]
            settings = dict(settings)
            if spec.visibility != "visible" and not spec.show_threshold:
                settings["points"] = 0  # the weight of a withheld check is the instructor's to announce
                if settings.pop("threshold", None) is not None:
                    warnings.append(f"{name}.{check}: public test, withheld threshold; students' self-check "
                                    "of it cannot pass: set show_threshold: true or move the test to hidden_tests/")
            checks[check] = settings
        topic["checks"] = checks
        released[name] = topic
    raw["topics"] = released
    header = ("# The course's grading settings for students (written by `grade release`): the public checks\n"
              "# that `grade check TOPIC` runs. Your submission is graded with more checks than these.\n")
    return header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=120), warnings


def student_readme(config: Config, topics: list[str]) -> str:
    rows = "\n".join(f"| {config.topics[t].title or t} | `assignments/{config.topics[t].folder}/"
                     f"{config.topics[t].module}` | `grade check {t}` |" for t in topics)
    return render_template("release/README.md", COURSE=config.course, TOPICS=rows, FIRST_TOPIC=topics[0])


# -- the leak scan --------------------------------------------------------------------------------

_MARKER = re.compile(r"^[ \t]*#+[ \t]*(BEGIN|END)[ \t]+(SOLUTION|HIDDEN TESTS)\b", re.MULTILINE | re.IGNORECASE)
_PLACEHOLDERS = {"# YOUR CODE HERE", "raise NotImplementedError()", "raise NotImplementedError"}
MIN_REGION_CHARS = 16  # a shorter region ("pass", "return x") is too common to tell a leak from chance


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
