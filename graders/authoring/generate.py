"""Build the student's files from solutions/: stubs, and notebooks carrying nbgrader's cell metadata.

Each `### BEGIN SOLUTION` region becomes `# YOUR CODE HERE` + `raise NotImplementedError()`, exactly as
`nbgrader generate_assignment` does, so the instructor notebook written beside the solution drops into an
nbgrader course's source/ folder and the student notebook into its release.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING

from graders.config import Config, TopicConfig
from graders.errors import ConfigError

if TYPE_CHECKING:
    import nbformat

_REGION = re.compile(
    r"^(?P<indent>[ \t]*)### BEGIN SOLUTION[ \t]*\n.*?^[ \t]*### END SOLUTION[ \t]*(?P<end>\n|\Z)",
    re.MULTILINE | re.DOTALL,
)
_SCHEMA = 3  # nbgrader's cell metadata schema version


def stub_source(solution: str) -> str:
    """The student's version of a solution module."""
    if solution.count("### BEGIN SOLUTION") != solution.count("### END SOLUTION"):
        raise ValueError("unbalanced ### BEGIN SOLUTION / ### END SOLUTION markers")
    return _REGION.sub(
        lambda m: f"{m['indent']}# YOUR CODE HERE\n{m['indent']}raise NotImplementedError(){m['end']}", solution)


def notebook(solution: str, *, name: str, spec: TopicConfig, student: bool) -> str:
    """The topic's notebook: one cell per top-level definition, then a locked grade cell running the checks."""
    import nbformat  # here: its import takes a second, which `grade VERB --help` must not pay (#14)

    cells = [_cell("markdown", f"# {spec.title or name}\n\n{_docstring(solution)}\n\nFill in every "
                   "`# YOUR CODE HERE`, then run the last cell.", f"{name}-intro", locked=True)]
    for number, chunk in enumerate(_chunks(solution), start=1):
        text = stub_source(chunk) if student else chunk
        cells.append(_cell("code", text, f"{name}-{number}", solution="### BEGIN SOLUTION" in chunk))
    # One locked grade cell worth every check of the topic (#13): under `nbgrader autograde` check() returns
    # the points it earned, which nbgrader records as the cell's partial credit; `grade export` writes our
    # batch's score into the same cell, so formgrader's totals are ours.
    source = f'from graders.live import check\ncheck("{name}")'
    total = sum(c.points for c in spec.checks.values())
    cells.append(_cell("code", source, check_cell_id(name), locked=True, points=total))
    nb = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})
    return nbformat.writes(nb)


def _chunks(solution: str) -> list[str]:
    """Top-level statements grouped into cells: imports and constants together, each definition alone.

    A statement's cell runs to the next statement, so trailing comments (### END SOLUTION) stay with it.
    The `if __name__ == "__main__":` demo is left out: it trains on downloaded data.
    """
    lines, body = solution.splitlines(), ast.parse(solution).body
    starts = [min([n.lineno] + [d.lineno for d in getattr(n, "decorator_list", [])]) for n in body]
    chunks: list[str] = []
    pending: list[str] = []
    for index, node in enumerate(body):
        end = starts[index + 1] - 1 if index + 1 < len(body) else len(lines)
        text = "\n".join(lines[starts[index] - 1 : end]).strip("\n")
        if (index == 0 and isinstance(node, ast.Expr)) or _not_for_notebook(node):
            continue  # the docstring becomes the introduction
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            chunks.extend(["\n".join(pending)] if pending else [])
            chunks.append(text)
            pending = []
        else:
            pending.append(text)
    return chunks + (["\n".join(pending)] if pending else [])


def _not_for_notebook(node: ast.stmt) -> bool:
    """The `if __name__ == "__main__":` demo (it trains on downloaded data), and `f.__test__ = False`: that
    keeps pytest from collecting a `test_*` function where the .py module is imported, a notebook is never
    collected, and grading would report the statement as skipped."""
    if isinstance(node, ast.If):
        return "__main__" in ast.unparse(node.test)
    return isinstance(node, ast.Assign) and all(
        isinstance(t, ast.Attribute) and t.attr == "__test__" for t in node.targets)


def check_cell_id(topic: str) -> str:
    """The grade_id of a topic's check cell: nbgrader's name for it, and the cell `grade export` fills."""
    return f"{topic}-checks"


def _docstring(solution: str) -> str:
    return ast.get_docstring(ast.parse(solution)) or ""


def _cell(kind: str, source: str, grade_id: str, *, solution: bool = False, locked: bool = False,
          points: float | None = None) -> nbformat.NotebookNode:
    import nbformat

    make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
    meta = {"grade": points is not None, "solution": solution, "locked": locked and not solution,
            "grade_id": grade_id, "schema_version": _SCHEMA}
    if points is not None:
        meta["points"] = points
    cell = make(source, metadata={"nbgrader": meta})
    cell["id"] = grade_id  # stable ids keep generated notebooks byte-identical run to run
    return cell


def course_files(config: Config) -> dict[Path, str]:
    """Every generated file: assignments/ stubs and notebooks, and the instructor notebook in solutions/."""
    files = {}
    for name, spec in config.topics.items():
        solution = config.root / "solutions" / spec.folder / spec.module
        stem = Path(spec.module).stem + ".ipynb"
        try:
            text = solution.read_text(encoding="utf-8")
            files[config.root / "assignments" / spec.folder / spec.module] = stub_source(text)
            files[config.root / "assignments" / spec.folder / stem] = notebook(text, name=name, spec=spec,
                                                                               student=True)
            files[solution.with_name(stem)] = notebook(text, name=name, spec=spec, student=False)
        except (OSError, ValueError, SyntaxError) as exc:
            raise ConfigError(f"{solution}: cannot build the files of topic {name}: {exc}") from None
    return files


def generate(*, config: Config, check: bool = False) -> list[Path]:
    """Write the generated files; with `check`, write nothing and return the stale ones."""
    files = course_files(config)
    stale = [path for path, text in files.items() if not path.is_file() or path.read_text("utf-8") != text]
    if not check:
        for path in stale:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(files[path], encoding="utf-8")
    return stale
