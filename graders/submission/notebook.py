"""Reduce a notebook to its definitions, so grading never runs its training loops, downloads or plots."""

from __future__ import annotations

import ast
import itertools
import stat
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graders.errors import SubmissionError

if TYPE_CHECKING:
    import nbformat

_KEPT = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def notebook_to_module(path: Path) -> tuple[str, list[str]]:
    """The module source of a notebook's definitions, and one note per skipped statement or cell."""
    if not stat.S_ISREG(path.stat().st_mode):  # a FIFO named .ipynb would block the read forever
        raise SubmissionError(f"{path.name}: not a regular file; submit the notebook itself")
    try:
        nb = read_notebook(path)
    except Exception as exc:  # nbformat raises many types for broken JSON or schema
        raise SubmissionError(f"{path.name}: not a readable notebook ({type(exc).__name__}); "
                              "save it again from Jupyter") from None
    kept: list[str] = []
    skipped: list[str] = []
    for number, cell in enumerate(nb.cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        found, notes = cell_definitions(str(cell.get("source", "")), f"cell {number}")
        kept.extend(text for _, text in found)
        skipped.extend(notes)
    return "\n\n".join(kept) + "\n", skipped


def cell_definitions(source: str, label: str) -> tuple[list[tuple[int, str]], list[str]]:
    """One cell's kept statements as (first line in the cell, text), and a note (naming `label`) per skip.

    Shared by saved notebooks and the live check, which reads a kernel's history cell by cell (#13).
    """
    source = _strip_magics(source)
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [], [f"{label}: skipped, syntax error at line {exc.lineno}"]
    except (ValueError, MemoryError, RecursionError) as exc:  # null bytes; nesting past the parser's stack
        return [], [f"{label}: skipped, cannot be parsed ({type(exc).__name__})"]
    if any(map(_imports_harness, tree.body)) and not any(
            _is_definition(node) and not _imports_harness(node) for node in tree.body):
        return [], []  # the notebook's check cell (`grade generate`): it runs the harness, defines nothing (#13)
    lines = source.splitlines()
    kept: list[tuple[int, str]] = []
    skipped: list[str] = []
    for node in tree.body:
        if _imports_harness(node):
            skipped.append(f"{label} line {node.lineno}: skipped an import of the grading harness")
        elif _is_definition(node):
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            kept.append((first, "\n".join(lines[first - 1 : node.end_lineno])))
        else:
            skipped.append(f"{label} line {node.lineno}: skipped top-level "
                           f"{type(node).__name__.lower()} (only definitions are graded)")
    return kept, skipped


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook as nbformat 4, without a word to the student: nbformat.read printed MissingIDFieldWarning
    for every notebook written by hand or by an older tool, and logged schema complaints (issue #13).
    Grading reads only each cell's type and source, so a notebook is not rejected for its schema."""
    import nbformat  # here: its import takes a second, which `grade VERB --help` must not pay (#14)

    with warnings.catch_warnings():  # converting a v3 notebook warns about that format's own schema
        warnings.simplefilter("ignore")
        nb = nbformat.convert(nbformat.reader.reads(path.read_text(encoding="utf-8")), 4)
    if not isinstance(nb.get("cells"), list) or not all(isinstance(cell, dict) for cell in nb.cells):
        raise ValueError("its cells are not a list of cells")
    _number_cells(nb)
    return nb


def _number_cells(nb: Any) -> None:
    """Give each cell without an id (or with a repeated one) a numbered id, where nbformat 4.5 requires ids.

    Numbered rather than nbformat's random ids: `grade pack` writes the same bytes for the same notebook.
    Before 4.5 an id is not allowed, so those notebooks are left as they are."""
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) < (4, 5):
        return
    taken = {cell.get("id") for cell in nb.cells}
    fresh = (f"cell-{n}" for n in itertools.count(1) if f"cell-{n}" not in taken)
    seen: set[str] = set()
    for cell in nb.cells:
        if not isinstance(cell.get("id"), str) or cell["id"] in seen:
            cell["id"] = next(fresh)
        seen.add(cell["id"])


def _strip_magics(source: str) -> str:
    """Turn IPython magics and shell escapes into blank lines (keeping line numbers)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _imports_harness(node: ast.stmt) -> bool:
    """The notebook's self-check cell imports `graders`: the harness never runs inside a student's module."""
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").split(".")[0] == "graders"
    return isinstance(node, ast.Import) and any(a.name.split(".")[0] == "graders" for a in node.names)


def _is_definition(node: ast.stmt) -> bool:
    if isinstance(node, _KEPT):
        return True
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        try:
            ast.literal_eval(node.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return False
        return True
    return False
