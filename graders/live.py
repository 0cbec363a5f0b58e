"""Grade the definitions a running Jupyter kernel holds, saved or not: the notebook's `check("topic")` (#13)."""

from __future__ import annotations

import ast
import contextlib
import io
import os
import re
import tempfile
from collections.abc import Container, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import graders
from graders.config import Config, load_config
from graders.errors import ConfigError, SubmissionError
from graders.reports.live_table import live_html, live_text
from graders.results import SubmissionResult
from graders.submission.notebook import cell_definitions

CONFIG_ENV = "GRADING_CONFIG"
# nbgrader sets this in the kernels it starts; "autograde" while it grades a submission (nbgrader/converters/
# autograde.py), "validate" while a student validates.
EXECUTION_ENV = "NBGRADER_EXECUTION"


@dataclass(frozen=True)
class Origin:
    """Where a run of the generated module's lines came from: a cell of the kernel's history."""

    module_line: int  # the run's first line in the module
    lines: int
    execution_count: int  # the cell's In [n]
    cell_line: int  # the run's first line in the cell


@dataclass(frozen=True)
class KernelModule:
    """The kernel's imports and definitions as one module, with where each of its lines came from."""

    source: str
    origins: tuple[Origin, ...]
    skipped: tuple[str, ...]

    def locate(self, line: int) -> tuple[int, int] | None:
        """(execution count, line in that cell) of module line `line`; None between definitions."""
        for origin in self.origins:
            if origin.module_line <= line < origin.module_line + origin.lines:
                return origin.execution_count, origin.cell_line + line - origin.module_line
        return None


@dataclass(frozen=True)
class LiveResult:
    """A live check's result: the grading (its messages naming notebook cells) and the names the kernel lacked."""

    result: SubmissionResult
    missing: tuple[str, ...] = ()
    # An nbgrader grade cell's execute_result must be the score alone: nbgrader.utils.determine_grade reads
    # float(output["data"]["text/plain"]) as partial credit, and the table is displayed before it instead.
    autograde: bool = False

    @property
    def points(self) -> float:
        return self.result.points

    @property
    def max_points(self) -> float:
        return self.result.max_points

    @property
    def passed(self) -> bool:
        checks = self.result.checks()
        return bool(checks) and self.result.status == "graded" and all(c.passed for c in checks)

    def text(self) -> str:
        return live_text(self.result, missing=self.missing)

    def html(self) -> str:
        return live_html(self.result, missing=self.missing)

    def _repr_html_(self) -> str | None:
        return None if self.autograde else self.html()  # None: Jupyter leaves text/html out

    def __repr__(self) -> str:
        return score_text(self.points) if self.autograde else self.text()


def check(topic: str, *, config: str | os.PathLike[str] | None = None, hidden: bool | None = None) -> LiveResult:
    """Grade `topic` on the definitions this kernel ran, unsaved; in a notebook the result shows as a table.

    `config`: the course's grading.yaml (default: $GRADING_CONFIG, then grading.yaml here or above, then the
    course the installed `graders` belongs to). `hidden`: run the hidden checks too; by default only while
    nbgrader autogrades and the course has hidden tests for the topic.
    """
    shell = _shell()
    course = load_config(find_course(config))
    spec = course.topic(topic)
    autograde = os.environ.get(EXECUTION_ENV) == "autograde"
    if hidden is None:
        hidden = autograde and has_hidden_tests(course, topic)
    module = kernel_module(kernel_cells(shell), defined=shell.user_ns)
    missing = tuple(name for name in spec.required if name not in shell.user_ns)
    result = _grade(module, course, topic, hidden=hidden, quiet=autograde)
    name_cells(result, module, spec.module)
    live = LiveResult(result=result, missing=missing, autograde=autograde)
    # nbgrader's Validate button counts a grade cell without an error as passed: there, failed checks must raise.
    failing_validation = os.environ.get(EXECUTION_ENV) == "validate" and not live.passed
    if autograde or failing_validation:
        from IPython.display import display

        display({"text/plain": live.text(), "text/html": live.html()}, raw=True)
    if failing_validation:
        raise AssertionError(f"{topic}: some public checks failed (the table above says which)")
    return live


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        get_ipython = None
    shell = get_ipython() if get_ipython else None
    if shell is None or getattr(shell, "history_manager", None) is None:
        raise SubmissionError("check() grades what a Jupyter or IPython kernel has run; outside one, save "
                              "your work and run `grade check TOPIC` in a terminal")
    return shell


