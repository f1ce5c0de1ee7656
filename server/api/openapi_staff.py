"""The grid staff paths of the OpenAPI document (``/api/v1/staff``), merged by :mod:`server.api.openapi`."""

from __future__ import annotations

_ERROR = {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_SIGNED_IN = {"401": _ERROR, "403": _ERROR}
_ROLES = ["grid_chief", "full_time", "part_time", "instructor", "micro_chief"]


def _query(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _path(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": schema}


def _json(schema: dict, description: str = "JSON") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ASSIGNMENT = {"type": "object", "properties": {
    "id": {"type": "integer"}, "grid_code": {"type": "string", "pattern": "^[0-9]{15}([0-9]{2})?$"},
    "role": {"type": "string", "enum": _ROLES}, "start_date": {"type": "string", "format": "date"},
    "end_date": {"type": ["string", "null"], "format": "date",
                 "description": "the first day not served (exclusive)"},
    "ended_reason": {"type": ["string", "null"]}}}
_PERSON = {"type": "object", "properties": {
    "id": {"type": "integer"}, "code": {"type": ["string", "null"]}, "name": {"type": "string"},
    "phone": {"type": "string", "description": "mainland mobile (11 digits) or landline area-number"},
    "township_code": {"type": "string"}, "employment": {"type": "string", "enum": ["full_time", "part_time",
                                                                                   "volunteer"]},
    "duties": {"type": ["string", "null"]}, "publish_contact": {"type": "boolean"},
    "start_date": {"type": ["string", "null"], "format": "date"},
    "end_date": {"type": ["string", "null"], "format": "date", "description": "left the service on this day"},
    "username": {"type": ["string", "null"], "description": "linked grid_staff login"},
    "photo": {"type": ["string", "null"], "description": "URL of the portrait"},
    "assignments": {"type": "array", "items": _ASSIGNMENT}}}
_PERSON_BODY = {"type": "object", "properties": {k: v for k, v in _PERSON["properties"].items()
                                                 if k not in ("id", "code", "photo", "assignments")}}
_STAFF_ID = _path("staff_id", "staff member id", {"type": "integer"})
_COVERAGE = {"type": "object", "properties": {
    "grids": {"type": "integer"}, "staffed": {"type": "integer"}, "share": {"type": "number"},
    "unstaffed": {"type": "array", "items": {"type": "object", "properties": {
        "code": {"type": "string"}, "name": {"type": ["string", "null"]},
        "kinds": {"type": "array", "items": {"type": "string", "enum": ["no_chief", "no_full_time",
                                                                       "no_micro_chief"]}}}}},
    "findings": {"type": "array", "items": {"type": "object"}},
    "overloaded": {"type": "array", "items": {"type": "object"}}}}
_POLICY = {"type": "object", "properties": {"county_code": {"type": "string"},
                                            "mask_public_phones": {"type": "boolean"},
                                            "max_grids_per_person": {"type": "integer", "minimum": 1}}}

STAFF_PATHS = {
    "/api/v1/staff": {
        "get": {"summary": "The grid staff roster the user manages (township operator: its township; county "
                           "editor: the county)",
                "parameters": [_query("q", "name, phone or staff code contains", {"type": "string"}),
                               _query("grid", "serving a grid/micro-grid code starting with this",
                                      {"type": "string"}),
                               _query("role", "serving in this role", {"type": "string", "enum": _ROLES}),
                               _query("left", "1: include people who left", {"type": "string", "enum": ["1"]}),
                               _query("date", "assignments in force on this day (default today)",
                                      {"type": "string", "format": "date"}),
                               _query("limit", "page size (≤ 1000)", {"type": "integer", "minimum": 1}),
                               _query("offset", "paging position", {"type": "integer", "minimum": 0})],
                "responses": {"200": _json({"type": "object", "properties": {
                    "total": {"type": "integer"}, "people": {"type": "array", "items": _PERSON}}}),
                    "400": _ERROR, **_SIGNED_IN}},
        "post": {"summary": "Add a person; 409 with error.details.merge_with when the phone is on the roster "
                            "(send merge: true to merge into that person)",
                 "requestBody": {"required": True, "content": {"application/json": {"schema": {
                     **_PERSON_BODY, "required": ["name", "phone"],
                     "properties": {**_PERSON_BODY["properties"], "merge": {"type": "boolean"}}}}}},
                 "responses": {"201": _json(_PERSON), "400": _ERROR, "409": _ERROR, **_SIGNED_IN}}},
    "/api/v1/staff/{staff_id}": {
        "get": {"summary": "One person with the history of their assignments", "parameters": [_STAFF_ID],
                "responses": {"200": _json(_PERSON), "404": _ERROR, **_SIGNED_IN}},
        "patch": {"summary": "Edit a person; end_date records that they left: their posts end and their open "
                             "events go to each grid's chief (with a history entry)",
                  "parameters": [_STAFF_ID],
                  "requestBody": {"required": True, "content": {"application/json": {"schema": _PERSON_BODY}}},
                  "responses": {"200": _json(_PERSON), "400": _ERROR, "404": _ERROR, "409": _ERROR,
                                **_SIGNED_IN}}},
    "/api/v1/staff/{staff_id}/photo": {"put": {
        "summary": "Upload a portrait: JPEG or PNG ≤ 2 MB, stored as a 300×400 JPEG without EXIF",
        "parameters": [_STAFF_ID],
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["photo"], "properties": {"photo": {"type": "string",
                                                                             "format": "binary"}}}}}},
        "responses": {"200": _json({"type": "object"}), "400": _ERROR, "404": _ERROR, **_SIGNED_IN}}},
    "/api/v1/staff/{staff_id}/assignments": {"post": {
        "summary": "Assign the person to a grid (15 digits) or micro-grid (17, micro_chief) code in force",
        "description": "404 for a code in no division in force; 403 outside the user's scope; 400 for an end "
                       "before the start or a role that does not fit the code.",
        "parameters": [_STAFF_ID],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "type": "object", "required": ["code", "role"], "properties": {
                "code": {"type": "string"}, "role": {"type": "string", "enum": _ROLES},
                "start_date": {"type": "string", "format": "date"},
                "end_date": {"type": "string", "format": "date"}}}}}},
        "responses": {"201": _json(_ASSIGNMENT), "400": _ERROR, "404": _ERROR, "409": _ERROR, **_SIGNED_IN}}},
    "/api/v1/staff/assignments/{assignment_id}/end": {"post": {
        "summary": "End an assignment (default today); the person's open events of that grid go to its chief",
        "parameters": [_path("assignment_id", "assignment id", {"type": "integer"})],
        "requestBody": {"required": False, "content": {"application/json": {"schema": {
            "type": "object", "properties": {"end_date": {"type": "string", "format": "date"},
                                             "reason": {"type": "string"}}}}}},
        "responses": {"200": _json({"type": "object"}), "400": _ERROR, "404": _ERROR, "409": _ERROR,
                      **_SIGNED_IN}}},
    "/api/v1/staff/import": {"post": {
        "summary": "Import a roster (CSV UTF-8/GBK or XLSX; headers 姓名, 手机, 网格编码, 角色, optional 用工性质, "
                   "职责, 开始日期, 结束日期, 公开电话), all or nothing",
        "description": "400 lists error.details.errors: {row, column, message} (row 1 is the header).",
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"], "properties": {"file": {"type": "string",
                                                                           "format": "binary"}}}}}},
        "responses": {"200": _json({"type": "object", "properties": {
            "rows": {"type": "integer"}, "people_added": {"type": "integer"},
            "assignments": {"type": "integer"}}}), "400": _ERROR, **_SIGNED_IN}}},
    "/api/v1/staff/export.xlsx": {"get": {
        "summary": "The roster the user manages as XLSX (one row per assignment in force)",
        "responses": {"200": {"description": "XLSX workbook", "content": {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                "schema": {"type": "string", "format": "binary"}}}}, **_SIGNED_IN}}},
    "/api/v1/staff/coverage": {"get": {
        "summary": "Staffing coverage of an area: share of grids fully staffed, the grids that are not, people "
                   "over the county's limit of grids",
        "parameters": [_query("area", "area or grid code (default the user's scope)", {"type": "string"}),
                       _query("date", "assignments in force on this day", {"type": "string", "format": "date"})],
        "responses": {"200": _json(_COVERAGE), "400": _ERROR, **_SIGNED_IN}}},
    "/api/v1/staff/policy/{county}": {
        "get": {"summary": "A county's staffing policy",
                "parameters": [_path("county", "12-digit county code", {"type": "string"})],
                "responses": {"200": _json(_POLICY), **_SIGNED_IN}},
        "put": {"summary": "Set a county's staffing policy (county editor)",
                "parameters": [_path("county", "12-digit county code", {"type": "string"})],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _POLICY}}},
                "responses": {"200": _json(_POLICY), "400": _ERROR, **_SIGNED_IN}}},
    "/staff": {"get": {"summary": "The grid staff roster page (HTML; county and township users)",
                       "responses": {"200": {"description": "HTML page"}}}},
    "/staff/photo/{staff_id}": {"get": {
        "summary": "A staff member's portrait (JPEG); public when the contact is published",
        "parameters": [_STAFF_ID],
        "responses": {"200": {"description": "JPEG", "content": {"image/jpeg": {"schema": {
            "type": "string", "format": "binary"}}}}, "404": _ERROR}}},
}
