"""``wangge``: the operator's command line (database, import, divide, demo, serve)."""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path

import click

from gis.errors import InputError
from server.cli.common import EXIT_FAILURE, WanggeGroup, database, emit_json, fail, package_version, progress_bar
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


class _LazyGroup(WanggeGroup):
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


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"wangge {package_version()}")
        ctx.exit()


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Print the version and exit.")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail (and the traceback of an error).")
def main(verbose: bool) -> None:
    """Wangge (网格): grid governance on PostGIS. With no DATABASE_URL it runs its own embedded PostGIS.

    Exit status: 0 done, 1 a runtime failure (bad data, a missing file), 2 a usage error.
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


# -- database ---------------------------------------------------------------------------------------

@main.group()
def db() -> None:
    """The database: the embedded cluster (start/stop/status/url) and migrations (upgrade)."""


def _embedded_only(ctx: Context) -> None:
    if ctx.config["DATABASE_URL"]:
        # The command does not apply to this set-up: a usage error (2), not a failure.
        raise click.UsageError("DATABASE_URL is set, so the embedded cluster is not used; manage that database "
                               "yourself")


def _run_cluster(ctx: Context, action: str) -> None:
    from server.store.db import embedded_cluster
    from server.store.embedded import EmbeddedDatabaseError

    _embedded_only(ctx)
    cluster = embedded_cluster(ctx.config)
    try:
        getattr(cluster, action)()
    except EmbeddedDatabaseError as exc:
        fail(str(exc))
    click.echo(cluster.status())


@db.command("start")
@pass_context
def db_start(ctx: Context) -> None:
    """Start the embedded cluster (initdb on first use) and leave it running."""
    _run_cluster(ctx, "start")


@db.command("stop")
@pass_context
def db_stop(ctx: Context) -> None:
    """Stop the embedded cluster cleanly."""
    _run_cluster(ctx, "stop")


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
    return database(ctx.config)


# -- import -----------------------------------------------------------------------------------------

def _crs_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """Refuse an unknown --crs before any work: it is a usage error (exit status 2)."""
    from gis.crs import parse_crs

    if value is not None:
        try:
            parse_crs(value)
        except InputError as exc:
            raise click.BadParameter(exc.message) from None
    return value


class _ImportBar:
    """The progress of ``wangge import``: a reading step, then a bar over the rows written."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.bar = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage == "reading":
            if done == 0 and sys.stderr.isatty():
                click.echo(f"reading {self.source} ...", err=True)
            return
        if self.bar is None:
            self.bar = progress_bar(f"writing {total:,} rows", length=total, show_pos=True, show_eta=True)
            self.bar.__enter__()
            self.shown = 0
        self.bar.update(done - self.shown)
        self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@main.command("import")
@click.argument("kind", type=click.Choice(["areas", "buildings", "addresses", "barriers", "sites"]))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--crs", callback=_crs_option,
              help="CRS of the coordinates when the file declares none or declares it wrongly: "
                   "EPSG code (EPSG:4490, 4326), wgs84, cgcs2000, gcj02 (Amap/Tencent) or bd09 (Baidu).")
