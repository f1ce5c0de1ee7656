"""The OpenAPI 3.1 document of the REST API: written by hand, and checked by a test against the routes."""

from __future__ import annotations

_GEOJSON = {"description": "GeoJSON FeatureCollection in EPSG:4490 (lon, lat)",
            "content": {"application/geo+json": {"schema": {"$ref": "#/components/schemas/FeatureCollection"}}}}
_ERROR = {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _param(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


BBOX = _param("bbox", "west,south,east,north in degrees (EPSG:4490)", {"type": "string",
              "pattern": r"^-?[0-9.]+,-?[0-9.]+,-?[0-9.]+,-?[0-9.]+$"})
LIMIT = _param("limit", "maximum number of features", {"type": "integer", "minimum": 1})


_DATE = _param("date", "answer for the divisions in force on this day (default today)",
               {"type": "string", "format": "date"})
_LOOKUP_ANSWER = {"type": "object", "properties": {
    "grid": {"type": "object", "properties": {"code": {"type": "string"}, "name": {"type": ["string", "null"]},
                                              "type": {"type": "string"}, "households": {"type": "integer"}}},
    "micro_grid": {"type": ["object", "null"]},
    "community": {"type": ["object", "null"]},
    "township": {"type": ["object", "null"]},
    "staff": {"type": "array", "items": {"type": "object", "properties": {
        "name": {"type": "string"}, "role": {"type": "string"}, "phone": {"type": ["string", "null"]},
        "grid_code": {"type": "string"}}}}}}
LOOKUP_PATHS = {
    "/api/v1/lookup/point": {"get": {
        "summary": "The grid, micro-grid, community, township and published staff contacts at a point",
        "description": "404 when the point is in no grid; error.details.nearest then has the nearest grid's "
                       "code, name and distance_m (metres).",
        "parameters": [
            {**_param("lon", "longitude", {"type": "number", "minimum": -180, "maximum": 180}), "required": True},
            {**_param("lat", "latitude", {"type": "number", "minimum": -90, "maximum": 90}), "required": True},
            _param("crs", "coordinate system of lon/lat (default cgcs2000; GCJ-02 from Amap/Tencent, BD-09 "
                          "from Baidu)", {"type": "string", "enum": ["cgcs2000", "wgs84", "gcj02", "bd09"]}),
            _DATE,
            _param("geometry", "also return the grid outline (GeoJSON, EPSG:4490)", {"type": "boolean"})],
        "responses": {"200": {"description": "the grid at the point", "content": {
            "application/json": {"schema": _LOOKUP_ANSWER}}}, "400": _ERROR, "404": _ERROR}}},
    "/api/v1/lookup/address": {"get": {
        "summary": "Standard addresses matching a typed address, best first, with grid and staff contacts",
        "parameters": [{**_param("q", "the address as typed", {"type": "string", "maxLength": 200}),
                        "required": True},
                       _param("limit", "how many results (1-50, default 10)",
                              {"type": "integer", "minimum": 1, "maximum": 50}), _DATE],
        "responses": {"200": {"description": "ranked addresses", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"query": {"type": "string"}, "normalized": {"type": "string"},
                                             "results": {"type": "array", "items": _LOOKUP_ANSWER}}}}}},
                      "400": _ERROR}}},
    "/api/v1/lookup/batch": {"post": {
        "summary": "Look up a CSV of points (lon,lat[,crs]) or addresses (address)",
        "description": "Answers the same CSV (UTF-8 with BOM) with the columns grid_code, micro_grid_code, "
                       "community_code, match (exact/fuzzy/point/none), score and error added; bad rows are "
                       "flagged in error, never fatal. The upload may be UTF-8 (with or without BOM) or GBK.",
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary"},
                "crs": {"type": "string", "description": "default CRS of rows without a crs column value"},
                "date": {"type": "string", "format": "date"}}}}}},
        "responses": {"200": {"description": "the CSV with grid columns", "content": {
            "text/csv": {"schema": {"type": "string"}}}}, "400": _ERROR, "404": _ERROR}}},
    "/lookup": {"get": {"summary": "The public lookup page (HTML; ?lang=en for English)",
                        "responses": {"200": {"description": "HTML page"}}}},
}


