"""House rules that keep the code base in shape (STYLE.md): core never imports the terminal
libraries, and the CLI imports nothing heavy until a command runs (`lmv --help` stays fast)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

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
