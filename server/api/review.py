"""Review and filing over HTTP: ``/api/v1`` lifecycle routes, comments, diffs, packets, the audit log,
and the pages that use them (the review queue and page, the public notice board, the audit viewer).

Checks come in one order everywhere, so each answer is predictable: the division must exist (404),
the caller must be signed in (401) and allowed on its community (403, :func:`server.services.permissions.can`), the
body must be well formed (400), and the division must be in the status the step moves from (409).

=====================================  =============================================================
route                                  permission (on the division's community)
=====================================  =============================================================
POST divisions/{id}/submit             ``submit`` (county editor, admin)
POST divisions/{id}/approve | return   ``review`` (municipal reviewer of the city, admin)
GET  divisions/{id}/transitions|diff   ``read_draft``
GET  divisions/{id}/comments           ``read_draft``
POST/PATCH divisions/{id}/comments     ``review`` or ``edit_draft`` (reviewers ask, the county answers)
GET  divisions/{id}/packet             ``read_approved`` (approved divisions only)
GET  review/queue                      ``review`` in the reviewer's city (admin: everywhere)
GET  audit                             ``read_audit`` everywhere (admin)
=====================================  =============================================================
"""

from __future__ import annotations

import io

from flask import Blueprint, current_app, jsonify, request, send_file
from sqlalchemy import select

from server import engine_of
from server.api import params
from server.errors import BadRequest, Forbidden
from server.services import review
from server.services.permissions import can, scope_prefix
from server.store import models as m
from server.web.auth import current_user, require_login, require_permission

review_api = Blueprint("review_api", __name__, url_prefix="/api/v1")
review_pages = Blueprint("review_pages", __name__)


def _community(division_id: int, action: str) -> str:
    """The division's community once the caller may do ``action`` there (404, 401, 403 otherwise)."""
    with engine_of(current_app).connect() as conn:
        community, _ = review.division_community(conn, division_id)
    require_permission(action, community)
    return community


def _body() -> dict:
    body = request.get_json(silent=True)
    if body is None and not request.data:
        return {}
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _comment_permission(division_id: int):
    """Reviewers comment on what they review; the county (editors, operators) answers on its drafts."""
    with engine_of(current_app).connect() as conn:
        community, _ = review.division_community(conn, division_id)
    user = require_login()
    if not (can(user, "review", community) or can(user, "edit_draft", community)):
        raise Forbidden(f"commenting in {community} needs role municipal_reviewer or county_editor/township_operator "
                        f"with a scope containing it; you are {user.username} ({user.role})",
                        details={"area_code": community, "role": user.role, "scope": user.scope_code})
    return user


@review_api.post("/divisions/<int:division_id>/submit")
def submit(division_id: int):
    """Submit a draft for review (micro-grids are rebuilt first); 409 listing the errors of its live checks."""
    _community(division_id, "submit")
    return jsonify(review.submit(engine_of(current_app), division_id, user=current_user()))


@review_api.post("/divisions/<int:division_id>/approve")
def approve(division_id: int):
    """Approve and file a submitted division: ``{"effective_from": "YYYY-MM-DD", "note": "..."}`` (both optional)."""
    _community(division_id, "review")
    body = _body()
    effective_from = review.parse_date(body.get("effective_from"), "effective_from")
    return jsonify(review.approve(engine_of(current_app), division_id, effective_from=effective_from,
                                  note=body.get("note"), user=current_user()))


@review_api.post("/divisions/<int:division_id>/return")
def return_division(division_id: int):
    """Return a submitted division to the county: ``{"reason": "..."}`` (required)."""
    _community(division_id, "review")
    body = _body()
    return jsonify(review.return_division(engine_of(current_app), division_id, body.get("reason"),
                                          user=current_user()))


@review_api.get("/divisions/<int:division_id>/transitions")
def transitions(division_id: int):
    """The lifecycle history: who moved the division from which status to which, when and why."""
    _community(division_id, "read_draft")
    with engine_of(current_app).connect() as conn:
        header = review.division_header(conn, division_id)
        return jsonify({"division_id": division_id, "status": header["status"], "version": header["version"],
                        "parent_id": header["parent_id"], "transitions": review.transitions(conn, division_id)})


@review_api.get("/divisions/<int:division_id>/comments")
def comments(division_id: int):
    """Comments on the division and on the version it was copied from (``parent=false`` for its own only)."""
    _community(division_id, "read_draft")
    include_parent = request.args.get("parent", "true").lower() not in ("0", "false", "no")
    with engine_of(current_app).connect() as conn:
        return jsonify({"division_id": division_id,
                        "comments": review.comments(conn, division_id, include_parent=include_parent)})


