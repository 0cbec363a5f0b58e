"""`grade release`: the students' copy of the course, without solutions, hidden tests or withheld thresholds."""

from __future__ import annotations

import ast
import hashlib
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

import graders
from graders import leaks
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
        problems = leaks.scan_release(staging, config=config)
        if problems:
            raise DeliveryError(f"the release would leak, nothing was written to {target}: " + "; ".join(problems))
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


def _check_target(target: Path, config: Config, force: bool) -> None:
    root = config.root
    if target == root or target in root.parents or root in target.parents and target.parent != root:
        if target == root or target in root.parents or _inside_course_material(target, config):
            raise DeliveryError(f"{target}: choose a folder outside the course's own folders")
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not force:
        raise DeliveryError(f"{target}: exists and is not empty; pass --force to replace it")


def _inside_course_material(target: Path, config: Config) -> bool:
    folders = [config.root / name for name in ("assignments", "solutions", "hidden_tests", "graders")]
    return any(target == f or f in target.parents for f in folders)


def _write(staging: Path, config: Config, topics: list[str], ci: bool) -> list[str]:
    warnings: list[str] = []
    _copy_assignments(staging, config, topics)
    copy_harness(staging / "graders")
    (staging / "pyproject.toml").write_text(pyproject_text(), encoding="utf-8")
    trimmed, warnings = public_config(config, topics)
    (staging / "grading.yaml").write_text(trimmed, encoding="utf-8")
    load_config(staging / "grading.yaml")  # the students' config must load: fail here, not on their laptops
    (staging / "README.md").write_text(student_readme(config, topics), encoding="utf-8")
    (staging / ".gitignore").write_text(_GITIGNORE, encoding="utf-8")
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
    return {rel: path for rel, path in walk(HARNESS) if not rel.endswith(".egg-info")}


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
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names |= {n.name.removeprefix("test_") for n in ast.walk(tree)
                  if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name.startswith("test_")}
    return names & set(config.topics[topic].checks)


def public_config(config: Config, topics: list[str]) -> tuple[str, list[str]]:
    """grading.yaml for students: public checks only, thresholds and points of the checks students may
    not see removed; and a warning for each public check whose test will now miss its threshold."""
    raw: dict[str, Any] = yaml.safe_load(config.path.read_text(encoding="utf-8"))
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
    return _README.format(course=config.course, rows=rows, torch=_public_version("torch"),
                          torchvision=_public_version("torchvision"), first=topics[0])


_README = """# {course}

Your copy of the course's assignments, with the tools to check your work before you submit it.

## Set up

```bash
python -m venv .venv && source .venv/bin/activate
pip install torch=={torch} torchvision=={torchvision}
pip install -e .
```

## Work on an assignment

| Topic | Your code | Self-check |
|---|---|---|
{rows}

Fill in the parts marked `# YOUR CODE HERE`, then run the self-check, for example `grade check {first}`.
It runs the public checks in `assignments/` on your code, in a separate process, and explains what failed.
Your final grade also includes checks that are not in this folder, so passing the public ones is a good
sign, not a guarantee.

## Submit

```bash
grade pack
```

checks that every required function and class is defined and that your code imports, runs the public
checks, and writes `submission.zip` (without notebook outputs, caches or data) with a `MANIFEST.json`.
Upload that zip as it is; do not change the files inside it after packing.
"""

_GITIGNORE = """__pycache__/
.ipynb_checkpoints/
.venv/
.grading_cache/
reports/
data/
submission.zip
"""
