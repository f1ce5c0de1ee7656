"""Configuration, layered: defaults → environment (``WANGGE_*`` and ``DATABASE_URL``) → explicit overrides.

Nothing here touches the database or the network; :func:`load_config` only reads values.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Base-map choices offered by the map pages. ``none`` draws the data on a plain background, which is
#: what an offline government network gets anyway; ``tianditu`` needs ``WANGGE_TIANDITU_KEY``.
TILE_PROVIDERS = ("none", "osm", "tianditu", "custom")

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,  # None → the embedded cluster under VAR_DIR
    "VAR_DIR": str(PROJECT_ROOT / "var"),
    "EMBEDDED_PORT": 54329,  # only names the Unix socket file; the embedded cluster listens on no TCP port
    "HOST": "127.0.0.1",
    "PORT": 8000,
    "TILES": "none",
    "TIANDITU_KEY": "",
    "TILE_URL": "",  # for TILES=custom, e.g. an internal tile server http://gis.local/{z}/{x}/{y}.png
    "TILE_ATTRIBUTION": "",
    "SECRET_KEY": None,
    "DEMO_DIR": str(PROJECT_ROOT / "data" / "boundaries" / "demo"),
    "MAX_FEATURES": 20000,  # cap on features one GeoJSON request returns
}

_INT_KEYS = {"EMBEDDED_PORT", "PORT", "MAX_FEATURES"}


def load_config(overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Return the effective configuration.

    Parameters
    ----------
    overrides
        Values that win over everything (tests use this).
    environ
        The environment to read; ``os.environ`` by default. ``DATABASE_URL`` is read as is, every
        other key as ``WANGGE_<KEY>``.
    """
    env = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for key in DEFAULTS:
        name = key if key == "DATABASE_URL" else f"WANGGE_{key}"
        if env.get(name):
            config[key] = env[name]
    config.update(overrides or {})
    for key in _INT_KEYS:
        try:
            config[key] = int(config[key])
        except (TypeError, ValueError) as exc:
            raise ValueError(f"configuration WANGGE_{key} must be an integer, got {config[key]!r}") from exc
    if config["TILES"] not in TILE_PROVIDERS:
        raise ValueError(f"configuration WANGGE_TILES must be one of {', '.join(TILE_PROVIDERS)}; "
                         f"got {config['TILES']!r}")
    if config["TILES"] == "tianditu" and not config["TIANDITU_KEY"]:
        raise ValueError("WANGGE_TILES=tianditu needs WANGGE_TIANDITU_KEY (the Tianditu 'tk' key)")
    if config["TILES"] == "custom" and not config["TILE_URL"]:
        raise ValueError("WANGGE_TILES=custom needs WANGGE_TILE_URL, e.g. http://tiles.local/{z}/{x}/{y}.png")
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = secrets.token_hex(32)
    if config["DATABASE_URL"]:
        config["DATABASE_URL"] = normalise_database_url(config["DATABASE_URL"])
    return config


def normalise_database_url(url: str) -> str:
    """Make a libpq-style URL use SQLAlchemy's psycopg 3 driver (``postgresql+psycopg://``)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
