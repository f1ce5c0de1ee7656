"""Per-grid event statistics: counts, closure rate 结案率, on-time closure rate 按期结案率, backlog 挂账."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from sqlalchemy import Connection

from gis.errors import InputError
from server.errors import Forbidden, NotFound
from server.services.divisions import divisions_in_force
from server.services.permissions import can, scope_level, scope_prefix
from server.store import events as store
from server.store import models as m

STATS_COLUMNS = ("grid_code", "grid_name", "community_code", "community_name", "events", "registered", "closed",
                 "closure_rate", "on_time", "on_time_rate", "overdue", "open")


def _area_prefix(area: str) -> str:
    try:
        return scope_prefix(area)
    except ValueError as exc:
        raise InputError(f"{exc}", field="area") from None


def grid_heat_geojson(conn: Connection, area: str, *, since: datetime | None = None,
                      until: datetime | None = None) -> dict:
    """The grids in force under ``area`` with their event counts, as GeoJSON (for the heat map)."""
    prefix = _area_prefix(area)
    return store.grid_counts_geojson(conn, list(divisions_in_force(conn).values()), prefix, since, until)


def _rate(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def grid_stats(conn: Connection, area: str, *, since: datetime | None = None,
               until: datetime | None = None) -> dict:
    """Per-grid statistics under ``area``, most events first.

    closure rate = closed / registered (立案: every event past ``reported`` except cancelled ones);
    on-time closure rate = closed with feedback by the deadline / closed; overdue = escalated and open.
    Rates are None when their denominator is 0.
    """
    prefix = _area_prefix(area)
    rows = store.grid_counts(conn, list(divisions_in_force(conn).values()), prefix, since, until)
    grids = [{"grid_code": r.code, "grid_name": r.name, "community_code": r.community_code,
              "community_name": r.community_name, "events": r.n_events, "registered": r.n_registered,
              "closed": r.n_closed, "closure_rate": _rate(r.n_closed, r.n_registered),
              "on_time": r.n_on_time, "on_time_rate": _rate(r.n_on_time, r.n_closed),
              "overdue": r.n_overdue, "open": r.n_open} for r in rows]
    total = {k: sum(g[k] for g in grids) for k in ("events", "registered", "closed", "on_time", "overdue", "open")}
    total.update(closure_rate=_rate(total["closed"], total["registered"]),
                 on_time_rate=_rate(total["on_time"], total["closed"]))
    return {"area": area, "grids": grids, "total": total}


def stats_csv(stats: dict) -> bytes:
    """The statistics as CSV (UTF-8 with BOM, so spreadsheet programs read the Chinese)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(STATS_COLUMNS)
    for g in stats["grids"]:
        writer.writerow(["" if g[c] is None else g[c] for c in STATS_COLUMNS])
    t = stats["total"]
    writer.writerow(["total", "", "", "", *("" if t[c] is None else t[c] for c in STATS_COLUMNS[4:])])
    return buffer.getvalue().encode("utf-8-sig")


def default_area(conn: Connection, user: m.User | None) -> str:
    """The area a map or statistics page opens on: the user's scope (a city's first county; admin: the first county)."""
    if user is not None and user.scope_code:
        if scope_level(user.scope_code) in ("province", "city"):
            return store.first_county(conn, scope_prefix(user.scope_code)) or user.scope_code
        return user.scope_code
    county = store.first_county(conn)
    if county is None:
        raise NotFound("尚未载入任何区县（wangge demo load） / no county is loaded yet (wangge demo load)")
    return county


def readable_area(conn: Connection, user: m.User, area: str | None) -> str:
    """``area`` (default: the user's own, see :func:`default_area`) once the user may read it.

    Raises
    ------
    InputError
        A malformed code (field ``area``).
    Forbidden
        An area outside the user's scope.
    """
    area = area or default_area(conn, user)
    try:
        allowed = can(user, "read_approved", area)
    except ValueError as exc:
        raise InputError(f"{exc}", field="area") from None
    if not allowed:
        raise Forbidden(f"区域 {area} 不在您的管辖范围（{user.scope_code}）内 / area {area} is outside your scope "
                        f"({user.scope_code})", details={"area": area})
    return area
