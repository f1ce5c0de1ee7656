"""The OpenAPI 3.1 document of the REST API: written by hand, and checked by a test against the routes."""

from __future__ import annotations

from server.api.openapi_staff import STAFF_PATHS

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
_LOOKUP_CACHING = ("An answer from approved divisions carries ETag and Cache-Control (public, max-age=60; private "
                   "to a client sending a cookie or credentials) and is answered 304 to a matching If-None-Match; "
                   "an approval changes the ETag. An answer that shows a draft is no-store.")
LOOKUP_PATHS = {
    "/api/v1/lookup/point": {"get": {
        "summary": "The grid, micro-grid, community, township and published staff contacts at a point",
        "description": "404 when the point is in no grid; error.details.nearest then has the nearest grid's "
                       "code, name and distance_m (metres). " + _LOOKUP_CACHING,
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
        "description": _LOOKUP_CACHING,
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
                                      "reshape", "auto_divide", "rebalance", "set_grid", "restore", "undo",
                                      "redo"]},
    "revision": {"type": "integer", "description": "the revision you edited (or send If-Match: \"N\")"},
    "atoms": {"type": "array", "items": {"type": "integer"}, "description": "paint, new_grid: atom numbers"},
    "grid": {"type": "integer", "description": "paint, delete_grid, split, reshape, set_grid: grid label"},
    "into": {"type": "integer", "description": "delete_grid: the neighbour taking its atoms"},
    "a": {"type": "integer", "description": "merge (keeps its label), move_boundary"},
    "b": {"type": "integer", "description": "merge (disappears), move_boundary"},
    "line": {**_GEOMETRY, "description": "split: a LineString across the grid"},
    "shape": {**_GEOMETRY, "description": "move_boundary: the area swept by the dragged boundary (Polygon) or "
                                          "the new boundary (LineString); reshape: the grid's dragged outline"},
    "seed": {"type": "integer", "description": "auto_divide"},
    "name": {"type": ["string", "null"]}, "type": {"type": "string", "enum": ["comprehensive", "exclusive"]},
    "subtype": {"type": ["string", "null"]}, "locked": {"type": "boolean"},
    "to_revision": {"type": "integer", "description": "restore: the revision to bring back"}}}
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
                       "that would cut a grid in two is refused with 400. `undo` and `redo` walk the revisions stored "
                       "on the server (the answer's `undo`/`redo` say how many steps remain); `restore` brings back "
                       "any revision. An edit that changes nothing stores no revision (`change.stored` is false).",
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
        "description": "`crs=CRS84` (the default) gives RFC 7946 GeoJSON, with no `crs` member, and GeoPackage and "
                       "Shapefile layers in WGS 84 (EPSG:4326). `crs=EPSG:4490` (also spelt `cgcs2000`) gives "
                       "CGCS2000, stated where each format can: the top-level `crs` member of a GeoJSON, the "
                       "layer CRS of a GeoPackage or Shapefile. Coordinates are longitude, latitude either way, "
                       "and the same numbers: the two agree within a metre at grid scale. Maps ignore `crs`. "
                       "An unknown `crs` is a 400 naming the field.",
        "parameters": [_DIVISION_ID, _param("format", "file format", {
            "type": "string", "enum": ["geojson", "gpkg", "shp", "png", "pdf"]}),
                       _param("crs", "CRS of the file: CRS84 (WGS 84 lon/lat, default) or EPSG:4490 (CGCS2000)",
                              {"type": "string", "enum": ["CRS84", "EPSG:4490"], "default": "CRS84"})],
        "responses": {"200": {"description": "the file"}, "400": _ERROR, "401": _ERROR, "403": _ERROR,
                      "404": _ERROR}}},
}


_READ = {"401": _ERROR, "403": _ERROR, "404": _ERROR}
_STEP = {"400": _ERROR, **_READ, "409": {**_ERROR, "description": "the division is not in the status this step "
                                                                  "moves from (or its checks fail); nothing changed"}}


def _json_body(properties: dict, required: list[str] | None = None) -> dict:
    return {"required": bool(required), "content": {"application/json": {"schema": {
        "type": "object", "properties": properties, **({"required": required} if required else {})}}}}


