"""OGC API - Features under ``/ogc``: grids, micro-grids and communities, read-only.

Any OGC client (QGIS, GDAL's OAPIF driver, OWSLib, ArcGIS Pro) reads the published grids from here
without knowing the REST API. Implemented: Part 1 (core, GeoJSON, OpenAPI 3.0, HTML), Part 2 (CRS:
CRS84 and CGCS2000, EPSG:4490, the national datum), and of Part 3 the queryables, the schema, filtering
by queryable properties and CQL2 text for simple comparisons joined by AND. Which divisions are
published is one rule, :mod:`server.services.publication`.

Geometry is stored in CGCS2000 (EPSG:4490) as longitude/latitude. CGCS2000 and WGS 84 agree within a
metre at grid scale, so CRS84 answers carry the stored numbers; EPSG:4490 answers carry the same
numbers in that CRS's axis order, latitude first. Every error under ``/ogc`` is the OGC exception JSON
``{"code", "description"}``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, request, url_for
from sqlalchemy import Connection

from gis.errors import InputError
from server import public_reads_of
from server.api import params
from server.caching import public_cache
from server.encoding import to_json
from server.services import publication
from server.services.publication import PROPERTIES, Query, Selection

ogc = Blueprint("ogc", __name__, url_prefix="/ogc")

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CGCS2000 = "http://www.opengis.net/def/crs/EPSG/0/4490"
#: CRS URIs (and the short forms clients send) → whether coordinates are latitude first.
SUPPORTED_CRS = {CRS84: False, CGCS2000: True}
_CRS_ALIASES = {"EPSG:4490": CGCS2000, "urn:ogc:def:crs:EPSG::4490": CGCS2000, "OGC:CRS84": CRS84,
                "urn:ogc:def:crs:OGC:1.3:CRS84": CRS84, "https://www.opengis.net/def/crs/EPSG/0/4490": CGCS2000,
                "https://www.opengis.net/def/crs/OGC/1.3/CRS84": CRS84}
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-5/1.0/conf/schemas",
]
#: What the conformance document says is left out (the standard's classes above are claimed only as far as this).
NOT_SUPPORTED = [
    "CQL2: only 'property op literal' comparisons (=, <>, <, <=, >, >=, LIKE, IS NULL) joined by AND; no OR, NOT, "
    "functions, spatial or temporal predicates (the class basic-cql2 is therefore not claimed); filter-lang is "
    "cql2-text only.",
    "CRS: CRS84 and EPSG:4490 (CGCS2000) only.",
    "No writes (Part 4).",
]
DEFAULT_LIMIT, MAX_LIMIT = 10, 1000
JSON, GEOJSON, HTML = "application/json", "application/geo+json", "text/html"
SCHEMA_JSON = "application/schema+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
#: Effective dates of divisions are local (Beijing) dates, so a datetime is read in that zone.
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
STORAGE_NOTE = ("Stored in CGCS2000 (EPSG:4490); served in CRS84 by default and in EPSG:4490 (latitude first) "
                "with crs=" + CGCS2000 + ". The two agree within a metre at grid scale.")
TITLES = {"grids": "网格 Grids", "micro_grids": "微网格 Micro-grids",
          "communities": "社区和村 Communities and villages"}
DESCRIPTIONS = {
    "grids": "Grids of the divisions in force: code (15 digits), name, type (comprehensive/exclusive), households, "
             "population, community and division version. Without 'datetime' the division in force today; with a "
             "date the one in force then; with an interval every approved version in force during it (ids are then "
             "code@v<version>). ",
    "micro_grids": "Micro-grids of the grids in force: code (17 digits), name, households, population and "
                   "the grid they belong to. 'datetime' selects the division as for grids. ",
    "communities": "Communities and villages with their 12-digit statistical code, kind (urban/rural), township "
                   "and the version of their published division (null when none is published). ",
}
#: Published grids change when a division is approved; a minute keeps clients and proxies nearly current.
CACHE_SECONDS = 60
#: Query parameters each kind of resource accepts; any other is a 400 (/req/core/query-param-unknown).
_ITEMS_PARAMETERS = {"f", "bbox", "bbox-crs", "crs", "limit", "offset", "datetime", "filter", "filter-lang"}


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
    return ogc_error(exc.status, exc.code, exc.description)


@ogc.errorhandler(InputError)
def _input_error(exc: InputError):
    return ogc_error(400, "InvalidParameterValue", f"parameter '{exc.field}': {exc.message}")


def ogc_error(status: int, code: str, description: str) -> Response:
    """The OGC exception JSON; also used by the app's error handler for any error under ``/ogc``."""
    return _json({"code": code, "description": description}, JSON, status)


