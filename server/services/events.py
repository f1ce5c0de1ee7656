"""Grid events (网格事件) and the matter list (事项清单) in PostGIS: report, route, act, time, count.

The loop itself (states, who may do what, the timers) is :mod:`gis.eventflow`; deadlines are counted on
the working calendar of :mod:`gis.workcal` (``WORK_CALENDAR``). This module adds what needs the
database: the matter list with admission and exit, routing a reported location to its grid in force,
community and staff (through :mod:`server.services.lookup`), the history and audit of every step, the sweep
that warns and escalates, and the per-grid statistics.

Time: every function takes ``now`` explicitly; web routes pass :func:`clock`, which tests replace to
freeze time. Times are stored as ``timestamptz`` and shown in the calendar's zone.

Who may act (scope; the role check is :mod:`gis.eventflow`'s): admin everywhere; any other signed-in
user on events whose grid (or community) lies in their scope (:func:`server.services.permissions.scope_contains`), so
grid staff act only on their own grids' events. The public may only report.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import threading
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, case, func, insert, literal, or_, select, text, update

from gis.errors import InputError
from gis.eventflow import (
    ACTIONS,
    CLOCK_RUNNING,
    FINAL,
    REPORTERS,
    WARNING_SHARE,
    EventState,
    TimeLimit,
    allowed_actions,
    due_timers,
    on_time,
    transition,
)
from gis.workcal import UNITS, WorkCalendar, calendar_from_config
from server.config import PROJECT_ROOT
from server.errors import BadRequest, Conflict, Forbidden, NotFound
from server.services.divisions import divisions_in_force
from server.services.permissions import can, normalise_role, scope_contains, scope_level, scope_prefix
from server.store import models as m
from server.store.audit import audit
from server.store.features import feature_collection
from server.store.limits import RateLimiter

log = logging.getLogger(__name__)

MATTERS_CSV = PROJECT_ROOT / "data" / "matters" / "matters.csv"
MATTER_COLUMNS = ("code", "category", "subcategory", "time_limit", "time_unit", "responsible_unit", "admitted_on",
                  "exited_on")
#: A 大类 code is 2 characters, a 小类 code its 大类's plus 2 more.
_MATTER_CODE = re.compile(r"^[0-9A-Za-z]{2}([0-9A-Za-z]{2})?$")
#: Staff roles an event is assigned to, in order of preference: the full-time worker does the work.
ASSIGN_ROLES = ("full_time", "grid_chief", "part_time")
#: Actions that must say why.
NOTE_REQUIRED = frozenset({"cancel", "return", "reject"})
#: Actions that may (re)set the category.
CATEGORY_ACTIONS = frozenset({"register", "dispatch"})
MAX_TEXT = {"title": 200, "description": 2000, "note": 1000, "address": 200}


def clock() -> datetime:
    """Now, timezone-aware (UTC). Tests replace this function to freeze time."""
    return datetime.now(UTC)


def _aware(moment: datetime, calendar: WorkCalendar) -> datetime:
    # A naive time is local calendar time, as in gis.workcal.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=calendar._zone)


def _iso(moment: datetime | None, calendar: WorkCalendar) -> str | None:
    return None if moment is None else moment.astimezone(calendar._zone).isoformat(timespec="seconds")


# -- configuration ------------------------------------------------------------------------------------

def work_calendar(app) -> WorkCalendar:
    """The app's working calendar (``WORK_CALENDAR``), read once per process."""
    cal = app.extensions.get("wangge.workcal")
    if cal is None:
        cal = calendar_from_config(app.config.get("WORK_CALENDAR"))
        app.extensions["wangge.workcal"] = cal
    return cal


def warning_share(app) -> float:
    """The share of the time limit left at which events are warned (``EVENT_WARNING_SHARE``, default 0.2)."""
    value = app.config.get("EVENT_WARNING_SHARE", WARNING_SHARE)
    try:
        share = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"configuration WANGGE_EVENT_WARNING_SHARE must be a number; got {value!r}") from None
    if not 0 < share < 1:
        raise ValueError(f"configuration WANGGE_EVENT_WARNING_SHARE must be between 0 and 1; got {value!r}")
    return share


_ROUTER_LOCK = threading.Lock()
_FALSE_WORDS = {"", "0", "false", "no", "off"}


def event_router(app):
    """The :class:`server.services.lookup.LookupService` events are routed with (made on first use, one per process).

    Routing follows :func:`server.services.divisions.divisions_in_force`: approved divisions, else a community's
    latest draft (``EVENT_ROUTING_APPROVED_ONLY`` false, the default), so work reaches a grid before its
    division is filed. When that is what the public lookup uses anyway, the public service is shared.
    """
    from server.services.lookup import LookupService, lookup_service

    approved_only = str(app.config.get("EVENT_ROUTING_APPROVED_ONLY", "")).strip().lower() not in _FALSE_WORDS
    if approved_only == bool(app.config.get("PUBLIC_APPROVED_ONLY", False)):
        return lookup_service(app)
    router = app.extensions.get("wangge.event_router")
    if router is None:
        with _ROUTER_LOCK:
            router = app.extensions.get("wangge.event_router")
            if router is None:
                from server import engine_of

                router = LookupService(engine_of(app), approved_only=approved_only,
                                       check_interval=float(app.config.get("LOOKUP_CHECK_SECONDS", 1.0)),
                                       background=not app.config.get("TESTING"))
                app.extensions["wangge.event_router"] = router
    return router


def report_limiter(app) -> RateLimiter:
    """The app's limiter of anonymous reports per client IP (``PUBLIC_REPORT_LIMIT``), shared by all workers."""
    limiter = app.extensions.get("wangge.limit.public_report")
    if limiter is None:
        from server import engine_of

        limiter = RateLimiter.from_setting(engine_of(app), "public_report",
                                           app.config.get("PUBLIC_REPORT_LIMIT", "10/3600"), "PUBLIC_REPORT_LIMIT")
        app.extensions["wangge.limit.public_report"] = limiter
    return limiter


# -- small parsers ----------------------------------------------------------------------------------

