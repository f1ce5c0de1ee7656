"""Database access for the app and the CLI: which URL, the engine, and short transactions.

With ``DATABASE_URL`` set that database is used; otherwise the embedded cluster under ``VAR_DIR``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from server.store.embedded import EmbeddedPostgres

log = logging.getLogger(__name__)


def embedded_cluster(config: dict) -> EmbeddedPostgres:
    """The embedded cluster the configuration points at."""
    return EmbeddedPostgres(Path(config["VAR_DIR"]), port=config["EMBEDDED_PORT"])


def database_url(config: dict) -> str:
    """The SQLAlchemy URL the app should use (it does not start anything)."""
    return config["DATABASE_URL"] or embedded_cluster(config).url()


def make_engine(url: str, pool_size: int = 5) -> Engine:
    """An engine with pre-ping, so a database restart does not leave dead pooled connections."""
    return create_engine(url, pool_pre_ping=True, pool_size=pool_size, max_overflow=10)


class PublicReads:
    """Where public reads go: the read replica when one is configured and answers, else the primary.

    A replica that cannot be reached does not refuse the public: reads fall back to the primary, with
    one log line when that starts and one when the replica answers again. Nothing an editor or a
    reviewer does reads from here: they must see their own writes, and a replica may lag (seconds).
    """

    def __init__(self, primary: Engine, replica: Engine | None = None) -> None:
        self.primary, self.replica = primary, replica
        self.falling_back = False

    def connect(self) -> Connection:
        """A connection for a public read (use it in a ``with`` block)."""
        if self.replica is None:
            return self.primary.connect()
        try:
            conn = self.replica.connect()
        except OperationalError as exc:
            if not self.falling_back:
                log.warning("read replica unreachable, public reads go to the primary: %s",
                            str(exc.orig).strip().splitlines()[0] if exc.orig else exc)
            self.falling_back = True
            return self.primary.connect()
        if self.falling_back:
            log.warning("read replica answers again; public reads go back to it")
            self.falling_back = False
        return conn

    def dispose(self) -> None:
        """Close the pooled connections of both engines."""
        self.primary.dispose()
        if self.replica is not None:
            self.replica.dispose()


def make_public_reads(primary: Engine, read_url: str | None) -> PublicReads:
    """Routing for public reads; the replica's connect timeout is short so a dead one costs little."""
    if not read_url:
        return PublicReads(primary)
    replica = create_engine(read_url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                            connect_args={"connect_timeout": 2})
    return PublicReads(primary, replica)


@contextlib.contextmanager
def running_database(config: dict) -> Iterator[str]:
    """Yield a usable database URL, starting the embedded cluster if it is needed and not running.

    A cluster started here is stopped again on exit; one that was already running is left running.
    """
    if config["DATABASE_URL"]:
        yield config["DATABASE_URL"]
        return
    cluster = embedded_cluster(config)
    started = not cluster.running()
    owner = os.getpid()
    cluster.start()
    try:
        yield cluster.url()
    finally:
        # gunicorn forks its workers inside this block: only the process that started the cluster
        # may stop it, or a worker exiting (restart, crash) would take the database down with it.
        if started and os.getpid() == owner:
            cluster.stop()


def database_status(engine: Engine) -> dict:
    """PostgreSQL and PostGIS versions, or the reason the database is unreachable."""
    try:
        with engine.connect() as conn:
            pg = conn.execute(text("SHOW server_version")).scalar_one()
            postgis = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
        return {"ok": True, "postgresql": pg, "postgis": postgis, "schema_revision": revision}
    except Exception as exc:  # any failure means "not healthy"; the reason goes to the log
        log.warning("database health check failed: %s", exc)
        return {"ok": False, "error": type(exc).__name__}
