"""OGC API - Features, Part 1 (Core), read-only, under ``/ogc``: grids, micro-grids and communities.

Any OGC client (QGIS, GDAL's OAPIF driver, OWSLib, ArcGIS Pro) can read the published grids from here
without knowing the REST API. Which grids are published is one rule, :func:`published_divisions`:
approved divisions in force (``PUBLIC_APPROVED_ONLY``, true by default; false also shows the latest
draft of communities that have no approved division, which is what the demo has).

Geometry is stored in CGCS2000 (EPSG:4490). For a service at grid scale CGCS2000 and WGS 84 agree
within a metre, so coordinates are served unchanged as CRS84 (longitude, latitude) — the only CRS of
Part 1. Errors answer with the OGC exception JSON ``{"code", "description"}``, not the API's envelope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, request, url_for
from sqlalchemy import Connection, text

from server import engine_of
from server.api.params import INT_MAX
from server.encoding import to_json
from server.services.divisions import divisions_in_force
from server.store import features as store

ogc = Blueprint("ogc", __name__, url_prefix="/ogc")

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
DEFAULT_LIMIT, MAX_LIMIT = 10, 1000
JSON, GEOJSON = "application/json", "application/geo+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
#: Effective dates of divisions are local (Beijing) dates, so a datetime is read in that zone.
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
STORAGE_NOTE = ("Stored in CGCS2000 (EPSG:4490); for these purposes it equals WGS 84 longitude/latitude within a "
                "metre, so coordinates are served as CRS84 (longitude, latitude) without transformation.")


class OgcException(Exception):
    """An error answered as OGC exception JSON (``code`` and ``description``)."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status, self.code, self.description = status, code, description


def invalid(name: str, message: str) -> OgcException:
    """A 400 naming the query parameter at fault."""
    return OgcException(400, "InvalidParameterValue", f"parameter '{name}': {message}")


@ogc.errorhandler(OgcException)
def _ogc_exception(exc: OgcException):
    return _json({"code": exc.code, "description": exc.description}, JSON, exc.status)


def _json(body: dict, mimetype: str, status: int = 200) -> Response:
    return Response(to_json(body), status=status, mimetype=mimetype)


# -- which data is published --------------------------------------------------------------------------

def approved_only() -> bool:
    """Whether only approved divisions are published (the app's ``PUBLIC_APPROVED_ONLY``, default true)."""
    return current_app.config["PUBLIC_APPROVED_ONLY"]


def published_divisions(conn: Connection, on: date | None = None) -> list[int]:
    """Ids of the divisions whose grids the standard interfaces (OGC API, vector tiles) publish on ``on``."""
    return sorted(divisions_in_force(conn, on, approved_only=approved_only()).values())


# -- collections ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Collection:
    """One feature collection: a SQL source with columns ``fid``, ``geom`` and the properties."""

    id: str
    title: str
    description: str
    source: str  # selects fid, geom and properties; binds :divisions (integer[])
    filters: tuple[str, ...] = field(default=())  # properties a query may filter on by equality
    temporal: bool = True


_DIVISION_COLUMNS = ("d.community_code, d.version AS division_version, d.status AS division_status, "
                     "d.effective_from, d.effective_to")

