"""The layering of DESIGN.md, checked statically over the import graph (every import statement, at module
level or inside a function, and ``importlib.import_module`` / ``__import__`` of a literal name):

- ``benchmarks/`` imports nothing from ``methods/``, ``harness/`` or ``results/``;
- ``methods/`` nothing from ``harness/`` or ``results/``;
- ``results/`` (the store, reports) nothing from ``harness/``, and neither does the notebook: reports read
  only the store, never re-resolve a configuration with the harness's code;
- the neutral modules (``nasbench_errors``, ``nasbench_settings``) import none of the four packages.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("benchmarks", "methods", "harness", "results")
NEUTRAL = ("nasbench_errors", "nasbench_settings")
FORBIDDEN: dict[str, set[str]] = {
    "benchmarks": {"methods", "harness", "results"},
    "methods": {"harness", "results"},
    "results": {"harness"},
    **{name: set(PACKAGES) for name in NEUTRAL},
}
NOTEBOOKS_FORBIDDEN = {"harness"}


def imported_modules(source: str, module: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in ``source``, the code of module ``module``
    (dotted; relative imports are resolved against it)."""
    package = module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                yield node.lineno, ".".join([*base, *([node.module] if node.module else [])])
            else:
                yield node.lineno, node.module or ""
        elif isinstance(node, ast.Call) and _called(node.func) in ("import_module", "__import__") and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            yield node.lineno, node.args[0].value


def _called(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def violations(source: str, module: str) -> list[str]:
    """The imports of ``module`` that its layer forbids, as "module:line imports target"."""
    forbidden = FORBIDDEN.get(module.split(".")[0], set())
    return [f"{module}:{line} imports {target}" for line, target in imported_modules(source, module)
            if target.split(".")[0] in forbidden]


def _modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield ".".join(parts), path  # a package's __init__ keeps its name: relative imports resolve in it
    for name in NEUTRAL:
        yield name, ROOT / f"{name}.py"


def test_every_layer_imports_only_what_it_may():
    checked = list(_modules())
    assert {m.split(".")[0] for m, _ in checked} == {*PACKAGES, *NEUTRAL}
    found = [v for module, path in checked for v in violations(path.read_text(), module)]
    assert not found, "layering violations (see DESIGN.md, Layers):\n" + "\n".join(found)


def test_notebooks_read_only_the_store():
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
        bad = [t for _, t in imported_modules(code, "notebook") if t.split(".")[0] in NOTEBOOKS_FORBIDDEN]
        assert not bad, f"{path.name} imports {bad}: notebooks read the store (results/), not the harness"


def test_the_check_finds_each_kind_of_import():
    """The checker itself: every import form it must see, and a relative import resolved to its package."""
    source = "\n".join([
        "import harness.specs",
        "from harness import cli",
        "def f():",
        "    from harness.specs import resolve_config",
        "    import importlib",
        "    importlib.import_module('harness.runner')",
        "from . import data",
        "from ..store import Store",
        "import benchmarks.registry",
    ])
    found = violations(source, "results.reports.data")
    assert found == ["results.reports.data:1 imports harness.specs", "results.reports.data:2 imports harness",
                     "results.reports.data:4 imports harness.specs", "results.reports.data:6 imports harness.runner"]
    assert dict(imported_modules(source, "results.reports.data"))[8] == "results.store"
    assert violations("from methods.registry import get", "benchmarks.nb201.space") == [
        "benchmarks.nb201.space:1 imports methods.registry"]
    assert violations("from results.store import Store", "methods.loop") == ["methods.loop:1 imports results.store"]
    assert violations("import methods", "nasbench_settings") == ["nasbench_settings:1 imports methods"]
    assert violations("from benchmarks.space import SearchSpace", "methods.base") == []
