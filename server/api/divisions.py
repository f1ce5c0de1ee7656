"""``/api/v1`` routes for divisions: versions, grids, atoms, edits, import of a drawing, export.

Every edit the map editor makes goes through ``POST /api/v1/divisions/{id}/edits``, the same endpoint
any script can call. Reads of an approved division are public; drafts need ``read_draft`` and edits
``edit_draft`` on the community (see :mod:`server.services.permissions`). Each route parses its input with
:mod:`server.api.params`, checks the permission, makes one service call and answers.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request, send_file

from server import engine_of
from server.access import current_user, require_permission
from server.api import params
from server.encoding import to_json
from server.errors import BadRequest
from server.services import divisions as service
from server.services import editing, uploads
from server.services.permissions import can

divisions_api = Blueprint("divisions_api", __name__, url_prefix="/api/v1")

EXPORT_FORMATS = {"geojson": "application/geo+json", "gpkg": "application/geopackage+sqlite3",
                  "shp": "application/zip", "png": "image/png", "pdf": "application/pdf"}
EDIT_OPS = ("paint", "new_grid", "merge", "delete_grid", "split", "move_boundary", "reshape", "auto_divide",
            "rebalance", "set_grid", "restore", "undo", "redo")


def _geojson(collection: dict) -> Response:
    return Response(to_json(collection), mimetype="application/geo+json")


def _allow(division_id: int, action: str = "read_draft") -> tuple[str, str]:
    """``(community code, status)`` once the caller may see the division (approved ones are public) or do ``action``."""
    with engine_of(current_app).connect() as conn:
        code, status = service.division_access(conn, division_id)
    if not (action == "read_draft" and status == "approved"):
        require_permission(action, code)
    return code, status


def _user_id() -> int | None:
    user = current_user()
    return user.id if user is not None else None


def _revision(value) -> int:
    """The revision the client edited: the body's ``revision``, else the ``If-Match`` header (the ETag)."""
    if value is None and request.headers.get("If-Match"):
        value = request.headers["If-Match"].strip().removeprefix("W/").strip('"')
        return params.required_integer(value, "If-Match", minimum=1)
    return params.required_integer(value, "revision", minimum=1)


def _attributes(body: dict) -> dict:
    attrs = {}
    if "name" in body:
        attrs["name"] = params.column_text(body["name"], "name", service.GRID_NAME)
    if "subtype" in body:
        attrs["subtype"] = params.column_text(body["subtype"], "subtype", service.GRID_SUBTYPE)
    if "type" in body:
        attrs["type"] = params.choice(body["type"], "type", service.GRID_TYPES, default="comprehensive")
    if "locked" in body:
        attrs["locked"] = params.boolean(body["locked"], "locked")
    return attrs


def parse_edit(body: dict) -> editing.Edit:
    """One edit body → :class:`~server.services.editing.Edit`, every field checked by :mod:`params`."""
    op = params.required_choice(body.get("op"), "op", EDIT_OPS)
    label = {k: params.required_integer(body.get(k), k) for k in ("grid", "a", "b", "into")
             if k in {"paint": ("grid",), "merge": ("a", "b"), "delete_grid": ("grid", "into"), "split": ("grid",),
                      "move_boundary": ("a", "b"), "reshape": ("grid",), "set_grid": ("grid",)}.get(op, ())}
    kwargs: dict = {"op": op, "revision": _revision(body.get("revision")), **label}
    if op in ("paint", "new_grid"):
        kwargs["atoms"] = tuple(params.integers(body.get("atoms"), "atoms"))
    if op == "restore":
        kwargs["to_revision"] = params.required_integer(body.get("to_revision"), "to_revision", minimum=1)
    if op == "auto_divide":
        kwargs["seed"] = params.integer(body.get("seed"), "seed")
    if op == "split":
        kwargs["geometry"] = params.geometry(body.get("line"), "line", ("LineString",))
    if op in ("move_boundary", "reshape"):
        kwargs["geometry"] = params.geometry(body.get("shape"), "shape", ("Polygon", "MultiPolygon"))
    if op == "set_grid":
        kwargs["attrs"] = _attributes(body)
    return editing.Edit(**kwargs)


def _with_etag(payload: dict, revision: int) -> Response:
    # The ETag is the revision, for If-Match on the next edit; a status change (submit, approve) keeps the
    # revision, so the answer must never be stored and revalidated against it: no-store.
    response = jsonify(payload)
    response.headers["ETag"] = f'"{revision}"'
    response.cache_control.no_store = True
    return response


@divisions_api.get("/areas/<code>/overview")
def area_overview(code: str):
    """Communities below an area with the status of their latest division (the county overview map)."""
    code = params.text(code, "code", max_length=service.AREA_CODE.type.length, required=True)
    with engine_of(current_app).connect() as conn:
        return _geojson(service.county_overview_geojson(conn, code))


