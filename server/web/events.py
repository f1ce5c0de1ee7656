"""The grid event pages: ``/report`` (residents, on a phone), ``/track`` (follow a report by its code),
``/events/mine`` (grid staff and the dispatch centre, on a phone or a desk), ``/events/map`` and
``/events/stats``.

The pages are shells; their scripts read and act through ``/api/v1`` (:mod:`server.api.events`).
The working-calendar warning (a year ahead without the State Council's holiday schedule) is available
to every template as ``calendar_warning()`` and shown by ``events_calendar_warning.html``.
"""

from __future__ import annotations

from flask import Blueprint, current_app, request

from server.access import current_user, require_login
from server.api import params
from server.services import event_stats
from server.services import events as ev

events_pages = Blueprint("events_pages", __name__)

#: Roles that see the calendar warning: those who dispatch (and so set deadlines) and the admin.
CALENDAR_ROLES = frozenset({"admin", "county_editor", "township_operator"})


@events_pages.app_context_processor
def _calendar_warning():
    def calendar_warning() -> list[int]:
        """Years ahead whose holidays are estimated, for a dispatcher or admin; [] for anyone else."""
        user = current_user()
        if user is None or ev.actor_role(user) not in CALENDAR_ROLES:
            return []
        return ev.calendar_warnings(current_app, ev.clock())

    return {"calendar_warning": calendar_warning}


def _page(template: str, **config):
    from server.web.pages import base_layers, render_page

    return render_page(template, page_config={"baseLayers": base_layers(current_app.config),
                                              "timezone": ev.work_calendar(current_app).timezone, **config})


def _area(user) -> str:
    from server import engine_of

    area = params.text(request.args.get("area"), "area", max_length=15)
    with engine_of(current_app).connect() as conn:
        return event_stats.readable_area(conn, user, area)


@events_pages.get("/report")
def report_page():
    """The public, phone-friendly report form: a place, a category, a description, up to 3 photos."""
    return _page("report.html")


@events_pages.get("/track")
@events_pages.get("/track/<tracking_code>")
def track_page(tracking_code: str | None = None):
    """Follow a report by its tracking code: status and steps (the code comes in the path or ``?code=``)."""
    code = params.text(tracking_code or request.args.get("code"), "code", max_length=16)
    return _page("events_track.html", code=code.upper() if code else None)


@events_pages.get("/events/mine")
def events_mine_page():
    """Grid staff's work list: cards of their grids' events with deadlines, status and action buttons."""
    user = require_login()
    return _page("events_mine.html", role=user.role, scope=user.scope_code, userId=user.id)


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