def _json(body: dict, mimetype: str, status: int = 200, crs: str | None = None) -> Response:
    response = Response(to_json(body), status=status, mimetype=mimetype)
    if crs:
        response.headers["Content-Crs"] = f"<{crs}>"
    return response


# -- which data is published --------------------------------------------------------------------------

def approved_only() -> bool:
    """Whether only approved divisions are published (the app's ``PUBLIC_APPROVED_ONLY``, default true)."""
    return current_app.config["PUBLIC_APPROVED_ONLY"]


def published_divisions(conn: Connection, on: date | None = None) -> list[int]:
    """Ids of the divisions whose grids the standard interfaces (OGC API, vector tiles) publish on ``on``."""
    return publication.published(conn, Selection(on=on), approved_only=approved_only())


def _collection(collection_id: str) -> str:
    if collection_id not in PROPERTIES:
        raise OgcException(404, "NotFound", f"no collection {collection_id!r}; there are {', '.join(PROPERTIES)}")
    return collection_id


# -- parameters ---------------------------------------------------------------------------------------

def check_query(allowed: set[str] | frozenset[str] = frozenset({"f"}), *, html: bool = False) -> str:
    """Refuse unknown query parameters; return the output format (``json``, or ``html`` where ``html``).

    ``lang`` (the page language) is always accepted: the HTML pages' language switch adds it.
    """
    unknown = sorted(set(request.args) - set(allowed) - {"lang"})
    if unknown:
        raise invalid(unknown[0], f"unknown query parameter; this resource accepts {', '.join(sorted(allowed))}")
    formats = ("json", "geojson", "html") if html else ("json", "geojson")
    f = request.args.get("f")
    if f is None:
        wants_html = request.accept_mimetypes[HTML] > request.accept_mimetypes[JSON]
        return "html" if html and wants_html else "json"
    if f not in formats:
        raise invalid("f", f"format {f!r} is not offered here; use f={' or f='.join(formats[::2])}")
    return "html" if f == "html" else "json"


def parse_crs(name: str, value: str | None) -> str:
    """A supported CRS URI (CRS84 when absent); anything else is a 400 listing what is supported."""
    if value is None:
        return CRS84
    uri = _CRS_ALIASES.get(value.strip(), value.strip())
    if uri not in SUPPORTED_CRS:
        raise invalid(name, f"CRS {value!r} is not supported; use {CRS84} or {CGCS2000}")
    return uri


def parse_bbox(value: str | None, bbox_crs: str) -> tuple[float, float, float, float] | None:
    """``bbox`` in ``bbox_crs`` → a CRS84 box (west, south, east, north); EPSG:4490 boxes are latitude first."""
    if value is not None and SUPPORTED_CRS[bbox_crs]:
        numbers = value.split(",")
        if len(numbers) == 4:  # south, west, north, east → west, south, east, north
            value = ",".join([numbers[1], numbers[0], numbers[3], numbers[2]])
    return params.bbox(value, "bbox")


def parse_datetime(value: str | None) -> Selection:
    """``datetime``: a date or date-time (the Beijing day whose division is in force) or an interval."""
    if value is None:
        return Selection()
    if "/" in value:
        start, _, end = value.partition("/")
        ends = [None if part in ("", "..") else _day(part) for part in (start, end)]
        if ends[0] and ends[1] and ends[0] > ends[1]:
            raise invalid("datetime", f"the interval ends before it starts: {value!r}")
        return Selection(interval=(ends[0], ends[1]))
    return Selection(on=_day(value))


def _day(value: str) -> date:
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        instant = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise invalid("datetime", f"must be an RFC 3339 date, date-time or interval; got {value!r}") from None
    if instant.tzinfo is None:
        raise invalid("datetime", f"a date-time needs a time zone (e.g. Z or +08:00); got {value!r}")
    return instant.astimezone(LOCAL_ZONE).date()


