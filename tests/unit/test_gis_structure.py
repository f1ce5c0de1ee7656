"""The shape of gis/: modules share only public names, and functions stay short enough to read."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GIS = Path(__file__).resolve().parents[2] / "gis"
#: Functions allowed over 80 lines, each with the reason in its docstring.
LONG_ON_PURPOSE = {("partition.py", "_passes")}


def _modules() -> list[Path]:
    return sorted(GIS.glob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_no_gis_module_imports_another_modules_private_names(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    private = [(node.module, alias.name) for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gis")
               for alias in node.names if alias.name.startswith("_")]
    assert private == []


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_no_gis_function_over_80_lines(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.end_lineno - node.lineno + 1 > 80 and (path.name, node.name) not in LONG_ON_PURPOSE]
    assert long == []
