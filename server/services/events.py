"""Grid events (网格事件): report, route, act, read and follow.

The loop itself (states, who may do what, the timers, separation of duties) is :mod:`gis.eventflow`;
deadlines are counted on the working calendar of :mod:`gis.workcal` (``WORK_CALENDAR`` on top of the
State Council's schedule). This module adds what needs the database, through :mod:`server.store.events`:
routing a reported location to its grid in force, community and staff (through
:mod:`server.services.lookup`), photos, the history and audit of every step, and what the reporter may
see by the tracking code. Siblings: :mod:`.matters` (the matter list), :mod:`.event_timers` (warnings
and escalation), :mod:`.event_stats` (per-grid counts), :mod:`.event_demo`.

Time: every function takes ``now`` explicitly; web routes pass :func:`clock`, which tests replace to
freeze time. Times are stored as ``timestamptz`` and answered in the calendar's zone.

Who may act (scope; the role check is :mod:`gis.eventflow`'s): admin everywhere; any other signed-in
user on events whose grid (or community) lies in their scope (:func:`server.services.permissions.scope_contains`), so
grid staff act only on their own grids' events. The public may only report, and follow its own reports.
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Engine

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
    on_time,
    same_person,
    transition,
)
from gis.workcal import WorkCalendar, calendar_from_config
from server.errors import BadRequest, Conflict, Forbidden, NotFound
from server.services import photos as photo_rules
from server.services import staff
from server.services.matters import usable_matter
from server.services.permissions import can, normalise_role, scope_contains, scope_prefix
from server.store import events as store
from server.store import models as m
from server.store.audit import audit
from server.store.limits import RateLimiter

log = logging.getLogger(__name__)

#: Every status an event may have (for filters).
EVENT_STATUSES = m.EVENT_STATUSES
#: Staff roles an event is assigned to, in order of preference: the full-time worker does the work.
ASSIGN_ROLES = ("full_time", "grid_chief", "part_time")
#: Actions that must say why.
NOTE_REQUIRED = frozenset({"cancel", "return", "reject"})
#: Actions that may (re)set the category.
CATEGORY_ACTIONS = frozenset({"register", "dispatch"})
#: Longest texts (characters) of a report and an action note.
MAX_TEXT = {"title": 200, "description": 2000, "note": 1000, "address": 200}
#: Tracking codes: no 0/O, 1/I/L, so they can be read out on the phone; 32¹⁰ codes cannot be guessed.
TRACKING_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
TRACKING_LENGTH = 10
#: How far ahead deadlines are checked for a year without an official holiday schedule (days).
CALENDAR_HORIZON_DAYS = 60


def clock() -> datetime:
    """Now, timezone-aware (UTC). Tests replace this function to freeze time."""
    return datetime.now(UTC)


def _aware(moment: datetime, calendar: WorkCalendar) -> datetime:
    # A naive time is local calendar time, as in gis.workcal.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=calendar._zone)


def iso_time(moment: datetime | None, calendar: WorkCalendar) -> str | None:
    """A moment as ISO 8601 in the calendar's zone (``2026-12-07T11:30:00+08:00``), for the API."""
    return None if moment is None else moment.astimezone(calendar._zone).isoformat(timespec="seconds")


def local_text(moment: datetime | None, calendar: WorkCalendar) -> str:
    """A moment as people read it, in the calendar's zone: ``2026-12-07 11:30`` (history notes)."""
    return "" if moment is None else f"{moment.astimezone(calendar._zone):%Y-%m-%d %H:%M}"


# -- configuration ------------------------------------------------------------------------------------

def work_calendar(app) -> WorkCalendar:
    """The app's working calendar (``WORK_CALENDAR`` over the national schedule), read once per process."""
    cal = app.extensions.get("wangge.workcal")
    if cal is None:
        cal = calendar_from_config(app.config.get("WORK_CALENDAR"))
        app.extensions["wangge.workcal"] = cal
    return cal