def parse_conditions(collection: str) -> list[tuple[str, str, object]]:
    """Equality on queryable properties (``?code=…``) and the CQL2 ``filter``."""
    conditions = []
    for prop in PROPERTIES[collection]:
        value = request.args.get(prop.name)
        if value is None:
            continue
        if prop.type == "integer":
            conditions.append((prop.name, "=", params.integer(value, prop.name, minimum=-params.INT_MAX)))
        else:
            conditions.append((prop.name, "=", params.text(value, prop.name, max_length=200, required=True)))
    language = request.args.get("filter-lang", "cql2-text")
    if language != "cql2-text":
        raise invalid("filter-lang", f"only cql2-text is supported; got {language!r}")
    text = request.args.get("filter")
    if text:
        params.text(text, "filter", max_length=2000)
        conditions += publication.parse_cql2(text, collection)
    return conditions


# -- responses ----------------------------------------------------------------------------------------

def _link(href: str, rel: str, type_: str, title: str | None = None) -> dict:
    link = {"href": href, "rel": rel, "type": type_}
    if title:
        link["title"] = title
    return link


def _url(endpoint: str, **values) -> str:
    return url_for(endpoint, _external=True, **values)


def _instant(day: date | None) -> str | None:
    """The start of a (Beijing) day as RFC 3339."""
    return None if day is None else f"{day.isoformat()}T00:00:00+08:00"


def _collection_document(conn: Connection, collection: str) -> dict:
    bbox, (start, end, open_ended) = publication.extents(conn, collection, approved_only=approved_only())
    extent = {"spatial": {"bbox": [bbox or [-180.0, -90.0, 180.0, 90.0]], "crs": CRS84}}
    if collection != "communities":
        extent["temporal"] = {"interval": [[_instant(start), None if open_ended else _instant(end)]],
                              "trs": GREGORIAN}
    title = TITLES[collection]
    return {
        "id": collection, "title": title, "description": DESCRIPTIONS[collection] + STORAGE_NOTE,
        "itemType": "feature", "crs": list(SUPPORTED_CRS), "storageCrs": CGCS2000, "extent": extent,
        "links": [
            _link(_url("ogc.collection", collection_id=collection), "self", JSON, title),
            _link(_url("ogc.collection", collection_id=collection, f="html"), "alternate", HTML, title),
            _link(_url("ogc.items", collection_id=collection), "items", GEOJSON, f"{title} (GeoJSON)"),
            _link(_url("ogc.queryables", collection_id=collection),
                  "http://www.opengis.net/def/rel/ogc/1.0/queryables", SCHEMA_JSON, "可查询属性 Queryables"),
            _link(_url("ogc.schema", collection_id=collection),
                  "http://www.opengis.net/def/rel/ogc/1.0/schema", SCHEMA_JSON, "要素模式 Schema"),
        ],
    }


def _html_page(documents: list[dict]) -> Response:
    from server.web.pages import base_layers, render_page

    return render_page("ogc.html", collections=documents, not_supported=NOT_SUPPORTED,
                       landing_url=_url("ogc.landing"), base_layers=base_layers(current_app.config))


@ogc.get("/")
@ogc.get("")
def landing():
    """The landing page: links to the API definition, conformance and the collections (JSON or HTML)."""
    if check_query(html=True) == "html":
        with public_reads_of(current_app).connect() as conn:
            return _html_page([_collection_document(conn, c) for c in PROPERTIES])
    return _json({
        "title": "网格 wangge — grids of urban and rural grid governance (城乡网格化服务管理)",
        "description": "OGC API - Features (read-only) of the published grids, micro-grids and communities. "
                       + STORAGE_NOTE,
        "links": [
            _link(_url("ogc.landing"), "self", JSON, "This document"),
            _link(_url("ogc.landing", f="html"), "alternate", HTML, "This document as HTML"),
            _link(_url("ogc.api_definition"), "service-desc", OPENAPI, "The API definition (OpenAPI 3.0)"),
            _link(_url("ogc.conformance"), "conformance", JSON, "Conformance classes implemented"),
            _link(_url("ogc.collections"), "data", JSON, "The feature collections"),
        ],
    }, JSON)


@ogc.get("/conformance")
def conformance():
    """The conformance classes this server implements, and what it leaves out."""
    check_query()
    return _json({"conformsTo": CONFORMANCE, "notSupported": NOT_SUPPORTED}, JSON)


@ogc.get("/api")
def api_definition():
    """The OpenAPI 3.0 definition of this OGC API."""
    check_query()
    return _json(openapi_document(), OPENAPI)


