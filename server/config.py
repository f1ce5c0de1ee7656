"""Configuration, layered: defaults → environment (``WANGGE_*`` and ``DATABASE_URL``) → explicit overrides.

Nothing here touches the database or the network; :func:`load_config` only reads values, with one
exception: when no ``WANGGE_SECRET_KEY`` is given, a random key is created once in ``VAR_DIR/secret_key``
and reused, so sessions survive restarts and are valid across gunicorn workers of one install.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Base-map choices offered by the map pages. ``none`` draws the data on a plain background, which is
#: what an offline government network gets anyway; ``tianditu`` needs ``WANGGE_TIANDITU_KEY``.
TILE_PROVIDERS = ("none", "osm", "tianditu", "custom")

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,  # None → the embedded cluster under VAR_DIR
    # Optional streaming replica for public reads (lookup, notice boards, OGC API, tiles, event status);
    # every write, and every read an editor or reviewer makes, goes to DATABASE_URL.
    "DATABASE_READ_URL": None,
    # A Dask scheduler (tcp://host:8786) that `wangge divide` sends its tasks to; empty: a local cluster.
    "DASK_SCHEDULER": "",
    "VAR_DIR": str(PROJECT_ROOT / "var"),
    "EMBEDDED_PORT": 54329,  # only names the Unix socket file; the embedded cluster listens on no TCP port
    "HOST": "127.0.0.1",
    "PORT": 8000,
    "TILES": "none",
    "TIANDITU_KEY": "",
    "TILE_URL": "",  # for TILES=custom, e.g. an internal tile server http://gis.local/{z}/{x}/{y}.png
    "TILE_ATTRIBUTION": "",
    "SECRET_KEY": None,  # None → a random key kept in VAR_DIR/secret_key (see install_secret_key)
    "SECURE_COOKIES": "",  # set (e.g. 1) when served over HTTPS: session cookies get the Secure flag
    "SESSION_HOURS": 8,  # a session ends after this many hours without a request
    "DEMO_DIR": str(PROJECT_ROOT / "data" / "boundaries" / "demo"),
    "MAX_FEATURES": 20000,  # cap on features one GeoJSON request returns
    # The public (lookup, notice boards, OGC API, tiles) sees only approved divisions in force; false
    # also shows the latest draft of communities with nothing approved (staff previews, tests).
    "PUBLIC_APPROVED_ONLY": "1",
    "SUPERVISION_PHONE": "12345",  # printed on every public grid notice board (Jiangsu art. 19); 12345 hotline
    # Grid events: the working calendar deadlines are counted on (a JSON file, see gis/workcal.py and
    # data/matters/workcal.example.json; empty: Mon-Fri 09:00-12:00, 13:30-17:30, no holidays), the share
    # of the time limit left at which an event is warned (预警), and anonymous reports per IP and window.
    "WORK_CALENDAR": "",
    "EVENT_WARNING_SHARE": "0.2",
    "PUBLIC_REPORT_LIMIT": "10/3600",  # reports per client IP / seconds
    # Rate limits, COUNT/SECONDS per key, counted in PostgreSQL so they hold across workers and
    # instances: failed sign-ins per user name and per client address; anonymous lookups and batch
    # lookups per client address.
    "LOGIN_LIMIT": "5/900",
    "LOOKUP_LIMIT": "600/60",
    "LOOKUP_BATCH_LIMIT": "20/3600",
    # Seconds between two checks of whether a division was approved (or staff changed) since each
    # instance's grid locator was loaded: how late, at most, one instance sees another's approval.
    "LOOKUP_CHECK_SECONDS": 1.0,
    # Bounded work per request: the largest request body (uploads: imports, batch CSVs), the largest
    # JSON body and its deepest nesting, and the rows one batch lookup may hold.
    "MAX_UPLOAD_MB": 100,
    "MAX_JSON_MB": 16,
    "MAX_JSON_DEPTH": 64,
    "LOOKUP_BATCH_MAX_ROWS": 200000,
    # Reverse proxies in front of the app whose X-Forwarded-For/-Proto to trust (0: none; the client
    # address is then the proxy's). Set 1 behind one nginx.
    "PROXY_HOPS": 0,
    # Events are routed to the divisions in force including a community's latest draft while nothing is
    # approved (internal work must still reach a grid); true routes to approved divisions only.
    "EVENT_ROUTING_APPROVED_ONLY": "",
    # Caps on imports (see server/services/uploads.py): a drawing uploaded through the API (bytes inflated,
    # zip members, features, seconds), and `wangge import` run by an operator on whole counties.
    "UPLOAD_MAX_BYTES": 64 * 2**20,
    "UPLOAD_MAX_MEMBERS": 64,
    "UPLOAD_MAX_FEATURES": 20000,
    "UPLOAD_TIME_LIMIT": 120,
    "IMPORT_MAX_BYTES": 8 * 2**30,
    "IMPORT_MAX_MEMBERS": 256,
    "IMPORT_MAX_FEATURES": 10_000_000,
    "IMPORT_TIME_LIMIT": 3600,
}

_INT_KEYS = {"EMBEDDED_PORT", "PORT", "MAX_FEATURES", "SESSION_HOURS", "MAX_UPLOAD_MB", "MAX_JSON_MB",
             "MAX_JSON_DEPTH", "LOOKUP_BATCH_MAX_ROWS", "PROXY_HOPS"}
_FALSE_WORDS = {"", "0", "false", "no", "off"}


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
        name = key if key in ("DATABASE_URL", "DATABASE_READ_URL") else f"WANGGE_{key}"
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
    for key in ("MAX_UPLOAD_MB", "MAX_JSON_MB", "MAX_JSON_DEPTH", "LOOKUP_BATCH_MAX_ROWS"):
        if config[key] < 1:
            raise ValueError(f"configuration WANGGE_{key} must be at least 1; got {config[key]}")
    try:
        config["LOOKUP_CHECK_SECONDS"] = float(config["LOOKUP_CHECK_SECONDS"])
    except (TypeError, ValueError):
        config["LOOKUP_CHECK_SECONDS"] = -1.0
    if not 0 <= config["LOOKUP_CHECK_SECONDS"] <= 3600:
        raise ValueError("configuration WANGGE_LOOKUP_CHECK_SECONDS must be seconds from 0 to 3600 "
                         "(0: check on every lookup)")
    # Flask/werkzeug refuse a larger body with 413 before any view reads it.
    if not config.get("MAX_CONTENT_LENGTH"):
        config["MAX_CONTENT_LENGTH"] = config["MAX_UPLOAD_MB"] * 1024 * 1024
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = install_secret_key(Path(config["VAR_DIR"]))
    for key in ("SECURE_COOKIES", "PUBLIC_APPROVED_ONLY"):
        config[key] = str(config[key]).strip().lower() not in _FALSE_WORDS
    for key in ("DATABASE_URL", "DATABASE_READ_URL"):
        if config[key]:
            config[key] = normalise_database_url(config[key])
    return config


def normalise_database_url(url: str) -> str:
    """Make a libpq-style URL use SQLAlchemy's psycopg 3 driver (``postgresql+psycopg://``)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def install_secret_key(var_dir: Path) -> str:
    """The install's session-signing key from ``var_dir/secret_key``, created (mode 0600) on first use.

    Every process of one install must sign with the same key, or a session made by one gunicorn
    worker is rejected by the next. When the file cannot be written (read-only install) a per-process
    key is used and a warning logged: sessions then do not survive a restart; set WANGGE_SECRET_KEY.
    """
    path = var_dir / "secret_key"
    if not path.exists():
        temporary = var_dir / f".secret_key.{os.getpid()}"
        try:
            var_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
            # A hard link appears complete or not at all and fails if the name exists: of two processes
            # starting together exactly one key wins and both read it below.
            os.link(temporary, path)
        except FileExistsError:
            pass
        except OSError as exc:
            log.warning("cannot store a secret key in %s (%s); sessions end at restart: set WANGGE_SECRET_KEY",
                        path, exc)
            return secrets.token_hex(32)
        finally:
            temporary.unlink(missing_ok=True)
    key = path.read_text().strip()
    if len(key) < 32:
        raise ValueError(f"{path} holds no usable secret key (under 32 characters); delete it to make a new one")
    return key
