"""The layers of `services/`, bottom up: `core`, then `media`, then the services (`api`,
`worker`, `packager`, `ingest`), then the entry points (`cli`, `stack`, `demo*`).

A module imports only from its own package or a lower layer, and no service imports
another: what two services share goes down into `core` or `media`. Every import counts,
the ones inside functions too, read from the source with `ast` (nothing is imported).
"""

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parent.parent / "services"
LAYERS = {"core": 0, "media": 1, "api": 2, "worker": 2, "packager": 2, "ingest": 2}
TOP = 3  # cli.py, stack.py, demo*.py: they may use anything below and each other
TOP_MODULES = ("cli", "stack", "demo")
# Libraries a package never loads: the API image installs neither torch nor PyAV (nor
# `services/media`), and what the worker, packager and ingest share has no web framework.
FORBIDDEN_LIBRARIES = {
    "core": {"torch", "av", "fastapi", "starlette"},
    "media": {"torch", "fastapi", "starlette"},
    "api": {"torch", "av"},
}


def package_of(module: Path, root: Path) -> str:
    """The package a file of `root` (a `services/`) belongs to: a service, or "top"."""
    parts = module.relative_to(root).parts
    if len(parts) > 1:
        return parts[0]
    name = module.stem
    if name == "__init__":
        return "core"  # the namespace's own `__init__` is as low as it gets
    if name.startswith(TOP_MODULES):
        return "top"
    raise AssertionError(f"{module}: a module at services/ top level that no layer names")


def layer_of(package: str) -> int:
    if package == "top":
        return TOP
    assert package in LAYERS, f"services/{package}/ is in no layer: add it to LAYERS"
    return LAYERS[package]


def imported_names(module: Path, root: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of everything `module` imports, relative imports resolved."""
    tree = ast.parse(module.read_text(), filename=str(module))
    # A relative import counts from the module's package, which for `__init__` is itself.
    here = list(module.relative_to(root.parent).with_suffix("").parts)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*here[: len(here) - node.level], *([base] if base else [])])
            # `from services import worker` imports the package `services.worker`.
            names += [
                (node.lineno, f"{base}.{alias.name}" if base == "services" else base)
                for alias in node.names
            ]
    return names


def target_package(name: str) -> str | None:
    """The package of `services/` that the dotted `name` lies in; None outside `services`."""
    parts = name.split(".")
    if parts[0] != "services" or len(parts) == 1:
        return None
    return "top" if parts[1].startswith(TOP_MODULES) else parts[1]


def violations(module: Path, root: Path = SERVICES) -> list[str]:
    package = package_of(module, root)
    layer = layer_of(package)
    found = []
    for line, name in imported_names(module, root):
        where = f"{module.relative_to(root.parent)}:{line} imports {name}"
        library = name.split(".")[0]
        if library in FORBIDDEN_LIBRARIES.get(package, set()):
            found.append(f"{where}: services/{package}/ must not load {library}")
        target = target_package(name)
        if target is None or target == package:
            continue
        target_layer = layer_of(target)
        if target_layer > layer:
            found.append(f"{where}: a higher layer")
        elif target_layer == layer and layer != TOP:
            found.append(f"{where}: another service at the same layer")
    return found


MODULES = sorted(SERVICES.rglob("*.py"))
# The ingest job's old dotted path, kept so jobs queued before the upgrade still run; it
# goes, and this exception with it, in the release after the first with services/ingest.
OLD_JOB_PATHS = {"packager/ingest.py": ["services/packager/ingest.py:"]}


@pytest.mark.parametrize("module", MODULES, ids=[str(m.relative_to(SERVICES)) for m in MODULES])
def test_module_imports_only_its_own_package_or_a_lower_layer(module: Path) -> None:
    allowed = OLD_JOB_PATHS.get(str(module.relative_to(SERVICES)), [])
    assert [v for v in violations(module) if not any(v.startswith(a) for a in allowed)] == []


def test_imports_from_a_higher_layer_or_a_sibling_service_are_caught(tmp_path: Path) -> None:
    """The check itself, on modules written to refuse: each of these imports is caught."""
    root = tmp_path / "services"
    refused = {
        "media/a.py": "from services.worker.pipeline import transcode\n",
        "packager/b.py": "def later():\n    from services.worker import jobs\n",
        "worker/c.py": "from .. import packager\n",
        "core/d.py": "import torch\nfrom ..api import app\n",
        "api/e.py": "import services.cli\n",
    }
    allowed = {
        "worker/f.py": "from . import pipeline\nfrom ..media.reader import FrameBatch\nimport av\n",
        "media/__init__.py": "from .probe import probe\nfrom services.core import keys\n",
        "cli.py": "from services.worker.runner import run_worker\nfrom services import stack\n",
    }
    for name, text in {**refused, **allowed}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    assert {name: len(violations(root / name, root)) for name in refused} == {
        "media/a.py": 1,
        "packager/b.py": 1,
        "worker/c.py": 1,
        "core/d.py": 2,
        "api/e.py": 1,
    }
    assert {name: violations(root / name, root) for name in allowed} == {
        name: [] for name in allowed
    }


def test_no_module_is_over_300_lines() -> None:
    """Small modules with names that say what they are (issue 15): past 300 lines, split."""
    long = {str(m.relative_to(SERVICES)): n for m in MODULES if (n := len(m.read_text().splitlines())) > 300}
    assert long == {}