def _text(body: dict, name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InputError(f"'{name}' is required", field=name)
        return None
    if not isinstance(value, str):
        raise InputError(f"'{name}' must be text; got {type(value).__name__}", field=name)
    value = value.strip()
    limit = MAX_TEXT.get(name, 200)
    if len(value) > limit:
        raise InputError(f"'{name}' is {len(value)} characters; at most {limit}", field=name)
    return value


def _date(value: Any, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InputError(f"'{name}' must be a date YYYY-MM-DD; got {value!r}", field=name) from None


def _no_nan(value: Any) -> Any:
    # The lookup's frames give a grid without a name as NaN, which is not JSON.
    return None if isinstance(value, float) and value != value else value


def actor_role(user: m.User | None) -> str:
    """The role the state machine sees: the user's, or ``public`` for anonymous."""
    return "public" if user is None else normalise_role(user.role)


# -- the matter list ----------------------------------------------------------------------------------

def _matter_dict(row) -> dict:
    return {"id": row.id, "code": row.code, "name": row.name, "parent_id": row.parent_id,
            "parent_code": getattr(row, "parent_code", None), "parent_name": getattr(row, "parent_name", None),
            "time_limit": row.time_limit, "time_unit": row.time_unit, "responsible_unit": row.responsible_unit,
            "admitted_on": row.admitted_on and row.admitted_on.isoformat(),
            "exited_on": row.exited_on and row.exited_on.isoformat()}


def in_force(admitted_on: date | None, exited_on: date | None, on: date) -> bool:
    """Whether a matter is on the list on ``on``: admitted by then and not yet exited."""
    return (admitted_on is None or admitted_on <= on) and (exited_on is None or exited_on > on)


def read_matters_csv(path: str | Path) -> list[dict]:
    """Rows of a matter-list CSV (columns :data:`MATTER_COLUMNS`), checked.

    Raises
    ------
    InputError
        Naming the file, row and column of the first bad value.
    """
    path = Path(path)
    try:
        content = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=str(path)) from None
    reader = csv.DictReader(io.StringIO(content))
    missing = [c for c in MATTER_COLUMNS if c not in (reader.fieldnames or ())]
    if missing:
        raise InputError(f"missing columns {', '.join(missing)}; expected {', '.join(MATTER_COLUMNS)}",
                         source=str(path))
    rows, seen = [], set()
    for n, raw in enumerate(reader, start=1):
        values = {k: (raw.get(k) or "").strip() for k in MATTER_COLUMNS}
        try:
            row = _matter_row(values)
        except InputError as exc:
            raise InputError(exc.message, source=str(path), row=n, field=exc.field) from None
        if row["code"] in seen:
            raise InputError(f"code {row['code']} appears twice", source=str(path), row=n, field="code")
        seen.add(row["code"])
        rows.append(row)
    return rows


def _matter_row(values: dict) -> dict:
    code = values["code"]
    if not _MATTER_CODE.match(code) or len(code) != 4:
        raise InputError(f"a 小类 code is 4 letters or digits (大类 code + 2); got {code!r}", field="code")
    for name in ("category", "subcategory", "responsible_unit"):
        if not values[name]:
            raise InputError(f"'{name}' is required", field=name)
    try:
        limit = float(values["time_limit"])
    except ValueError:
        raise InputError(f"time_limit must be a number; got {values['time_limit']!r}", field="time_limit") from None
    if not limit > 0:
        raise InputError(f"time_limit must be positive; got {values['time_limit']!r}", field="time_limit")
    if values["time_unit"] not in UNITS:
        raise InputError(f"time_unit must be {' or '.join(UNITS)}; got {values['time_unit']!r}", field="time_unit")
    admitted, exited = _date(values["admitted_on"], "admitted_on"), _date(values["exited_on"], "exited_on")
    if admitted and exited and exited < admitted:
        raise InputError(f"exited_on {exited} is before admitted_on {admitted}", field="exited_on")
    return {"code": code, "category": values["category"], "name": values["subcategory"], "time_limit": limit,
            "time_unit": values["time_unit"], "responsible_unit": values["responsible_unit"],
            "admitted_on": admitted, "exited_on": exited}


def upsert_matters(conn: Connection, rows: list[dict], *, only_missing: bool = False,
                   actor: str | None = None) -> tuple[int, int]:
    """Write matter-list rows (from :func:`read_matters_csv`); return ``(added, updated)``.

    Each row's 大类 (code = the first two characters) is created when missing. With ``only_missing``
    existing entries are left as they are (the demo must not undo an administrator's edits).
    """
    mc = m.MatterCategory
    existing = {r.code: r for r in conn.execute(select(mc))}
    added = updated = 0
    for row in rows:
        major_code = row["code"][:2]
        major = existing.get(major_code)
        if major is None:
            values = {"code": major_code, "name": row["category"], "admitted_on": row["admitted_on"]}
            major_id = conn.execute(insert(mc).values(**values).returning(mc.id)).scalar_one()
            audit(conn, "matter_add", "matter_category", major_id, None, values, actor=actor)
            existing[major_code] = major = conn.execute(select(mc).where(mc.id == major_id)).one()
            added += 1
        values = {"name": row["name"], "parent_id": major.id, "time_limit": row["time_limit"],
                  "time_unit": row["time_unit"], "responsible_unit": row["responsible_unit"],
                  "admitted_on": row["admitted_on"], "exited_on": row["exited_on"]}
        old = existing.get(row["code"])
        if old is None:
            new_id = conn.execute(insert(mc).values(code=row["code"], **values).returning(mc.id)).scalar_one()
            audit(conn, "matter_add", "matter_category", new_id, None, {"code": row["code"], **values}, actor=actor)
            added += 1
        elif not only_missing:
            before = {k: getattr(old, k) for k in values}
            if before != values:
                conn.execute(update(mc).where(mc.id == old.id).values(**values))
                audit(conn, "matter_update", "matter_category", old.id, before, values, actor=actor)
                updated += 1
    return added, updated


def load_matters(engine: Engine, path: str | Path = MATTERS_CSV, *, actor: str | None = None) -> tuple[int, int]:
    """Load a matter-list CSV into the database (``wangge matters load``); return ``(added, updated)``."""
    rows = read_matters_csv(path)
    with engine.begin() as conn:
        return upsert_matters(conn, rows, actor=actor)


def ensure_demo_matters(engine: Engine) -> int:
    """Add the entries of ``data/matters/matters.csv`` that are missing; return how many were added."""
    rows = read_matters_csv(MATTERS_CSV)
    with engine.begin() as conn:
        added, _ = upsert_matters(conn, rows, only_missing=True, actor="demo")
    return added


def _matter_query():
    mc = m.MatterCategory
    parent = mc.__table__.alias("parent")
    return select(mc.id, mc.code, mc.name, mc.parent_id, mc.time_limit, mc.time_unit, mc.responsible_unit,
                  mc.admitted_on, mc.exited_on, parent.c.code.label("parent_code"),
                  parent.c.name.label("parent_name")).outerjoin(parent, parent.c.id == mc.parent_id)


def list_matters(conn: Connection, *, on: date | None = None, include_exited: bool = False) -> list[dict]:
    """The matter list by code: 大类 then their 小类; without ``include_exited`` only entries in force on ``on``."""
    on = on or date.today()
    rows = conn.execute(_matter_query().order_by(m.MatterCategory.code)).all()
    out = []
    for r in rows:
        item = _matter_dict(r)
        item["in_force"] = in_force(r.admitted_on, r.exited_on, on)
        if include_exited or item["in_force"]:
            out.append(item)
    return out


def _matter_values(conn: Connection, body: dict, *, partial: bool) -> dict:
    known = {"code", "name", "parent", "time_limit", "time_unit", "responsible_unit", "admitted_on", "exited_on"}
    unknown = set(body) - known
    if unknown:
        raise InputError(f"unknown fields {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}",
                         field=sorted(unknown)[0])
    values: dict = {}
    if "code" in body or not partial:
        code = body.get("code")
        if not isinstance(code, str) or not _MATTER_CODE.match(code.strip()):
            raise InputError(f"'code' must be 2 (大类) or 4 (小类) letters or digits; got {code!r}", field="code")
        values["code"] = code.strip()
    if "name" in body or not partial:
        values["name"] = _text(body, "name", required=True)
    if "responsible_unit" in body:
        values["responsible_unit"] = _text(body, "responsible_unit")
    if "parent" in body:
        parent = body["parent"]
        if parent in (None, ""):
            values["parent_id"] = None
        else:
            pid = conn.execute(select(m.MatterCategory.id).where(m.MatterCategory.code == str(parent),
                                                                m.MatterCategory.parent_id.is_(None))
                               ).scalar_one_or_none()
            if pid is None:
                raise InputError(f"no 大类 with code {parent!r}", field="parent")
            values["parent_id"] = pid
    if "time_limit" in body:
        limit = body["time_limit"]
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0):
            raise InputError(f"'time_limit' must be a positive number; got {limit!r}", field="time_limit")
        values["time_limit"] = None if limit is None else float(limit)
    if "time_unit" in body:
        unit = body["time_unit"]
        if unit is not None and unit not in UNITS:
            raise InputError(f"'time_unit' must be {' or '.join(UNITS)}; got {unit!r}", field="time_unit")
        values["time_unit"] = unit
    for name in ("admitted_on", "exited_on"):
        if name in body:
            values[name] = _date(body[name], name)
    return values


