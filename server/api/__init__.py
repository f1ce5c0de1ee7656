"""The REST API, ``/api/v1``: thin routes over :mod:`server.services.areas`; documented in ``/api/openapi.json``."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from server import engine_of
from server.access import require_login
from server.api import params
from server.api.openapi import openapi_document
from server.encoding import to_json
from server.errors import NotFound
from server.services import areas as base_data

api = Blueprint("api", __name__, url_prefix="/api")


def _geojson(collection: dict) -> Response:
    return Response(to_json(collection), mimetype="application/geo+json")


def _bbox_and_limit() -> tuple[list[float] | None, int]:
    box = params.bbox(request.args.get("bbox"))
    cap = current_app.config["MAX_FEATURES"]
    return (list(box) if box else None), params.limit(request.args.get("limit"), cap=cap)


def _area_code(field: str) -> str | None:
    # Area codes are 12 digits (grids 15, micro-grids 17): longer text cannot name one.
    return params.text(request.args.get(field), field, max_length=17)


@api.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API."""
    return openapi_document()


@api.get("/v1/areas")
def areas():
    """Administrative areas as GeoJSON, optionally one level or the children of one area."""
    level = params.choice(request.args.get("level"), "level", ("county", "township", "community"))
    parent = _area_code("parent")
    with engine_of(current_app).connect() as conn:
        if parent is not None and not base_data.area_exists(conn, parent):
            raise NotFound(f"no administrative area with code {parent!r}")
        return _geojson(base_data.areas_geojson(conn, level=level, parent=parent))


@api.get("/v1/buildings")
def buildings():
    """Buildings as GeoJSON, filtered by community code and/or bbox."""
    community = _area_code("community")
    bbox, limit = _bbox_and_limit()
    with engine_of(current_app).connect() as conn:
        if community is not None and not base_data.area_exists(conn, community):
            raise NotFound(f"no community with code {community!r}")
        return _geojson(base_data.buildings_geojson(conn, community=community, bbox=bbox, limit=limit))


@api.get("/v1/barriers")
def barriers():
    """Roads, rivers, railways and walls as GeoJSON."""
    bbox, limit = _bbox_and_limit()
    with engine_of(current_app).connect() as conn:
        return _geojson(base_data.barriers_geojson(conn, bbox=bbox, limit=limit))


@api.get("/v1/sites")
def sites():
    """Compounds and exclusive-grid sites as GeoJSON."""
    bbox, limit = _bbox_and_limit()
    with engine_of(current_app).connect() as conn:
        return _geojson(base_data.sites_geojson(conn, bbox=bbox, limit=limit))


@api.get("/v1/summary")
def summary():
    """Counts of base data and the extent of the loaded areas (for the map's first view)."""
    with engine_of(current_app).connect() as conn:
        return base_data.summary(conn)


@api.get("/v1/me")
def me():
    """The signed-in user (session or bearer token): user name, display name, role and scope; 401 if anonymous."""
    user = require_login()
    return {"username": user.username, "display_name": user.display_name, "role": user.role,
            "scope": user.scope_code}