@divisions_api.get("/communities/<code>/divisions")
def community_divisions(code: str):
    """Every version of a community's division, newest first (drafts only for those who may read them)."""
    code = params.text(code, "code", max_length=service.AREA_CODE.type.length, required=True)
    drafts = can(current_user(), "read_draft", code)
    with engine_of(current_app).connect() as conn:
        versions = service.division_versions(conn, code, drafts=drafts)
    return jsonify({"community_code": code, "divisions": versions})


@divisions_api.post("/communities/<code>/divisions")
def new_division(code: str):
    """A new draft copied from an existing version (``{"from": id}``): the way to change a filed division."""
    body = params.body_object(request.get_json(silent=True))
    source = params.identifier(body.get("from"), "from")
    require_permission("edit_draft", code)
    answer = editing.new_draft(engine_of(current_app), code, source, user_id=_user_id())
    return _with_etag(answer, answer["revision"]), 201


@divisions_api.get("/divisions/<int:division_id>")
def division(division_id: int):
    """A division's header, grid attributes, live checks, undo/redo depth and revision history."""
    _allow(division_id)
    with engine_of(current_app).connect() as conn:
        answer = editing.read_division(conn, division_id)
    return _with_etag(answer, answer["revision"])


@divisions_api.get("/divisions/<int:division_id>/grids")
def division_grids(division_id: int):
    """The grids of a division as GeoJSON, each with the code it will be filed under (``planned_code``)."""
    _allow(division_id)
    with engine_of(current_app).connect() as conn:
        from server.services.review import with_planned_codes

        # planned_code: the code each grid is, or will be, filed under (one rule with approval), for every label.
        return _geojson(with_planned_codes(conn, division_id, service.grids_geojson(conn, division_id)))


@divisions_api.get("/divisions/<int:division_id>/atoms")
def division_atoms(division_id: int):
    """The atoms of a division with their grid label, as GeoJSON."""
    _allow(division_id)
    with engine_of(current_app).connect() as conn:
        return _geojson(service.atoms_geojson(conn, division_id))


@divisions_api.get("/divisions/<int:division_id>/micro-grids")
def division_micro_grids(division_id: int):
    """The micro-grids of a division as GeoJSON."""
    _allow(division_id)
    with engine_of(current_app).connect() as conn:
        return _geojson(service.micro_grids_geojson(conn, division_id))


@divisions_api.post("/divisions/<int:division_id>/micro-grids")
def division_rebuild_micro_grids(division_id: int):
    """Rebuild the micro-grids of the grids that have none (after edits), for the draft's revision."""
    _allow(division_id, "edit_draft")
    made = editing.rebuild_micro_grids(engine_of(current_app), division_id, user_id=_user_id())
    return jsonify({"micro_grids_made": made})


@divisions_api.post("/divisions/<int:division_id>/edits")
def division_edit(division_id: int):
    """Apply one edit (see the OpenAPI document for the operations); 409 when the revision is stale."""
    edit = parse_edit(params.body_object(request.get_json(silent=True)))
    _allow(division_id, "edit_draft")
    answer = editing.edit_division(engine_of(current_app), division_id, edit, user_id=_user_id())
    return _with_etag(answer, answer["revision"])


@divisions_api.post("/divisions/<int:division_id>/import")
def division_import(division_id: int):
    """Replace the draft's grids by a hand-drawn division (GeoJSON, GeoPackage or zipped Shapefile)."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise BadRequest("请选择 GeoJSON、GeoPackage 或压缩的 Shapefile 文件 / field 'file' must be a GeoJSON, "
                         "GeoPackage or zipped Shapefile of grid polygons")
    revision = _revision(request.form.get("revision") or None)
    key = params.text(request.form.get("key"), "key", max_length=64)
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in (".geojson", ".json", ".gpkg", ".zip"):
        raise BadRequest(f"文件须为 .geojson、.json、.gpkg 或 .zip，收到 {upload.filename!r} / "
                         "field 'file' must end in "
                         f".geojson, .json, .gpkg or .zip; got {upload.filename!r}")
    _allow(division_id, "edit_draft")
    with tempfile.TemporaryDirectory() as folder, uploads.upload_budget(current_app.config):
        path = Path(folder) / f"drawing{suffix}"
        upload.save(path)
        uploads.check_upload(path, current_app.config)
        answer = editing.import_drawing(engine_of(current_app), division_id, path, revision, key=key,
                                        user_id=_user_id(), filename=Path(upload.filename).name)
    return _with_etag(answer, answer["revision"])


@divisions_api.get("/divisions/<int:division_id>/export")
def division_export(division_id: int):
    """The division as GeoJSON, GeoPackage, zipped Shapefile or a PNG/PDF map (``format=``); ``crs=``."""
    fmt = params.choice(request.args.get("format"), "format", EXPORT_FORMATS, default="geojson")
    crs = params.export_crs(request.args.get("crs"))
    code, _ = _allow(division_id)
    data = editing.export_division(engine_of(current_app), division_id, fmt, crs)
    name = f"division-{code}-{division_id}.{'zip' if fmt == 'shp' else fmt}"
    return send_file(io.BytesIO(data), mimetype=EXPORT_FORMATS[fmt], as_attachment=True, download_name=name)
