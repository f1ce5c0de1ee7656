"""REST API of the grid staff roster, ``/api/v1/staff``: parse (api/params) → permission → one service call.

A township operator manages the staff of its township, the county editor the county's (``manage_staff``);
the service checks every grid code against the user's scope.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from server import engine_of
from server.access import require_login
from server.api import params
from server.errors import BadRequest, Forbidden
from server.services import staff as service
from server.services.permissions import can, scope_prefix

staff_api = Blueprint("staff_api", __name__, url_prefix="/api/v1/staff")

_FIELDS = service.TEXT_COLUMNS


def _manager():
    """The signed-in user, who must hold ``manage_staff`` somewhere (scope is checked per code)."""
    user = require_login()
    if user.role != "admin" and not (user.scope_code and can(user, "manage_staff", user.scope_code)):
        raise Forbidden(f"管理网格员须为区县或乡镇街道账号；您是 {user.role} / managing staff needs a county editor "
                        f"or township operator", details={"role": user.role})
    return user


def _person_fields(body: dict, *, partial: bool) -> dict:
    out = {}
    for name, column in _FIELDS.items():
        if name in body or not partial:
            out[name] = params.column_text(body.get(name), name, column)
    if "employment" in body or not partial:
        out["employment"] = params.choice(body.get("employment"), "employment", service.EMPLOYMENTS,
                                          default="full_time")
    for name in ("start_date", "end_date"):
        if name in body:
            out[name] = params.calendar_date(body.get(name), name)
    if "publish_contact" in body:
        if not isinstance(body["publish_contact"], bool):
            raise BadRequest("publish_contact 须为 true 或 false / must be a boolean",
                             details={"field": "publish_contact"})
        out["publish_contact"] = body["publish_contact"]
    if "username" in body:
        out["username"] = params.text(body.get("username"), "username", max_length=64)
    return out


@staff_api.get("")
def people():
    """The roster the user manages: ``q`` (name/phone), ``grid`` (code prefix), ``role``, ``left`` (1: include)."""
    user = _manager()
    args = request.args
    grid = params.text(args.get("grid"), "grid", max_length=17)
    with engine_of(current_app).connect() as conn:
        return service.list_people(
            conn, user=user, q=params.text(args.get("q"), "q", max_length=50), grid=grid,
            role=params.choice(args.get("role"), "role", service.ROLES), include_left=args.get("left") == "1",
            limit=params.limit(args.get("limit"), cap=1000, default=200), offset=params.offset(args.get("offset")),
            on=params.calendar_date(args.get("date")))


@staff_api.post("")
def create():
    """Add a person (409 with ``details.merge_with`` when the phone is on the roster; ``merge: true`` merges)."""
    user = _manager()
    body = params.body_object(request.get_json(silent=True))
    fields = _person_fields(body, partial=False)
    with engine_of(current_app).begin() as conn:
        return service.create_person(conn, fields, user=user, merge=body.get("merge") is True), 201


@staff_api.get("/<int:staff_id>")
def person(staff_id: int):
    """One person with the history of their assignments."""
    user = _manager()
    with engine_of(current_app).connect() as conn:
        return service.get_person(conn, staff_id, user=user)


@staff_api.patch("/<int:staff_id>")
def edit(staff_id: int):
    """Edit a person; an ``end_date`` records that they left (assignments end, events go to the chief)."""
    user = _manager()
    fields = _person_fields(params.body_object(request.get_json(silent=True)), partial=True)
    with engine_of(current_app).begin() as conn:
        return service.update_person(conn, staff_id, fields, user=user)


@staff_api.put("/<int:staff_id>/photo")
def photo(staff_id: int):
    """Upload a portrait (multipart field ``photo``): JPEG/PNG ≤ 2 MB, stored as a 300×400 JPEG without EXIF."""
    user = _manager()
    upload = request.files.get("photo")
    if upload is None:
        raise BadRequest("须上传照片文件（字段 photo） / upload the file as field 'photo'", details={"field": "photo"})
    with engine_of(current_app).begin() as conn:
        return service.set_photo(conn, staff_id, upload.read(service.PHOTO_MAX_BYTES + 1), user=user)


@staff_api.post("/<int:staff_id>/assignments")
def assign(staff_id: int):
    """Assign the person to a grid (15 digits) or micro-grid (17) code in a role, from ``start_date`` (today)."""
    user = _manager()
    body = params.body_object(request.get_json(silent=True))
    code = params.text(body.get("code"), "code", max_length=17, required=True)
    role = params.choice(body.get("role"), "role", service.ROLES)
    if role is None:
        raise BadRequest("须指定角色 / role is required", details={"field": "role"})
    with engine_of(current_app).begin() as conn:
        return service.assign(conn, staff_id, code, role, start=params.calendar_date(body.get("start_date"),
                                                                                     "start_date"),
                              end=params.calendar_date(body.get("end_date"), "end_date"), user=user), 201


@staff_api.post("/assignments/<int:assignment_id>/end")
def end(assignment_id: int):
    """End an assignment on ``end_date`` (today), with an optional ``reason``."""
    user = _manager()
    body = params.body_object(request.get_json(silent=True) or {})
    with engine_of(current_app).begin() as conn:
        return service.end_assignment(conn, assignment_id, params.calendar_date(body.get("end_date"), "end_date"),
                                      reason=params.text(body.get("reason"), "reason", max_length=200), user=user)


@staff_api.post("/import")
def import_roster():
    """Import a CSV/XLSX roster (field ``file``), all or nothing; 400 lists ``details.errors`` (row, column)."""
    user = _manager()
    upload = request.files.get("file")
    if upload is None:
        raise BadRequest("须上传文件（字段 file） / upload the file as field 'file'", details={"field": "file"})
    with engine_of(current_app).begin() as conn:
        return service.import_roster(conn, upload.filename or "", upload.read(), user=user)


@staff_api.get("/export.xlsx")
def export():
    """The roster the user manages as an XLSX workbook."""
    user = _manager()
    with engine_of(current_app).connect() as conn:
        data = service.export_xlsx(conn, user=user)
    return Response(data, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": "attachment; filename=staff-roster.xlsx"})


@staff_api.get("/coverage")
def coverage():
    """Staffing coverage of an area (``area``, default the user's scope): share fully staffed and the gaps."""
    user = require_login()
    area = params.text(request.args.get("area"), "area", max_length=17) or user.scope_code or ""
    try:
        prefix = scope_prefix(area) if area else ""
    except ValueError as exc:
        raise BadRequest(str(exc), details={"field": "area"}) from None
    if not can(user, "read_approved", area or None):
        raise Forbidden(f"{area or '全部区域'} 不在您的管辖范围内 / {area or 'everywhere'} is outside your scope",
                        details={"area": area})
    with engine_of(current_app).connect() as conn:
        return service.coverage(conn, prefix, params.calendar_date(request.args.get("date")))


@staff_api.get("/policy/<county>")
def get_policy(county: str):
    """A county's staffing policy: phone masking on public pages, most grids per person."""
    user = _manager()
    service.check_scope(user, county)
    with engine_of(current_app).connect() as conn:
        return service.policy(conn, county)


@staff_api.put("/policy/<county>")
def put_policy(county: str):
    """Set a county's staffing policy (``mask_public_phones``, ``max_grids_per_person``)."""
    user = _manager()
    body = params.body_object(request.get_json(silent=True))
    mask = body.get("mask_public_phones")
    if not isinstance(mask, bool):
        raise BadRequest("mask_public_phones 须为 true 或 false / must be a boolean",
                         details={"field": "mask_public_phones"})
    limit = params.integer(body.get("max_grids_per_person"), "max_grids_per_person", minimum=1, maximum=50,
                           default=3)
    with engine_of(current_app).begin() as conn:
        return service.set_policy(conn, county, mask, limit, user=user)