def _path_param(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


_DIVISION_ID = _path_param("division_id", "division id", {"type": "integer"})
_AREA_CODE = _path_param("code", "12-digit area code", {"type": "string", "pattern": "^[0-9]{12}$"})
_JSON = {"description": "JSON", "content": {"application/json": {"schema": {"type": "object"}}}}
_EDITABLE = {"400": _ERROR, "401": _ERROR, "403": _ERROR, "404": _ERROR,
             "409": {**_ERROR, "description": "stale revision (someone saved since you loaded) or a read-only "
                                              "(submitted/approved) division; nothing was changed"}}
_GEOMETRY = {"type": "object", "description": "GeoJSON geometry in EPSG:4490 lon/lat"}
_EDIT = {"type": "object", "required": ["op"], "properties": {
    "op": {"type": "string", "enum": ["paint", "new_grid", "merge", "delete_grid", "split", "move_boundary",
                                      "auto_divide", "rebalance", "set_grid", "restore"]},
    "revision": {"type": "integer", "description": "the revision you edited (or send If-Match: \"N\")"},
    "atoms": {"type": "array", "items": {"type": "integer"}, "description": "paint, new_grid: atom numbers"},
    "grid": {"type": "integer", "description": "paint, delete_grid, split, set_grid: grid label"},
    "into": {"type": "integer", "description": "delete_grid: the neighbour taking its atoms"},
    "a": {"type": "integer", "description": "merge (keeps its label), move_boundary"},
    "b": {"type": "integer", "description": "merge (disappears), move_boundary"},
    "line": {**_GEOMETRY, "description": "split: a LineString across the grid"},
    "shape": {**_GEOMETRY, "description": "move_boundary: the area swept by the dragged boundary (Polygon) or "
                                          "the new boundary (LineString)"},
    "seed": {"type": "integer", "description": "auto_divide"},
    "name": {"type": ["string", "null"]}, "type": {"type": "string", "enum": ["comprehensive", "exclusive"]},
    "subtype": {"type": ["string", "null"]}, "locked": {"type": "boolean"},
    "to_revision": {"type": "integer", "description": "restore (undo/redo): the revision to bring back"}}}
DIVISION_PATHS = {
    "/api/v1/areas/{code}/overview": {"get": {
        "summary": "Communities below an area with households, grid count and their latest division's status",
        "parameters": [_AREA_CODE], "responses": {"200": _GEOJSON, "404": _ERROR}}},
    "/api/v1/communities/{code}/divisions": {
        "get": {"summary": "Every version of a community's division, newest first (drafts need read_draft)",
                "parameters": [_AREA_CODE], "responses": {"200": _JSON, "404": _ERROR}},
        "post": {"summary": "Start a new draft from an existing version: body {\"from\": division id}",
                 "parameters": [_AREA_CODE],
                 "requestBody": {"required": True, "content": {"application/json": {"schema": {
                     "type": "object", "required": ["from"], "properties": {"from": {"type": "integer"}}}}}},
                 "responses": {"201": _JSON, **_EDITABLE}}},
    "/api/v1/divisions/{division_id}": {"get": {
        "summary": "A division: header, grid attributes, live checks and revision history (ETag = revision)",
        "parameters": [_DIVISION_ID], "responses": {"200": _JSON, "401": _ERROR, "403": _ERROR, "404": _ERROR}}},
    "/api/v1/divisions/{division_id}/grids": {"get": {
        "summary": "The division's grids", "parameters": [_DIVISION_ID],
        "responses": {"200": _GEOJSON, "401": _ERROR, "403": _ERROR, "404": _ERROR}}},
    "/api/v1/divisions/{division_id}/atoms": {"get": {
        "summary": "The atoms of the division's layer with the grid label of each", "parameters": [_DIVISION_ID],
        "responses": {"200": _GEOJSON, "401": _ERROR, "403": _ERROR, "404": _ERROR}}},
    "/api/v1/divisions/{division_id}/micro-grids": {
        "get": {"summary": "The division's micro-grids", "parameters": [_DIVISION_ID],
                "responses": {"200": _GEOJSON, "401": _ERROR, "403": _ERROR, "404": _ERROR}},
        "post": {"summary": "Rebuild the micro-grids of grids that have none after edits",
                 "parameters": [_DIVISION_ID], "responses": {"200": _JSON, **_EDITABLE}}},
    "/api/v1/divisions/{division_id}/edits": {"post": {
        "summary": "Apply one edit to a draft as a new revision; answers the change and the live checks",
        "description": "Edits work on the assignment of atoms to grids, so no gap or overlap can arise; an edit "
                       "that would cut a grid in two is refused with 400. Undo and redo are `restore`.",
        "parameters": [_DIVISION_ID],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _EDIT}}},
        "responses": {"200": _JSON, **_EDITABLE}}},
    "/api/v1/divisions/{division_id}/import": {"post": {
        "summary": "Replace the draft's grids by a hand-drawn division, snapped onto the atoms",
        "parameters": [_DIVISION_ID],
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file", "revision"], "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": "GeoJSON, GeoPackage or zipped Shapefile of grid polygons"},
                "revision": {"type": "integer"},
                "key": {"type": "string", "description": "column naming each drawn grid (default name/code)"}}}}}},
        "responses": {"200": _JSON, **_EDITABLE}}},
    "/api/v1/divisions/{division_id}/export": {"get": {
        "summary": "The division as GeoJSON, GeoPackage, zipped Shapefile, or a PNG/PDF map",
        "parameters": [_DIVISION_ID, _param("format", "file format", {
            "type": "string", "enum": ["geojson", "gpkg", "shp", "png", "pdf"]})],
        "responses": {"200": {"description": "the file"}, "400": _ERROR, "401": _ERROR, "403": _ERROR,
                      "404": _ERROR}}},
}