COLLECTIONS = {c.id: c for c in (
    Collection(
        "grids", "Grids (网格)",
        "Grids of the divisions in force: code (15 digits), name, type (comprehensive/exclusive), households, "
        "population, community and division version. Without 'datetime' the division in force today; "
        "with a date, the one in force on that date. " + STORAGE_NOTE,
        "SELECT coalesce(g.code, 'grid-' || g.id) AS fid, g.geom, g.code, g.name, g.type, g.subtype, "
        "g.households, g.population, " + _DIVISION_COLUMNS + " "
        "FROM grid g JOIN division d ON d.id = g.division_id "
        "WHERE g.division_id = ANY(CAST(:divisions AS integer[])) AND g.geom IS NOT NULL",
        ("code", "name", "type", "community_code")),
    Collection(
        "micro_grids", "Micro-grids (微网格)",
        "Micro-grids of the grids in force: code (17 digits), name, households, population and the grid they "
        "belong to. 'datetime' selects the division as for grids. " + STORAGE_NOTE,
        "SELECT coalesce(mg.code, 'micro-grid-' || mg.id) AS fid, mg.geom, mg.code, mg.name, mg.households, "
        "mg.population, g.code AS grid_code, " + _DIVISION_COLUMNS + " "
        "FROM micro_grid mg JOIN grid g ON g.id = mg.grid_id JOIN division d ON d.id = g.division_id "
        "WHERE g.division_id = ANY(CAST(:divisions AS integer[])) AND mg.geom IS NOT NULL",
        ("code", "grid_code", "community_code")),
    Collection(
        "communities", "Communities and villages (社区/村)",
        "Communities and villages with their 12-digit statistical code, kind (urban/rural), township and the "
        "version of their published division (null when none is published). Outlines have no lifetime "
        "here: 'datetime' only changes which division version is reported. " + STORAGE_NOTE,
        "SELECT a.code AS fid, a.geom, a.code, a.name, a.kind, a.parent_code AS township_code, "
        "d.version AS division_version, d.status AS division_status "
        "FROM admin_area a LEFT JOIN division d ON d.community_code = a.code "
        "AND d.id = ANY(CAST(:divisions AS integer[])) WHERE a.level = 'community'",
        ("code", "kind", "township_code"), temporal=False),
)}


def _collection(collection_id: str) -> Collection:
    try:
        return COLLECTIONS[collection_id]
    except KeyError:
        raise OgcException(404, "NotFound", f"no collection {collection_id!r}; "
                                            f"there are {', '.join(COLLECTIONS)}") from None


# -- parameters ---------------------------------------------------------------------------------------

def check_format() -> None:
    """Only JSON is offered: ``f=json`` or no ``f``; anything else is refused (no HTML is advertised)."""
    f = request.args.get("f")
    if f is not None and f not in ("json", "geojson"):
        raise invalid("f", f"format {f!r} is not offered; use f=json")


def parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    """``bbox=west,south,east,north`` in CRS84 (six numbers: the heights are ignored) → tuple, or 400.

    ``west > east`` is a box across the antimeridian, as the standard says.
    """
    if value is None:
        return None
    try:
        numbers = [float(p) for p in value.split(",")]
    except ValueError:
        raise invalid("bbox", f"must be 4 (or 6) comma-separated numbers; got {value!r}") from None
    if len(numbers) == 6:
        numbers = [numbers[0], numbers[1], numbers[3], numbers[4]]
    if len(numbers) != 4 or any(n != n for n in numbers):  # n != n: NaN
        raise invalid("bbox", f"must be 4 (or 6) comma-separated numbers; got {value!r}")
    west, south, east, north = numbers
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
        raise invalid("bbox", f"is not a CRS84 box (longitudes within ±180, latitudes ±90, south ≤ north): "
                              f"{value!r}")
    return west, south, east, north


def _integer(name: str, value: str, minimum: int) -> int:
    if not re.fullmatch(r"[0-9]{1,10}", value.strip()) or not minimum <= int(value) <= INT_MAX:
        raise invalid(name, f"must be an integer from {minimum} to {INT_MAX}; got {value!r}")
    return int(value)


def parse_limit(value: str | None) -> int:
    """``limit``: default 10; above the maximum (1000) it is clamped, as the standard allows."""
    return DEFAULT_LIMIT if value is None else min(_integer("limit", value, 1), MAX_LIMIT)


def parse_offset(value: str | None) -> int:
    """``offset``: the paging position used by the ``next``/``prev`` links."""
    return 0 if value is None else _integer("offset", value, 0)


def parse_datetime(value: str | None) -> date | None:
    """``datetime``: one date or date-time → the (Beijing) date whose division in force is served.

    Intervals are refused: a division in force over an interval can differ from day to day, and two
    versions of one grid would carry the same id.
    """
    if value is None:
        return None
    if "/" in value:
        raise invalid("datetime", "intervals are not supported; give one date or date-time (RFC 3339)")
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        instant = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise invalid("datetime", f"must be an RFC 3339 date or date-time; got {value!r}") from None
    if instant.tzinfo is None:
        raise invalid("datetime", f"a date-time needs a time zone (e.g. Z or +08:00); got {value!r}")
    return instant.astimezone(LOCAL_ZONE).date()


# -- responses ----------------------------------------------------------------------------------------

def _link(href: str, rel: str, type_: str, title: str | None = None) -> dict:
    link = {"href": href, "rel": rel, "type": type_}
    if title:
        link["title"] = title
    return link


