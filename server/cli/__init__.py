"""``wangge``: the operator's command line (database, import, divide, demo, serve)."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from pathlib import Path

import click

from gis.errors import InputError
from server.cli.common import fail
from server.config import load_config

log = logging.getLogger("wangge")

# The database layer (SQLAlchemy), Flask and the user/event/lookup commands are imported where they
# are used, so `wangge --help` and `wangge divide-file` start in a fraction of a second.
#: Commands defined in other modules: name -> (module, attribute, the help `wangge --help` shortens).
LAZY_COMMANDS = {
    "user": ("server.cli.users", "user", "Users who sign in: add, list, and API tokens for scripts."),
    "lookup-batch": ("server.cli.lookup", "lookup_batch", "Add grid_code, micro_grid_code, community_code, match, "
                     "score and error to every row of SOURCE."),
    "matters": ("server.cli.events", "matters", "The matter list (事项清单): categories, time limits, responsible "
                "units, admission and exit."),
    "events": ("server.cli.events", "events", "Grid events (网格事件): the timers of the closed loop."),
}


class _LazyGroup(click.Group):
    """A group that imports the commands of :data:`LAZY_COMMANDS` only when one of them runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS and name not in self.commands:
            module, attribute, _ = LAZY_COMMANDS[name]
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        rows = [(name, click.utils.make_default_short_help(LAZY_COMMANDS[name][2], limit)
                 if name in LAZY_COMMANDS and name not in self.commands
                 else self.commands[name].get_short_help_str(limit)) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


class Context:
    """What every command shares: the effective configuration."""

    def __init__(self) -> None:
        self.config = load_config()


pass_context = click.make_pass_decorator(Context, ensure=True)


@click.group(cls=_LazyGroup)
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
def main(verbose: bool) -> None:
    """Wangge (网格): grid governance on PostGIS. With no DATABASE_URL it runs its own embedded PostGIS."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


# -- database ---------------------------------------------------------------------------------------

@main.group()
def db() -> None:
    """The database: the embedded cluster (start/stop/status/url) and migrations (upgrade)."""


def _embedded_only(ctx: Context) -> None:
    if ctx.config["DATABASE_URL"]:
        fail("DATABASE_URL is set, so the embedded cluster is not used; manage that database yourself")


@db.command("start")
@pass_context
def db_start(ctx: Context) -> None:
    """Start the embedded cluster (initdb on first use) and leave it running."""
    from server.store.db import embedded_cluster
    from server.store.embedded import EmbeddedDatabaseError

    _embedded_only(ctx)
    cluster = embedded_cluster(ctx.config)
    try:
        cluster.start()
    except EmbeddedDatabaseError as exc:
        fail(str(exc))
    click.echo(cluster.status())


@db.command("stop")
@pass_context
def db_stop(ctx: Context) -> None:
    """Stop the embedded cluster cleanly."""
    from server.store.db import embedded_cluster
    from server.store.embedded import EmbeddedDatabaseError

    _embedded_only(ctx)
    cluster = embedded_cluster(ctx.config)
    try:
        cluster.stop()
    except EmbeddedDatabaseError as exc:
        fail(str(exc))
    click.echo(cluster.status())


@db.command("status")
@pass_context
def db_status(ctx: Context) -> None:
    """Say whether the embedded cluster runs (or which DATABASE_URL is used)."""
    from server.store.db import embedded_cluster

    if ctx.config["DATABASE_URL"]:
        click.echo("external database (DATABASE_URL)")
        return
    click.echo(embedded_cluster(ctx.config).status())


@db.command("url")
@pass_context
def db_url(ctx: Context) -> None:
    """Print the SQLAlchemy URL of the database wangge uses."""
    from server.store.db import database_url

    click.echo(database_url(ctx.config))


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@pass_context
def db_upgrade(ctx: Context, revision: str) -> None:
    """Migrate the schema (starting the embedded cluster for the duration if needed)."""
    from server.store.migrate import upgrade

    with _database(ctx) as url:
        upgrade(url, revision)
    click.echo(f"schema at {revision}")


def _database(ctx: Context):
    from server.store.db import running_database
    from server.store.embedded import EmbeddedDatabaseError

    try:
        return running_database(ctx.config)
    except EmbeddedDatabaseError as exc:
        fail(str(exc))


# -- import -----------------------------------------------------------------------------------------

@main.command("import")
@click.argument("kind", type=click.Choice(["areas", "buildings", "addresses", "barriers", "sites"]))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--crs", help="CRS of the coordinates when the file declares none or declares it wrongly: "
                            "EPSG code (EPSG:4490, 4326), wgs84, cgcs2000, gcj02 (Amap/Tencent) or bd09 (Baidu).")
@click.option("--layer", help="Layer of a GeoPackage or zipped Shapefile holding several.")
@pass_context
def import_command(ctx: Context, kind: str, file: Path, crs: str | None, layer: str | None) -> None:
    """Import FILE (GeoJSON, GeoPackage, zipped Shapefile, CSV) as KIND, all rows or none."""
    from server.services.importer import import_file
    from server.store.db import make_engine
    from server.store.migrate import upgrade

    with _database(ctx) as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            report = import_file(engine, kind, file, crs=crs, layer=layer)
        except InputError as exc:
            fail(f"{exc}\nnothing was imported")
        finally:
            engine.dispose()
    click.echo(report.summary())
    for repair in report.repairs:
        click.echo(f"  repaired: {repair}")


# -- division ---------------------------------------------------------------------------------------

def _band(value: str | None):
    from gis.partition import Band

    if value is None:
        return None
    try:
        low, high = (int(part) for part in value.split(":"))
    except ValueError:
        raise click.BadParameter(f"expected MIN:MAX households, e.g. 300:500; got {value!r}") from None
    try:
        return Band(low, high, (low + high) // 2)
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None


@main.command("divide")
@click.argument("community", required=False)
@click.option("--county", help="Divide every community below this county (or township) code.")
@click.option("--band", help="Household band MIN:MAX of comprehensive grids [by community kind: urban 300:500, "
                             "rural 200:400].")
@click.option("--micro-band", help="Household band MIN:MAX of micro-grids [30:100].")
@click.option("--seed", type=int, default=0, show_default=True, help="Same input and seed → same division.")
@click.option("--workers", type=int, default=os.cpu_count() or 1, show_default="CPU cores",
              help="Communities divided in parallel processes.")
@pass_context
def divide_command(ctx: Context, community: str | None, county: str | None, band: str | None,
                   micro_band: str | None, seed: int, workers: int) -> None:
    """Divide COMMUNITY (or all of --county) from the base data and store new draft divisions.

    Each community is one transaction: it is stored whole or, when its data is bad, not at all and
    the reason is printed. Exit status 2 when any community failed.
    """
    from server.services.divisions import communities_to_divide, divide_many
    from server.store.db import make_engine
    from server.store.migrate import upgrade

    if bool(community) == bool(county):
        raise click.UsageError("give either a COMMUNITY code or --county CODE")
    if workers < 1:
        raise click.BadParameter(f"must be at least 1, got {workers}", param_hint="--workers")
    options = {"band": _band(band), "micro_band": _band(micro_band), "seed": seed}
    failed = []
    with _database(ctx) as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                codes = communities_to_divide(conn, community or county)
        except InputError as exc:
            fail(str(exc))
        finally:
            engine.dispose()
        started = time.perf_counter()
        noun = "community" if len(codes) == 1 else "communities"
        with click.progressbar(length=len(codes), label=f"dividing {len(codes)} {noun}", file=sys.stderr,
                               show_pos=True) as bar:
            for outcome in divide_many(url, codes, workers=workers, **options):
                bar.update(1)
                if outcome.error:
                    failed.append(outcome)
                    click.echo(f"\n{outcome.community_code}: {outcome.error}\n  nothing was stored", err=True)
                    continue
                s = outcome.summary
                click.echo(f"\n{outcome.community_code}: draft v{outcome.version} (division {outcome.division_id}), "
                           f"{s['n_grids']} grids, {s['households']} households, {s['share_in_band']:.0%} in band, "
                           f"boundary on barriers {s['barrier_share']:.0%}, {outcome.seconds:.1f} s")
                for warning in outcome.warnings:
                    click.echo(f"  {warning}")
    click.echo(f"divided {len(codes) - len(failed)} of {len(codes)} communities in "
               f"{time.perf_counter() - started:.1f} s with {min(workers, len(codes))} worker(s)")
    if failed:
        sys.exit(2)


@main.command("divide-file")
@click.argument("in_path", metavar="IN.gpkg", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("out_path", metavar="OUT.gpkg", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--band", help="Household band MIN:MAX of comprehensive grids [urban 300:500, rural 200:400].")
@click.option("--micro-band", help="Household band MIN:MAX of micro-grids [30:100].")
@click.option("--seed", type=int, default=0, show_default=True, help="Same input and seed → same division.")
def divide_file_command(in_path: Path, out_path: Path, band: str | None, micro_band: str | None, seed: int) -> None:
    """Divide the communities of IN.gpkg (layers area, buildings, barriers) into grids; no database needed.

    OUT.gpkg gets layers grids, micro_grids, atoms and report, in the input's CRS.
    """
    from gis.pipeline import divide_file

    try:
        results = divide_file(in_path, out_path, band=_band(band), micro_band=_band(micro_band), seed=seed)
    except InputError as exc:
        fail(f"{exc}\nnothing was written")
    for r in results:
        s = r.summary
        click.echo(f"{r.community_code}: {s['n_grids']} grids, {s['households']} households, "
                   f"{s['share_in_band']:.0%} in band, boundary on barriers {s['barrier_share']:.0%}")
        for finding in r.findings:
            if finding.severity != "info":
                click.echo(f"  {finding.severity}: {finding.message}")
    click.echo(f"wrote {out_path}")


# -- demo and serve ---------------------------------------------------------------------------------

@main.group()
def demo() -> None:
    """The demo county shipped in data/boundaries/demo."""


@demo.command("load")
@click.option("--dir", "demo_dir", type=click.Path(file_okay=False, path_type=Path))
@pass_context
def demo_load(ctx: Context, demo_dir: Path | None) -> None:
    """Migrate, load (or refresh) the demo county and divide its communities that have no division yet."""
    from server.services.demo import load_demo
    from server.store.migrate import upgrade

    with _database(ctx) as url:
        upgrade(url)
        for line in load_demo(url, demo_dir or ctx.config["DEMO_DIR"]):
            click.echo(line)


@main.command("serve")
@click.option("--host", help="Interface to listen on [WANGGE_HOST, 127.0.0.1].")
@click.option("--port", type=int, help="Port [WANGGE_PORT, 8000].")
@click.option("--workers", type=int, default=2, show_default=True, help="gunicorn worker processes.")
@click.option("--demo/--no-demo", default=False, help="Load the demo county first (idempotent).")
@pass_context
def serve(ctx: Context, host: str | None, port: int | None, workers: int, demo: bool) -> None:
    """Start the database if embedded, migrate, optionally load the demo, and serve until Ctrl-C."""
    from server.services.demo import load_demo
    from server.store.migrate import upgrade
    from server.wsgi import serve_forever

    host = host or ctx.config["HOST"]
    port = port or ctx.config["PORT"]
    with _database(ctx) as url:
        upgrade(url)
        if demo:
            for line in load_demo(url, ctx.config["DEMO_DIR"]):
                click.echo(line)
        click.echo(f"wangge is serving on http://{host}:{port}/  (Ctrl-C stops it and the embedded database)")
        serve_forever(host, port, workers)
    click.echo("stopped")


if __name__ == "__main__":
    main()
