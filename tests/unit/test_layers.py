"""The import rule of the layers, checked on every module's imports (read with ``ast``, nothing imported).

    web, api  → services (and the shared basics)
    services  → store, gis
    store     → models and the rest of store
    gis       → neither flask, nor sqlalchemy, nor psycopg, nor server
    only create_app (server/__init__.py) imports web

The shared basics every layer may use: ``server.config``, ``server.errors``, ``server.encoding``,
``server.caching`` and ``server.api.params`` (the one parser; the CLI and pages parse with it too).
``server.access`` (the request's user and the guards) is for routes only: web and api.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASICS = ("server.config", "server.errors", "server.encoding", "server.caching", "server.api.params", "server.access")
DRIVERS = ("flask", "werkzeug", "sqlalchemy", "geoalchemy2", "psycopg", "alembic")

# layer → prefixes it must not import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "gis": (*DRIVERS, "server"),
    "server.store": ("flask", "werkzeug", "server.services", "server.api", "server.web", "server.cli", "server.access"),
    "server.services": ("flask", "werkzeug", "server.api", "server.web", "server.cli", "server.access"),
    "server.api": ("server.store", "server.web", "server.cli"),
    "server.web": ("server.store", "server.api", "server.cli"),
    "server.cli": ("server.web", "server.api", "server.access"),
    # who is asking: read from the request for the routes, below web and api, above services
    "server.access": ("server.web", "server.api", "server.cli", "server.store"),
    # the shared basics stay below every layer
    "server.config": ("server.web", "server.api", "server.services", "server.store", "server.cli"),
    "server.errors": ("server.web", "server.api", "server.services", "server.store", "server.cli"),
    "server.encoding": ("server.web", "server.api", "server.services", "server.store", "server.cli"),
    "server.caching": ("server.web", "server.api", "server.services", "server.store", "server.cli"),
}

# Known exceptions while the layering was under way; empty since the layering issue was done.
ALLOWED: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from server import store`` imports server.store; ``from server.api import params`` only the parser
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def layer_of(module: str) -> str | None:
    for layer in sorted(FORBIDDEN, key=len, reverse=True):
        if module == layer or module.startswith(layer + "."):
            return layer
    return None


def violations() -> list[tuple[str, str]]:
    found = []
    files = [*ROOT.joinpath("gis").rglob("*.py"), *ROOT.joinpath("server").rglob("*.py")]
    for path in sorted(files):
        if "migrations" in path.parts:
            continue
        module = module_name(path)
        layer = layer_of(module)
        if layer is None:
            continue
        for imported in sorted(imports_of(path)):
            if imported.startswith(BASICS):
                continue
            if any(imported == bad or imported.startswith(bad + ".") for bad in FORBIDDEN[layer]):
                found.append((module, imported))
    return found


def test_every_import_keeps_to_the_layers():
    broken = [v for v in violations() if v not in ALLOWED]
    assert not broken, "imports that break the layer rule:\n" + "\n".join(f"  {a} imports {b}" for a, b in broken)


def test_the_allow_list_holds_only_live_exceptions():
    stale = ALLOWED - set(violations())
    assert not stale, f"allowed exceptions that no longer occur (remove them): {sorted(stale)}"