def openapi_document() -> dict:
    """The document served at ``/api/openapi.json``."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "wangge API", "version": "1",
                 "description": "Urban and rural grid governance (城乡网格化服务管理): administrative areas, "
                                "base data, grids. Geometry is CGCS2000 (EPSG:4490) lon/lat."},
        "paths": {
            "/api/v1/areas": {"get": {
                "summary": "Administrative areas (county, townships, communities) with household counts",
                "parameters": [
                    _param("level", "only this level", {"type": "string",
                                                         "enum": ["county", "township", "community"]}),
                    _param("parent", "only children of this 12-digit code", {"type": "string",
                                                                               "pattern": "^[0-9]{12}$"})],
                "responses": {"200": _GEOJSON, "400": _ERROR, "404": _ERROR}}},
            "/api/v1/buildings": {"get": {
                "summary": "Buildings with storeys, units and households",
                "parameters": [_param("community", "12-digit community code", {"type": "string"}), BBOX, LIMIT],
                "responses": {"200": _GEOJSON, "400": _ERROR, "404": _ERROR}}},
            "/api/v1/barriers": {"get": {"summary": "Roads, rivers, railways and walls",
                                         "parameters": [BBOX, LIMIT],
                                         "responses": {"200": _GEOJSON, "400": _ERROR}}},
            "/api/v1/sites": {"get": {"summary": "Residential compounds and exclusive-grid sites",
                                      "parameters": [BBOX, LIMIT],
                                      "responses": {"200": _GEOJSON, "400": _ERROR}}},
            "/api/v1/summary": {"get": {"summary": "Counts of base data and the extent of the areas",
                                        "responses": {"200": {"description": "counts and extent", "content": {
                                            "application/json": {"schema": {"type": "object"}}}}}}},
            "/api/v1/me": {"get": {
                "summary": "The signed-in user: user name, display name, role and scope",
                "description": "Signed in by the session cookie of /login or by an API token "
                               "(`wangge user token`) sent as `Authorization: Bearer <token>`.",
                "security": [{"bearerToken": []}, {"sessionCookie": []}],
                "responses": {"200": {"description": "the user", "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/Me"}}}},
                              "401": _ERROR}}},
            **LOOKUP_PATHS,
            **DIVISION_PATHS,
            "/api/openapi.json": {"get": {"summary": "This document",
                                          "responses": {"200": {"description": "OpenAPI 3.1 document"}}}},
            "/healthz": {"get": {"summary": "Liveness and database status",
                                 "responses": {"200": {"description": "healthy"},
                                               "503": {"description": "database unreachable"}}}},
        },
        "components": {
            "securitySchemes": {
                "bearerToken": {"type": "http", "scheme": "bearer",
                                "description": "token printed once by `wangge user token USERNAME`"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "wangge_session",
                                  "description": "from signing in at /login; unsafe methods also need the "
                                                 "X-CSRF-Token header (the page's meta csrf-token)"}},
            "schemas": {
            "FeatureCollection": {"type": "object", "required": ["type", "features"],
                                  "properties": {"type": {"const": "FeatureCollection"},
                                                 "features": {"type": "array", "items": {"type": "object"}}}},
            "Error": {"type": "object", "required": ["error"],
                      "properties": {"error": {"type": "object", "required": ["code", "message"],
                                               "properties": {"code": {"type": "string"},
                                                              "message": {"type": "string"},
                                                              "details": {"type": "object"}}}}},
            "Me": {"type": "object", "required": ["username", "role", "scope"],
                   "properties": {"username": {"type": "string"}, "display_name": {"type": ["string", "null"]},
                                  "role": {"type": "string", "enum": ["admin", "municipal_reviewer", "county_editor",
                                                                     "township_operator", "grid_staff"]},
                                  "scope": {"type": ["string", "null"],
                                            "description": "area/grid code the role applies to; null for admin"}}},
        }},
    }
