"""The SQL of the vector tiles: Mapbox vector tiles of grids and communities, made by PostGIS.

Geometry is stored in CGCS2000 (EPSG:4490) and transformed to web mercator (EPSG:3857) for the tile;
the tile envelope goes the other way for the index lookup.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

_GRID_TILE = text("""
    WITH bounds AS (SELECT ST_TileEnvelope(:z, :x, :y) AS env,
                           ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), 4490) AS lookup),
    grids AS (
        SELECT ST_AsMVTGeom(ST_Transform(g.geom, 3857), b.env, :extent, :buffer, true) AS geom,
               g.code, g.name, g.households, g.type
        FROM grid g CROSS JOIN bounds b
        WHERE g.division_id = ANY(CAST(:divisions AS integer[])) AND g.geom && b.lookup),
    communities AS (
        SELECT ST_AsMVTGeom(ST_Transform(a.geom, 3857), b.env, :extent, :buffer, true) AS geom,
               a.code, a.name, a.kind
        FROM admin_area a CROSS JOIN bounds b
        WHERE a.level = 'community' AND a.geom && b.lookup)
    SELECT coalesce((SELECT ST_AsMVT(t.*, 'grids', :extent, 'geom') FROM grids t WHERE t.geom IS NOT NULL), '')
        || coalesce((SELECT ST_AsMVT(t.*, 'communities', :extent, 'geom') FROM communities t
                     WHERE t.geom IS NOT NULL), '')""")


def grid_tile(conn: Connection, z: int, x: int, y: int, divisions: Sequence[int], *, extent: int,
              buffer: int) -> bytes:
    """The tile ``z/x/y`` with the layers ``grids`` (of ``divisions``) and ``communities``; empty bytes if none."""
    tile = conn.execute(_GRID_TILE, {"z": z, "x": x, "y": y, "margin": buffer / extent, "extent": extent,
                                     "buffer": buffer, "divisions": list(divisions)}).scalar_one()
    return bytes(tile)


_BUILDING_TILE = text("""
    WITH bounds AS (SELECT ST_TileEnvelope(:z, :x, :y) AS env,
                           ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => :margin), 4490) AS lookup),
    buildings AS (
        SELECT ST_AsMVTGeom(ST_Transform(b.geom, 3857), e.env, :extent, :buffer, true) AS geom,
               b.name, b.road, b.number, b.storeys, b.units, b.households
        FROM building b CROSS JOIN bounds e
        WHERE b.geom && e.lookup)
    SELECT coalesce((SELECT ST_AsMVT(t.*, 'buildings', :extent, 'geom') FROM buildings t WHERE t.geom IS NOT NULL),
                    '')""")


def building_tile(conn: Connection, z: int, x: int, y: int, *, extent: int, buffer: int) -> bytes:
    """The tile ``z/x/y`` with the layer ``buildings`` (what the map's popup shows); empty bytes if none."""
    tile = conn.execute(_BUILDING_TILE, {"z": z, "x": x, "y": y, "margin": buffer / extent, "extent": extent,
                                         "buffer": buffer}).scalar_one()
    return bytes(tile)