REVIEW_PATHS = {
    "/api/v1/divisions/{division_id}/submit": {"post": {
        "summary": "Submit a draft for review (county editor); micro-grids are rebuilt first",
        "description": "409 when the division is not a draft, or when its live checks have errors "
                       "(error.details.problems lists them).",
        "parameters": [_DIVISION_ID], "responses": {"200": _JSON, **_STEP}}},
    "/api/v1/divisions/{division_id}/approve": {"post": {
        "summary": "Approve and file a submitted division (municipal reviewer); codes are filed",
        "description": "The version in force on effective_from ends that day; only one division of a community "
                       "is in force on any day. Unchanged grids keep their codes, new grids get codes never "
                       "issued before; codes that disappeared are retired.",
        "parameters": [_DIVISION_ID],
        "requestBody": _json_body({"effective_from": {"type": "string", "format": "date",
                                                      "description": "default today"},
                                   "note": {"type": "string", "maxLength": 2000},
                                   "codes": {"type": "object", "additionalProperties": {"type": "string"},
                                             "description": "grid label -> the code the reviewer saw (the grids' "
                                                            "planned_code): 409 when filing would give others"}}),
        "responses": {"200": _JSON, **_STEP}}},
    "/api/v1/divisions/{division_id}/exemptions": {
        "get": {"summary": "Out-of-band grids the engine proves cannot be in the band (candidates, in a draft) "
                           "and the reasons written for them",
                "parameters": [_DIVISION_ID], "responses": {"200": _JSON, **_READ}},
        "post": {"summary": "Write the county's reason for a grid the engine proves cannot be in the band",
                 "parameters": [_DIVISION_ID],
                 "requestBody": _json_body({"grid": {"type": "integer"},
                                            "reason": {"type": "string", "minLength": 1, "maxLength": 2000}},
                                           ["grid", "reason"]),
                 "responses": {"201": _JSON, **_STEP}}},
    "/api/v1/divisions/{division_id}/exemptions/{exemption_id}": {"patch": {
        "summary": "Accept or return a written reason (municipal reviewer)",
        "parameters": [_DIVISION_ID, _path_param("exemption_id", "reason id", {"type": "integer"})],
        "requestBody": _json_body({"decision": {"type": "string", "enum": ["accepted", "returned"]},
                                   "note": {"type": "string", "maxLength": 2000}}, ["decision"]),
        "responses": {"200": _JSON, **_STEP}}},
    "/api/v1/divisions/{division_id}/return": {"post": {
        "summary": "Return a submitted division to the county with a reason (municipal reviewer)",
        "parameters": [_DIVISION_ID],
        "requestBody": _json_body({"reason": {"type": "string", "minLength": 1, "maxLength": 2000}}, ["reason"]),
        "responses": {"200": _JSON, **_STEP}}},
    "/api/v1/divisions/{division_id}/transitions": {"get": {
        "summary": "Lifecycle history: who moved the division from which status to which, when and why",
        "parameters": [_DIVISION_ID], "responses": {"200": _JSON, **_READ}}},
    "/api/v1/divisions/{division_id}/comments": {
        "get": {"summary": "Review comments on the division and on the version it was copied from",
                "parameters": [_DIVISION_ID, _param("parent", "include the parent version's comments (default "
                                                              "true)", {"type": "boolean"})],
                "responses": {"200": _JSON, **_READ}},
        "post": {"summary": "Pin a comment to a grid (label), a point, both or neither",
                 "parameters": [_DIVISION_ID],
                 "requestBody": _json_body({"text": {"type": "string", "minLength": 1, "maxLength": 2000},
                                            "grid": {"type": "integer"},
                                            "point": {"type": "array", "items": {"type": "number"},
                                                      "minItems": 2, "maxItems": 2,
                                                      "description": "[lon, lat] in EPSG:4490"}}, ["text"]),
                 "responses": {"201": _JSON, **_STEP}}},
    "/api/v1/divisions/{division_id}/comments/{comment_id}": {"patch": {
        "summary": "Mark a comment resolved (or open again)",
        "parameters": [_DIVISION_ID, _path_param("comment_id", "comment id", {"type": "integer"})],
        "requestBody": _json_body({"resolved": {"type": "boolean"}}, ["resolved"]),
        "responses": {"200": _JSON, "400": _ERROR, **_READ}}},
    "/api/v1/divisions/{division_id}/diff": {"get": {
        "summary": "Grids added, removed and changed against another version, atoms and households moved",
        "parameters": [_DIVISION_ID, _param("against", "division id to compare with (default: the approved one "
                                                       "in force, else the parent version)", {"type": "integer"})],
        "responses": {"200": _JSON, "400": _ERROR, **_READ}}},
    "/api/v1/divisions/{division_id}/packet": {"get": {
        "summary": "The filing packet of an approved division (zip: GeoPackage, GeoJSON, Shapefile, CSVs, "
                   "filing sheet PDF, manifest)",
        "parameters": [_DIVISION_ID],
        "responses": {"200": {"description": "zip", "content": {"application/zip": {}}}, **_READ,
                      "409": _ERROR}}},
    "/api/v1/review/queue": {"get": {
        "summary": "Submitted divisions waiting for review in the reviewer's city (admin: everywhere)",
        "responses": {"200": _JSON, "401": _ERROR, "403": _ERROR}}},
    "/api/v1/audit": {"get": {
        "summary": "The audit log, newest first (admin)",
        "parameters": [_param("user", "actor user name", {"type": "string"}),
                       _param("action", "action prefix, e.g. division.", {"type": "string"}),
                       _param("entity", "entity (table) name", {"type": "string"}),
                       _param("entity_id", "entity id", {"type": "string"}),
                       _param("from", "first day", {"type": "string", "format": "date"}),
                       _param("to", "last day", {"type": "string", "format": "date"}),
                       _param("page", "page number from 1", {"type": "integer", "minimum": 1}),
                       _param("per_page", "entries per page (1-500, default 50)",
                              {"type": "integer", "minimum": 1, "maximum": 500})],
        "responses": {"200": _JSON, "400": _ERROR, "401": _ERROR, "403": _ERROR}}},
}

