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
            "/api/openapi.json": {"get": {"summary": "This document",
                                          "responses": {"200": {"description": "OpenAPI 3.1 document"}}}},
            "/healthz": {"get": {"summary": "Liveness and database status",
                                 "responses": {"200": {"description": "healthy"},
                                               "503": {"description": "database unreachable"}}}},
        },
        "components": {"schemas": {
            "FeatureCollection": {"type": "object", "required": ["type", "features"],
                                  "properties": {"type": {"const": "FeatureCollection"},
                                                 "features": {"type": "array", "items": {"type": "object"}}}},
            "Error": {"type": "object", "required": ["error"],
                      "properties": {"error": {"type": "object", "required": ["code", "message"],
                                               "properties": {"code": {"type": "string"},
                                                              "message": {"type": "string"},
                                                              "details": {"type": "object"}}}}},
        }},
    }