def _url(endpoint: str, **values) -> str:
    return url_for(endpoint, _external=True, **values)


def _extent(conn: Connection, collection: Collection) -> dict:
    row = conn.execute(text(f"""
        SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
        FROM (SELECT ST_Extent(s.geom) AS e FROM ({collection.source}) s) x"""),
                       {"divisions": published_divisions(conn)}).one()
    bbox = [float(v) for v in row] if row[0] is not None else (store.extent(conn) or [-180.0, -90.0, 180.0, 90.0])
    extent = {"spatial": {"bbox": [bbox], "crs": CRS84}}
    if collection.temporal:
        # Every approved version ever in force can be asked for with 'datetime'; open-ended when one still is.
        start, end, open_ended = conn.execute(text("""
            SELECT min(effective_from), max(effective_to), bool_or(effective_to IS NULL) FROM division
            WHERE status = 'approved' AND effective_from IS NOT NULL""")).one()
        extent["temporal"] = {"interval": [[_instant(start), None if open_ended else _instant(end)]],
                              "trs": GREGORIAN}
    return extent


def _instant(day: date | None) -> str | None:
    """The start of a (Beijing) day as RFC 3339."""
    return None if day is None else f"{day.isoformat()}T00:00:00+08:00"


def _collection_document(conn: Connection, collection: Collection) -> dict:
    return {
        "id": collection.id, "title": collection.title, "description": collection.description,
        "itemType": "feature", "crs": [CRS84], "extent": _extent(conn, collection),
        "links": [
            _link(_url("ogc.collection", collection_id=collection.id), "self", JSON, collection.title),
            _link(_url("ogc.items", collection_id=collection.id), "items", GEOJSON, f"{collection.title} (GeoJSON)"),
        ],
    }


@ogc.get("/")
@ogc.get("")
def landing():
    """The landing page: links to the API definition, conformance and the collections."""
    check_format()
    return _json({
        "title": "wangge — grids of urban and rural grid governance (城乡网格化服务管理)",
        "description": "OGC API - Features (Part 1, read-only) of the published grids, micro-grids and "
                       "communities. " + STORAGE_NOTE,
        "links": [
            _link(_url("ogc.landing"), "self", JSON, "This document"),
            _link(_url("ogc.api_definition"), "service-desc", OPENAPI, "The API definition (OpenAPI 3.0)"),
            _link(_url("ogc.conformance"), "conformance", JSON, "Conformance classes implemented"),
            _link(_url("ogc.collections"), "data", JSON, "The feature collections"),
        ],
    }, JSON)


@ogc.get("/conformance")
def conformance():
    """The conformance classes this server implements."""
    check_format()
    return _json({"conformsTo": CONFORMANCE}, JSON)


@ogc.get("/api")
def api_definition():
    """The OpenAPI 3.0 definition of this OGC API."""
    check_format()
    return _json(openapi_document(), OPENAPI)


@ogc.get("/collections")
def collections():
    """All feature collections with their extents."""
    check_format()
    with engine_of(current_app).connect() as conn:
        documents = [_collection_document(conn, c) for c in COLLECTIONS.values()]
    return _json({"links": [_link(_url("ogc.collections"), "self", JSON)], "collections": documents}, JSON)


@ogc.get("/collections/<collection_id>")
def collection(collection_id: str):
    """One feature collection."""
    check_format()
    found = _collection(collection_id)
    with engine_of(current_app).connect() as conn:
        return _json(_collection_document(conn, found), JSON)


#: Options 0: no "crs" member, which RFC 7946 removed (PostGIS adds one for any SRID but 4326).
_FEATURE = ("json_build_object('type', 'Feature', 'id', p.fid, 'geometry', ST_AsGeoJSON(p.geom, 7, 0)::json, "
            "'properties', to_jsonb(p) - 'fid' - 'geom')")
#: Features whose geometry intersects the box; a box across the antimeridian is two envelopes.
_IN_BBOX = """(CAST(:west AS float8) IS NULL
    OR ST_Intersects(s.geom, ST_MakeEnvelope(:west, :south, CASE WHEN :west <= :east THEN :east ELSE 180 END,
                                             :north, 4490))
    OR (:west > :east AND ST_Intersects(s.geom, ST_MakeEnvelope(-180, :south, :east, :north, 4490))))"""