def calendar_warnings(app, now: datetime) -> list[int]:
    """Years in the next :data:`CALENDAR_HORIZON_DAYS` days whose holiday schedule is computed, not official."""
    cal = work_calendar(app)
    today = _aware(now, cal).astimezone(cal._zone).date()
    return cal.estimated_years(today, today + timedelta(days=CALENDAR_HORIZON_DAYS))


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
    division is filed. When that is what the public lookup uses anyway, and the public lookup reads from the
    primary, the public service is shared. With a read replica it is not: routing is a read inside a write
    (the report), and every such read goes to the primary, so the router keeps a locator of its own.
    """
    from server import public_reads_of
    from server.services.lookup import LookupService, lookup_service

    approved_only = str(app.config.get("EVENT_ROUTING_APPROVED_ONLY", "")).strip().lower() not in _FALSE_WORDS
    if approved_only == bool(app.config.get("PUBLIC_APPROVED_ONLY", False)) and public_reads_of(app).replica is None:
        return lookup_service(app)
    router = app.extensions.get("wangge.event_router")
    if router is None:
        with _ROUTER_LOCK:
            router = app.extensions.get("wangge.event_router")
            if router is None:
                from server import engine_of

                router = LookupService(engine_of(app), approved_only=approved_only,
                                       check_interval=app.config["LOOKUP_CHECK_SECONDS"],
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


def _no_nan(value):
    # The lookup's frames give a grid without a name as NaN, which is not JSON.
    return None if isinstance(value, float) and value != value else value


def actor_role(user: m.User | None) -> str:
    """The role the state machine sees: the user's, or ``public`` for anonymous."""
    return "public" if user is None else normalise_role(user.role)


# -- routing --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Report:
    """A report as parsed by the API: the text, the matter, and the place (a point or an address).

    ``category`` is a 小类 code or id; ``lon``/``lat`` are in ``crs`` (CGCS2000 when empty; GCJ-02 and
    BD-09 accepted).
    """

    description: str
    title: str | None = None
    category: str | int | None = None
    lon: float | None = None
    lat: float | None = None
    crs: str | None = None
    address: str | None = None


def _route_point(service, report: Report) -> dict:
    from server.services.lookup import parse_lookup_crs

    if report.lon is None or report.lat is None:
        missing = "lat" if report.lon is not None else "lon"
        raise InputError(f"须同时给出经度和纬度 / both 'lon' and 'lat' are required ('{missing}' is required)",
                         field=missing)
    try:
        crs = parse_lookup_crs(report.crs)
    except BadRequest as exc:
        raise InputError(exc.message, field="crs") from None
    try:
        answer = service.point(report.lon, report.lat, crs)
    except NotFound as exc:
        details = dict(exc.details)
        if isinstance(details.get("nearest"), dict):  # a grid without a name comes as NaN: not JSON
            details["nearest"] = {k: _no_nan(v) for k, v in details["nearest"].items()}
        raise BadRequest(f"该位置不在本县的网格内，请在网格范围内选点 / fields 'lon', 'lat': {exc.message}; report a "
                         "location inside the county's grids", details={"field": "lon,lat", **details}) from None
    point = answer["point"]
    return {"lon": point["lon"], "lat": point["lat"], "address": report.address, "grid": answer["grid"],
            "community": answer["community"], "township": answer["township"], "staff": answer["staff"],
            "division": answer["division"]}


def route_location(service, report: Report) -> dict:
    """Where an event is: the point (or the standard address) → point, grid, community, published staff.

    Parameters
    ----------
    service
        A :class:`server.services.lookup.LookupService` (the divisions in force today).

    Raises
    ------
    InputError, BadRequest
        No location, an unmatched address, or a point in no grid; ``details.field`` names it.
    """
    from server.services.lookup import MIN_ADDRESS_SCORE

    if report.lon is not None or report.lat is not None:
        return _route_point(service, report)
    if report.address:
        found = service.search(report.address, 1)["results"]
        if not found or found[0]["score"] < MIN_ADDRESS_SCORE:
            raise InputError(f"没有与“{report.address}”相符的标准地址，请在地图上选点 / no standard address matches "
                             f"{report.address!r}; pick the place on the map", field="address")
        best = found[0]
        if best["grid"] is None:
            raise InputError(f"{best['address']} 不在任何网格内 / {best['address']} is in no grid", field="address")
        return {"lon": best["point"]["lon"], "lat": best["point"]["lat"], "address": best["address"],
                "grid": best["grid"], "community": best["community"], "township": best["township"],
                "staff": best["staff"], "division": best.get("division")}
    raise InputError("请在地图上选点或填写地址 / a location is required: 'lon' and 'lat' (with 'crs'), or 'address'",
                     field="location")


def assigned_staff(conn: Connection, grid_code: str, on: date) -> int | None:
    """The staff member an event of ``grid_code`` goes to on ``on``: full-time worker, else grid chief, else
    part-time (assignments active on ``on``).
    """
    return staff.event_assignee(conn, grid_code, on)


# -- reporting ----------------------------------------------------------------------------------------

