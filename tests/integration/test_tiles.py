"""Vector tiles at /tiles/grids/{z}/{x}/{y}.pbf, decoded with mapbox-vector-tile and checked against PostGIS."""

from __future__ import annotations

import math

import mapbox_vector_tile
import pytest
from sqlalchemy import text

pytestmark = pytest.mark.db

ZOOM = 14


@pytest.fixture(scope="session")
def draft_app(demo_db_url):
    """The demo has drafts only: this app publishes the latest draft where nothing is approved."""
    from server import create_app

    return create_app({"DATABASE_URL": demo_db_url, "TILES": "none", "TESTING": True, "PUBLIC_APPROVED_ONLY": False})


@pytest.fixture
def tiles(draft_app):
    return draft_app.test_client()


def tile_of(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    """The XYZ (web mercator) tile holding a point."""
    n = 2 ** zoom
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


@pytest.fixture(scope="session")
def busy_tile(demo_engine) -> tuple[int, int, int]:
    """The zoom-14 tile holding the point on surface of the demo's first grid."""
    with demo_engine.connect() as conn:
        lon, lat = conn.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM grid "
                                     "ORDER BY code LIMIT 1) s")).one()
    return (ZOOM, *tile_of(lon, lat, ZOOM))


def grid_codes(engine, tile: tuple[int, int, int], where: str) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(text(f"""
            WITH t AS (SELECT ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490) AS inner_box,
                              ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 64.0 / 4096), 4490) AS outer_box)
            SELECT g.code FROM grid g, t WHERE {where}"""), dict(zip("zxy", tile, strict=True))).scalars())


def test_tile_over_the_demo_holds_its_grids(tiles, demo_engine, busy_tile):
    z, x, y = busy_tile
    response = tiles.get(f"/tiles/grids/{z}/{x}/{y}.pbf")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.mapbox-vector-tile"
    assert "max-age" in response.headers["Cache-Control"]
    layers = mapbox_vector_tile.decode(response.data)
    assert set(layers) == {"grids", "communities"}
    codes = {f["properties"]["code"] for f in layers["grids"]["features"]}
    # Every grid with its point on surface in the tile is there; none from outside the buffered tile.
    assert grid_codes(demo_engine, busy_tile, "ST_Contains(t.inner_box, ST_PointOnSurface(g.geom))") <= codes
    assert codes <= grid_codes(demo_engine, busy_tile, "ST_Intersects(g.geom, t.outer_box)")
    feature = layers["grids"]["features"][0]
    assert {"code", "households", "type"} <= set(feature["properties"])
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert layers["grids"]["extent"] == 4096
    communities = {f["properties"]["code"] for f in layers["communities"]["features"]}
    assert communities and all(len(c) == 12 for c in communities)
    assert {c[:12] for c in codes} <= communities  # a grid code starts with its community's


def test_empty_tile_elsewhere(tiles):
    x, y = tile_of(0.5, 0.5, ZOOM)  # the Gulf of Guinea
    response = tiles.get(f"/tiles/grids/{ZOOM}/{x}/{y}.pbf")
    assert response.status_code == 204 and response.data == b""
    assert "max-age" in response.headers["Cache-Control"]


@pytest.mark.parametrize("path, parameter", [
    ("1/2/0", "x"), ("1/0/2", "y"), ("0/1/0", "x"), ("-1/0/0", "z"), ("a/0/0", "z"), ("23/0/0", "z"),
    ("3/1.5/0", "x"),
])
def test_invalid_tile_coordinates_are_400(tiles, path, parameter):
    response = tiles.get(f"/tiles/grids/{path}.pbf")
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "InvalidParameterValue" and f"'{parameter}'" in body["description"]


def test_tiles_publish_only_approved_grids_by_default(demo_db_url, busy_tile):
    # With the public default, and drafts only in the demo test database: no grids layer, outlines still.
    from server import create_app

    client = create_app({"DATABASE_URL": demo_db_url, "TILES": "none", "TESTING": True}).test_client()
    z, x, y = busy_tile
    layers = mapbox_vector_tile.decode(client.get(f"/tiles/grids/{z}/{x}/{y}.pbf").data)
    assert set(layers) == {"communities"}