def _filters(collection: Collection) -> tuple[str, dict]:
    """SQL for equality filters on properties (fixed column names, values bound), and their values."""
    clauses, params = [], {}
    for i, name in enumerate(collection.filters):
        clauses.append(f"(CAST(:p{i} AS text) IS NULL OR CAST(s.{name} AS text) = :p{i})")
        params[f"p{i}"] = request.args.get(name)
    return " AND ".join(clauses) or "TRUE", params


@ogc.get("/collections/<collection_id>/items")
def items(collection_id: str):
    """A page of features, filtered by ``bbox``, ``datetime`` and properties; paged by ``next`` links."""
    check_format()
    found = _collection(collection_id)
    bbox = parse_bbox(request.args.get("bbox"))
    limit, offset = parse_limit(request.args.get("limit")), parse_offset(request.args.get("offset"))
    on = parse_datetime(request.args.get("datetime"))
    where, params = _filters(found)
    west, south, east, north = bbox or (None, None, None, None)
    with engine_of(current_app).connect() as conn:
        params.update(divisions=published_divisions(conn, on), west=west, south=south, east=east, north=north,
                      limit=limit, offset=offset)
        matched, features = conn.execute(text(f"""
            WITH hit AS (SELECT s.* FROM ({found.source}) s WHERE {_IN_BBOX} AND {where}),
                 page AS (SELECT * FROM hit ORDER BY fid LIMIT :limit OFFSET :offset)
            SELECT (SELECT count(*) FROM hit),
                   (SELECT coalesce(json_agg({_FEATURE} ORDER BY p.fid), '[]'::json) FROM page p)"""),
                                         params).one()
    links = [_link(_page_url(collection_id, offset, limit), "self", GEOJSON, "This page"),
             _link(_url("ogc.collection", collection_id=collection_id), "collection", JSON, found.title)]
    if offset + len(features) < matched:
        links.append(_link(_page_url(collection_id, offset + limit, limit), "next", GEOJSON, "Next page"))
    if offset > 0:
        links.append(_link(_page_url(collection_id, max(offset - limit, 0), limit), "prev", GEOJSON,
                           "Previous page"))
    return _json({"type": "FeatureCollection", "features": features, "links": links,
                  "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                  "numberMatched": int(matched), "numberReturned": len(features)}, GEOJSON)


def _page_url(collection_id: str, offset: int, limit: int) -> str:
    """The items URL with the request's filters and another page (``offset``) of ``limit`` features."""
    # Encoded here rather than passed to url_for, where a parameter named like its own arguments would clash.
    args = [(k, v) for k, v in request.args.items(multi=True) if k not in ("offset", "limit")]
    query = urlencode([*args, ("limit", limit), ("offset", offset)])
    return f"{_url('ogc.items', collection_id=collection_id)}?{query}"


@ogc.get("/collections/<collection_id>/items/<feature_id>")
def item(collection_id: str, feature_id: str):
    """One feature by id (its code); ``datetime`` as for items."""
    check_format()
    found = _collection(collection_id)
    on = parse_datetime(request.args.get("datetime"))
    with engine_of(current_app).connect() as conn:
        feature = conn.execute(text(f"SELECT {_FEATURE} FROM ({found.source}) p WHERE p.fid = :fid"),
                               {"divisions": published_divisions(conn, on), "fid": feature_id}).scalar_one_or_none()
    if feature is None:
        raise OgcException(404, "NotFound", f"no feature {feature_id!r} in collection {collection_id!r}")
    feature["links"] = [
        _link(_url("ogc.item", collection_id=collection_id, feature_id=feature_id), "self", GEOJSON),
        _link(_url("ogc.collection", collection_id=collection_id), "collection", JSON, found.title)]
    return _json(feature, GEOJSON)


# -- the API definition --------------------------------------------------------------------------------

def _query(name: str, description: str, schema: dict, **extra) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema,
            "style": "form", "explode": False, **extra}


_F = _query("f", "Output format; only JSON is offered.", {"type": "string", "enum": ["json"], "default": "json"})
_EXCEPTION = {"description": "An error", "content": {JSON: {"schema": {"$ref": "#/components/schemas/exception"}}}}


def _ok(description: str, schema: str, mimetype: str = JSON) -> dict:
    return {"description": description, "content": {mimetype: {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def openapi_document() -> dict:
    """The OpenAPI 3.0 document served at ``/ogc/api`` (one concrete path per collection)."""
    paths = {
        "/": {"get": {"summary": "Landing page", "operationId": "getLandingPage", "parameters": [_F],
                      "responses": {"200": _ok("Links to the API, conformance and collections", "object"),
                                    "400": _EXCEPTION}}},
        "/conformance": {"get": {"summary": "Conformance classes", "operationId": "getConformance",
                                 "parameters": [_F], "responses": {"200": _ok("conformsTo", "object"),
                                                                   "400": _EXCEPTION}}},
        "/api": {"get": {"summary": "This API definition", "operationId": "getApi", "parameters": [_F],
                         "responses": {"200": {"description": "OpenAPI 3.0",
                                               "content": {OPENAPI: {"schema": {"type": "object"}}}}}}},
        "/collections": {"get": {"summary": "Feature collections", "operationId": "getCollections",
                                 "parameters": [_F], "responses": {"200": _ok("The collections", "object"),
                                                                   "400": _EXCEPTION}}},
    }
    bbox = _query("bbox", "Only features intersecting this box: west,south,east,north in CRS84 (4 or 6 numbers).",
                  {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}})
    limit = _query("limit", f"Page size; values above {MAX_LIMIT} are clamped.",
                   {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT})
    offset = _query("offset", "Position of the page's first feature (follow the 'next' links).",
                    {"type": "integer", "minimum": 0, "default": 0})
    when = _query("datetime", "Serve the division in force on this date (RFC 3339 date or date-time); "
                              "intervals are not supported.", {"type": "string"})
    for c in COLLECTIONS.values():
        base = f"/collections/{c.id}"
        filters = [_query(name, f"Only features whose '{name}' equals this.", {"type": "string"})
                   for name in c.filters]
        paths[base] = {"get": {"summary": c.title, "operationId": f"describe_{c.id}", "parameters": [_F],
                               "responses": {"200": _ok("The collection", "object"), "404": _EXCEPTION}}}
        paths[f"{base}/items"] = {"get": {
            "summary": f"{c.title}: features", "description": c.description, "operationId": f"get_{c.id}",
            "parameters": [bbox, limit, offset, when, _F, *filters],
            "responses": {"200": _ok("A page of features", "featureCollectionGeoJSON", GEOJSON),
                          "400": _EXCEPTION, "404": _EXCEPTION}}}
        paths[f"{base}/items/{{featureId}}"] = {"get": {
            "summary": f"{c.title}: one feature", "operationId": f"get_{c.id}_feature",
            "parameters": [{"name": "featureId", "in": "path", "required": True, "schema": {"type": "string"},
                            "description": "The feature's code"}, when, _F],
            "responses": {"200": _ok("The feature", "featureGeoJSON", GEOJSON), "404": _EXCEPTION}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "wangge OGC API - Features", "version": "1.0.0",
                 "description": "Read-only OGC API - Features (Part 1: Core, GeoJSON, OpenAPI 3.0) of the published "
                                "grids, micro-grids and communities. " + STORAGE_NOTE,
                 "license": {"name": "Apache-2.0"}},
        "servers": [{"url": _url("ogc.landing").rstrip("/")}],
        "paths": paths,
        "components": {"schemas": {
            "object": {"type": "object"},
            "exception": {"type": "object", "required": ["code"],
                          "properties": {"code": {"type": "string"}, "description": {"type": "string"}}},
            "featureGeoJSON": {"type": "object", "required": ["type", "geometry", "properties"],
                               "properties": {"type": {"type": "string", "enum": ["Feature"]},
                                              "id": {"type": "string"},
                                              "geometry": {"type": "object"},
                                              "properties": {"type": "object", "nullable": True}}},
            "featureCollectionGeoJSON": {
                "type": "object", "required": ["type", "features"],
                "properties": {"type": {"type": "string", "enum": ["FeatureCollection"]},
                               "features": {"type": "array", "items": {"$ref": "#/components/schemas/featureGeoJSON"}},
                               "links": {"type": "array", "items": {"type": "object"}},
                               "timeStamp": {"type": "string", "format": "date-time"},
                               "numberMatched": {"type": "integer", "minimum": 0},
                               "numberReturned": {"type": "integer", "minimum": 0}}},
        }},
    }
