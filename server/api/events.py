"""Grid events and the matter list over HTTP: ``/api/v1/matters``, ``/api/v1/events*``, ``/api/v1/public/events*``.

Routes only: parse (:mod:`server.api.params`) → permission → one service call → response. The pages
are :mod:`server.web.events`. Reads and actions need a signed-in user and are limited to their scope;
the matter list is published (GET needs no sign-in) and edited by admins. Residents report at
``POST /api/v1/public/events`` with no sign-in and no CSRF token: the request carries no authority (it
is treated as anonymous even when a session cookie comes along), so a forged one can do no more than
the resident could; abuse is bounded by a per-IP limit (``PUBLIC_REPORT_LIMIT``). A report may carry up
to 3 photos (multipart form, field ``photos``). The reporter follows it at
``GET /api/v1/public/events/<tracking code>``: a public read, from the read replica when one is configured
(:func:`_tracked_read`).
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta

from flask import Blueprint, Response, current_app, request

from gis.errors import InputError
from gis.eventflow import USER_ACTIONS
from gis.workcal import UNITS
from server import engine_of, public_reads_of
from server.access import require_login, require_permission
from server.api import params
from server.encoding import to_json
from server.errors import NotFound, WanggeError
from server.services import event_stats, event_timers, matters
from server.services import events as ev
from server.services.matters import MATTER_CODE, TEXT_COLUMNS
from server.services.photos import MAX_BYTES, MAX_PHOTOS

events_api = Blueprint("events_api", __name__, url_prefix="/api/v1")

PUBLIC_REPORT_ENDPOINT = "events_api.public_report"
#: A report's request: 3 photos of 5 MB and the form fields.
MAX_REPORT_BYTES = MAX_PHOTOS * MAX_BYTES + 256 * 1024
MATTER_FIELDS = frozenset({"code", "name", "parent", "time_limit", "time_unit", "responsible_unit", "admitted_on",
                           "exited_on"})


class TooManyRequests(WanggeError):
    """A client sent more anonymous reports than ``PUBLIC_REPORT_LIMIT`` allows."""

    http_status = 429
    code = "too_many_requests"


@events_api.before_app_request
def _public_report_without_csrf():
    # The CSRF check (server.web.auth) runs for every unsafe request. This hook is registered before it and
    # answers the anonymous report itself, so that one endpoint takes JSON from any client without a
    # token; it grants nothing a resident does not have (see the module docstring).
    if request.method == "POST" and request.endpoint == PUBLIC_REPORT_ENDPOINT:
        return current_app.view_functions[PUBLIC_REPORT_ENDPOINT](**(request.view_args or {}))
    return None


# -- parsing ---------------------------------------------------------------------------------------------

def _json_body() -> dict:
    return params.body_object(request.get_json(silent=True))


def _category(value) -> str | int | None:
    """A 小类 code (text) or id (integer)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return params.identifier(value, "category")
    return params.text(value, "category", max_length=8)


def _report_fields() -> tuple[ev.Report, list[tuple[str, bytes]]]:
    """The report and its photos, from a JSON body or a multipart form (field ``photos``)."""
    if request.content_length and request.content_length > MAX_REPORT_BYTES:
        raise InputError(f"上传内容过大：最多 {MAX_PHOTOS} 张照片，每张不超过 5 MB / the request is too large: at most "
                         f"{MAX_PHOTOS} photos of 5 MB each", field="photos")
    photos: list[tuple[str, bytes]] = []
    if request.mimetype == "multipart/form-data":
        body = request.form.to_dict()
        photos = [(f.filename or "", f.read()) for f in request.files.getlist("photos")]
    else:
        body = _json_body()
    report = ev.Report(
        description=params.text(body.get("description"), "description", max_length=ev.MAX_TEXT["description"],
                                required=True),
        title=params.text(body.get("title"), "title", max_length=ev.MAX_TEXT["title"]),
        category=_category(body.get("category")),
        lon=params.number(body.get("lon"), "lon", minimum=-180, maximum=180),
        lat=params.number(body.get("lat"), "lat", minimum=-90, maximum=90),
        crs=params.text(body.get("crs"), "crs", max_length=32),
        address=params.text(body.get("address"), "address", max_length=ev.MAX_TEXT["address"]))
    return report, photos