def new_tracking_code() -> str:
    """A random tracking code (the reporter's key to follow the event)."""
    return "".join(secrets.choice(TRACKING_ALPHABET) for _ in range(TRACKING_LENGTH))


def _insert_report(conn: Connection, report: Report, route: dict, matter_row, *, user: m.User | None,
                   now: datetime, today: date, code: str | None, photos: list) -> dict:
    """Write the event, its first history step and its photos; return the stored values."""
    grid_code = route["grid"]["code"]
    event_id = store.next_event_id(conn)
    title = report.title or (matter_row.name if matter_row is not None else report.description[:30])
    values = {"id": event_id, "code": code or f"SJ{today:%Y%m%d}{event_id:06d}",
              "tracking_code": new_tracking_code(),
              "category_id": matter_row.id if matter_row is not None else None, "title": title,
              "description": report.description, "status": "reported",
              "source": "public" if user is None else "staff", "address": route["address"],
              "grid_code": grid_code, "community_code": route["community"]["code"] if route["community"] else None,
              "assigned_staff_id": assigned_staff(conn, grid_code, today),
              "reporter_user_id": user.id if user else None, "reported_at": now,
              "geom": store.point_value(route["lon"], route["lat"])}
    store.insert_event(conn, values)
    store.insert_history(conn, event_id, now, user.id if user else None, "report", None, "reported", None)
    for position, photo in enumerate(photos, start=1):
        store.insert_photo(conn, event_id, position, photo.content_type, photo.width, photo.height, photo.data)
    return values


def report_event(engine: Engine, service, report: Report, *, user: m.User | None, now: datetime,
                 calendar: WorkCalendar, photos: list[tuple[str, bytes]] = (), code: str | None = None,
                 client_ip: str | None = None, public_approved_only: bool = True) -> dict:
    """Report an event (上报): route it to its grid, community and staff, and record it as ``reported``.

    Parameters
    ----------
    engine, service
        The database and the lookup service that routes the location.
    report
        What was reported (parsed by the API).
    user
        The signed-in reporter, or None for a public (anonymous) report.
    now, calendar
        The time of the report and the working calendar it is shown in.
    photos
        ``(file name, bytes)`` of up to 3 JPEG/PNG photos; all are checked before anything is stored.
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
    now = _aware(now, calendar)
    role = actor_role(user)
    if role not in REPORTERS:
        raise Forbidden(f"角色 {role} 不能上报事件 / role {role} may not report events")
    cleaned = photo_rules.clean_photos(list(photos))
    today = now.astimezone(calendar._zone).date()
    with engine.connect() as conn:
        matter_row = None if report.category in (None, "") else usable_matter(conn, report.category, today)
    route = route_location(service, report)
    grid_code = route["grid"]["code"]
    if user is not None and not can(user, "read_approved", grid_code):
        raise Forbidden(f"只能在本人负责的区域（{user.scope_code}）上报事件，{grid_code} 不在其中 / you may report "
                        f"events only in your area ({user.scope_code}); {grid_code} is outside it",
                        details={"field": "lon,lat", "grid_code": grid_code})
    with engine.begin() as conn:
        values = _insert_report(conn, report, route, matter_row, user=user, now=now, today=today, code=code,
                                photos=cleaned)
        after = {k: v for k, v in values.items() if k not in ("geom", "description", "tracking_code")}
        after.update(lon=route["lon"], lat=route["lat"], photos=len(cleaned))
        if user is None and client_ip:
            after["ip"] = client_ip
        audit(conn, "event_report", "event", values["id"], None, after, user=user,
              actor=None if user is not None else "public")
    log.info("event %s reported in grid %s (%s, %d photos)", values["code"], grid_code, values["source"],
             len(cleaned))
    division = route.get("division") or {}
    published = user is not None or not public_approved_only or division.get("status") == "approved"
    return _report_answer(values, route, matter_row, published, len(cleaned), iso_time(now, calendar))


def _report_answer(values: dict, route: dict, matter_row, published: bool, photos: int, reported_at: str) -> dict:
    """What the reporter is told: codes, place, category; the grid and its staff only when ``published``."""
    return {"id": values["id"], "code": values["code"], "tracking_code": values["tracking_code"],
            "status": "reported", "title": values["title"], "reported_at": reported_at,
            "grid": {"code": values["grid_code"], "name": _no_nan(route["grid"].get("name"))} if published else None,
            "community": route["community"], "township": route["township"],
            "staff": route["staff"] if published else [], "photos": photos,
            "point": {"lon": route["lon"], "lat": route["lat"], "crs": "EPSG:4490"}, "address": route["address"],
            "category": None if matter_row is None else {"code": matter_row.code, "name": matter_row.name}}


# -- acting ------------------------------------------------------------------------------------------

STATE_FIELDS = ("status", "dispatched_at", "deadline_at", "handled_at", "closed_at", "warned_at", "escalated_at")


def event_state(row) -> EventState:
    """The state machine's view of an event row."""
    return EventState(**{k: getattr(row, k) for k in STATE_FIELDS}, handled_by=row.handled_by_user_id)


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


