"""No module of `services/` takes part in an import cycle, and the worker's `models/`
package knows only networks and backends.

Read from the source with `ast` (nothing is imported); every import counts, the ones inside
functions too, since an import moved into a function is how a cycle usually hides.
Importing `a.b.c` runs the `__init__` of `a.b` first, unless the importing module lies
inside `a.b` itself (then that package is already loading): so an import also reaches each
package above its target that does not hold the importer.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "services"


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted name -> file, for every module under `root/<package>`."""
    return {
        module_name(path, root): path
        for path in sorted((root / package.replace(".", "/")).rglob("*.py"))
    }


def imported_modules(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """The modules of `known` that `path` (module `name`) imports, relative imports
    resolved, with the packages each import runs on its way."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                above = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*above, *([base] if base else [])])
            # `from pkg import sub` imports the module `pkg.sub` when there is one.
            targets |= {
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            }
    reached = set()
    for target in targets:
        parts = target.split(".")
        for end in range(1, len(parts) + 1):
            step = ".".join(parts[:end])
            holds_importer = name == step or name.startswith(step + ".")
            if step in known and step != name and not holds_importer:
                reached.add(step)
    return reached


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    known = modules(root, package)
    return {name: imported_modules(path, name, known) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules (Tarjan), each as a path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
            if len(group) > 1 or node in graph[node]:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_module_of_services_is_in_an_import_cycle() -> None:
    assert cycles(import_graph(ROOT, "services")) == []


def test_models_imports_nothing_of_the_worker_above_it() -> None:
    """`services.worker.models` returns network backends; the worker wraps them."""
    graph = import_graph(ROOT, "services")
    above = {
        (name, target)
        for name, targets in graph.items()
        if name.startswith("services.worker.models")
        for target in targets
        if target.startswith("services.worker") and not target.startswith("services.worker.models")
    }
    assert above == set()


def test_a_cycle_through_an_import_inside_a_function_is_caught(tmp_path: Path) -> None:
    """The check itself: the package `a` imports `b` in a function, `b` imports a module
    of `a`, which runs `a`'s `__init__`; a sibling import inside `a` is no cycle."""
    files = {
        "top/__init__.py": "",
        "top/a/__init__.py": "def load():\n    from top.b import wrap\n",
        "top/a/net.py": "from top.a.parts import conv\n",
        "top/a/parts.py": "import math\n",
        "top/b.py": "from top.a.net import Net\n",
        "top/c.py": "from .b import wrap\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(tmp_path, "top")
    assert graph["top.a.net"] == {"top.a.parts"}
    assert graph["top.c"] == {"top.b"}
    assert cycles(graph) == [["top.a", "top.b"]]