def _check_matter(values: dict) -> None:
    """A 小类 needs a 大类, a time limit and its unit; a 大类 has neither; exit is not before admission."""
    if values.get("parent_id") is not None:
        if values.get("time_limit") is None or values.get("time_unit") is None:
            raise InputError("a 小类 needs 'time_limit' and 'time_unit'", field="time_limit")
    elif values.get("time_limit") is not None:
        raise InputError("a 大类 (no 'parent') has no time limit: give 'parent' for a 小类", field="parent")
    admitted, exited = values.get("admitted_on"), values.get("exited_on")
    if admitted and exited and exited < admitted:
        raise InputError(f"exited_on {exited} is before admitted_on {admitted}", field="exited_on")


def create_matter(conn: Connection, body: dict) -> dict:
    """Add an entry to the matter list (admission: ``admitted_on``, default today)."""
    values = _matter_values(conn, body, partial=False)
    values.setdefault("admitted_on", date.today())
    _check_matter(values)
    if conn.execute(select(m.MatterCategory.id).where(m.MatterCategory.code == values["code"])).first():
        raise Conflict(f"matter code {values['code']} exists already", details={"field": "code"})
    new_id = conn.execute(insert(m.MatterCategory).values(**values).returning(m.MatterCategory.id)).scalar_one()
    audit(conn, "matter_add", "matter_category", new_id, None, values)
    return matter(conn, new_id)


def update_matter(conn: Connection, matter_id: int, body: dict) -> dict:
    """Change an entry; ``exited_on`` takes it off the list (no new events from that day)."""
    old = conn.execute(select(m.MatterCategory).where(m.MatterCategory.id == matter_id).with_for_update()).one_or_none()
    if old is None:
        raise NotFound(f"no matter with id {matter_id}")
    values = _matter_values(conn, body, partial=True)
    if not values:
        raise InputError("nothing to change: send at least one field", field="body")
    merged = {k: getattr(old, k) for k in ("parent_id", "time_limit", "time_unit", "admitted_on", "exited_on")}
    _check_matter({**merged, **values})
    if "code" in values and values["code"] != old.code and conn.execute(
            select(m.MatterCategory.id).where(m.MatterCategory.code == values["code"])).first():
        raise Conflict(f"matter code {values['code']} exists already", details={"field": "code"})
    before = {k: getattr(old, k) for k in values}
    conn.execute(update(m.MatterCategory).where(m.MatterCategory.id == matter_id).values(**values))
    audit(conn, "matter_update", "matter_category", matter_id, before, values)
    return matter(conn, matter_id)


def matter(conn: Connection, matter_id: int) -> dict:
    """One entry of the matter list."""
    row = conn.execute(_matter_query().where(m.MatterCategory.id == matter_id)).one_or_none()
    if row is None:
        raise NotFound(f"no matter with id {matter_id}")
    return _matter_dict(row)


def usable_matter(conn: Connection, ref: Any, on: date):
    """The 小类 ``ref`` (code or id) if it may be used for an event on ``on``.

    Raises
    ------
    InputError
        Field ``category``: unknown, a 大类, not yet admitted, or exited from the list.
    """
    mc = m.MatterCategory
    if isinstance(ref, bool) or not isinstance(ref, int | str):
        raise InputError(f"'category' must be a matter code or id; got {ref!r}", field="category")
    where = mc.id == ref if isinstance(ref, int) else mc.code == ref.strip()
    row = conn.execute(select(mc).where(where)).one_or_none()
    if row is None:
        raise InputError(f"no matter {ref!r} on the matter list (see GET /api/v1/matters)", field="category")
    if row.parent_id is None:
        raise InputError(f"{row.code} {row.name} is a 大类; choose one of its 小类", field="category")
    if row.admitted_on is not None and row.admitted_on > on:
        raise InputError(f"matter {row.code} {row.name} is admitted to the list only on {row.admitted_on}",
                         field="category")
    if row.exited_on is not None and row.exited_on <= on:
        raise InputError(f"matter {row.code} {row.name} left the matter list on {row.exited_on}: it cannot be "
                         "used for new events", field="category")
    return row


# -- routing --------------------------------------------------------------------------------------------