def _dispatch_limit(conn: Connection, row, matter_row, today: date) -> tuple[TimeLimit, object]:
    """The time limit a dispatch starts, from the (new or stored) category."""
    if matter_row is None and row.category_id is not None:
        matter_row = usable_matter(conn, row.category_id, today)  # an exited matter cannot start a clock
    if matter_row is None:
        raise InputError("派遣前请先选择事件类别（事项清单中的小类） / choose the event's category (a 小类 of the "
                         "matter list) before dispatching it", field="category")
    return TimeLimit(matter_row.time_limit, matter_row.time_unit), matter_row


def _dispatch_note(note: str | None, matter_row, limit: TimeLimit, deadline: datetime,
                   calendar: WorkCalendar) -> str:
    unit = "工作时" if limit.unit == "working_hours" else "个工作日"
    return (f"{note}；" if note else "") + (f"派遣至{matter_row.responsible_unit or ''}，时限"
                                           f"{matter_row.time_limit:g}{unit}，截止{local_text(deadline, calendar)}")


def apply_action(conn: Connection, row, action: str, *, role: str, user: m.User | None, now: datetime,
                 calendar: WorkCalendar, note: str | None = None, category=None) -> EventState:
    """Do one action on a locked event row: state machine, update, history, audit."""
    today = now.astimezone(calendar._zone).date()
    matter_row, limit, values = None, None, {}
    if category not in (None, ""):
        if action not in CATEGORY_ACTIONS:
            raise InputError(f"只有立案或派遣时可以设定类别 / the category can be set only when registering or "
                             f"dispatching, not on {action}", field="category")
        matter_row = usable_matter(conn, category, today)
        values["category_id"] = matter_row.id
    if action == "dispatch":
        limit, matter_row = _dispatch_limit(conn, row, matter_row, today)
        values["handler_unit"] = matter_row.responsible_unit
    before = event_state(row)
    after = transition(before, action, role, now, calendar=calendar, limit=limit, actor=user.id if user else None)
    changed = {k: v for k, v in asdict(after).items() if getattr(before, k) != v}
    if "handled_by" in changed:
        changed["handled_by_user_id"] = changed.pop("handled_by")
    values.update(changed)
    if values:
        store.update_event(conn, row.id, values)
    if action == "dispatch":
        note = _dispatch_note(note, matter_row, limit, after.deadline_at, calendar)
    store.insert_history(conn, row.id, now, user.id if user else None, action, before.status, after.status, note)
    audit(conn, f"event_{action}", "event", row.id, {"status": before.status},
          values | ({"note": note} if note else {}), user=user, actor="system" if role == "system" else None)
    return after


def _check_may_act(row, spec, action: str, role: str, user: m.User | None) -> None:
    """Scope, role, status and separation of duties, each with its own error."""
    if not may_act(user, row):
        raise Forbidden(f"事件 {row.code} 位于 {event_area(row)}，不在您的管辖范围内 / event {row.code} is in "
                        f"{event_area(row)}, outside your scope")
    if role not in spec.roles:
        raise Forbidden(f"角色 {role} 不能{spec.label} / role {role} may not {action} ({spec.label}) an event; that "
                        f"needs {' or '.join(sorted(spec.roles))}", details={"action": action, "role": role})
    if row.status not in spec.sources:
        raise Conflict(f"事件 {row.code} 当前状态不能{spec.label} / cannot {action} ({spec.label}) event {row.code}: "
                       f"it is {row.status}; {action} applies to {', '.join(sorted(spec.sources))} events",
                       details={"action": action, "status": row.status})
    if action in ("verify", "reject") and same_person(event_state(row), user.id):
        raise Forbidden(f"反馈办结的人不能核查同一事件，请由他人核查 / the one who reported event {row.code} done "
                        f"may not {action} it: another person checks it (separation of duties)",
                        details={"action": action, "rule": "separation_of_duties"})