def _matter_fields(body: dict, *, partial: bool) -> dict:
    """The fields of a matter in a body, parsed (only those sent when ``partial``)."""
    unknown = set(body) - MATTER_FIELDS
    if unknown:
        raise InputError(f"未知字段 {', '.join(sorted(unknown))} / unknown fields {', '.join(sorted(unknown))}; known: "
                         f"{', '.join(sorted(MATTER_FIELDS))}", field=sorted(unknown)[0])
    col = TEXT_COLUMNS
    parsers = {
        "code": lambda v: params.column_text(v, "code", col["code"], required=True),
        "name": lambda v: params.column_text(v, "name", col["name"], required=True),
        "parent": lambda v: params.column_text(v, "parent", col["parent"]),
        "responsible_unit": lambda v: params.column_text(v, "responsible_unit", col["responsible_unit"]),
        "time_limit": lambda v: params.number(v, "time_limit", minimum=0, maximum=100_000, exclusive_minimum=True),
        "time_unit": lambda v: params.choice(v, "time_unit", UNITS),
        "admitted_on": lambda v: params.calendar_date(v, "admitted_on"),
        "exited_on": lambda v: params.calendar_date(v, "exited_on"),
    }
    values = {name: parse(body.get(name)) for name, parse in parsers.items()
              if name in body or (not partial and name in ("code", "name"))}
    if "code" in values and not MATTER_CODE.match(values["code"]):
        raise InputError(f"编码须为 2 位（大类）或 4 位（小类）字母或数字 / 'code' must be 2 (大类) or 4 (小类) "
                         f"letters or digits; got {values['code']!r}", field="code")
    return values


def _now() -> datetime:
    return ev.clock()


def _calendar():
    return ev.work_calendar(current_app)


def _sweep() -> None:
    event_timers.sweep_if_due(current_app, _now())


def _flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes")


def _period() -> tuple[datetime | None, datetime | None]:
    """``from``/``to`` (inclusive dates) → a half-open interval of calendar-local datetimes."""
    zone = _calendar()._zone
    start = params.calendar_date(request.args.get("from"), "from")
    end = params.calendar_date(request.args.get("to"), "to")
    since = datetime.combine(start, time(), zone) if start else None
    until = datetime.combine(end, time(), zone) + timedelta(days=1) if end else None
    return since, until


def _area(user) -> str:
    """The ``area`` parameter (default: the user's own), once the user may read it."""
    area = params.text(request.args.get("area"), "area", max_length=15)
    with engine_of(current_app).connect() as conn:
        return event_stats.readable_area(conn, user, area)


def _image(content_type: str, data: bytes) -> Response:
    response = Response(data, mimetype=content_type)
    response.headers["Cache-Control"] = "private, max-age=3600"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# -- the matter list -----------------------------------------------------------------------------------

@events_api.get("/matters")
def matters_list():
    """The matter list (published): entries in force on ``date`` (today), or all with ``all=1``."""
    on = params.calendar_date(request.args.get("date")) or _now().astimezone(_calendar()._zone).date()
    with engine_of(current_app).connect() as conn:
        return {"matters": matters.list_matters(conn, on=on, include_exited=_flag("all"))}


@events_api.post("/matters")
def matter_create():
    """Admit a matter to the list (admin)."""
    values = _matter_fields(_json_body(), partial=False)
    require_permission("admin")
    with engine_of(current_app).begin() as conn:
        return matters.create_matter(conn, values), 201


@events_api.patch("/matters/<int:matter_id>")
def matter_update(matter_id: int):
    """Change a matter, or take it off the list with ``exited_on`` (admin)."""
    values = _matter_fields(_json_body(), partial=True)
    require_permission("admin")
    with engine_of(current_app).begin() as conn:
        return matters.update_matter(conn, matter_id, values)


# -- reporting and following ------------------------------------------------------------------------------

def _too_many(wait: float) -> Response:
    exc = TooManyRequests(f"该网络上报次数过多，请 {math.ceil(wait / 60)} 分钟后再试 / too many reports from this "
                          f"address; try again in {math.ceil(wait / 60)} minutes",
                          details={"retry_after": math.ceil(wait)})
    from server.errors import _answer

    body, status = _answer(exc.http_status, exc.code, exc.message, exc.details)
    response = current_app.make_response((body, status))
    response.headers["Retry-After"] = str(math.ceil(wait))
    return response


@events_api.post("/public/events")
def public_report():
    """A resident's report: no sign-in, no CSRF token, limited per IP; JSON, or a form with photos."""
    wait = ev.report_limiter(current_app).hit(request.remote_addr or "unknown")
    if wait > 0:
        return _too_many(wait)
    report, photos = _report_fields()
    answer = ev.report_event(engine_of(current_app), ev.event_router(current_app), report, user=None,
                             now=_now(), calendar=_calendar(), photos=photos, client_ip=request.remote_addr,
                             public_approved_only=bool(current_app.config.get("PUBLIC_APPROVED_ONLY", True)))
    return answer, 201


def _tracked_read(read):
    """``read(conn)`` on the public reads (the replica, if any); a code the replica does not know yet is
    looked up on the primary before the answer is 404, since a report made a moment ago may not have
    reached the replica: the resident who follows the link they were just given must find their report.
    A status may still show a few seconds late (the replication lag).
    """
    reads = public_reads_of(current_app)
    try:
        with reads.connect() as conn:
            return read(conn)
    except NotFound:
        if reads.replica is None:
            raise
    with engine_of(current_app).connect() as conn:
        return read(conn)