_EVENT_ID = _path_param("event_id", "event id", {"type": "integer"})
_MATTER = {"type": "object", "properties": {
    "code": {"type": "string", "description": "2 characters for a 大类, 4 for a 小类 (大类 code + 2)"},
    "name": {"type": "string"}, "parent": {"type": ["string", "null"], "description": "the 大类 code of a 小类"},
    "time_limit": {"type": ["number", "null"], "exclusiveMinimum": 0},
    "time_unit": {"type": ["string", "null"], "enum": ["working_hours", "working_days", None]},
    "responsible_unit": {"type": ["string", "null"]},
    "admitted_on": {"type": ["string", "null"], "format": "date", "description": "admission to the list"},
    "exited_on": {"type": ["string", "null"], "format": "date",
                  "description": "exit from the list: no new events from this day"}}}
_REPORT = {"type": "object", "required": ["description"], "properties": {
    "description": {"type": "string", "maxLength": 2000}, "title": {"type": "string", "maxLength": 200},
    "category": {"type": ["string", "integer"], "description": "a 小类 code (or id) in force on the matter list"},
    "lon": {"type": "number"}, "lat": {"type": "number"},
    "crs": {"type": "string", "enum": ["cgcs2000", "wgs84", "gcj02", "bd09"]},
    "address": {"type": "string", "description": "a standard address, used when lon/lat are not given"}}}
_AREA = _param("area", "area or grid code (default: the user's county)", {"type": "string"})
_PERIOD = [_param("from", "reported on or after this day", {"type": "string", "format": "date"}),
           _param("to", "reported on or before this day", {"type": "string", "format": "date"})]
_SIGNED_IN = {"401": _ERROR, "403": _ERROR}
# A report with photos: the same fields as a multipart form, plus up to 3 files in "photos".
_REPORT_FORM = {"type": "object", "required": ["description"], "properties": {
    **_REPORT["properties"], "photos": {"type": "array", "maxItems": 3, "items": {"type": "string", "format": "binary"},
                                        "description": "JPEG or PNG, at most 5 MB each; EXIF is removed"}}}
_REPORT_BODY = {"required": True, "content": {"application/json": {"schema": _REPORT},
                                              "multipart/form-data": {"schema": _REPORT_FORM}}}
_TRACKING = _path_param("tracking_code", "the tracking code given to the reporter (10 characters)",
                        {"type": "string"})