def find_course(config: str | os.PathLike[str] | None = None) -> Path:
    """The course's grading.yaml: `config`, $GRADING_CONFIG, grading.yaml here or above, or the installed course's.

    A kernel that nbgrader starts runs in the student's folder, often outside the course: hence the last two.
    """
    if config is not None:
        return Path(config).expanduser()
    if os.environ.get(CONFIG_ENV):
        path = Path(os.environ[CONFIG_ENV]).expanduser()
        if not path.is_file():
            raise ConfigError(f"{CONFIG_ENV}={path}: no such file; set it to the course's grading.yaml")
        return path
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / "grading.yaml").is_file():
            return folder / "grading.yaml"
    installed = Path(graders.__file__).resolve().parents[1] / "grading.yaml"  # an editable install of the course
    if installed.is_file():
        return installed
    raise ConfigError(f"no grading.yaml in {here} or above, nor beside the installed graders package: set "
                      f"{CONFIG_ENV}=/path/to/course/grading.yaml or call check(topic, config='/path/to/grading.yaml')")


def has_hidden_tests(config: Config, topic: str) -> bool:
    folder = config.root / "hidden_tests" / config.topic(topic).folder
    return any(folder.glob("test_*.py"))


def kernel_cells(shell: Any) -> list[tuple[int, str]]:
    """(execution count, source as typed) of every cell the kernel ran, in the order it ran them."""
    # input_hist_raw[n] is In [n] as typed (magics untransformed, unlike `In`); index 0 is a placeholder.
    history = shell.history_manager.input_hist_raw
    return [(count, source) for count, source in enumerate(history) if count and source.strip()]


def kernel_module(cells: Sequence[tuple[int, str]], defined: Container[str] | None = None) -> KernelModule:
    """The cells' imports and definitions in execution order, so a later definition wins as it did in the kernel.

    With `defined` (the kernel's names), a statement whose names the kernel lacks is left out: its cell failed
    before binding them (`import torchh`, fixed since, stays in the history and would fail every check).
    """
    chunks: list[str] = []
    origins: list[Origin] = []
    skipped: list[str] = []
    line = 1
    for count, source in cells:
        found, notes = cell_definitions(source, f"In [{count}]")
        skipped += notes
        for first, text in found:
            unbound = [] if defined is None else [n for n in bound_names(text) if n not in defined]
            if unbound:
                skipped.append(f"In [{count}] line {first}: skipped, {', '.join(unbound)} not defined in the kernel")
                continue
            size = text.count("\n") + 1
            chunks.append(text)
            origins.append(Origin(module_line=line, lines=size, execution_count=count, cell_line=first))
            line += size + 1  # the blank line that joins two chunks
    return KernelModule(source="\n\n".join(chunks) + "\n", origins=tuple(origins), skipped=tuple(skipped))


def bound_names(statement: str) -> list[str]:
    """The names a top-level import, definition or assignment binds ("import a.b" binds a; "*" binds none known)."""
    node = ast.parse(statement).body[0]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"]
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return [n.id for t in targets if t is not None for n in ast.walk(t) if isinstance(n, ast.Name)]


def _grade(module: KernelModule, config: Config, topic: str, *, hidden: bool, quiet: bool) -> SubmissionResult:
    # here: it imports pytest and torch, which find_course needn't
    from graders.grading.session import GradingOptions, grade_submission, spare_core

    spec = config.topic(topic)
    with tempfile.TemporaryDirectory(prefix="grade-live-") as tmp:
        path = Path(tmp) / spec.module
        path.write_text(module.source, encoding="utf-8")
        # Under autograde anything on stderr costs the grade cell all its points (nbgrader's determine_grade).
        muted = contextlib.redirect_stderr(io.StringIO()) if quiet else contextlib.nullcontext()
        with muted:
            return grade_submission(path, config=config, topics=[topic], hidden=hidden, name="live check",
                                    options=GradingOptions(helper_worker=spare_core(config)))


def name_cells(result: SubmissionResult, module: KernelModule, filename: str) -> None:
    """Rewrite "linear_regression.py line 12" in the result's messages as the cell it came from: "In [7], line 3"."""
    pattern = re.compile(rf"\b{re.escape(filename)} line (\d+)")

    def cell(match: re.Match[str]) -> str:
        found = module.locate(int(match.group(1)))
        return match.group(0) if found is None else f"In [{found[0]}], line {found[1]}"

    result.reason = pattern.sub(cell, result.reason)
    for topic in result.topics:
        topic.reason = pattern.sub(cell, topic.reason)
        topic.notes = [pattern.sub(cell, note) for note in topic.notes]
        for item in topic.checks:
            item.message = pattern.sub(cell, item.message)


def score_text(points: float) -> str:
    """Points as a bare number nbgrader's float() reads: "5", "2.5", "0.333333"."""
    return format(points, ".6g")
