"""``wangge matters`` (load and list the matter list) and ``wangge events`` (the sweep), on :data:`server.cli.main`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from gis.errors import InputError
from server.cli.common import fail, migrated_engine


@click.group()
def matters() -> None:
    """The matter list (事项清单): categories, time limits, responsible units, admission and exit."""


@matters.command("load")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
def matters_load(path: Path | None) -> None:
    """Load (add or update) a matter-list CSV; default data/matters/matters.csv.

    Columns: code, category (大类), subcategory (小类), time_limit, time_unit (working_hours|working_days),
    responsible_unit, admitted_on, exited_on.
    """
    from server.services.matters import MATTERS_CSV, load_matters
    from server.store.audit import cli_actor

    with migrated_engine() as (engine, _):
        try:
            added, updated = load_matters(engine, path or MATTERS_CSV, actor=cli_actor())
        except InputError as exc:
            fail(str(exc))
    click.echo(f"matter list: {added} added, {updated} updated")


@matters.command("list")
@click.option("--all", "include_exited", is_flag=True, help="Also matters that left the list.")
def matters_list(include_exited: bool) -> None:
    """Print the matter list."""
    from server.services.matters import list_matters

    with migrated_engine() as (engine, _), engine.connect() as conn:
        for item in list_matters(conn, include_exited=include_exited):
            limit = "" if item["time_limit"] is None else \
                f"{item['time_limit']:g} {item['time_unit']}".replace("working_", "working ")
            exited = f"  (exited {item['exited_on']})" if item["exited_on"] else ""
            indent = "  " if item["parent_id"] else ""
            click.echo(f"{indent}{item['code']}\t{item['name']}\t{limit}\t{item['responsible_unit'] or ''}{exited}")


@click.group()
def events() -> None:
    """Grid events (网格事件): the timers of the closed loop."""


@events.command("sweep")
@click.option("--now", "now_text", help="Sweep as of this ISO time (default: now), e.g. 2026-12-07T10:00+08:00.")
def events_sweep(now_text: str | None) -> None:
    """Warn events with 20 % (EVENT_WARNING_SHARE) of their time left and escalate overdue ones.

    Run it from cron every few minutes; pages also sweep lazily when they are read.
    """
    from gis.workcal import calendar_from_config
    from server.services import event_timers
    from server.services import events as ev

    with migrated_engine() as (engine, config):
        try:
            calendar = calendar_from_config(config.get("WORK_CALENDAR"))
            now = datetime.fromisoformat(now_text) if now_text else ev.clock()
        except (InputError, ValueError) as exc:
            fail(str(exc))
        share = float(config.get("EVENT_WARNING_SHARE") or 0.2)
        done = event_timers.sweep(engine, now, calendar, share)
    click.echo(f"{len(done['warned'])} warned, {len(done['escalated'])} escalated"
               + "".join(f"\n  warned {c}" for c in done["warned"])
               + "".join(f"\n  escalated {c}" for c in done["escalated"]))