_POSITION = _path_param("position", "photo number, 1 to 3", {"type": "integer"})
_IMAGE = {"description": "the photo (re-encoded, no metadata)",
          "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                      "image/png": {"schema": {"type": "string", "format": "binary"}}}}
EVENT_PATHS = {
    "/api/v1/matters": {
        "get": {"summary": "The matter list (事项清单, published): 大类 and 小类, time limits, responsible units",
                "parameters": [_param("date", "entries in force on this day (default today)",
                                      {"type": "string", "format": "date"}),
                               _param("all", "also entries not (yet or any more) on the list", {"type": "boolean"})],
                "responses": {"200": _JSON, "400": _ERROR}},
        "post": {"summary": "Admit a matter to the list (admin)",
                 "requestBody": {"required": True, "content": {"application/json": {"schema": _MATTER}}},
                 "responses": {"201": _JSON, "400": _ERROR, **_SIGNED_IN, "409": _ERROR}}},
    "/api/v1/matters/{matter_id}": {"patch": {
        "summary": "Change a matter or take it off the list with exited_on (admin)",
        "parameters": [_path_param("matter_id", "matter id", {"type": "integer"})],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _MATTER}}},
        "responses": {"200": _JSON, "400": _ERROR, **_SIGNED_IN, "404": _ERROR, "409": _ERROR}}},
    "/api/v1/public/events": {"post": {
        "summary": "A resident reports a problem (no sign-in, no CSRF token; limited per IP)",
        "description": "Routed to the grid in force at the point (or standard address), its community and staff. "
                       "400 names the field at fault (error.details.field): a point in no grid, an unknown or "
                       "exited category, a photo that is not a JPEG or PNG of at most 5 MB (nothing is stored). "
                       "429 with Retry-After beyond PUBLIC_REPORT_LIMIT reports per IP. The answer carries "
                       "tracking_code, the reporter's key to GET /api/v1/public/events/{tracking_code}.",
        "requestBody": _REPORT_BODY,
        "responses": {"201": {**_JSON, "description": "the event code, its grid, community and published staff"},
                      "400": _ERROR, "429": _ERROR}}},
    "/api/v1/events": {
        "get": {"summary": "Events in the user's scope, open and most urgent first, with the actions the user may "
                           "take",
                "parameters": [_param("area", "only this area or grid code", {"type": "string"}),
                               _param("status", "comma-separated statuses", {"type": "string"}),
                               _param("open", "only not closed or cancelled", {"type": "boolean"}),
                               _param("mine", "only assigned to my staff record", {"type": "boolean"}),
                               _param("overdue", "only escalated (backlog) and open", {"type": "boolean"}),
                               _param("format", "json (default) or geojson", {"type": "string",
                                                                              "enum": ["json", "geojson"]}),
                               _param("limit", "at most this many (1-5000, default 500)", {"type": "integer"})],
                "responses": {"200": _JSON, "400": _ERROR, **_SIGNED_IN}},
        "post": {"summary": "A signed-in user (grid staff) reports an event in their area",
                 "requestBody": _REPORT_BODY,
                 "responses": {"201": _JSON, "400": _ERROR, **_SIGNED_IN}}},
    "/api/v1/events/{event_id}": {"get": {
        "summary": "One event with its history (every step: who, when, from which status to which, note)",
        "parameters": [_EVENT_ID], "responses": {"200": _JSON, **_SIGNED_IN, "404": _ERROR}}},
    "/api/v1/events/{event_id}/actions": {"post": {
        "summary": "Move an event along the loop: register, cancel, dispatch, handle, return, feedback, reject, "
                   "verify, close",
        "description": "Dispatch starts the clock: the deadline is the matter's time limit on the working calendar. "
                       "cancel, return and reject need a note; category may be set when registering or "
                       "dispatching. 403 outside the user's scope or role, 409 when the action does not apply "
                       "to the event's status.",
        "parameters": [_EVENT_ID],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["action"], "properties": {
                "action": {"type": "string", "enum": ["register", "cancel", "dispatch", "handle", "return",
                                                      "feedback", "reject", "verify", "close"]},
                "note": {"type": "string", "maxLength": 1000},
                "category": {"type": ["string", "integer"]}}}}}},
        "responses": {"200": _JSON, "400": _ERROR, **_SIGNED_IN, "404": _ERROR, "409": _ERROR}}},
    "/api/v1/events/grids": {"get": {
        "summary": "Grids in force under an area with their event counts (for the heat map)",
        "parameters": [_AREA, *_PERIOD], "responses": {"200": _GEOJSON, "400": _ERROR, **_SIGNED_IN}}},
    "/api/v1/events/stats": {"get": {
        "summary": "Per-grid statistics: events, closure rate, on-time closure rate, overdue (backlog)",
        "parameters": [_AREA, *_PERIOD, _param("format", "json (default) or csv",
                                               {"type": "string", "enum": ["json", "csv"]})],
        "responses": {"200": {"description": "statistics", "content": {
            "application/json": {"schema": {"type": "object"}}, "text/csv": {"schema": {"type": "string"}}}},
            "400": _ERROR, **_SIGNED_IN}}},
    "/api/v1/public/events/{tracking_code}": {"get": {
        "summary": "Follow a report by its tracking code: status, category, community, photos and the steps taken",
        "description": "No sign-in. No personal data of others: no names, no notes, no staff.",
        "parameters": [_TRACKING], "responses": {"200": _JSON, "400": _ERROR, "404": _ERROR}}},
    "/api/v1/public/events/{tracking_code}/photos/{position}": {"get": {
        "summary": "A photo of the report with this tracking code", "parameters": [_TRACKING, _POSITION],
        "responses": {"200": _IMAGE, "400": _ERROR, "404": _ERROR}}},
    "/api/v1/events/{event_id}/photos/{position}": {"get": {
        "summary": "A photo of an event in the user's scope", "parameters": [_EVENT_ID, _POSITION],
        "responses": {"200": _IMAGE, "400": _ERROR, **_SIGNED_IN, "404": _ERROR}}},
    "/api/v1/events/calendar": {"get": {
        "summary": "The working calendar: the years in the next 60 days whose holidays are computed (no official "
                   "State Council schedule loaded yet)",
        "responses": {"200": _JSON, **_SIGNED_IN}}},
    "/report": {"get": {"summary": "The public report-a-problem page (HTML)",
                        "responses": {"200": {"description": "HTML page"}}}},
    "/track/{tracking_code}": {"get": {"summary": "The page that follows a report by its tracking code (HTML)",
                                       "parameters": [_TRACKING],
                                       "responses": {"200": {"description": "HTML page"}}}},
}


