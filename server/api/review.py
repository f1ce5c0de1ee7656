"""Review and filing over HTTP: ``/api/v1`` lifecycle routes, comments, reasons, diffs, packets, the audit log.

Every route: parse (:mod:`server.api.params`) → permission → one service call → response. Checks come in
one order everywhere, so each answer is predictable: the division must exist (404), the caller must be
signed in (401) and allowed on its community (403, :func:`server.services.permissions.can`), the body must be well
formed (400), and the division must be in the status the step moves from (409). The pages are in
:mod:`server.web.review`.

=====================================  =============================================================
route                                  permission (on the division's community)
=====================================  =============================================================
POST divisions/{id}/submit             ``submit`` (county editor, admin)
POST divisions/{id}/approve | return   ``review`` (municipal reviewer of the city, admin)
GET  divisions/{id}/transitions|diff   ``read_draft``
GET  divisions/{id}/comments           ``read_draft``
POST/PATCH divisions/{id}/comments     ``review`` or ``edit_draft`` (reviewers ask, the county answers)
GET  divisions/{id}/exemptions         ``read_draft``
POST divisions/{id}/exemptions         ``edit_draft`` (the county writes the reason)
PATCH divisions/{id}/exemptions/{e}    ``review`` (the reviewer accepts or returns it)
GET  divisions/{id}/packet             ``read_approved`` (approved divisions only)
GET  review/queue                      ``review`` in the reviewer's city (admin: everywhere)
GET  audit                             ``read_audit`` everywhere (admin)
=====================================  =============================================================
"""

from __future__ import annotations

import io

from flask import Blueprint, current_app, jsonify, request, send_file

from server import engine_of
from server.access import current_user, require_division, require_login, require_permission
from server.api import params
from server.errors import Forbidden
from server.services import review
from server.services.permissions import can, scope_prefix

review_api = Blueprint("review_api", __name__, url_prefix="/api/v1")
#: Longest comment or return reason (characters): a page of text, as the review page's fields allow.
MAX_TEXT = 2000


def _body() -> dict:
    body = request.get_json(silent=True)
    if body is None and not request.data:
        return {}
    return params.body_object(body)


def _comment_permission(division_id: int):
    """Reviewers comment on what they review; the county (editors, operators) answers on its drafts."""
    with engine_of(current_app).connect() as conn:
        community, _ = review.division_community(conn, division_id)
    user = require_login()
    if not (can(user, "review", community) or can(user, "edit_draft", community)):
        raise Forbidden(f"在 {community} 提意见需要审核员或区县编辑角色 / commenting in {community} needs role "
                        f"municipal_reviewer or county_editor/township_operator with a scope containing it; you are "
                        f"{user.username} ({user.role})",
                        details={"area_code": community, "role": user.role, "scope": user.scope_code})
    return user