def act(engine: Engine, event_id: int, action: str, *, note: str | None = None, category=None,
        user: m.User | None, now: datetime, calendar: WorkCalendar) -> dict:
    """Do ``action`` on an event as ``user`` at ``now``; return the event.

    Parameters
    ----------
    action
        One of :data:`gis.eventflow.USER_ACTIONS` (checked by the API).
    note
        Required to cancel, return or reject.
    category
        Register/dispatch only: set or change the 小类 (code or id).

    Raises
    ------
    InputError
        Missing note, bad category (named field).
    NotFound
        No such event (or not visible to the user).
    Forbidden
        Outside the user's scope, the role may not do this action, or the one who fed back checks it.
    Conflict
        The action does not apply to the event's status (names the transition).
    """
    now = _aware(now, calendar)
    spec = ACTIONS[action]
    if action in NOTE_REQUIRED and not note:
        raise InputError(f"{spec.label}须填写原因 / say why in 'note' to {action} ({spec.label}) an event",
                         field="note")
    role = actor_role(user)
    with engine.begin() as conn:
        row = store.lock_event(conn, event_id)
        if row is None:
            raise NotFound(f"没有编号为 {event_id} 的事件 / no event with id {event_id}")
        _check_may_act(row, spec, action, role, user)
        apply_action(conn, row, action, role=role, user=user, now=now, calendar=calendar, note=note,
                     category=category)
    log.info("event %s: %s by %s", row.code, action, user.username if user else "public")
    with engine.connect() as conn:
        return event_detail(conn, event_id, user, now=now, calendar=calendar)


# -- reading -----------------------------------------------------------------------------------------

def _prefix(area: str, field: str = "area") -> str:
    try:
        return scope_prefix(area)
    except ValueError as exc:
        raise InputError(f"{exc}", field=field) from None


def scope_where(user: m.User | None, area: str | None) -> list:
    """Where-clauses of the events ``user`` may see, within ``area`` when given."""
    everything = user is not None and normalise_role(user.role) == "admin"
    user_prefix = scope_prefix(user.scope_code) if user is not None and user.scope_code else None
    return store.scope_filter(_prefix(area) if area else None, user_prefix, everything)


def _remaining(state: EventState, now: datetime, calendar: WorkCalendar) -> float | None:
    if state.status in CLOCK_RUNNING and state.deadline_at is not None and state.dispatched_at is not None:
        return round(calendar.remaining_share(now, state.dispatched_at, state.deadline_at), 3)
    return None


def _event_dict(row, user: m.User | None, now: datetime, calendar: WorkCalendar) -> dict:
    state = event_state(row)
    actions = (allowed_actions(state.status, actor_role(user), state=state, actor=user.id)
               if may_act(user, row) else [])
    times = {f"{k}_at": iso_time(getattr(row, f"{k}_at"), calendar)
             for k in ("reported", "dispatched", "deadline", "handled", "closed", "warned", "escalated")}
    return {
        "id": row.id, "code": row.code, "title": row.title, "description": row.description, "status": row.status,
        "source": row.source, "address": row.address, "grid_code": row.grid_code,
        "community": {"code": row.community_code, "name": row.community_name} if row.community_code else None,
        "category": {"code": row.category_code, "name": row.category_name} if row.category_id else None,
        "staff": {"id": row.assigned_staff_id, "name": row.staff_name, "phone": row.staff_phone,
                  "mine": user is not None and row.staff_user_id == user.id} if row.assigned_staff_id else None,
        "handler_unit": row.handler_unit, **times,
        "warned": row.warned_at is not None and row.status not in FINAL,
        "overdue": state.is_overdue(now) or (row.escalated_at is not None and row.status not in FINAL),
        "on_time": on_time(state), "remaining_share": _remaining(state, now, calendar),
        "fed_back_by_me": same_person(state, user.id if user else None),
        "photos": row.photo_count,
        "point": None if row.lon is None else {"lon": round(row.lon, 7), "lat": round(row.lat, 7)},
        "actions": actions,
    }


def list_events(conn: Connection, user: m.User | None, *, now: datetime, calendar: WorkCalendar,
                area: str | None = None, statuses: list[str] | None = None, open_only: bool = False,
                mine: bool = False, overdue: bool = False, limit: int = 500) -> list[dict]:
    """Events the user may see, open work first (most urgent deadline first), with the user's actions.

    Parameters
    ----------
    area
        Only events of this area/grid code (prefix match).
    statuses
        Only these statuses (checked by the API); ``open_only``: not closed or cancelled.
    mine
        Only events assigned to the staff record of ``user``.
    overdue
        Only escalated (backlog) events still open.
    """
    rows = store.events(conn, scope_where(user, area), statuses=statuses, open_only=open_only,
                        staff_user_id=(user.id if user else -1) if mine else None, overdue=overdue, limit=limit)
    now = _aware(now, calendar)
    return [_event_dict(r, user, now, calendar) for r in rows]


