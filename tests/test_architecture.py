"""House rules that keep the code base in shape (STYLE.md): core never imports the terminal
libraries, and the CLI imports nothing heavy until a command runs (`lmv --help` stays fast)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import lmv_cli

PACKAGE = Path(lmv_cli.__file__).parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_never_imports_typer_or_rich() -> None:
    offenders = {
        str(p.relative_to(PACKAGE)): sorted(imported_modules(p) & {"typer", "rich", "click"})
        for p in (PACKAGE / "core").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_exr_module_imports_openexr() -> None:
    users = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if "OpenEXR" in imported_modules(p))
    assert users == ["core/exr.py"]


def test_cli_import_is_light() -> None:
    code = "import sys, lmv_cli.cli.app; print(sorted(m for m in ('torch', 'zarr') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---- layering of the training floors (issue 11) --------------------------------------------------------

STORE_SIDE = ("lmv_cli.core.store", "lmv_cli.core.exr", "lmv_cli.core.derived", "lmv_cli.core.brdf_lut",
              "lmv_cli.core.capture", "lmv_cli.core.synth", "lmv_cli.core.ue4")
"""Store, EXR and pack-time conversion code: what the network must not depend on."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.fixture(scope="module")
def loaded(eval_store) -> dict[str, list[str]]:
    """The modules a fresh interpreter holds after importing every model module ("model"), and after then
    also reading a store frame and a training window ("store read"): one subprocess for both."""
    models = [_module_name(p) for p in sorted((PACKAGE / "core" / "model").glob("*.py"))]
    code = "\n".join([
        "import json, sys",
        *(f"import {m}" for m in models),
        "after_model = sorted(sys.modules)",
        "from lmv_cli.core.store import open_store",
        "from lmv_cli.core.data import WindowDataset, build_index",
        "from lmv_cli.core.config import DataConfig",
        f"s = open_store({str(eval_store)!r}); s.scene(s.scenes[0]).frame(0)",
        f"idx = build_index(DataConfig(stores=({str(eval_store)!r},), sequence_length=3, crop=(16, 16)))",
        "WindowDataset(idx, (16, 16), True, 0)[(0, 0)]",
        "print(json.dumps({'model': after_model, 'store read': sorted(sys.modules)}))",
    ])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def test_the_model_never_imports_store_exr_or_conversion_code(loaded) -> None:
    assert [m for m in loaded["model"] if m.startswith(STORE_SIDE) or m == "OpenEXR"] == []


def test_reading_a_store_never_loads_openexr(loaded) -> None:
    assert "OpenEXR" not in loaded["store read"] and "lmv_cli.core.exr" not in loaded["store read"]
    assert not [m for m in loaded["store read"] if m.startswith("lmv_cli.core.store.writer")]


def _import_graph() -> dict[str, set[str]]:
    """Module → lmv_cli modules it imports when it is imported (module level, not under TYPE_CHECKING;
    a submodule import also runs its packages' __init__, except packages the importer lives in)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _module_level(ast.parse(path.read_text()).body):
            if isinstance(node, ast.Import):
                found = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                found = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for target in found:
                parts = target.split(".")
                for i in range(1, len(parts) + 1):
                    mod = ".".join(parts[:i])
                    if mod in modules and mod != name and not (name + ".").startswith(mod + "."):
                        targets.add(mod)
        graph[name] = targets
    return graph


def _module_level(body: list) -> list:
    nodes = []
    for node in body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, (ast.If, ast.Try)):
            nodes += _module_level(node.body) + _module_level(getattr(node, "orelse", []))
            nodes += [n for h in getattr(node, "handlers", []) for n in _module_level(h.body)]
        else:
            nodes.append(node)
    return nodes


def test_no_import_cycles() -> None:
    graph = _import_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == []
    assert "lmv_cli.core.store" in graph["lmv_cli.core.data.index"] or "lmv_cli.core.data.index" in graph  # sanity
    assert "lmv_cli.core.model.files" in graph["lmv_cli.core.train.checkpoint"]  # the graph sees real edges


def _function_level_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import statement inside a function or method of `path`."""
    found = []
    for fn in ast.walk(ast.parse(path.read_text())):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(fn):
                if isinstance(node, ast.Import):
                    found += [(node.lineno, alias.name) for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def test_core_imports_inside_functions_only_what_lazy_imports_lists() -> None:
    """Every other import stands at module top, where the import graph sees it (issue 23)."""
    from lmv_cli.core import LAZY_IMPORTS

    def listed(module: str) -> bool:
        return any(module == name or module.startswith(name + ".") for name in LAZY_IMPORTS)

    hidden = [f"{p.relative_to(PACKAGE)}:{line} {module}"
              for p in sorted((PACKAGE / "core").rglob("*.py"))
              for line, module in _function_level_imports(p) if not listed(module)]
    assert hidden == []


def test_the_function_level_import_check_sees_a_hidden_edge(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from lmv_cli.core import store\n    import zarr.codecs\n")
    assert _function_level_imports(module) == [(4, "lmv_cli.core"), (5, "zarr.codecs")]
