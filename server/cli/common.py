"""What every ``wangge`` command shares: the error exit and a migrated database to work on."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:  # the CLI starts without SQLAlchemy; only the database commands import it
    from sqlalchemy import Engine


def fail(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with status 2 (bad input or state, nothing done)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@contextlib.contextmanager
def migrated_engine() -> Iterator[tuple[Engine, dict]]:
    """The configured database (the embedded one started if needed), migrated; and the configuration."""
    from server.config import load_config
    from server.store.db import make_engine, running_database
    from server.store.embedded import EmbeddedDatabaseError
    from server.store.migrate import upgrade

    config = load_config()
    try:
        with running_database(config) as url:
            upgrade(url)
            engine = make_engine(url)
            try:
                yield engine, config
            finally:
                engine.dispose()
    except EmbeddedDatabaseError as exc:
        fail(str(exc))
