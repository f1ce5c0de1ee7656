"""The ways in: where each role lands after signing in, and the header links each role can use.

One table decides both, so the header never offers a page that would refuse its reader, and the page a
role lands on is always one of its own links. A link appears only when its page is installed in the app
(a deployment without the event pages shows no event links).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import current_app, request

from server.services.permissions import can, normalise_role

User = Any  # server.store.models.User (the web layer takes users from auth, never from the store)


@dataclass(frozen=True)
class NavLink:
    """A header link: element id suffix, the i18n key of its label, its path, and who may use it."""

    id: str
    label: str
    path: Callable[[User | None], str]
    allowed: Callable[[User | None], bool]
    section: tuple[str, ...] = ()  # other path prefixes the link stands for (marked current there)


def _role(user: User | None) -> str | None:
    return normalise_role(user.role) if user is not None else None


def _scoped(action: str) -> Callable[[User | None], bool]:
    def allowed(user: User | None) -> bool:
        return user is not None and (_role(user) == "admin" or bool(user.scope_code) and can(user, action,
                                                                                               user.scope_code))
    return allowed


def _roles(*roles: str | None) -> Callable[[User | None], bool]:
    return lambda user: _role(user) in roles


def _divisions_path(user: User | None) -> str:
    # The county (or township) office's own overview; the admin picks the first county.
    if user is not None and user.scope_code and _role(user) in ("county_editor", "township_operator"):
        return f"/areas/{user.scope_code}/overview"
    return "/divisions"


#: Header links in the order shown. The first link a user may use is where they land after signing in,
#: so each role's own work comes first.
LINKS: tuple[NavLink, ...] = (
    NavLink("users", "nav_users", lambda u: "/admin/users", _roles("admin")),
    NavLink("audit", "nav_audit", lambda u: "/admin/audit", _roles("admin")),
    NavLink("review", "nav_review", lambda u: "/review", _roles("admin", "municipal_reviewer")),
    NavLink("events-mine", "ev_nav_mine", lambda u: "/events/mine", _roles("grid_staff", "township_operator")),
    NavLink("divisions", "nav_divisions", _divisions_path, _scoped("edit_draft"), ("/areas/", "/communities/")),
    NavLink("staff", "st_nav", lambda u: "/staff", _scoped("manage_staff")),
    NavLink("events-map", "ev_nav_map", lambda u: "/events/map", _roles("admin", "township_operator")),
    NavLink("events-stats", "ev_nav_stats", lambda u: "/events/stats", _roles("admin", "township_operator")),
    NavLink("report", "ev_nav_report", lambda u: "/report", _roles(None, "grid_staff")),
    NavLink("track", "ev_nav_track", lambda u: "/track", _roles(None)),
    NavLink("lookup", "lookup_title", lambda u: "/lookup", lambda u: True),
    NavLink("map", "county_map", lambda u: "/", _roles(None, "admin", "municipal_reviewer", "county_editor")),
)


def _installed(path: str) -> bool:
    adapter = current_app.url_map.bind("localhost")
    try:
        adapter.match(path, method="GET")
    except Exception:  # noqa: BLE001 - NotFound, MethodNotAllowed or a redirect: not a page to link to
        return False
    return True


def nav_links(user: User | None) -> list[dict]:
    """The header links ``user`` can use (None: the public), each ``{id, label, href, current}``."""
    links = []
    for link in LINKS:
        if not link.allowed(user):
            continue
        href = link.path(user)
        if not _installed(href):
            continue
        current = request.path == href or (href != "/" and request.path.startswith(href + "/")) \
            or request.path.startswith(link.section)
        links.append({"id": link.id, "label": link.label, "href": href, "current": current})
    return links


def landing_path(user: User | None) -> str:
    """Where ``user`` starts: the first of their links (their own work); the county map for the public."""
    if user is None:
        return "/"
    links = nav_links(user)
    return links[0]["href"] if links else "/lookup"