def route_location(service, body: dict) -> dict:
    """Where an event is: ``lon``/``lat`` (+ ``crs``) or ``address`` → point, grid, community, published staff.

    Parameters
    ----------
    service
        A :class:`server.services.lookup.LookupService` (the divisions in force today).
    body
        The report: ``lon`` and ``lat`` (with ``crs``, default CGCS2000; GCJ-02/BD-09 accepted), or
        ``address`` (a standard address, matched as the lookup does).

    Raises
    ------
    BadRequest
        No location, bad numbers, an unmatched address, or a point in no grid; ``details.field`` names it.
    """
    from server.services.lookup import MIN_ADDRESS_SCORE, parse_coordinate, parse_lookup_crs

    address = _text(body, "address")
    lon, lat = body.get("lon"), body.get("lat")
    if lon not in (None, "") or lat not in (None, ""):
        try:
            x = parse_coordinate(None if lon is None else str(lon), "lon", -180.0, 180.0)
            y = parse_coordinate(None if lat is None else str(lat), "lat", -90.0, 90.0)
        except BadRequest as exc:
            field = "lon" if "'lon'" in exc.message else "lat"
            raise BadRequest(exc.message.replace("parameter", "field"), details={"field": field}) from None
        crs = parse_lookup_crs(body.get("crs"))
        try:
            answer = service.point(x, y, crs)
        except NotFound as exc:
            details = dict(exc.details)
            if isinstance(details.get("nearest"), dict):  # a grid without a name comes as NaN: not JSON
                details["nearest"] = {k: _no_nan(v) for k, v in details["nearest"].items()}
            raise BadRequest(f"fields 'lon', 'lat': {exc.message}; report a location inside the county's grids",
                             details={"field": "lon,lat", **details}) from None
        point = answer["point"]
        return {"lon": point["lon"], "lat": point["lat"], "address": address, "grid": answer["grid"],
                "community": answer["community"], "township": answer["township"], "staff": answer["staff"],
                "division": answer["division"]}
    if address:
        found = service.search(address, 1)["results"]
        if not found or found[0]["score"] < MIN_ADDRESS_SCORE:
            raise BadRequest(f"field 'address': no standard address matches {address!r}; pick the place on the map",
                             details={"field": "address"})
        best = found[0]
        if best["grid"] is None:
            raise BadRequest(f"field 'address': {best['address']} is in no grid", details={"field": "address"})
        return {"lon": best["point"]["lon"], "lat": best["point"]["lat"], "address": best["address"],
                "grid": best["grid"], "community": best["community"], "township": best["township"],
                "staff": best["staff"], "division": best.get("division")}
    raise BadRequest("a location is required: 'lon' and 'lat' (with 'crs'), or 'address'",
                     details={"field": "location"})


def assigned_staff(conn: Connection, grid_code: str, on: date) -> int | None:
    """The staff member an event of ``grid_code`` goes to on ``on``: full-time worker, else grid chief, else
    part-time (assignments active on ``on``).
    """
    a, s = m.StaffAssignment, m.Staff
    order = case({role: k for k, role in enumerate(ASSIGN_ROLES)}, value=a.role)
    return conn.execute(select(s.id).join(a, a.staff_id == s.id)
                        .where(a.grid_code == grid_code, a.role.in_(ASSIGN_ROLES), a.start_date <= on,
                               or_(a.end_date.is_(None), a.end_date >= on))
                        .order_by(order, a.id).limit(1)).scalar_one_or_none()


# -- reporting ----------------------------------------------------------------------------------------

def _history(conn: Connection, event_id: int, at: datetime, user: m.User | None, action: str,
             from_status: str | None, to_status: str | None, note: str | None) -> None:
    conn.execute(insert(m.EventHistory).values(event_id=event_id, at=at, user_id=user.id if user else None,
                                               action=action, from_status=from_status, to_status=to_status,
                                               note=note))


def report_event(engine: Engine, service, body: dict, *, user: m.User | None, now: datetime,
                 calendar: WorkCalendar, code: str | None = None, client_ip: str | None = None,
                 public_approved_only: bool = True) -> dict:
    """Report an event (上报): route it to its grid, community and staff, and record it as ``reported``.

    Parameters
    ----------
    engine, service
        The database and the lookup service that routes the location.
    body
        ``description`` (required), ``title``, ``category`` (a 小类 code or id, in force), and the
        location (see :func:`route_location`).
    user
        The signed-in reporter, or None for a public (anonymous) report.
    now, calendar
        The time of the report and the working calendar it is shown in.
    code
        A fixed event code (the demo); by default ``SJ<date><id>``.
    public_approved_only
        The answer to a public report names the grid and its staff only when the grid's division is
        approved (``PUBLIC_APPROVED_ONLY``): an unfiled draft's codes are not published. The event is
        routed to it all the same.

    Raises
    ------
    InputError, BadRequest
        A bad field (named). Forbidden: a signed-in user reporting outside their scope.
    """
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    now = _aware(now, calendar)
    role = actor_role(user)
    if role not in REPORTERS:
        raise Forbidden(f"role {role} may not report events")
    description = _text(body, "description", required=True)
    title = _text(body, "title")
    today = now.astimezone(calendar._zone).date()
    with engine.connect() as conn:
        category = body.get("category")
        matter_row = None if category in (None, "") else usable_matter(conn, category, today)
    route = route_location(service, body)
    grid_code = route["grid"]["code"]
    community = route["community"]["code"] if route["community"] else None
    if user is not None and not can(user, "read_approved", grid_code):
        raise Forbidden(f"you may report events only in your area ({user.scope_code}); {grid_code} is outside it",
                        details={"field": "lon,lat", "grid_code": grid_code})
    title = title or (matter_row.name if matter_row is not None else description[:30])
    with engine.begin() as conn:
        staff_id = assigned_staff(conn, grid_code, today)
        event_id = conn.execute(select(func.nextval(func.pg_get_serial_sequence("event", "id")))).scalar_one()
        code = code or f"SJ{today:%Y%m%d}{event_id:06d}"
        values = {"id": event_id, "code": code, "category_id": matter_row.id if matter_row is not None else None,
                  "title": title, "description": description, "status": "reported",
                  "source": "public" if user is None else "staff", "address": route["address"],
                  "grid_code": grid_code, "community_code": community, "assigned_staff_id": staff_id,
                  "reporter_user_id": user.id if user else None, "reported_at": now,
                  "geom": func.ST_SetSRID(func.ST_MakePoint(route["lon"], route["lat"]), m.SRID)}
        conn.execute(insert(m.Event).values(**values))
        _history(conn, event_id, now, user, "report", None, "reported", None)
        after = {k: v for k, v in values.items() if k not in ("geom", "description")}
        after.update(lon=route["lon"], lat=route["lat"])
        if user is None and client_ip:
            after["ip"] = client_ip
        audit(conn, "event_report", "event", event_id, None, after, user=user,
              actor=None if user is not None else "public")
    log.info("event %s reported in grid %s (%s)", code, grid_code, values["source"])
    division = route.get("division") or {}
    published = user is not None or not public_approved_only or division.get("status") == "approved"
    return {"id": event_id, "code": code, "status": "reported", "title": title, "reported_at": _iso(now, calendar),
            "grid": {"code": grid_code, "name": _no_nan(route["grid"].get("name"))} if published else None,
            "community": route["community"], "township": route["township"],
            "staff": route["staff"] if published else [],
            "point": {"lon": route["lon"], "lat": route["lat"], "crs": "EPSG:4490"}, "address": route["address"],
            "category": None if matter_row is None else {"code": matter_row.code, "name": matter_row.name}}