@review_api.post("/divisions/<int:division_id>/comments")
def add_comment(division_id: int):
    """Add a comment: ``{"text": ..., "grid": label?, "point": [lon, lat]?}``."""
    user = _comment_permission(division_id)
    return jsonify(review.add_comment(engine_of(current_app), division_id, _body(), user=user)), 201


@review_api.patch("/divisions/<int:division_id>/comments/<int:comment_id>")
def resolve_comment(division_id: int, comment_id: int):
    """Mark a comment resolved or open: ``{"resolved": true}``."""
    user = _comment_permission(division_id)
    return jsonify(review.resolve_comment(engine_of(current_app), division_id, comment_id,
                                          _body().get("resolved"), user=user))


@review_api.get("/divisions/<int:division_id>/diff")
def diff(division_id: int):
    """What changed against another version (``against=``; default: the one in force, else the parent)."""
    _community(division_id, "read_draft")
    against = request.args.get("against")
    if against is not None and not against.isdigit():
        raise BadRequest(f"parameter 'against' must be a division id, got {against!r}")
    with engine_of(current_app).connect() as conn:
        if against is not None:
            other, _ = review.division_community(conn, int(against))
            require_permission("read_draft", other)
        target = int(against) if against is not None else review.default_against(conn, division_id)
        return jsonify(review.diff(conn, division_id, target))


@review_api.get("/divisions/<int:division_id>/packet")
def packet(division_id: int):
    """The filing packet of an approved division (zip: GeoPackage, GeoJSON, Shapefile, CSVs, filing sheet PDF)."""
    _community(division_id, "read_approved")
    name, data = review.filing_packet(engine_of(current_app), division_id)
    return send_file(io.BytesIO(data), mimetype="application/zip", as_attachment=True, download_name=name)


def _reviewer_prefix() -> str:
    """The code prefix of the caller's review scope ('' for admin); 401/403 for others."""
    user = require_login()
    require_permission("review", user.scope_code)
    return scope_prefix(user.scope_code) if user.scope_code else ""


@review_api.get("/review/queue")
def queue():
    """Submitted divisions waiting for review in the caller's city (admin: everywhere), oldest first."""
    prefix = _reviewer_prefix()
    with engine_of(current_app).connect() as conn:
        return jsonify({"divisions": review.review_queue(conn, prefix)})


def _audit_query() -> dict:
    args = request.args
    page = params.integer(args.get("page"), "page", minimum=1, default=1)
    per_page = params.integer(args.get("per_page"), "per_page", minimum=1, maximum=500, default=50)
    return {"user": args.get("user") or None, "action": args.get("action") or None,
            "entity": args.get("entity") or None, "entity_id": args.get("entity_id") or None,
            "since": review.parse_date(args.get("from"), "from"), "until": review.parse_date(args.get("to"), "to"),
            "page": page, "per_page": per_page}


@review_api.get("/audit")
def audit_log():
    """The audit log, newest first: filters user, action (prefix), entity, entity_id, from, to; page, per_page."""
    require_permission("read_audit", None)
    query = _audit_query()
    with engine_of(current_app).connect() as conn:
        return jsonify(review.audit_entries(conn, **query))


# -- pages ------------------------------------------------------------------------------------------

def _render(template: str, **context):
    from server.web.pages import base_layers, render_page

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
    """One division under review: map diff, grid table with checks, comments, approve / return."""
    community = _community(division_id, "read_draft")
    user = current_user()
    with engine_of(current_app).connect() as conn:
        header = conn.execute(select(m.Division.id, m.Division.version, m.Division.status, m.AdminArea.name)
                              .join(m.AdminArea, m.AdminArea.code == m.Division.community_code)
                              .where(m.Division.id == division_id)).one()
        against = review.default_against(conn, division_id)
    config = {"division": division_id, "against": against, "community": {"code": community, "name": header.name},
              "status": header.status, "version": header.version,
              "canReview": can(user, "review", community), "canComment": can(user, "review", community)
              or can(user, "edit_draft", community)}
    return _render("review.html", review=config, header=header)


@review_pages.get("/notice/<grid_code>")
def notice_page(grid_code: str):
    """The public notice board (公示牌) of a grid: no sign-in; only grids of approved divisions in force."""
    with engine_of(current_app).connect() as conn:
        board = review.notice(conn, grid_code)
    return _render("notice.html", board=board, supervision_phone=current_app.config.get("SUPERVISION_PHONE", "12345"))


@review_pages.get("/admin/audit")
def audit_page():
    """The audit log viewer (admin): filters and pages, rendered on the server."""
    require_permission("read_audit", None)
    query = _audit_query()
    with engine_of(current_app).connect() as conn:
        result = review.audit_entries(conn, **query)
    args = {k: v for k, v in request.args.items() if k != "page"}
    return _render("audit.html", result=result, filters=request.args, args=args)