@ogc.get("/collections")
@public_cache(CACHE_SECONDS)
def collections():
    """All feature collections with their extents and CRSs."""
    fmt = check_query(html=True)
    with public_reads_of(current_app).connect() as conn:
        documents = [_collection_document(conn, c) for c in PROPERTIES]
    if fmt == "html":
        return _html_page(documents)
    return _json({"links": [_link(_url("ogc.collections"), "self", JSON)], "collections": documents,
                  "crs": list(SUPPORTED_CRS)}, JSON)


@ogc.get("/collections/<collection_id>")
@public_cache(CACHE_SECONDS)
def collection(collection_id: str):
    """One feature collection."""
    fmt = check_query(html=True)
    found = _collection(collection_id)
    with public_reads_of(current_app).connect() as conn:
        document = _collection_document(conn, found)
    if fmt == "html":
        return _html_page([document])
    return _json(document, JSON)


def _json_schema(collection: str, *, queryables: bool) -> dict:
    """The collection's properties as JSON Schema (2020-12): queryables, or the feature schema."""
    properties = {}
    for prop in PROPERTIES[collection]:
        schema = {"title": prop.title, "type": prop.type}
        if prop.format:
            schema["format"] = prop.format
        if prop.enum:
            schema["enum"] = list(prop.enum)
        if not queryables:
            schema["readOnly"] = True
        properties[prop.name] = schema
    if not queryables:
        properties["geometry"] = {"format": "geometry-multipolygon", "x-ogc-role": "primary-geometry"}
        properties["code"]["x-ogc-role"] = "id"
    endpoint = "ogc.queryables" if queryables else "ogc.schema"
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": _url(endpoint, collection_id=collection), "type": "object",
            "title": TITLES[collection], "properties": properties, "additionalProperties": not queryables}


@ogc.get("/collections/<collection_id>/queryables")
def queryables(collection_id: str):
    """The properties a client may filter on (``?name=value`` or CQL2 ``filter``), as JSON Schema."""
    check_query()
    return _json(_json_schema(_collection(collection_id), queryables=True), SCHEMA_JSON)


@ogc.get("/collections/<collection_id>/schema")
def schema(collection_id: str):
    """The schema of the collection's features, as JSON Schema."""
    check_query()
    return _json(_json_schema(_collection(collection_id), queryables=False), SCHEMA_JSON)