# -- acting ------------------------------------------------------------------------------------------

_STATE_FIELDS = ("status", "dispatched_at", "deadline_at", "handled_at", "closed_at", "warned_at", "escalated_at")


def _state(row) -> EventState:
    return EventState(**{k: getattr(row, k) for k in _STATE_FIELDS})


def event_area(row) -> str | None:
    """The code permissions are judged on: the event's grid, else its community."""
    return row.grid_code or row.community_code


def may_act(user: m.User | None, row) -> bool:
    """Whether ``user``'s scope covers the event (the role is checked by the state machine)."""
    if user is None or not user.active:
        return False
    if normalise_role(user.role) == "admin":
        return True
    area = event_area(row)
    return bool(area and user.scope_code and scope_contains(user.scope_code, area))


def _apply(conn: Connection, row, action: str, *, role: str, user: m.User | None, now: datetime,
           calendar: WorkCalendar, note: str | None = None, category: Any = None) -> EventState:
    """Do one action on a locked event row: state machine, update, history, audit."""
    today = now.astimezone(calendar._zone).date()
    matter_row = None
    values: dict = {}
    if category not in (None, ""):
        if action not in CATEGORY_ACTIONS:
            raise InputError(f"the category can be set only when registering or dispatching, not on {action}",
                             field="category")
        matter_row = usable_matter(conn, category, today)
        values["category_id"] = matter_row.id
    limit = None
    if action == "dispatch":
        if matter_row is None and row.category_id is not None:
            matter_row = usable_matter(conn, row.category_id, today)  # an exited matter cannot start a clock
        if matter_row is None:
            raise InputError("choose the event's category (a 小类 of the matter list) before dispatching it",
                             field="category")
        limit = TimeLimit(matter_row.time_limit, matter_row.time_unit)
        values["handler_unit"] = matter_row.responsible_unit
    before = _state(row)
    after = transition(before, action, role, now, calendar=calendar, limit=limit)
    values.update({k: v for k, v in asdict(after).items() if getattr(before, k) != v})
    if values:
        conn.execute(update(m.Event).where(m.Event.id == row.id).values(**values))
    if action == "dispatch":
        unit = matter_row.responsible_unit or ""
        note = (f"{note}；" if note else "") + f"派遣至{unit}，时限{matter_row.time_limit:g}" \
            f"{'工作时' if limit.unit == 'working_hours' else '个工作日'}，截止{_iso(after.deadline_at, calendar)}"
    _history(conn, row.id, now, user, action, before.status, after.status, note)
    audit(conn, f"event_{action}", "event", row.id, {k: getattr(before, k) for k in ("status",)},
          {k: v for k, v in values.items()} | ({"note": note} if note else {}), user=user,
          actor="system" if role == "system" else None)
    return after


def act(engine: Engine, event_id: int, body: dict, *, user: m.User | None, now: datetime,
        calendar: WorkCalendar) -> dict:
    """Do ``body["action"]`` on an event as ``user`` at ``now``; return the event.

    Parameters
    ----------
    body
        ``action`` (one of :data:`gis.eventflow.USER_ACTIONS`), ``note`` (required to cancel, return or
        reject), ``category`` (register/dispatch only: set or change the 小类).

    Raises
    ------
    InputError
        Unknown action, missing note, bad category (named field).
    NotFound
        No such event (or not visible to the user).
    Forbidden
        Outside the user's scope, or the role may not do this action.
    Conflict
        The action does not apply to the event's status (names the transition).
    """
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    now = _aware(now, calendar)
    action = body.get("action")
    spec = ACTIONS.get(action) if isinstance(action, str) else None
    if spec is None or spec.roles == {"system"}:
        from gis.eventflow import USER_ACTIONS

        raise InputError(f"'action' must be one of {', '.join(USER_ACTIONS)}; got {action!r}", field="action")
    note = _text(body, "note")
    if action in NOTE_REQUIRED and not note:
        raise InputError(f"say why in 'note' to {action} ({spec.label}) an event", field="note")
    role = actor_role(user)
    with engine.begin() as conn:
        row = conn.execute(select(m.Event).where(m.Event.id == event_id).with_for_update()).one_or_none()
        if row is None:
            raise NotFound(f"no event with id {event_id}")
        if not may_act(user, row):
            raise Forbidden(f"event {row.code} is in {event_area(row)}, outside your scope")
        if role not in spec.roles:
            raise Forbidden(f"role {role} may not {action} ({spec.label}) an event; that needs "
                            f"{' or '.join(sorted(spec.roles))}", details={"action": action, "role": role})
        if row.status not in spec.sources:
            raise Conflict(f"cannot {action} ({spec.label}) event {row.code}: it is {row.status}; {action} applies to "
                           f"{', '.join(sorted(spec.sources))} events",
                           details={"action": action, "status": row.status})
        _apply(conn, row, action, role=role, user=user, now=now, calendar=calendar, note=note,
               category=body.get("category"))
    log.info("event %s: %s by %s", row.code, action, user.username if user else "public")
    with engine.connect() as conn:
        return event_detail(conn, event_id, user, now=now, calendar=calendar)


# -- timers ------------------------------------------------------------------------------------------

def sweep(engine: Engine, now: datetime, calendar: WorkCalendar, share: float = WARNING_SHARE) -> dict:
    """Warn events with ``share`` or less of their time left and escalate overdue ones; return their codes.

    Every warning and escalation is a history row (action ``warn``/``escalate``, no status change) and an
    audit row by ``system``. Escalation reports the event to the township/street above its community.
    Safe to run concurrently: rows being changed by someone else are skipped until the next sweep.
    """
    now = _aware(now, calendar)
    done: dict[str, list[str]] = {"warned": [], "escalated": []}
    e = m.Event
    with engine.begin() as conn:
        rows = conn.execute(select(e).where(e.status.in_(CLOCK_RUNNING), e.deadline_at.is_not(None),
                                            or_(e.warned_at.is_(None), e.escalated_at.is_(None)))
                            .order_by(e.id).with_for_update(skip_locked=True)).all()
        for row in rows:
            state = _state(row)
            for action in due_timers(state, now, calendar, share):
                if action == "warn":
                    note = f"剩余工作时间不足{share:.0%}，截止{_iso(state.deadline_at, calendar)}"
                else:
                    c, t = m.AdminArea.__table__.alias("c"), m.AdminArea.__table__.alias("t")
                    township = conn.execute(select(t.c.code, t.c.name).join_from(c, t, t.c.code == c.c.parent_code)
                                            .where(c.c.code == row.community_code)).first()
                    where = f"{township.name}（{township.code}）" if township else "上级"
                    note = f"已超过处置时限（截止{_iso(state.deadline_at, calendar)}），上报{where}，计入挂账"
                state = _apply(conn, _Row(row, state), action, role="system", user=None, now=now, calendar=calendar,
                               note=note)
                done["warned" if action == "warn" else "escalated"].append(row.code)
    if done["warned"] or done["escalated"]:
        log.info("event sweep at %s: %d warned, %d escalated", now.isoformat(), len(done["warned"]),
                 len(done["escalated"]))
    return done


