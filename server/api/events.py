"""Grid events and the matter list over HTTP: ``/api/v1/matters``, ``/api/v1/events*``, ``/api/v1/public/events``,
and the pages ``/report``, ``/events/mine``, ``/events/map`` and ``/events/stats``.

Thin routes over :mod:`server.services.events`. Reads and actions need a signed-in user and are limited to their
scope; the matter list is published (GET needs no sign-in) and edited by admins. Residents report at
``POST /api/v1/public/events`` with no sign-in and no CSRF token: the request carries no authority (it
is treated as anonymous even when a session cookie comes along), so a forged one can do no more than
the resident could; abuse is bounded by a per-IP limit (``PUBLIC_REPORT_LIMIT``).
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta

from flask import Blueprint, Response, current_app, request

from server import engine_of
from server.encoding import to_json
from server.errors import BadRequest, Forbidden, WanggeError
from server.services import events as ev
from server.services.lookup import parse_date
from server.services.permissions import can
from server.web.auth import require_login, require_permission

events_api = Blueprint("events_api", __name__, url_prefix="/api/v1")
events_pages = Blueprint("events_pages", __name__)

PUBLIC_REPORT_ENDPOINT = "events_api.public_report"


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


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object (Content-Type: application/json)")
    return body


def _now() -> datetime:
    return ev.clock()


def _calendar():
    return ev.work_calendar(current_app)


def _sweep() -> None:
    ev.sweep_if_due(current_app, _now())


def _flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes")


def _period() -> tuple[datetime | None, datetime | None]:
    """``from``/``to`` (inclusive dates) → a half-open interval of calendar-local datetimes."""
    zone = _calendar()._zone
    start, end = parse_date(request.args.get("from"), "from"), parse_date(request.args.get("to"), "to")
    since = datetime.combine(start, time(), zone) if start else None
    until = datetime.combine(end, time(), zone) + timedelta(days=1) if end else None
    return since, until


def _area(user) -> str:
    """The ``area`` parameter (default: the user's county), once the user may read it."""
    with engine_of(current_app).connect() as conn:
        area = request.args.get("area") or ev.default_area(conn, user)
    try:
        allowed = can(user, "read_approved", area)
    except ValueError as exc:
        raise BadRequest(f"parameter 'area': {exc}") from None
    if not allowed:
        raise Forbidden(f"area {area} is outside your scope ({user.scope_code})", details={"area": area})
    return area


# -- the matter list -----------------------------------------------------------------------------------

@events_api.get("/matters")
def matters():
    """The matter list (published): entries in force on ``date`` (today), or all with ``all=1``."""
    with engine_of(current_app).connect() as conn:
        on = parse_date(request.args.get("date")) or _now().astimezone(_calendar()._zone).date()
        return {"matters": ev.list_matters(conn, on=on, include_exited=_flag("all"))}


@events_api.post("/matters")
def matter_create():
    """Admit a matter to the list (admin)."""
    require_permission("admin")
    with engine_of(current_app).begin() as conn:
        return ev.create_matter(conn, _json_body()), 201


@events_api.patch("/matters/<int:matter_id>")
def matter_update(matter_id: int):
    """Change a matter, or take it off the list with ``exited_on`` (admin)."""
    require_permission("admin")
    with engine_of(current_app).begin() as conn:
        return ev.update_matter(conn, matter_id, _json_body())


# -- reporting ----------------------------------------------------------------------------------------

@events_api.post("/public/events")
def public_report():
    """A resident's report: no sign-in, no CSRF token, limited per IP."""
    wait = ev.report_limiter(current_app).hit(request.remote_addr or "unknown")
    if wait > 0:
        exc = TooManyRequests(f"too many reports from this address; try again in {math.ceil(wait / 60)} minutes",
                              details={"retry_after": math.ceil(wait)})
        from server.errors import _answer

        body, status = _answer(exc.http_status, exc.code, exc.message, exc.details)
        response = current_app.make_response((body, status))
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    answer = ev.report_event(engine_of(current_app), ev.event_router(current_app), _json_body(), user=None,
                             now=_now(), calendar=_calendar(), client_ip=request.remote_addr,
                             public_approved_only=bool(current_app.config.get("PUBLIC_APPROVED_ONLY", True)))
    return answer, 201


@events_api.post("/events")
def staff_report():
    """A signed-in user's report (grid staff and the centre), in their own area."""
    user = require_login()
    answer = ev.report_event(engine_of(current_app), ev.event_router(current_app), _json_body(), user=user,
                             now=_now(), calendar=_calendar())
    return answer, 201


# -- reading and acting ---------------------------------------------------------------------------------

@events_api.get("/events")
def events_list():
    """Events in the user's scope (JSON list, or GeoJSON points with ``format=geojson``)."""
    user = require_login()
    _sweep()
    statuses = [s for s in request.args.get("status", "").split(",") if s]
    value = request.args.get("limit", "500")
    if not value.isdigit() or not 1 <= int(value) <= 5000:
        raise BadRequest(f"parameter 'limit' must be an integer from 1 to 5000; got {value!r}")
    area = request.args.get("area") or None
    with engine_of(current_app).connect() as conn:
        items = ev.list_events(conn, user, now=_now(), calendar=_calendar(), area=area, statuses=statuses,
                               open_only=_flag("open"), mine=_flag("mine"), overdue=_flag("overdue"),
                               limit=int(value))
    fmt = request.args.get("format", "json")
    if fmt == "geojson":
        return Response(to_json(ev.events_geojson(items)), mimetype="application/geo+json")
    if fmt != "json":
        raise BadRequest(f"parameter 'format' must be json or geojson; got {fmt!r}")
    return {"events": items, "now": ev._iso(_now(), _calendar())}


@events_api.get("/events/<int:event_id>")
def event_get(event_id: int):
    """One event with its history."""
    user = require_login()
    _sweep()
    with engine_of(current_app).connect() as conn:
        return ev.event_detail(conn, event_id, user, now=_now(), calendar=_calendar())


@events_api.post("/events/<int:event_id>/actions")
def event_action(event_id: int):
    """Move an event along the loop: ``{"action", "note"?, "category"?}``."""
    user = require_login()
    _sweep()
    return ev.act(engine_of(current_app), event_id, _json_body(), user=user, now=_now(), calendar=_calendar())


@events_api.get("/events/grids")
def event_grids():
    """The grids in force under ``area`` with their event counts (GeoJSON, for the heat map)."""
    user = require_login()
    _sweep()
    area = _area(user)
    since, until = _period()
    with engine_of(current_app).connect() as conn:
        return Response(to_json(ev.grid_heat_geojson(conn, area, since=since, until=until)),
                        mimetype="application/geo+json")


@events_api.get("/events/stats")
def event_stats():
    """Per-grid statistics under ``area``: JSON, or CSV with ``format=csv``."""
    user = require_login()
    _sweep()
    area = _area(user)
    since, until = _period()
    with engine_of(current_app).connect() as conn:
        stats = ev.grid_stats(conn, area, since=since, until=until)
    fmt = request.args.get("format", "json")
    if fmt == "csv":
        return Response(ev.stats_csv(stats), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="event-stats-{area}.csv"'})
    if fmt != "json":
        raise BadRequest(f"parameter 'format' must be json or csv; got {fmt!r}")
    return stats


# -- pages ----------------------------------------------------------------------------------------------

def _page(template: str, **config):
    from server.web.pages import base_layers, render_page

    return render_page(template, page_config={"baseLayers": base_layers(current_app.config), **config})


@events_pages.get("/report")
def report_page():
    """The public, phone-friendly report form: a point on the map or an address, a category, a description."""
    return _page("report.html")


@events_pages.get("/events/mine")
def events_mine_page():
    """Grid staff's work list: the events of their grids with deadlines, status and action buttons."""
    user = require_login()
    return _page("events_mine.html", role=user.role, scope=user.scope_code)


@events_pages.get("/events/map")
def events_map_page():
    """A county's events on the map by status, grids coloured by event count, and a list."""
    user = require_login()
    return _page("events_map.html", area=_area(user))


@events_pages.get("/events/stats")
def events_stats_page():
    """Per-grid statistics with a CSV download."""
    user = require_login()
    return _page("events_stats.html", area=_area(user))
