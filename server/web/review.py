"""The review pages: the reviewer's queue and one division under review, the public notice board, the audit viewer.

Pages parse, check permission and call one service, as the REST routes in :mod:`server.api.review` do;
the data the page's script needs comes from those routes.
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, current_app, request

from server import engine_of, public_reads_of
from server.access import current_user, require_division, require_login, require_permission
from server.api import params
from server.caching import public_cache
from server.services import review, staff
from server.services.permissions import can, scope_prefix
from server.web.pages import base_layers, render_page

review_pages = Blueprint("review_pages", __name__)

#: How long a cache may serve a notice board: it changes when a division is approved or staff change.
NOTICE_CACHE_SECONDS = 60


def _reviewer_prefix() -> str:
    """The code prefix of the caller's review scope ('' for admin); 401/403 for others."""
    user = require_login()
    require_permission("review", user.scope_code)
    return scope_prefix(user.scope_code) if user.scope_code else ""


def _render(template: str, **context):
    return render_page(template, base_layers=base_layers(current_app.config), **context)


@review_pages.get("/review")
def review_queue_page():
    """The reviewer's queue: submitted divisions of their city."""
    prefix = _reviewer_prefix()
    with engine_of(current_app).connect() as conn:
        divisions = review.review_queue(conn, prefix)
    return _render("review_queue.html", divisions=divisions)


@review_pages.get("/review/<int:division_id>")
def review_page(division_id: int):
    """One division under review: map diff, grid table with checks, reasons, comments, approve / return."""
    community = require_division(division_id, "read_draft")
    user = current_user()
    with engine_of(current_app).connect() as conn:
        header = review.review_page(conn, division_id)
    config = {"division": division_id, "against": header["against"],
              "community": {"code": community, "name": header["name"]}, "status": header["status"],
              "version": header["version"], "canReview": can(user, "review", community),
              "canComment": can(user, "review", community) or can(user, "edit_draft", community)}
    return _render("review.html", review=config, header=header)


@review_pages.get("/notice/<grid_code>")
@public_cache(NOTICE_CACHE_SECONDS)
def notice_page(grid_code: str):
    """The public notice board (公示牌) of a grid: no sign-in; only grids of approved divisions in force.

    A public page: an anonymous visitor gets no session (and no CSRF token, the board posts nothing), so
    every visitor is sent the same page and a cache may keep it.
    """
    with public_reads_of(current_app).connect() as conn:
        board = staff.notice_board(conn, review.notice(conn, grid_code), date.today())
    return _render("notice.html", board=board, supervision_phone=current_app.config.get("SUPERVISION_PHONE", "12345"),
                   public_page=True)


@review_pages.get("/admin/audit")
def audit_page():
    """The audit log viewer (admin): filters and pages, rendered on the server."""
    require_permission("read_audit", None)
    query = params.audit_filters(request.args)
    with engine_of(current_app).connect() as conn:
        result = review.audit_entries(conn, **query)
    args = {k: v for k, v in request.args.items() if k != "page"}
    return _render("audit.html", result=result, filters=request.args, args=args)