def _point(value) -> tuple[float, float] | None:
    """``[longitude, latitude]`` in degrees."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise params.InputError("须为 [经度, 纬度] / must be [longitude, latitude] in degrees", field="point")
    lon = params.number(value[0], "point", minimum=-180, maximum=180, required=True)
    lat = params.number(value[1], "point", minimum=-90, maximum=90, required=True)
    return lon, lat


def _codes(value) -> dict[int, str] | None:
    """``{label: code}`` the reviewer saw."""
    if value is None:
        return None
    body = params.body_object(value, "codes")
    return {params.integer(k, "codes", minimum=0): params.text(v, "codes", max_length=15, required=True)
            for k, v in body.items()}


@review_api.post("/divisions/<int:division_id>/submit")
def submit(division_id: int):
    """Submit a draft for review (micro-grids are rebuilt first); 409 listing the errors of its live checks."""
    require_division(division_id, "submit")
    return jsonify(review.submit(engine_of(current_app), division_id, user=current_user()))


@review_api.post("/divisions/<int:division_id>/approve")
def approve(division_id: int):
    """Approve and file: ``{"effective_from": "YYYY-MM-DD", "note": "...", "codes": {label: code}}`` (optional).

    ``codes`` are the codes the reviewer saw: approval is refused (409) if filing would give others.
    """
    require_division(division_id, "review")
    body = _body()
    effective_from = params.calendar_date(body.get("effective_from"), "effective_from")
    note = params.text(body.get("note"), "note", max_length=MAX_TEXT)
    codes = _codes(body.get("codes"))
    return jsonify(review.approve(engine_of(current_app), division_id, effective_from=effective_from, note=note,
                                  codes=codes, user=current_user()))


@review_api.post("/divisions/<int:division_id>/return")
def return_division(division_id: int):
    """Return a submitted division to the county: ``{"reason": "..."}`` (required)."""
    require_division(division_id, "review")
    reason = params.text(_body().get("reason"), "reason", max_length=MAX_TEXT, required=True)
    return jsonify(review.return_division(engine_of(current_app), division_id, reason, user=current_user()))


@review_api.get("/divisions/<int:division_id>/transitions")
def transitions(division_id: int):
    """The lifecycle history: who moved the division from which status to which, when and why."""
    require_division(division_id, "read_draft")
    with engine_of(current_app).connect() as conn:
        return jsonify(review.transitions(conn, division_id))


@review_api.get("/divisions/<int:division_id>/comments")
def comments(division_id: int):
    """Comments on the division and on the version it was copied from (``parent=false`` for its own only)."""
    require_division(division_id, "read_draft")
    include_parent = params.choice(request.args.get("parent"), "parent", ("true", "false", "1", "0"),
                                   default="true") in ("true", "1")
    with engine_of(current_app).connect() as conn:
        return jsonify(review.comments(conn, division_id, include_parent=include_parent))


@review_api.post("/divisions/<int:division_id>/comments")
def add_comment(division_id: int):
    """Add a comment: ``{"text": ..., "grid": label?, "point": [lon, lat]?}``; it stays bound to that grid."""
    user = _comment_permission(division_id)
    body = _body()
    text = params.text(body.get("text"), "text", max_length=MAX_TEXT, required=True)
    grid = params.integer(body.get("grid"), "grid", minimum=0)
    point = _point(body.get("point"))
    return jsonify(review.add_comment(engine_of(current_app), division_id, text, grid=grid, point=point,
                                      user=user)), 201


@review_api.patch("/divisions/<int:division_id>/comments/<int:comment_id>")
def resolve_comment(division_id: int, comment_id: int):
    """Mark a comment resolved or open: ``{"resolved": true}``."""
    user = _comment_permission(division_id)
    resolved = params.boolean(_body().get("resolved"), "resolved")
    return jsonify(review.resolve_comment(engine_of(current_app), division_id, comment_id, resolved, user=user))


@review_api.get("/divisions/<int:division_id>/exemptions")
def exemptions(division_id: int):
    """Out-of-band grids the engine proves cannot be in the band (in a draft) and the reasons written for them."""
    require_division(division_id, "read_draft")
    with engine_of(current_app).connect() as conn:
        return jsonify(review.exemptions(conn, division_id))


@review_api.post("/divisions/<int:division_id>/exemptions")
def attach_exemption(division_id: int):
    """Write the reason for an out-of-band grid: ``{"grid": label, "reason": "..."}`` (only with a proof)."""
    require_division(division_id, "edit_draft")
    body = _body()
    grid = params.integer(body.get("grid"), "grid", minimum=0)
    if grid is None:
        raise params.InputError("不能为空 / is required", field="grid")
    reason = params.text(body.get("reason"), "reason", max_length=MAX_TEXT, required=True)
    return jsonify(review.attach_exemption(engine_of(current_app), division_id, grid, reason,
                                           user=current_user())), 201


@review_api.patch("/divisions/<int:division_id>/exemptions/<int:exemption_id>")
def decide_exemption(division_id: int, exemption_id: int):
    """Accept or return a reason: ``{"decision": "accepted" | "returned", "note": "..."}``."""
    require_division(division_id, "review")
    body = _body()
    decision = params.choice(body.get("decision"), "decision", review.EXEMPTION_DECISIONS)
    if decision is None:
        raise params.InputError("不能为空 / is required", field="decision")
    note = params.text(body.get("note"), "note", max_length=MAX_TEXT)
    return jsonify(review.decide_exemption(engine_of(current_app), division_id, exemption_id, decision, note,
                                           user=current_user()))


@review_api.get("/divisions/<int:division_id>/diff")
def diff(division_id: int):
    """What changed against another version (``against=``; default: the one in force, else the parent)."""
    require_division(division_id, "read_draft")
    against = params.integer(request.args.get("against"), "against", minimum=1)
    if against is not None:
        require_division(against, "read_draft")
    with engine_of(current_app).connect() as conn:
        return jsonify(review.diff_against(conn, division_id, against))


@review_api.get("/divisions/<int:division_id>/packet")
def packet(division_id: int):
    """The filing packet of an approved division (zip: GeoPackage, GeoJSON, Shapefile, CSVs, filing sheet PDF)."""
    require_division(division_id, "read_approved")
    name, data = review.filing_packet(engine_of(current_app), division_id)
    return send_file(io.BytesIO(data), mimetype="application/zip", as_attachment=True, download_name=name)


def reviewer_prefix() -> str:
    """The code prefix of the caller's review scope ('' for admin); 401/403 for others."""
    user = require_login()
    require_permission("review", user.scope_code)
    return scope_prefix(user.scope_code) if user.scope_code else ""


@review_api.get("/review/queue")
def queue():
    """Submitted divisions waiting for review in the caller's city (admin: everywhere), oldest first."""
    prefix = reviewer_prefix()
    with engine_of(current_app).connect() as conn:
        return jsonify({"divisions": review.review_queue(conn, prefix)})


@review_api.get("/audit")
def audit_log():
    """The audit log, newest first: filters user, action (prefix), entity, entity_id, from, to; page, per_page."""
    require_permission("read_audit", None)
    query = params.audit_filters(request.args)
    with engine_of(current_app).connect() as conn:
        return jsonify(review.audit_entries(conn, **query))