def test_tilejson_describes_the_tiles(tiles):
    body = tiles.get("/tiles/grids.json").get_json()
    assert body["tilejson"] == "3.0.0"
    assert body["tiles"][0].endswith("/tiles/grids/{z}/{x}/{y}.pbf")
    assert {layer["id"] for layer in body["vector_layers"]} == {"grids", "communities"}
    west, south, east, north = body["bounds"]
    assert 119 < west < east < 121 and 31 < south < north < 33


# -- buildings ---------------------------------------------------------------------------------------

BUILDINGS_ZOOM = 16


@pytest.fixture(scope="session")
def building_tile(demo_engine) -> tuple[int, int, int]:
    """The zoom-16 tile holding the point on surface of the demo's first building."""
    with demo_engine.connect() as conn:
        lon, lat = conn.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p "
                                     "FROM building ORDER BY source_id LIMIT 1) s")).one()
    return (BUILDINGS_ZOOM, *tile_of(lon, lat, BUILDINGS_ZOOM))


def building_count(engine, tile: tuple[int, int, int], where: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text(f"""
            WITH t AS (SELECT ST_Transform(ST_TileEnvelope(:z, :x, :y), 4490) AS inner_box,
                              ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 64.0 / 4096), 4490) AS outer_box)
            SELECT count(*) FROM building b, t WHERE {where}"""), dict(zip("zxy", tile, strict=True))).scalar_one()


def test_building_tile_holds_the_buildings_of_its_area(tiles, demo_engine, building_tile):
    z, x, y = building_tile
    response = tiles.get(f"/tiles/buildings/{z}/{x}/{y}.pbf")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.mapbox-vector-tile"
    layers = mapbox_vector_tile.decode(response.data)
    assert set(layers) == {"buildings"} and layers["buildings"]["extent"] == 4096
    features = layers["buildings"]["features"]
    # Every building with its point on surface in the tile is there; none from outside the buffered tile.
    inside = building_count(demo_engine, building_tile, "ST_Contains(t.inner_box, ST_PointOnSurface(b.geom))")
    touching = building_count(demo_engine, building_tile, "ST_Intersects(b.geom, t.outer_box)")
    assert 1 <= inside <= len(features) <= touching
    # What the county map's popup shows comes with each footprint.
    assert all({"storeys", "households"} <= set(f["properties"]) for f in features)
    assert {f["geometry"]["type"] for f in features} <= {"Polygon", "MultiPolygon"}


def test_building_tiles_are_cached_with_an_etag(tiles, building_tile):
    z, x, y = building_tile
    first = tiles.get(f"/tiles/buildings/{z}/{x}/{y}.pbf")
    assert "public" in first.headers["Cache-Control"] and "max-age=300" in first.headers["Cache-Control"]
    etag = first.headers["ETag"]
    again = tiles.get(f"/tiles/buildings/{z}/{x}/{y}.pbf", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""


def test_building_tile_elsewhere_is_empty(tiles):
    x, y = tile_of(0.5, 0.5, BUILDINGS_ZOOM)  # the Gulf of Guinea
    response = tiles.get(f"/tiles/buildings/{BUILDINGS_ZOOM}/{x}/{y}.pbf")
    assert response.status_code == 204 and response.data == b""
    assert "max-age" in response.headers["Cache-Control"]


@pytest.mark.parametrize("path, parameter", [
    ("15/32768/0", "x"), ("15/0/32768", "y"), ("a/0/0", "z"), ("23/0/0", "z"), ("16/1.5/0", "x"), ("16/0/-1", "y"),
    # Below zoom 15 a tile would hold a whole town: refused, naming z.
    ("14/0/0", "z"), ("0/0/0", "z"),
])
def test_invalid_building_tiles_are_400(tiles, path, parameter):
    response = tiles.get(f"/tiles/buildings/{path}.pbf")
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "InvalidParameterValue" and f"'{parameter}'" in body["description"]
    assert "max-age" not in response.headers.get("Cache-Control", "")


@pytest.mark.parametrize("path", ["/tiles/buildings/16/0/0", "/tiles/buildings/16/0.pbf", "/tiles/houses/16/0/0.pbf"])
def test_building_tile_paths_that_name_no_tile_are_404(tiles, path):
    assert tiles.get(path).status_code == 404