def event_detail(conn: Connection, event_id: int, user: m.User | None, *, now: datetime,
                 calendar: WorkCalendar) -> dict:
    """One event with its history; NotFound when it does not exist or lies outside the user's scope."""
    row = store.event(conn, event_id=event_id, where=scope_where(user, None))
    if row is None:
        raise NotFound(f"没有编号为 {event_id} 的事件 / no event with id {event_id}")
    history = [{"at": iso_time(r.at, calendar), "action": r.action, "from_status": r.from_status,
                "to_status": r.to_status, "note": r.note, "user": r.display_name or r.username}
               for r in store.history(conn, event_id)]
    return {**_event_dict(row, user, _aware(now, calendar), calendar), "history": history,
            "photo_list": [_photo_dict(p, f"/api/v1/events/{event_id}/photos/{p.position}")
                           for p in store.photos(conn, event_id)]}


def _photo_dict(p, url: str) -> dict:
    return {"position": p.position, "content_type": p.content_type, "width": p.width, "height": p.height,
            "bytes": p.bytes, "url": url}


def event_photo(conn: Connection, event_id: int, position: int, user: m.User | None) -> tuple[str, bytes]:
    """``(media type, bytes)`` of one photo of an event the user may see."""
    if store.event(conn, event_id=event_id, where=scope_where(user, None)) is None:
        raise NotFound(f"没有编号为 {event_id} 的事件 / no event with id {event_id}")
    found = store.photo(conn, event_id, position)
    if found is None:
        raise NotFound(f"事件没有第 {position} 张照片 / the event has no photo {position}")
    return found.content_type, found.data


def events_geojson(events: list[dict]) -> dict:
    """Events (from :func:`list_events`) as GeoJSON points."""
    features = [{"type": "Feature",
                 "geometry": {"type": "Point", "coordinates": [e["point"]["lon"], e["point"]["lat"]]},
                 "properties": {k: v for k, v in e.items() if k not in ("point", "description")}}
                for e in events if e["point"] is not None]
    return {"type": "FeatureCollection", "features": features}


# -- following a report by its tracking code ---------------------------------------------------------------

def _tracked_row(conn: Connection, tracking_code: str):
    row = store.event(conn, tracking_code=tracking_code.strip().upper())
    if row is None:
        raise NotFound(f"没有查询码为 {tracking_code} 的事件，请核对后重试 / no report with tracking code "
                       f"{tracking_code!r}", details={"field": "code"})
    return row


def tracked_event(conn: Connection, tracking_code: str, *, calendar: WorkCalendar) -> dict:
    """What the reporter sees by the tracking code: status, category, place and the steps taken.

    No personal data of others: no names of staff or users, no notes (they may name neighbours), no
    grid staff assignment; the steps say only what happened and when.
    """
    row = _tracked_row(conn, tracking_code)
    steps = [{"at": iso_time(r.at, calendar), "action": r.action, "status": r.to_status}
             for r in store.history(conn, row.id)]
    base = f"/api/v1/public/events/{row.tracking_code}/photos"
    return {"code": row.code, "tracking_code": row.tracking_code, "title": row.title,
            "description": row.description, "status": row.status,
            "category": {"code": row.category_code, "name": row.category_name} if row.category_id else None,
            "community": {"code": row.community_code, "name": row.community_name} if row.community_code else None,
            "address": row.address, "reported_at": iso_time(row.reported_at, calendar),
            "deadline_at": iso_time(row.deadline_at, calendar) if row.status not in FINAL else None,
            "closed_at": iso_time(row.closed_at, calendar), "history": steps,
            "photo_list": [_photo_dict(p, f"{base}/{p.position}") for p in store.photos(conn, row.id)]}


def tracked_photo(conn: Connection, tracking_code: str, position: int) -> tuple[str, bytes]:
    """``(media type, bytes)`` of a photo of the report with this tracking code."""
    row = _tracked_row(conn, tracking_code)
    found = store.photo(conn, row.id, position)
    if found is None:
        raise NotFound(f"该事件没有第 {position} 张照片 / the report has no photo {position}")
    return found.content_type, found.data