class _Row:
    """An event row with its state replaced (two timers in one sweep see the first's effect)."""

    def __init__(self, row, state: EventState) -> None:
        self._row, self._state = row, state

    def __getattr__(self, name):
        if name in _STATE_FIELDS:
            return getattr(self._state, name)
        return getattr(self._row, name)


_SWEEP_LOCK = threading.Lock()


def sweep_if_due(app, now: datetime | None = None, every: timedelta = timedelta(seconds=5)) -> None:
    """Run :func:`sweep` on a read when the event clock moved ``every`` since the last one.

    So pages show the current state without a scheduler; ``wangge events sweep`` (cron) does the same.
    """
    from server import engine_of

    now = now or clock()
    last = app.extensions.get("wangge.event_sweep")
    if last is not None and timedelta() <= now - last < every:
        return
    with _SWEEP_LOCK:
        app.extensions["wangge.event_sweep"] = now
    sweep(engine_of(app), now, work_calendar(app), warning_share(app))


# -- reading -----------------------------------------------------------------------------------------

def _scope_clause(user: m.User | None, area: str | None):
    """Events the user may see, within ``area`` when given (BadRequest for a malformed code)."""
    where = []
    target = func.coalesce(m.Event.grid_code, m.Event.community_code)
    if area:
        try:
            prefix = scope_prefix(area)
        except ValueError as exc:
            raise BadRequest(f"parameter 'area': {exc}") from None
        where.append(target.like(prefix + "%"))
    if user is None:
        where.append(literal(False))
    elif normalise_role(user.role) != "admin":
        if not user.scope_code:
            where.append(literal(False))
        else:
            where.append(target.like(scope_prefix(user.scope_code) + "%"))
    return where


def _event_query():
    e, mc, s, a = m.Event, m.MatterCategory, m.Staff, m.AdminArea
    return (select(e.id, e.code, e.title, e.description, e.status, e.source, e.address, e.grid_code,
                   e.community_code, e.reported_at, e.dispatched_at, e.deadline_at, e.handled_at, e.closed_at,
                   e.warned_at, e.escalated_at, e.handler_unit, e.category_id, e.assigned_staff_id,
                   mc.code.label("category_code"), mc.name.label("category_name"),
                   s.name.label("staff_name"), s.user_id.label("staff_user_id"), a.name.label("community_name"),
                   func.ST_X(e.geom).label("lon"), func.ST_Y(e.geom).label("lat"))
            .outerjoin(mc, mc.id == e.category_id).outerjoin(s, s.id == e.assigned_staff_id)
            .outerjoin(a, a.code == e.community_code))


def _event_dict(row, user: m.User | None, now: datetime, calendar: WorkCalendar) -> dict:
    state = _state(row)
    share = None
    if state.status in CLOCK_RUNNING and state.deadline_at is not None and state.dispatched_at is not None:
        share = round(calendar.remaining_share(now, state.dispatched_at, state.deadline_at), 3)
    role = actor_role(user)
    actions = allowed_actions(state.status, role) if may_act(user, row) else []
    return {
        "id": row.id, "code": row.code, "title": row.title, "description": row.description, "status": row.status,
        "source": row.source, "address": row.address, "grid_code": row.grid_code,
        "community": {"code": row.community_code, "name": row.community_name} if row.community_code else None,
        "category": {"code": row.category_code, "name": row.category_name} if row.category_id else None,
        "staff": {"id": row.assigned_staff_id, "name": row.staff_name,
                  "mine": user is not None and row.staff_user_id == user.id} if row.assigned_staff_id else None,
        "handler_unit": row.handler_unit,
        "reported_at": _iso(row.reported_at, calendar), "dispatched_at": _iso(row.dispatched_at, calendar),
        "deadline_at": _iso(row.deadline_at, calendar), "handled_at": _iso(row.handled_at, calendar),
        "closed_at": _iso(row.closed_at, calendar), "warned_at": _iso(row.warned_at, calendar),
        "escalated_at": _iso(row.escalated_at, calendar),
        "warned": row.warned_at is not None and row.status not in FINAL,
        "overdue": state.is_overdue(now) or (row.escalated_at is not None and row.status not in FINAL),
        "on_time": on_time(state), "remaining_share": share,
        "point": None if row.lon is None else {"lon": round(row.lon, 7), "lat": round(row.lat, 7)},
        "actions": actions,
    }


def list_events(conn: Connection, user: m.User | None, *, now: datetime, calendar: WorkCalendar,
                area: str | None = None, statuses: list[str] | None = None, open_only: bool = False,
                mine: bool = False, overdue: bool = False, limit: int = 500) -> list[dict]:
    """Events the user may see, newest first, with the actions the user may take on each.

    Parameters
    ----------
    area
        Only events of this area/grid code (prefix match).
    statuses
        Only these statuses; ``open_only``: not closed or cancelled.
    mine
        Only events assigned to the staff record of ``user``.
    overdue
        Only escalated (backlog) events still open.
    """
    e = m.Event
    query = _event_query().where(*_scope_clause(user, area))
    if statuses:
        bad = [s for s in statuses if s not in m.EVENT_STATUSES]
        if bad:
            raise BadRequest(f"parameter 'status': unknown {', '.join(bad)}; statuses are "
                             f"{', '.join(m.EVENT_STATUSES)}")
        query = query.where(e.status.in_(statuses))
    if open_only:
        query = query.where(e.status.not_in(FINAL))
    if mine:
        query = query.where(m.Staff.user_id == (user.id if user else -1))
    if overdue:
        query = query.where(e.escalated_at.is_not(None), e.status.not_in(FINAL))
    # Open work first, the most urgent deadline first; then the rest, newest first.
    query = query.order_by(e.status.in_(FINAL), e.deadline_at.asc().nulls_last(), e.reported_at.desc(),
                           e.id.desc()).limit(limit)
    now = _aware(now, calendar)
    return [_event_dict(r, user, now, calendar) for r in conn.execute(query)]