@click.option("--layer", help="Layer of a GeoPackage or zipped Shapefile holding several.")
@click.option("--time-limit", type=click.FloatRange(min=0), metavar="SECONDS",
              help="Stop (storing nothing) after this long; 0 for no limit [WANGGE_IMPORT_TIME_LIMIT, 3600].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@pass_context
def import_command(ctx: Context, kind: str, file: Path, crs: str | None, layer: str | None,
                   time_limit: float | None, as_json: bool) -> None:
    """Import FILE (GeoJSON, GeoPackage, zipped Shapefile, CSV) as KIND, all rows or none.

    Any number of rows goes in one transaction. A Shapefile's text is read in the encoding its .cpg
    names, else UTF-8, else GB18030; the report says which when it was not the first.
    """
    from server.cli.common import migrated_engine
    from server.services.importer import import_file
    from server.services.uploads import import_limits

    limits, budget = import_limits(ctx.config)
    bar = _ImportBar(file.name)
    with migrated_engine(ctx.config) as (engine, _):
        try:
            report = import_file(engine, kind, file, crs=crs, layer=layer, limits=limits,
                                 time_limit=budget if time_limit is None else time_limit, progress=bar)
        except InputError as exc:
            bar.close()
            if as_json:
                emit_json({"ok": False, "error": {"message": exc.message, "source": exc.source, "row": exc.row,
                                                  "field": exc.field}})
            message = str(exc)
            if "nothing was stored" not in message:
                message += "\nnothing was imported" if "\n" in message else "; nothing was imported"
            fail(message)
        bar.close()
    if as_json:
        emit_json({"ok": True, **report.as_dict()})
        return
    click.echo(report.summary())
    for repair in report.repairs:
        click.echo(f"  repaired: {repair}")


# -- division ---------------------------------------------------------------------------------------

def _band_option(_ctx: click.Context, _param: click.Parameter, value: str | None):
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


def _outcome_dict(outcome) -> dict:
    if outcome.error:
        return {"community_code": outcome.community_code, "ok": False, "error": outcome.error}
    return {"community_code": outcome.community_code, "ok": True, "division_id": outcome.division_id,
            "version": outcome.version, "seconds": round(outcome.seconds, 3), "summary": outcome.summary,
            "warnings": list(outcome.warnings)}


def _echo_outcome(outcome) -> None:
    if outcome.skipped:
        click.echo(f"{outcome.community_code}: inputs unchanged since the newest version; skipped")
        return
    if outcome.error:
        click.echo(f"{outcome.community_code}: {outcome.error}; nothing was stored", err=True)
        return
    s = outcome.summary
    click.echo(f"{outcome.community_code}: draft v{outcome.version} (division {outcome.division_id}), "
               f"{s['n_grids']} grids, {s['households']} households, {s['share_in_band']:.0%} in band, "
               f"boundary on barriers {s['barrier_share']:.0%}, {outcome.seconds:.1f} s")
    for warning in outcome.warnings:
        click.echo(f"  {warning}")


@main.command("divide")
@click.argument("community", required=False)
@click.option("--area", help="Divide every community below this area code: a township, county, city or province.")
@click.option("--county", help="The same as --area (kept for scripts written before --area).")
@click.option("--band", callback=_band_option,
              help="Household band MIN:MAX of comprehensive grids [by community kind: urban 300:500, "
                   "rural 200:400].")
@click.option("--micro-band", callback=_band_option, help="Household band MIN:MAX of micro-grids [30:100].")
@click.option("--seed", type=int, default=0, show_default=True, help="Same input and seed → same division.")
@click.option("--scheduler", metavar="tcp://HOST:8786",
              help="A Dask scheduler to send the communities to [WANGGE_DASK_SCHEDULER; none: a local cluster].")
@click.option("--workers", type=int, default=os.cpu_count() or 1, show_default="CPU cores",
              help="Worker processes of the local cluster (ignored with --scheduler).")
@click.option("--force", is_flag=True, help="Divide again communities whose inputs did not change since their "
                                           "newest version (skipped otherwise).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome of every community as JSON on stdout.")
@pass_context
def divide_command(ctx: Context, community: str | None, area: str | None, county: str | None, band, micro_band,
                   seed: int, scheduler: str | None, workers: int, force: bool, as_json: bool) -> None:
    """Divide COMMUNITY (or every community of --area) from the base data and store new draft divisions.

    Each community is one Dask task and one transaction: it is stored whole or, when its data is bad,
    not at all and the reason is printed. Exit status 1 when any community failed.
    """
    from server.cli.common import migrated_engine
    from server.services.division_jobs import JobReport, SchedulerUnreachable, divide_many
    from server.services.divisions import communities_to_divide

    area = area or county
    if bool(community) == bool(area):
        raise click.UsageError("give either a COMMUNITY code or --area CODE")
    if workers < 1:
        raise click.BadParameter(f"must be at least 1, got {workers}", param_hint="--workers")
    options = {"band": band, "micro_band": micro_band, "seed": seed}
    report = JobReport()
    with migrated_engine(ctx.config) as (engine, _):
        with engine.connect() as conn:
            codes = communities_to_divide(conn, community or area)
        url = engine.url.render_as_string(hide_password=False)
        noun = "community" if len(codes) == 1 else "communities"
        try:
            with progress_bar(f"dividing {len(codes)} {noun}", length=len(codes), show_pos=True) as bar:
                for outcome in divide_many(url, codes, workers=workers, scheduler=scheduler or
                                           ctx.config.get("DASK_SCHEDULER") or None, report=report,
                                           on_start=_dashboard_echo(as_json), skip_unchanged=not force, **options):
                    bar.update(1)
                    if not as_json:
                        _echo_outcome(outcome)
        except SchedulerUnreachable as exc:
            fail(f"{exc}; nothing was stored")
    _echo_report(report, len(codes), as_json)
    if report.failed:
        sys.exit(EXIT_FAILURE)


def _dashboard_echo(as_json: bool):
    """``on_start`` of a Dask run: say where its dashboard is (stderr; not with --json)."""

    def started(dashboard: str) -> None:
        if not as_json:
            click.echo(f"Dask dashboard: {dashboard}", err=True)

    return started


def _echo_failed(failed: list[tuple[str, str]]) -> None:
    for code, error in failed:
        click.echo(f"  failed {code}: {error}", err=True)


def _echo_report(report, communities: int, as_json: bool) -> None:
    if as_json:
        emit_json({"ok": not report.failed, "communities": communities, "divided": len(report.divided),
                   "skipped": report.skipped, "failed": [{"community_code": c, "error": e} for c, e in report.failed],
                   "grids": report.grids, "grids_in_band": report.grids_in_band, "households": report.households,
                   "seconds": round(report.seconds, 3), "dashboard": report.dashboard,
                   "outcomes": [_outcome_dict(o) for o in report.divided]})
        return
    click.echo(f"{communities} communities: {len(report.divided)} divided, {len(report.skipped)} skipped (inputs "
               f"unchanged), {len(report.failed)} failed; {report.grids_in_band} of {report.grids} grids in band; "
               f"{report.households} households in {report.seconds:.1f} s")
    _echo_failed(report.failed)


@main.command("divide-file")
@click.argument("in_path", metavar="IN.gpkg", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("out_path", metavar="OUT.gpkg", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--band", callback=_band_option,
              help="Household band MIN:MAX of comprehensive grids [urban 300:500, rural 200:400].")
@click.option("--micro-band", callback=_band_option, help="Household band MIN:MAX of micro-grids [30:100].")
@click.option("--seed", type=int, default=0, show_default=True, help="Same input and seed → same division.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="2 or more: each community a Dask task on a local cluster of this many worker processes; "
                   "1: one after the other in this process (no cluster to start).")
@click.option("--scheduler", metavar="tcp://HOST:8786",
              help="A Dask scheduler to send the communities to instead (--workers is then ignored).")
@click.option("--json", "as_json", is_flag=True, help="Print the report of every community as JSON on stdout.")
def divide_file_command(in_path: Path, out_path: Path, band, micro_band, seed: int, workers: int,
                        scheduler: str | None, as_json: bool) -> None:
    """Divide the communities of IN.gpkg (layers area, buildings, barriers) into grids; no database needed.

    OUT.gpkg gets layers grids, micro_grids, atoms and report, in the input's CRS. A community that
    cannot be divided is named with the reason and the others are written; exit status 1 then.
    """
    from gis.pipeline import divide_file

    bar, shown = None, 0

    def advance(done: int, total: int) -> None:
        nonlocal bar, shown
        if bar is None:
            bar = progress_bar(f"dividing {total} communities", length=total, show_pos=True).__enter__()
        bar.update(done - shown)
        shown = done

    dashboard: list[str] = []
    run, refusals = _file_runner(workers, scheduler, as_json, dashboard)
    failed: list[tuple[str, str]] = []
    try:
        results = divide_file(in_path, out_path, band=band, micro_band=micro_band, seed=seed, progress=advance,
                              failures=failed, run=run)
    except refusals as exc:
        fail(f"{exc}; nothing was written")
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    _echo_file_report(results, failed, out_path if results else None, dashboard[0] if dashboard else None, as_json)
    if failed:
        sys.exit(EXIT_FAILURE)


def _file_runner(workers: int, scheduler: str | None, as_json: bool, dashboard: list[str]):
    """The runner of divide-file (None: in this process) and the errors that mean nothing was written.

    Dask is imported only when asked for, so the default path starts in a fraction of a second; the
    dashboard link is appended to ``dashboard`` once a cluster answers.
    """
    if workers == 1 and not scheduler:
        return None, (InputError,)
    from server.services.dask_cluster import SchedulerUnreachable
    from server.services.file_jobs import dask_runner

    def started(link: str) -> None:
        dashboard.append(link)
        _dashboard_echo(as_json)(link)

    return dask_runner(workers=workers, scheduler=scheduler, on_start=started), (InputError, SchedulerUnreachable)


def _echo_file_report(results, failed: list[tuple[str, str]], written: Path | None, dashboard: str | None,
                      as_json: bool) -> None:
    if as_json:
        emit_json({"ok": not failed, "output": None if written is None else str(written), "communities": [
            {"community_code": r.community_code, "summary": r.summary,
             "findings": [{"severity": f.severity, "code": f.code, "message": f.message} for f in r.findings]}
            for r in results], "failed": [{"community_code": c, "error": e} for c, e in failed],
            "dashboard": dashboard})
        return
    for r in results:
        s = r.summary
        click.echo(f"{r.community_code}: {s['n_grids']} grids, {s['households']} households, "
                   f"{s['share_in_band']:.0%} in band, boundary on barriers {s['barrier_share']:.0%}")
        for finding in r.findings:
            if finding.severity != "info":
                click.echo(f"  {finding.severity}: {finding.message}")
    _echo_failed(failed)
    click.echo(f"wrote {written}" if written else "no community could be divided; nothing was written",
               err=written is None)


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
        # The steps are not known ahead (communities already divided are skipped): the bar counts them.
        steps = load_demo(url, demo_dir or ctx.config["DEMO_DIR"])
        with progress_bar("loading the demo county", iterable=steps, show_pos=True,
                          item_show_func=lambda line: line and line[:40]) as lines:
            for line in lines:
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
