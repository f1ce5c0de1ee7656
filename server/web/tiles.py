"""Mapbox vector tiles made by PostGIS: the published grids, ``/tiles/grids/{z}/{x}/{y}.pbf``, and the
buildings, ``/tiles/buildings/{z}/{x}/{y}.pbf``.

A grid tile has two layers: ``grids`` (code, name, households, type) and ``communities`` (code, name,
kind). The grids are those of :func:`server.web.ogc.published_divisions`, the same the OGC API serves.
A building tile has one layer, ``buildings`` (name, road, number, storeys, units, households): public base
data like ``/api/v1/buildings``, and served from :data:`BUILDINGS_MIN_ZOOM` only, so that no tile holds
more than a few streets' worth of footprints.
Geometry is stored in CGCS2000 (EPSG:4490) and transformed to web mercator (EPSG:3857) here; the
tile envelope goes the other way for the index lookup. A tile with no feature answers 204.
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, url_for

from server import public_reads_of
from server.caching import public_cache
from server.encoding import to_json
from server.services import publication
from server.web.ogc import OgcException, invalid, published_divisions

tiles = Blueprint("tiles", __name__, url_prefix="/tiles")

MVT = "application/vnd.mapbox-vector-tile"
MAX_ZOOM = 22
EXTENT, BUFFER = 4096, 64
#: A zoom-15 tile is about 1 km across. The demo's busiest holds 372 buildings in 12.5 kB (34 bytes each),
#: so even a dense town centre's few thousand stay near 100 kB; a county-wide zoom would be the capped
#: 20 000-feature GeoJSON again.
BUILDINGS_MIN_ZOOM = 15

@tiles.errorhandler(OgcException)
def _tile_error(exc: OgcException):
    return Response(to_json({"code": exc.code, "description": exc.description}), status=exc.status,
                    mimetype="application/json")


def parse_tile(z: str, x: str, y: str) -> tuple[int, int, int]:
    """Tile coordinates → integers, or a 400 naming the one out of range (``x`` and ``y`` below 2^z)."""
    values = {}
    for name, value in (("z", z), ("x", x), ("y", y)):
        if not re.fullmatch(r"[0-9]{1,9}", value):
            raise invalid(name, f"must be a non-negative integer; got {value!r}")
        values[name] = int(value)
    if values["z"] > MAX_ZOOM:
        raise invalid("z", f"must be at most {MAX_ZOOM}; got {values['z']}")
    size = 2 ** values["z"]
    for name in ("x", "y"):
        if values[name] >= size:
            raise invalid(name, f"must be below 2^z = {size} at zoom {values['z']}; got {values[name]}")
    return values["z"], values["x"], values["y"]


@tiles.get("/grids/<z>/<x>/<y>.pbf")
@public_cache(300)  # grids change when a division is approved: five minutes keeps maps fresh
def grid_tile(z: str, x: str, y: str):
    """One vector tile with the layers ``grids`` and ``communities``; 204 when the tile holds nothing."""
    zoom, column, row = parse_tile(z, x, y)
    with public_reads_of(current_app).connect() as conn:
        tile = publication.grid_tile(conn, zoom, column, row, published_divisions(conn), extent=EXTENT,
                                     buffer=BUFFER)
    return Response(tile, status=200 if tile else 204, mimetype=MVT)


@tiles.get("/buildings/<z>/<x>/<y>.pbf")
@public_cache(300)  # buildings change with an import; the same freshness as the grids
def building_tile(z: str, x: str, y: str):
    """One vector tile with the layer ``buildings``; 204 when the tile holds none, 400 below the minimum zoom."""
    zoom, column, row = parse_tile(z, x, y)
    if zoom < BUILDINGS_MIN_ZOOM:
        raise invalid("z", f"buildings are served from zoom {BUILDINGS_MIN_ZOOM}; got {zoom}")
    with public_reads_of(current_app).connect() as conn:
        tile = publication.building_tile(conn, zoom, column, row, extent=EXTENT, buffer=BUFFER)
    return Response(tile, status=200 if tile else 204, mimetype=MVT)


@tiles.get("/grids.json")
def tilejson():
    """TileJSON 3.0 for map libraries (MapLibre, OpenLayers): the tile URL, zooms, bounds and layers."""
    with public_reads_of(current_app).connect() as conn:
        bounds = publication.base_extent(conn) or [-180.0, -85.0511, 180.0, 85.0511]
    template = url_for("tiles.grid_tile", z="0", x="0", y="0", _external=True).replace("/0/0/0.pbf", "/{z}/{x}/{y}.pbf")
    return {"tilejson": "3.0.0", "name": "wangge grids", "scheme": "xyz", "tiles": [template],
            "minzoom": 0, "maxzoom": MAX_ZOOM, "bounds": bounds,
            "vector_layers": [
                {"id": "grids", "fields": {"code": "String", "name": "String", "households": "Number",
                                           "type": "String"}},
                {"id": "communities", "fields": {"code": "String", "name": "String", "kind": "String"}}]}