@ogc.get("/collections/<collection_id>/items")
@public_cache(CACHE_SECONDS)
def items(collection_id: str):
    """A page of features, filtered by ``bbox``, ``datetime``, properties and CQL2; paged by ``next`` links."""
    found = _collection(collection_id)
    check_query(_ITEMS_PARAMETERS | {p.name for p in PROPERTIES[found]})
    crs = parse_crs("crs", request.args.get("crs"))
    bbox = parse_bbox(request.args.get("bbox"), parse_crs("bbox-crs", request.args.get("bbox-crs")))
    query = Query((), bbox, parse_conditions(found),
                  params.limit(request.args.get("limit"), cap=MAX_LIMIT, default=DEFAULT_LIMIT),
                  params.offset(request.args.get("offset")), lat_lon=SUPPORTED_CRS[crs])
    with public_reads_of(current_app).connect() as conn:
        matched, features = publication.page(conn, found, parse_datetime(request.args.get("datetime")), query,
                                             approved_only=approved_only())
    links = [_link(_page_url(collection_id, query.offset, query.limit), "self", GEOJSON, "This page"),
             _link(_url("ogc.collection", collection_id=collection_id), "collection", JSON, TITLES[found])]
    if query.offset + len(features) < matched:
        links.append(_link(_page_url(collection_id, query.offset + query.limit, query.limit), "next", GEOJSON,
                           "Next page"))
    if query.offset > 0:
        links.append(_link(_page_url(collection_id, max(query.offset - query.limit, 0), query.limit), "prev",
                           GEOJSON, "Previous page"))
    return _json({"type": "FeatureCollection", "features": features, "links": links,
                  "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                  "numberMatched": matched, "numberReturned": len(features)}, GEOJSON, crs=crs)


def _page_url(collection_id: str, offset: int, limit: int) -> str:
    """The items URL with the request's filters and another page (``offset``) of ``limit`` features."""
    # Encoded here rather than passed to url_for, where a parameter named like its own arguments would clash.
    args = [(k, v) for k, v in request.args.items(multi=True) if k not in ("offset", "limit")]
    query = urlencode([*args, ("limit", limit), ("offset", offset)])
    return f"{_url('ogc.items', collection_id=collection_id)}?{query}"


@ogc.get("/collections/<collection_id>/items/<feature_id>")
@public_cache(CACHE_SECONDS)
def item(collection_id: str, feature_id: str):
    """One feature by id (its code, or ``code@v<version>``); ``datetime`` and ``crs`` as for items."""
    found = _collection(collection_id)
    check_query({"f", "crs", "datetime"})
    crs = parse_crs("crs", request.args.get("crs"))
    feature_id = params.text(feature_id, "featureId", max_length=64, required=True)
    with public_reads_of(current_app).connect() as conn:
        feature = publication.feature(conn, found, feature_id, parse_datetime(request.args.get("datetime")),
                                      approved_only=approved_only(), lat_lon=SUPPORTED_CRS[crs])
    if feature is None:
        raise OgcException(404, "NotFound", f"no feature {feature_id!r} in collection {collection_id!r}")
    feature["links"] = [
        _link(_url("ogc.item", collection_id=collection_id, feature_id=feature_id), "self", GEOJSON),
        _link(_url("ogc.collection", collection_id=collection_id), "collection", JSON, TITLES[found])]
    return _json(feature, GEOJSON, crs=crs)


# -- the API definition --------------------------------------------------------------------------------

def _query(name: str, description: str, schema: dict, **extra) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema,
            "style": "form", "explode": False, **extra}


_F = _query("f", "Output format: JSON, or HTML for people.",
            {"type": "string", "enum": ["json", "html"], "default": "json"})
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
    when = _query("datetime", "The division in force on this date (RFC 3339 date or date-time), or every approved "
                              "version in force during an interval (start/end, '..' for open).", {"type": "string"})
    crs = _query("crs", "The CRS of the answer: CRS84 (default) or EPSG:4490 (latitude first).",
                 {"type": "string", "format": "uri", "enum": list(SUPPORTED_CRS), "default": CRS84})
    bbox_crs = _query("bbox-crs", "The CRS of 'bbox': CRS84 (default) or EPSG:4490 (latitude first).",
                      {"type": "string", "format": "uri", "enum": list(SUPPORTED_CRS), "default": CRS84})
    cql = _query("filter", "CQL2 text: comparisons of queryables joined by AND, e.g. households > 400 AND "
                           "type = 'comprehensive'.", {"type": "string"})
    cql_lang = _query("filter-lang", "Only cql2-text.", {"type": "string", "enum": ["cql2-text"]})
    schema_answer = {"description": "JSON Schema", "content": {SCHEMA_JSON: {"schema": {"type": "object"}}}}
    for collection, properties in PROPERTIES.items():
        base = f"/collections/{collection}"
        title = TITLES[collection]
        filters = [_query(p.name, f"Only features whose '{p.name}' equals this.", {"type": p.type})
                   for p in properties]
        paths[base] = {"get": {"summary": title, "operationId": f"describe_{collection}", "parameters": [_F],
                               "responses": {"200": _ok("The collection", "object"), "404": _EXCEPTION}}}
        for kind in ("queryables", "schema"):
            paths[f"{base}/{kind}"] = {"get": {"summary": f"{title}: {kind}", "operationId": f"get_{collection}_{kind}",
                                               "parameters": [_F],
                                               "responses": {"200": schema_answer, "404": _EXCEPTION}}}
        paths[f"{base}/items"] = {"get": {
            "summary": f"{title}: features", "description": DESCRIPTIONS[collection],
            "operationId": f"get_{collection}",
            "parameters": [bbox, bbox_crs, crs, limit, offset, when, cql, cql_lang, _F, *filters],
            "responses": {"200": _ok("A page of features", "featureCollectionGeoJSON", GEOJSON),
                          "400": _EXCEPTION, "404": _EXCEPTION}}}
        paths[f"{base}/items/{{featureId}}"] = {"get": {
            "summary": f"{title}: one feature", "operationId": f"get_{collection}_feature",
            "parameters": [{"name": "featureId", "in": "path", "required": True, "schema": {"type": "string"},
                            "description": "The feature's code (or code@v<version>)"}, when, crs, _F],
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
