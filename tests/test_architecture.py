"""The shape of graders/: no import cycles, modules under 400 lines, functions under 40 (STYLE.md, issue #15).

Read statically with `ast`, so that nothing is imported and a cycle cannot hide behind import order.

Which imports count: every `import` and `from ... import` of a graders module, at module level or inside a
function or class, except those under `if TYPE_CHECKING:` (they never run). An import inside a function
counts because it is still a dependency: the cycle grading -> submission -> pack -> grading was one, hidden
in `pack`'s function. `from package import name` depends on the module `package.name` when there is one,
else on `package` itself (its __init__). The implicit import of a module's parent packages is not counted:
every module would depend on its package's __init__.

How long: a module's physical lines; a function from its `def` line to its last line (decorators not
included, a nested function counted in the one around it as well).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "graders"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 40


def modules(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under `package` (a package is named by its __init__)."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that module `name` (file `path`) imports, by the rule in this file's docstring."""
    here = name if path.name == "__init__.py" else name.rpartition(".")[0]
    deps: set[str] = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            deps.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, here)
            deps.update(f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names)
    return {dep for dep in deps if dep in known and dep != name}


def _absolute(node: ast.ImportFrom, here: str) -> str:
    if not node.level:
        return node.module or ""
    parts = here.split(".")[: len(here.split(".")) - node.level + 1]
    return ".".join([*parts, *([node.module] if node.module else [])])


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node except the bodies of `if TYPE_CHECKING:` (their `else:` runs, and is kept)."""
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
        else:
            pending.extend(ast.iter_child_nodes(node))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of `graph`: its strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for dep in sorted(graph[node]):
            if dep not in index:
                visit(dep)
                low[node] = min(low[node], low[dep])
            elif dep in stack:
                low[node] = min(low[node], index[dep])
        if low[node] == index[node]:
            component = stack[stack.index(node):]
            del stack[stack.index(node):]
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def import_graph(package: Path) -> dict[str, set[str]]:
    found = modules(package)
    return {name: imported(name, path, set(found)) for name, path in found.items()}


def long_functions(path: Path, limit: int) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno is not None and node.end_lineno - node.lineno + 1 > limit]


def _rel(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


def test_no_import_cycles_among_graders_modules():
    found = cycles(import_graph(PACKAGE))
    assert not found, "import cycles (move the shared piece where it belongs):\n" + "\n".join(
        " <-> ".join(cycle) for cycle in found)


def test_no_module_over_400_lines():
    long = [f"{_rel(p)} ({n} lines)" for p in modules(PACKAGE).values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split by concern):\n" + "\n".join(long)


def test_no_function_over_40_lines():
    long = [f"{_rel(p)}: {f}" for p in modules(PACKAGE).values() for f in long_functions(p, MAX_FUNCTION_LINES)]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


def test_the_rules_see_lazy_imports_and_skip_type_checking(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def later():\n    from . import a\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n")
    (package / "d.py").write_text("@property\ndef f():\n" + "    pass\n" * 40)
    graph = import_graph(package)
    assert graph["pkg.c"] == set()
    assert cycles(graph) == [["pkg.a", "pkg.b"]]
    assert long_functions(package / "d.py", 40) == ["f (41 lines, line 2)"]
