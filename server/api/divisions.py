"""``/api/v1`` routes for divisions: versions, grids, atoms, edits, import of a drawing, export.

Every edit the map editor makes goes through ``POST /api/v1/divisions/{id}/edits``, the same endpoint
any script can call. Reads of an approved division are public; drafts need ``read_draft`` and edits
``edit_draft`` on the community (see :mod:`server.services.permissions`).
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request, send_file
from sqlalchemy import select

from server import engine_of
from server.encoding import to_json
from server.errors import BadRequest, NotFound
from server.services.divisions import (
    atoms_geojson,
    county_overview_geojson,
    division_versions,
    grids_geojson,
    micro_grids_geojson,
)
from server.services.editing import (
    copy_division,
    edit_division,
    export_division,
    import_drawing,
    load_draft,
    rebuild_micro_grids,
)
from server.store import features as store
from server.store import models as m
from server.web.auth import current_user, require_permission

divisions_api = Blueprint("divisions_api", __name__, url_prefix="/api/v1")

EXPORT_FORMATS = {"geojson": "application/geo+json", "gpkg": "application/geopackage+sqlite3",
                  "shp": "application/zip", "png": "image/png", "pdf": "application/pdf"}


def _geojson(collection: dict) -> Response:
    return Response(to_json(collection), mimetype="application/geo+json")


def _division(conn, division_id: int, action: str = "read_draft"):
    """The division row, once the caller may see it (approved ones are public) or do ``action``."""
    row = conn.execute(select(m.Division.id, m.Division.community_code, m.Division.status, m.Division.revision)
                       .where(m.Division.id == division_id)).one_or_none()
    if row is None:
        raise NotFound(f"no division with id {division_id}")
    if not (action == "read_draft" and row.status == "approved"):
        require_permission(action, row.community_code)
    return row


def _user_id() -> int | None:
    user = current_user()
    return user.id if user is not None else None


def _revision_of_request(body: dict) -> dict:
    """The revision the client edited: ``revision`` in the body, else an ``If-Match`` header."""
    if "revision" not in body and request.headers.get("If-Match"):
        tag = request.headers["If-Match"].strip().strip('W/').strip('"')
        if not tag.isdigit():
            raise BadRequest(f"header 'If-Match' must be the draft's revision (its ETag), got {tag!r}")
        body = {**body, "revision": int(tag)}
    return body


def _with_etag(payload: dict, revision: int) -> Response:
    response = jsonify(payload)
    response.headers["ETag"] = f'"{revision}"'
    return response


@divisions_api.get("/areas/<code>/overview")
def area_overview(code: str):
    """Communities below an area with the status of their latest division (the county overview map)."""
    with engine_of(current_app).connect() as conn:
        if not store.area_exists(conn, code):
            raise NotFound(f"no administrative area with code {code!r}")
        return _geojson(county_overview_geojson(conn, code))


@divisions_api.get("/communities/<code>/divisions")
def community_divisions(code: str):
    """Every version of a community's division, newest first (drafts only for those who may read them)."""
    with engine_of(current_app).connect() as conn:
        if not store.area_exists(conn, code):
            raise NotFound(f"no administrative area with code {code!r}")
        versions = division_versions(conn, code)
    from server.services.permissions import can

    if not can(current_user(), "read_draft", code):
        versions = [v for v in versions if v["status"] == "approved"]
    return jsonify({"community_code": code, "divisions": versions})


@divisions_api.post("/communities/<code>/divisions")
def new_division(code: str):
    """A new draft copied from an existing version (``{"from": id}``): the way to change a filed division."""
    require_permission("edit_draft", code)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or isinstance(body.get("from"), bool) or not isinstance(body.get("from"), int):
        raise BadRequest("the body must be {\"from\": <division id>} naming the version to start from")
    division_id = copy_division(engine_of(current_app), code, body["from"], user_id=_user_id())
    with engine_of(current_app).connect() as conn:
        draft = load_draft(conn, division_id)
    return _with_etag(_payload(draft), draft.revision), 201


def _payload(draft) -> dict:
    from server.services.editing import checks_for_client, division_summary

    return {"division": division_summary(draft), "checks": checks_for_client(draft)}