def event_detail(conn: Connection, event_id: int, user: m.User | None, *, now: datetime,
                 calendar: WorkCalendar) -> dict:
    """One event with its history; NotFound when it does not exist or lies outside the user's scope."""
    row = conn.execute(_event_query().where(m.Event.id == event_id, *_scope_clause(user, None))).one_or_none()
    if row is None:
        raise NotFound(f"no event with id {event_id}")
    h, u = m.EventHistory, m.User
    history = [{"at": _iso(r.at, calendar), "action": r.action, "from_status": r.from_status,
                "to_status": r.to_status, "note": r.note, "user": r.display_name or r.username}
               for r in conn.execute(select(h.at, h.action, h.from_status, h.to_status, h.note, u.username,
                                            u.display_name).outerjoin(u, u.id == h.user_id)
                                     .where(h.event_id == event_id).order_by(h.at, h.id))]
    return {**_event_dict(row, user, _aware(now, calendar), calendar), "history": history}


def events_geojson(events: list[dict]) -> dict:
    """Events (from :func:`list_events`) as GeoJSON points."""
    features = [{"type": "Feature",
                 "geometry": {"type": "Point", "coordinates": [e["point"]["lon"], e["point"]["lat"]]},
                 "properties": {k: v for k, v in e.items() if k not in ("point", "description")}}
                for e in events if e["point"] is not None]
    return {"type": "FeatureCollection", "features": features}


def _grid_counts_sql() -> str:
    # Grids of the divisions in force, each with its event counts (events match grids by code, so they
    # stay with the grid across versions of a division).
    return """
        SELECT g.code, g.name, d.community_code, c.name AS community_name,
               count(e.id) AS n_events,
               count(e.id) FILTER (WHERE e.status NOT IN ('reported', 'cancelled')) AS n_registered,
               count(e.id) FILTER (WHERE e.status NOT IN ('closed', 'cancelled')) AS n_open,
               count(e.id) FILTER (WHERE e.status = 'closed') AS n_closed,
               count(e.id) FILTER (WHERE e.status = 'closed' AND e.deadline_at IS NOT NULL
                                   AND coalesce(e.handled_at, e.closed_at) <= e.deadline_at) AS n_on_time,
               count(e.id) FILTER (WHERE e.escalated_at IS NOT NULL
                                   AND e.status NOT IN ('closed', 'cancelled')) AS n_overdue,
               g.geom
        FROM grid g JOIN division d ON d.id = g.division_id JOIN admin_area c ON c.code = d.community_code
        LEFT JOIN event e ON e.grid_code = g.code
             AND (CAST(:since AS timestamptz) IS NULL OR e.reported_at >= CAST(:since AS timestamptz))
             AND (CAST(:until AS timestamptz) IS NULL OR e.reported_at < CAST(:until AS timestamptz))
        WHERE g.division_id = ANY(CAST(:ids AS int[])) AND g.code IS NOT NULL AND g.code LIKE :prefix
        GROUP BY g.id, g.code, g.name, d.community_code, c.name"""


def _grid_params(conn: Connection, area: str, since: datetime | None, until: datetime | None) -> dict:
    try:
        prefix = scope_prefix(area)
    except ValueError as exc:
        raise BadRequest(f"parameter 'area': {exc}") from None
    ids = list(divisions_in_force(conn).values())
    return {"ids": ids, "prefix": prefix + "%", "since": since, "until": until}


def grid_heat_geojson(conn: Connection, area: str, *, since: datetime | None = None,
                      until: datetime | None = None) -> dict:
    """The grids in force under ``area`` with their event counts, as GeoJSON (for the heat map)."""
    return feature_collection(conn, _grid_counts_sql() + " ORDER BY g.code",
                              _grid_params(conn, area, since, until))


STATS_COLUMNS = ("grid_code", "grid_name", "community_code", "community_name", "events", "registered", "closed",
                 "closure_rate", "on_time", "on_time_rate", "overdue", "open")