@events_api.get("/public/events/<tracking_code>")
def public_track(tracking_code: str):
    """What the reporter may see of a report, by its tracking code: status and steps, no one's personal data."""
    code = params.text(tracking_code, "code", max_length=16, required=True)
    return _tracked_read(lambda conn: ev.tracked_event(conn, code, calendar=_calendar()))


@events_api.get("/public/events/<tracking_code>/photos/<int:position>")
def public_photo(tracking_code: str, position: int):
    """A photo of the report with this tracking code."""
    code = params.text(tracking_code, "code", max_length=16, required=True)
    position = params.integer(position, "position", minimum=1, maximum=MAX_PHOTOS)
    return _image(*_tracked_read(lambda conn: ev.tracked_photo(conn, code, position)))


@events_api.post("/events")
def staff_report():
    """A signed-in user's report (grid staff and the centre), in their own area; JSON or a form with photos."""
    report, photos = _report_fields()
    user = require_login()
    answer = ev.report_event(engine_of(current_app), ev.event_router(current_app), report, user=user,
                             now=_now(), calendar=_calendar(), photos=photos)
    return answer, 201


# -- reading and acting ---------------------------------------------------------------------------------

@events_api.get("/events")
def events_list():
    """Events in the user's scope (JSON list, or GeoJSON points with ``format=geojson``)."""
    statuses = [params.choice(s, "status", ev.EVENT_STATUSES) for s in request.args.get("status", "").split(",") if s]
    limit = params.integer(request.args.get("limit"), "limit", minimum=1, maximum=5000, default=500)
    area = params.text(request.args.get("area"), "area", max_length=15)
    fmt = params.choice(request.args.get("format"), "format", ("json", "geojson"), default="json")
    user = require_login()
    _sweep()
    with engine_of(current_app).connect() as conn:
        items = ev.list_events(conn, user, now=_now(), calendar=_calendar(), area=area, statuses=statuses,
                               open_only=_flag("open"), mine=_flag("mine"), overdue=_flag("overdue"), limit=limit)
    if fmt == "geojson":
        return Response(to_json(ev.events_geojson(items)), mimetype="application/geo+json")
    return {"events": items, "now": ev.iso_time(_now(), _calendar())}


@events_api.get("/events/<int:event_id>")
def event_get(event_id: int):
    """One event with its history and its photos."""
    user = require_login()
    _sweep()
    with engine_of(current_app).connect() as conn:
        return ev.event_detail(conn, event_id, user, now=_now(), calendar=_calendar())


@events_api.get("/events/<int:event_id>/photos/<int:position>")
def event_photo(event_id: int, position: int):
    """A photo of an event in the user's scope."""
    position = params.integer(position, "position", minimum=1, maximum=MAX_PHOTOS)
    user = require_login()
    with engine_of(current_app).connect() as conn:
        return _image(*ev.event_photo(conn, event_id, position, user))


@events_api.post("/events/<int:event_id>/actions")
def event_action(event_id: int):
    """Move an event along the loop: ``{"action", "note"?, "category"?}``."""
    body = _json_body()
    action = params.choice(body.get("action"), "action", USER_ACTIONS)
    if action is None:
        raise InputError(f"须为 {'、'.join(USER_ACTIONS)} 之一 / 'action' must be one of {', '.join(USER_ACTIONS)}",
                         field="action")
    note = params.text(body.get("note"), "note", max_length=ev.MAX_TEXT["note"])
    category = _category(body.get("category"))
    user = require_login()
    _sweep()
    return ev.act(engine_of(current_app), event_id, action, note=note, category=category, user=user, now=_now(),
                  calendar=_calendar())


@events_api.get("/events/calendar")
def event_calendar():
    """The working calendar's state: the years ahead whose holidays are computed, not official."""
    require_login()
    years = ev.calendar_warnings(current_app, _now())
    return {"timezone": _calendar().timezone, "estimated_years": years}


@events_api.get("/events/grids")
def event_grids():
    """The grids in force under ``area`` with their event counts (GeoJSON, for the heat map)."""
    user = require_login()
    area = _area(user)
    since, until = _period()
    _sweep()
    with engine_of(current_app).connect() as conn:
        return Response(to_json(event_stats.grid_heat_geojson(conn, area, since=since, until=until)),
                        mimetype="application/geo+json")


@events_api.get("/events/stats")
def event_stats_get():
    """Per-grid statistics under ``area``: JSON, or CSV with ``format=csv``."""
    fmt = params.choice(request.args.get("format"), "format", ("json", "csv"), default="json")
    user = require_login()
    area = _area(user)
    since, until = _period()
    _sweep()
    with engine_of(current_app).connect() as conn:
        stats = event_stats.grid_stats(conn, area, since=since, until=until)
    if fmt == "csv":
        return Response(event_stats.stats_csv(stats), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="event-stats-{area}.csv"'})
    return stats
