"""`grade release`: the students' copy of the course, without solutions, hidden tests or withheld thresholds."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from graders.config import Config, load_config
from graders.delivery.harness import copy_harness, pyproject_text, render_template
from graders.delivery.leak_scan import public_checks, scan_release
from graders.delivery.pack import clean_notebook, walk
from graders.errors import ConfigError, DeliveryError


@dataclass
class Release:
    """A written release: where, which files, and what the instructor should look at."""

    folder: Path
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def release(*, out: str | Path, config: Config, topics: list[str] | None = None,
            ci: bool = True, force: bool = False) -> Release:
    """Write the students' copy of the course to `out`: stubs, notebooks and public tests, the harness,
    a trimmed grading.yaml and a README (with `ci`, also a GitHub Actions workflow). The copy is scanned
    for solution code and hidden checks before it appears at `out`; a leak raises DeliveryError."""
    selected = _releasable(config, topics)
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


def _releasable(config: Config, topics: list[str] | None) -> list[str]:
    """The chosen topics (default: all), each with an assignments/ folder to release."""
    selected = config.select(topics)
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
