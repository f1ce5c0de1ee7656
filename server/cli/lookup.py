"""``wangge lookup-batch IN.csv OUT.csv``: the batch lookup of ``POST /api/v1/lookup/batch`` from the shell.

Register in :mod:`server.cli` with ``main.add_command(lookup_batch)`` (after
``from server.cli.lookup import lookup_batch``).
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click

from server.config import load_config
from server.errors import WanggeError
from server.store.db import make_engine, running_database
from server.store.embedded import EmbeddedDatabaseError


@click.command("lookup-batch")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("target", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--crs", default="cgcs2000", show_default=True,
              help="CRS of rows without a crs value: cgcs2000, wgs84, gcj02 (Amap/Tencent) or bd09 (Baidu).")
@click.option("--date", "on", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Answer for the divisions in force on this day (default today).")
@click.option("--max-rows", type=int, default=5_000_000, show_default=True)
def lookup_batch(source: Path, target: Path, crs: str, on, max_rows: int) -> None:
    """Add grid_code, micro_grid_code, community_code, match, score and error to every row of SOURCE.

    SOURCE has columns lon,lat[,crs] or address (UTF-8 with or without BOM, or GBK); TARGET is written
    as UTF-8 with BOM. Bad rows are flagged in the error column; they never stop the run.
    """
    from server.services.lookup import LookupService

    config = load_config()
    try:
        database = running_database(config)
        with database as url:
            engine = make_engine(url)
            try:
                service = LookupService(engine, background=False, check_interval=3600)
                day: date | None = on.date() if on is not None else None
                body = service.batch(source.read_bytes(), crs, day, max_rows=max_rows)
            finally:
                engine.dispose()
    except (WanggeError, EmbeddedDatabaseError) as exc:
        click.echo(f"error: {getattr(exc, 'message', exc)}", err=True)
        sys.exit(2)
    target.write_bytes(body)
    text = body.decode("utf-8-sig")
    rows = text.count("\n") - 1
    click.echo(f"{rows:,} rows looked up into {target}")