def grid_stats(conn: Connection, area: str, *, since: datetime | None = None,
               until: datetime | None = None) -> dict:
    """Per-grid statistics under ``area``: counts, closure rate 结案率, on-time closure rate 按期结案率, backlog.

    closure rate = closed / registered (立案: every event past ``reported`` except cancelled ones);
    on-time closure rate = closed with feedback by the deadline / closed; overdue = escalated and open.
    Rates are None when their denominator is 0.
    """
    sql = f"SELECT * FROM ({_grid_counts_sql()}) s ORDER BY n_events DESC, code"
    rows = conn.execute(text(sql), _grid_params(conn, area, since, until)).mappings().all()

    def rate(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    grids = [{"grid_code": r["code"], "grid_name": r["name"], "community_code": r["community_code"],
              "community_name": r["community_name"], "events": r["n_events"], "registered": r["n_registered"],
              "closed": r["n_closed"], "closure_rate": rate(r["n_closed"], r["n_registered"]),
              "on_time": r["n_on_time"], "on_time_rate": rate(r["n_on_time"], r["n_closed"]),
              "overdue": r["n_overdue"], "open": r["n_open"]} for r in rows]
    total = {k: sum(g[k] for g in grids) for k in ("events", "registered", "closed", "on_time", "overdue", "open")}
    total.update(closure_rate=rate(total["closed"], total["registered"]),
                 on_time_rate=rate(total["on_time"], total["closed"]))
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
        level = scope_level(user.scope_code)
        if level in ("province", "city"):
            county = conn.execute(select(m.AdminArea.code).where(m.AdminArea.level == "county",
                                                                 m.AdminArea.code.like(scope_prefix(user.scope_code)
                                                                                       + "%"))
                                  .order_by(m.AdminArea.code)).scalar()
            return county or user.scope_code
        return user.scope_code
    county = conn.execute(select(m.AdminArea.code).where(m.AdminArea.level == "county")
                          .order_by(m.AdminArea.code)).scalar()
    if county is None:
        raise NotFound("no county is loaded yet (wangge demo load)")
    return county


# -- the demo --------------------------------------------------------------------------------------------

DEMO_PREFIX = "SJDEMO"
DEMO_COMMUNITY = "320499001001"  # the demo grid staff user's community
#: (category, title, description, how far along, reported by the public)
DEMO_EVENTS = (
    ("0301", "楼上漏水引发邻里争执", "302室与402室因楼上漏水多次争吵，需调解。", "closed_late", False),
    ("0101", "菜市场门口占道经营", "早市摊贩占用人行道，行人只能走机动车道。", "closed_on_time", True),
    ("0201", "小区消防通道被私家车堵塞", "3幢东侧消防通道长期停放私家车。", "overdue", False),
    ("0104", "垃圾桶满溢", "小区北门垃圾桶满溢两天未清运。", "warned", True),
    ("0107", "路灯不亮", "小区南侧道路三盏路灯夜间不亮。", "handling", True),
    ("0102", "楼道堆放杂物", "5幢2单元楼道堆放纸箱和旧家具。", "handled", False),
    ("0402", "餐馆油烟扰民", "沿街餐馆油烟直排居民楼。", "returned", True),
    ("0404", "空地焚烧垃圾", "村口空地有人焚烧垃圾。", "registered", True),
    ("0106", "人行道砖块松动", "人行道多处砖块松动，老人容易绊倒。", "reported", True),
    ("0601", "重复上报：占道经营", "与早市占道经营为同一事项。", "cancelled", True),
)


def _demo_staff(conn: Connection, grid_codes: list[str], since: date) -> None:
    """A full-time worker (signed in as the demo user ``staff``) and a grid chief for the demo community's grids."""
    a = m.StaffAssignment
    if not grid_codes or conn.execute(select(a.id).where(a.grid_code.in_(grid_codes)).limit(1)).first():
        return
    user_id = conn.execute(select(m.User.id).where(m.User.username == "staff")).scalar_one_or_none()
    staff = []
    for code, name, phone, uid in (("DEMO-S01", "张晓网", "0512-5550101", user_id),
                                   ("DEMO-S02", "王建国", "0512-5550102", None)):
        sid = conn.execute(select(m.Staff.id).where(m.Staff.code == code)).scalar_one_or_none()
        if sid is None:
            sid = conn.execute(insert(m.Staff).values(code=code, name=name, phone=phone, user_id=uid,
                                                      township_code=DEMO_COMMUNITY[:9] + "000")
                               .returning(m.Staff.id)).scalar_one()
        staff.append(sid)
    for grid in grid_codes:
        conn.execute(insert(a).values(staff_id=staff[0], grid_code=grid, role="full_time", start_date=since))
        conn.execute(insert(a).values(staff_id=staff[1], grid_code=grid, role="grid_chief", start_date=since))
    audit(conn, "staff_add", "staff", None, None, {"demo": True, "grids": grid_codes}, actor="demo")


def ensure_demo_events(engine: Engine, *, now: datetime | None = None, calendar: WorkCalendar | None = None) -> int:
    """Demo events in every stage of the loop (once: nothing happens when demo events exist); return how many.

    Also loads the missing matters and, when the demo community's grids have no staff, a demo full-time
    worker linked to the demo user ``staff`` and a grid chief. Times are set back from ``now`` on the
    working calendar so that one event is warned, one overdue, one closed on time and one late.
    """
    from server.services.lookup import LookupService

    calendar = calendar or WorkCalendar()
    now = _aware(now or clock(), calendar)
    ensure_demo_matters(engine)
    with engine.connect() as conn:
        if conn.execute(select(m.Event.id).where(m.Event.code.like(DEMO_PREFIX + "%")).limit(1)).first():
            return 0
        ids = list(divisions_in_force(conn).values())
        grids = conn.execute(text("""
            SELECT g.code, d.community_code, ST_X(ST_PointOnSurface(g.geom)) AS lon,
                   ST_Y(ST_PointOnSurface(g.geom)) AS lat
            FROM grid g JOIN division d ON d.id = g.division_id
            WHERE g.division_id = ANY(CAST(:ids AS int[])) AND g.code IS NOT NULL AND g.geom IS NOT NULL
            ORDER BY (d.community_code = :home) DESC, g.code"""), {"ids": ids, "home": DEMO_COMMUNITY}).all()
        users = {u.username: u for u in conn.execute(select(m.User).where(m.User.username.in_(
            ["admin", "operator", "staff"])))}
    if not grids:
        log.warning("no grids in force: no demo events")
        return 0
    home = [g.code for g in grids if g.community_code == DEMO_COMMUNITY]
    with engine.begin() as conn:
        # Serving since well before the back-dated demo events, so they are assigned too.
        _demo_staff(conn, home, now.astimezone(calendar._zone).date() - timedelta(days=365))
    service = LookupService(engine, background=False, check_interval=0)
    centre = users.get("operator") or users.get("admin")
    worker = users.get("staff") or centre
    centre_role = actor_role(centre) if centre else "admin"
    worker_role = actor_role(worker) if worker else "admin"
    hour = timedelta(hours=1)
    # Spread the events over the home community's grids first, then a few elsewhere.
    places = [g for g in grids if g.community_code == DEMO_COMMUNITY][:6] + \
        [g for g in grids if g.community_code != DEMO_COMMUNITY][::max(1, len(grids) // 8)]
    for n, (category, title, description, stage, public) in enumerate(DEMO_EVENTS, start=1):
        place = places[(n - 1) % len(places)]
        with engine.connect() as conn:
            mrow = usable_matter(conn, category, now.date())
        td = calendar.amount_to_timedelta(mrow.time_limit, mrow.time_unit)
        back = {"closed_late": 4, "closed_on_time": 3, "overdue": 1.5, "warned": 0.9, "handled": 0.6,
                "handling": 0.3, "returned": 0.2}.get(stage)
        dispatch_at = calendar.subtract_working_time(now, td * back) if back else None
        reported_at = calendar.subtract_working_time(dispatch_at or now, hour * 1.5)
        body = {"description": description, "title": title, "category": category, "lon": place.lon,
                "lat": place.lat}
        reporter = None if public or place.community_code != DEMO_COMMUNITY else worker
        event = report_event(engine, service, body, user=reporter, now=reported_at, calendar=calendar,
                             code=f"{DEMO_PREFIX}{n:02d}")
        steps: list[tuple[str, datetime, str | None]] = []
        if stage == "cancelled":
            steps = [("cancel", reported_at + hour, "重复上报")]
        elif stage != "reported":
            steps = [("register", calendar.add_working_time(reported_at, 0.5), None)]
        if dispatch_at is not None:
            steps.append(("dispatch", dispatch_at, None))
            def at(share: float, start: datetime = dispatch_at, limit: timedelta = td) -> datetime:
                return calendar.add_working_time(start, limit * share)
            if stage == "returned":
                steps.append(("return", at(0.1), "油烟扰民属生态环境部门职责，请改派"))
            elif stage != "overdue":
                steps.append(("handle", at(0.05), None))
            if stage in ("handled", "closed_on_time", "closed_late"):
                done = 0.5 if stage != "closed_late" else 1.3
                steps.append(("feedback", at(done), "已处置完毕"))
            if stage in ("closed_on_time", "closed_late"):
                steps += [("verify", at(done + 0.2), "现场核查属实，已解决"), ("close", at(done + 0.4), None)]
        for action, when, note in steps:
            if stage == "closed_late" and action == "feedback":
                sweep(engine, when - timedelta(minutes=1), calendar)  # warned and escalated before it was handled
            spec = ACTIONS[action]
            role, user = (centre_role, centre) if "grid_staff" not in spec.roles else (worker_role, worker)
            with engine.begin() as conn:
                row = conn.execute(select(m.Event).where(m.Event.id == event["id"]).with_for_update()).one()
                _apply(conn, row, action, role=role, user=user, now=when, calendar=calendar, note=note)
    service.close()
    sweep(engine, now, calendar)
    log.info("demo: %d grid events", len(DEMO_EVENTS))
    return len(DEMO_EVENTS)