_HTML = {"description": "HTML page (Chinese; ?lang=en for English)", "content": {"text/html": {}}}
_REDIRECT = {"description": "See Other: to the next page (a sign-in form when signed out)",
             "headers": {"Location": {"schema": {"type": "string"}}}}
_LANG = _param("lang", "language of the page", {"type": "string", "enum": ["zh", "en"]})
_FORM = "application/x-www-form-urlencoded"


def _page(summary: str, *parameters: dict, signed_in: bool = False) -> dict:
    responses = {"200": _HTML, "400": _HTML, "404": _HTML}
    if signed_in:
        responses |= {"303": _REDIRECT, "403": _HTML}
    return {"get": {"summary": summary, "parameters": [_LANG, *parameters], "responses": responses}}


def _form_post(summary: str, properties: dict, *parameters: dict, required: list[str] | None = None) -> dict:
    body = {"required": True, "content": {_FORM: {"schema": {
        "type": "object", "properties": {"csrf_token": {"type": "string"}, **properties},
        **({"required": required} if required else {})}}}}
    return {"post": {"summary": summary, "parameters": list(parameters), "requestBody": body,
                     "responses": {"303": _REDIRECT, "400": _HTML, "401": _ERROR, "403": _ERROR, "404": _ERROR,
                                   "429": {**_HTML, "description": "too many failed sign-ins (Retry-After)"}}}}