@divisions_api.get("/divisions/<int:division_id>")
def division(division_id: int):
    """A division's header, grid attributes, live checks and revision history."""
    with engine_of(current_app).connect() as conn:
        _division(conn, division_id)
        draft = load_draft(conn, division_id)
        history = conn.execute(select(m.DivisionRevision.revision, m.DivisionRevision.op,
                                      m.DivisionRevision.description, m.DivisionRevision.created_at,
                                      m.User.username)
                               .join(m.User, m.User.id == m.DivisionRevision.user_id, isouter=True)
                               .where(m.DivisionRevision.division_id == division_id)
                               .order_by(m.DivisionRevision.revision)).mappings().all()
    payload = _payload(draft)
    payload["history"] = [{**h, "created_at": h["created_at"].isoformat()} for h in history]
    return _with_etag(payload, draft.revision)


@divisions_api.get("/divisions/<int:division_id>/grids")
def division_grids(division_id: int):
    """The grids of a division as GeoJSON."""
    with engine_of(current_app).connect() as conn:
        _division(conn, division_id)
        return _geojson(grids_geojson(conn, division_id))


@divisions_api.get("/divisions/<int:division_id>/atoms")
def division_atoms(division_id: int):
    """The atoms of a division with their grid label, as GeoJSON."""
    with engine_of(current_app).connect() as conn:
        _division(conn, division_id)
        return _geojson(atoms_geojson(conn, division_id))


@divisions_api.get("/divisions/<int:division_id>/micro-grids")
def division_micro_grids(division_id: int):
    """The micro-grids of a division as GeoJSON."""
    with engine_of(current_app).connect() as conn:
        _division(conn, division_id)
        return _geojson(micro_grids_geojson(conn, division_id))


@divisions_api.post("/divisions/<int:division_id>/micro-grids")
def division_rebuild_micro_grids(division_id: int):
    """Rebuild the micro-grids of the grids that have none (after edits), for the draft's revision."""
    with engine_of(current_app).connect() as conn:
        _division(conn, division_id, "edit_draft")
    made = rebuild_micro_grids(engine_of(current_app), division_id, user_id=_user_id())
    return jsonify({"micro_grids_made": made})


@divisions_api.post("/divisions/<int:division_id>/edits")
def division_edit(division_id: int):
    """Apply one edit (see the OpenAPI document for the operations); 409 when the revision is stale."""
    with engine_of(current_app).connect() as conn:
        _division(conn, division_id, "edit_draft")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object with 'op' and 'revision'")
    answer = edit_division(engine_of(current_app), division_id, _revision_of_request(body), user_id=_user_id())
    return _with_etag(answer, answer["revision"])


@divisions_api.post("/divisions/<int:division_id>/import")
def division_import(division_id: int):
    """Replace the draft's grids by a hand-drawn division (GeoJSON, GeoPackage or zipped Shapefile)."""
    with engine_of(current_app).connect() as conn:
        _division(conn, division_id, "edit_draft")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise BadRequest("field 'file' must be a GeoJSON, GeoPackage or zipped Shapefile of grid polygons")
    revision = request.form.get("revision") or request.headers.get("If-Match", "").strip('W/"')
    if not revision.isdigit():
        raise BadRequest(f"field 'revision' must be the draft's revision, got {revision!r}")
    suffix = Path(upload.filename).suffix.lower()
    if suffix not in (".geojson", ".json", ".gpkg", ".zip"):
        raise BadRequest(f"field 'file' must end in .geojson, .json, .gpkg or .zip, got {upload.filename!r}")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"drawing{suffix}"
        upload.save(path)
        answer = import_drawing(engine_of(current_app), division_id, path, int(revision),
                                key=request.form.get("key") or None, user_id=_user_id())
    return _with_etag(answer, answer["revision"])


@divisions_api.get("/divisions/<int:division_id>/export")
def division_export(division_id: int):
    """The division as GeoJSON, GeoPackage, zipped Shapefile, or a PNG/PDF map (``format=``)."""
    fmt = request.args.get("format", "geojson")
    if fmt not in EXPORT_FORMATS:
        raise BadRequest(f"parameter 'format' must be one of {', '.join(EXPORT_FORMATS)}; got {fmt!r}")
    with engine_of(current_app).connect() as conn:
        row = _division(conn, division_id)
    data = export_division(engine_of(current_app), division_id, fmt)
    name = f"division-{row.community_code}-{division_id}.{'zip' if fmt == 'shp' else fmt}"
    return send_file(io.BytesIO(data), mimetype=EXPORT_FORMATS[fmt], as_attachment=True, download_name=name)

