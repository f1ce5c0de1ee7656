"""The REST API, ``/api/v1``: thin routes over :mod:`server.store.features`; documented in ``/api/openapi.json``."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from server import engine_of
from server.api.openapi import openapi_document
from server.encoding import to_json
from server.errors import BadRequest, NotFound
from server.store import features as store
from server.web.auth import require_login

api = Blueprint("api", __name__, url_prefix="/api")


def _geojson(collection: dict) -> Response:
    return Response(to_json(collection), mimetype="application/geo+json")


def parse_bbox(value: str | None) -> list[float] | None:
    """``west,south,east,north`` in degrees (EPSG:4490) → list, or BadRequest naming the parameter."""
    if value is None or value == "":
        return None
    try:
        parts = [float(p) for p in value.split(",")]
    except ValueError:
        raise BadRequest(f"parameter 'bbox' must be four numbers west,south,east,north; got {value!r}") from None
    if len(parts) != 4:
        raise BadRequest(f"parameter 'bbox' must be four numbers west,south,east,north; got {value!r}")
    west, south, east, north = parts
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise BadRequest(f"parameter 'bbox' is not a valid lon/lat box (west ≤ east, south ≤ north): {value!r}")
    return parts


def parse_limit(value: str | None) -> int:
    """A positive feature cap, at most MAX_FEATURES."""
    cap = current_app.config["MAX_FEATURES"]
    if value is None:
        return cap
    if not value.isdigit() or int(value) < 1:
        raise BadRequest(f"parameter 'limit' must be a positive integer; got {value!r}")
    return min(int(value), cap)


@api.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API."""
    return openapi_document()


@api.get("/v1/areas")
def areas():
    """Administrative areas as GeoJSON, optionally one level or the children of one area."""
    level = request.args.get("level")
    if level is not None and level not in ("county", "township", "community"):
        raise BadRequest(f"parameter 'level' must be county, township or community; got {level!r}")
    parent = request.args.get("parent")
    with engine_of(current_app).connect() as conn:
        if parent is not None and not store.area_exists(conn, parent):
            raise NotFound(f"no administrative area with code {parent!r}")
        return _geojson(store.areas_geojson(conn, level=level, parent=parent))


@api.get("/v1/buildings")
def buildings():
    """Buildings as GeoJSON, filtered by community code and/or bbox."""
    community = request.args.get("community")
    bbox, limit = parse_bbox(request.args.get("bbox")), parse_limit(request.args.get("limit"))
    with engine_of(current_app).connect() as conn:
        if community is not None and not store.area_exists(conn, community):
            raise NotFound(f"no community with code {community!r}")
        return _geojson(store.buildings_geojson(conn, community=community, bbox=bbox, limit=limit))


@api.get("/v1/barriers")
def barriers():
    """Roads, rivers, railways and walls as GeoJSON."""
    bbox, limit = parse_bbox(request.args.get("bbox")), parse_limit(request.args.get("limit"))
    with engine_of(current_app).connect() as conn:
        return _geojson(store.barriers_geojson(conn, bbox=bbox, limit=limit))


@api.get("/v1/sites")
def sites():
    """Compounds and exclusive-grid sites as GeoJSON."""
    bbox, limit = parse_bbox(request.args.get("bbox")), parse_limit(request.args.get("limit"))
    with engine_of(current_app).connect() as conn:
        return _geojson(store.sites_geojson(conn, bbox=bbox, limit=limit))


@api.get("/v1/summary")
def summary():
    """Counts of base data and the extent of the loaded areas (for the map's first view)."""
    with engine_of(current_app).connect() as conn:
        return {"counts": store.counts(conn), "extent": store.extent(conn)}


@api.get("/v1/me")
def me():
    """The signed-in user (session or bearer token): user name, display name, role and scope; 401 if anonymous."""
    user = require_login()
    return {"username": user.username, "display_name": user.display_name, "role": user.role,
            "scope": user.scope_code}