_CODE_PATH = _path_param("code", "12-digit area code", {"type": "string"})
PAGE_PATHS = {
    "/": _page("The county map"),
    "/home": _page("Where the signed-in user's own work is: a redirect to each role's landing page"),
    "/divisions": _page("Divisions of the communities (county overview)"),
    "/areas/{code}/overview": _page("An area's communities and their divisions", _CODE_PATH),
    "/communities/{code}/editor": _page("The division editor of a community (county editor, township operator)",
                                        _CODE_PATH, signed_in=True),
    "/review": _page("The review queue (municipal reviewer)", signed_in=True),
    "/review/{division_id}": _page("One division under review", _DIVISION_ID, signed_in=True),
    "/notice/{grid_code}": _page("The public notice board of a grid: outline, staff, supervision phone",
                                 _path_param("grid_code", "15-digit grid code", {"type": "string"})),
    "/admin/audit": _page("The audit log viewer (admin, reviewer)", signed_in=True),
    "/events/mine": _page("Events assigned to me (grid staff)", signed_in=True),
    "/events/map": _page("The event map", signed_in=True),
    "/events/stats": _page("Event statistics per grid", signed_in=True),
    "/track": _page("Follow a report by its tracking code (given as ?code=)",
                    _param("code", "the tracking code printed when the report was made",
                           {"type": "string", "maxLength": 16})),
}
TILE_PATHS = {
    "/tiles/grids/{z}/{x}/{y}.pbf": {"get": {
        "summary": "Grids and communities in force as Mapbox Vector Tiles (layers 'grids', 'communities'; "
                   "XYZ scheme in EPSG:3857)",
        "parameters": [_path_param("z", "zoom 0-22", {"type": "integer", "minimum": 0, "maximum": 22}),
                       _path_param("x", "tile column", {"type": "integer", "minimum": 0}),
                       _path_param("y", "tile row", {"type": "integer", "minimum": 0})],
        "responses": {"200": {"description": "the tile (empty when no grid touches it)", "content": {
            "application/vnd.mapbox-vector-tile": {"schema": {"type": "string", "format": "binary"}}}},
            "204": {"description": "no grid touches the tile"},
            "400": {"description": "a tile coordinate out of range (OGC exception: code, description)",
                    "content": {"application/json": {"schema": {"type": "object",
                                                                "required": ["code", "description"]}}}}}}},
    "/tiles/buildings/{z}/{x}/{y}.pbf": {"get": {
        "summary": "Buildings as Mapbox Vector Tiles (layer 'buildings': name, road, number, storeys, units, "
                   "households; XYZ scheme in EPSG:3857), from zoom 15",
        "description": "Public base data, like /api/v1/buildings, without its feature cap: a map loads only the "
                       "tiles in view. Below zoom 15 a tile would hold a whole town, so it is refused (400). "
                       "Cached for five minutes with an ETag (If-None-Match answers 304).",
        "parameters": [_path_param("z", "zoom 15-22", {"type": "integer", "minimum": 15, "maximum": 22}),
                       _path_param("x", "tile column", {"type": "integer", "minimum": 0}),
                       _path_param("y", "tile row", {"type": "integer", "minimum": 0})],
        "responses": {"200": {"description": "the tile", "content": {
            "application/vnd.mapbox-vector-tile": {"schema": {"type": "string", "format": "binary"}}}},
            "204": {"description": "no building touches the tile"},
            "304": {"description": "not modified (If-None-Match)"},
            "400": {"description": "a tile coordinate out of range or a zoom below 15 (OGC exception: code, "
                                   "description)",
                    "content": {"application/json": {"schema": {"type": "object",
                                                                "required": ["code", "description"]}}}}}}},
    "/tiles/grids.json": {"get": {"summary": "TileJSON 3.0 of the grid tiles", "responses": {"200": {
        "description": "TileJSON", "content": {"application/json": {"schema": {
            "type": "object", "required": ["tilejson", "tiles"]}}}}}}},
}
AUTH_PATHS = {
    "/login": {**_page("The sign-in form"),
               **_form_post("Sign in with user name and password; on success a session cookie and a redirect to next",
                            {"username": {"type": "string", "maxLength": 64}, "password": {"type": "string"},
                             "next": {"type": "string", "description": "a path on this site"}},
                            required=["username", "password"])},
    "/logout": _form_post("End the session on the server and go to the map", {}),
    "/account/password": {**_page("Change my password", signed_in=True),
                          **_form_post("Change my password; my other sessions end",
                                       {"current": {"type": "string"}, "password": {"type": "string"},
                                        "confirm": {"type": "string"}}, required=["current", "password",
                                                                                 "confirm"])},
    "/admin/users": _page("Users, their sessions and API tokens (admin)", signed_in=True),
    "/admin/users/{username}/{action}": _form_post(
        "Disable, enable, set the password of (form field password) or end the sessions of a user (admin; audited)",
        {"password": {"type": "string"}},
        _path_param("username", "user name", {"type": "string", "maxLength": 64}),
        _path_param("action", "what to do", {"type": "string", "enum": ["disable", "enable", "password",
                                                                         "sessions"]})),
    "/admin/tokens/{token_id}/revoke": _form_post("Revoke an API token (admin; audited)", {},
                                                  _path_param("token_id", "token id", {"type": "integer"})),
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
            **EVENT_PATHS,
            **REVIEW_PATHS,
            **STAFF_PATHS,
            **PAGE_PATHS,
            **TILE_PATHS,
            **AUTH_PATHS,
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
