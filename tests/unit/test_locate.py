"""Batch point-in-grid (gis.locate): exact answers, the boundary rule, holes, NaN, agreement with covers."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiPolygon, Point, box

from gis.errors import InputError
from gis.locate import GridLocator, NearestGrid

CRS = "EPSG:4547"
DEMO = Path(__file__).resolve().parents[2] / "data" / "boundaries" / "demo"


def tiny_layer() -> gpd.GeoDataFrame:
    """A | B share the edge x=10; C has an empty hole; D is two parts; E fills nothing (far away)."""
    a = box(0, 0, 10, 10)
    b = box(10, 0, 20, 10)
    c = box(20, 0, 30, 10).difference(box(22, 2, 28, 8))
    d = MultiPolygon([box(40, 0, 45, 5), box(50, 0, 55, 5)])
    return gpd.GeoDataFrame({"code": ["A", "B", "C", "D"]}, geometry=[a, b, c, d], crs=CRS,
                            index=pd.Index(["ga", "gb", "gc", "gd"], name="grid"))


CASES = [
    ((5, 5), 0),        # inside A
    ((15, 5), 1),       # inside B
    ((10, 5), 0),       # on the shared edge: lowest position
    ((10, 10), 0),      # on a shared vertex
    ((10, 0), 0),       # shared vertex on the outer boundary
    ((0, 0), 0),        # outer corner
    ((20, 5), 1),       # edge shared by B and C
    ((25, 5), -1),      # inside C's hole
    ((22, 5), 2),       # on the rim of the hole
    ((21, 1), 2),       # inside C's ring around the hole
    ((42, 2), 3),       # first part of D
    ((55, 5), 3),       # corner of the second part of D
    ((47, 2), -1),      # between D's parts
    ((-1, 5), -1),      # left of everything
    ((1000, -1000), -1),  # far away
]


@pytest.mark.parametrize("bins_per_grid", [1, 7, 400])
def test_tiny_layer_exact(bins_per_grid: int) -> None:
    loc = GridLocator(tiny_layer(), bins_per_grid=bins_per_grid)
    xy = np.array([p for p, _ in CASES], dtype=float)
    expected = np.array([e for _, e in CASES])
    np.testing.assert_array_equal(loc.locate(xy[:, 0], xy[:, 1]), expected)
    # One at a time (scalars) gives the same.
    for (x, y), e in CASES:
        assert int(loc.locate(x, y)) == e


def test_shared_edge_goes_to_lowest_position_whatever_the_order() -> None:
    layer = tiny_layer().iloc[[1, 0, 2, 3]]  # B first
    loc = GridLocator(layer)
    assert loc.locate(np.array([10.0, 10.0, 5.0]), np.array([5.0, 10.0, 5.0])).tolist() == [0, 0, 1]
    assert loc.codes(loc.locate(10.0, 5.0)).tolist() == "gb"


def test_hole_filled_by_enclave_grid() -> None:
    layer = tiny_layer()
    enclave = gpd.GeoDataFrame({"code": ["E"]}, geometry=[box(22, 2, 28, 8)], crs=CRS, index=["ge"])
    loc = GridLocator(pd.concat([layer, enclave]))
    assert loc.locate(np.array([25.0, 22.0, 21.0]), np.array([5.0, 5.0, 1.0])).tolist() == [4, 2, 2]


def test_overlapping_grids_follow_the_lowest_position_rule() -> None:
    big = box(0, 0, 100, 100)
    small = box(40, 40, 60, 60)
    for geoms, inner in (([small, big], 0), ([big, small], 0)):
        loc = GridLocator(gpd.GeoDataFrame(geometry=geoms, crs=CRS), bins_per_grid=50)
        assert int(loc.locate(50.0, 50.0)) == inner
        assert int(loc.locate(10.0, 10.0)) == geoms.index(big)


def test_codes_from_index_or_column() -> None:
    loc = GridLocator(tiny_layer())
    pos = loc.locate(np.array([5.0, 25.0, 52.0]), np.array([5.0, 5.0, 2.0]))
    assert loc.codes(pos).tolist() == ["ga", None, "gd"]
    assert loc.codes(pos, column="code", missing="").tolist() == ["A", "", "D"]
    with pytest.raises(InputError) as err:
        loc.codes(pos, column="nope")
    assert err.value.field == "nope"


def test_empty_and_shaped_input() -> None:
    loc = GridLocator(tiny_layer())
    out = loc.locate(np.array([]), np.array([]))
    assert out.shape == (0,) and out.dtype == np.int64
    pos, dist = loc.nearest([], [])
    assert pos.shape == (0,) and dist.shape == (0,)
    grid = loc.locate(np.array([[5.0, 15.0], [25.0, 42.0]]), np.array([[5.0, 5.0], [5.0, 2.0]]))
    assert grid.tolist() == [[0, 1], [-1, 3]]


def test_nan_and_inf_are_located_nowhere() -> None:
    loc = GridLocator(tiny_layer())
    x = np.array([np.nan, 5.0, np.inf, 5.0, -np.inf])
    y = np.array([5.0, np.nan, 5.0, 5.0, 5.0])
    assert loc.locate(x, y).tolist() == [-1, -1, -1, 0, -1]
    pos, dist = loc.nearest(x, y)
    assert pos.tolist() == [-1, -1, -1, 0, -1]
    assert np.isnan(dist[[0, 1, 2, 4]]).all() and dist[3] == 0.0


def test_bad_coordinates_raise_input_error() -> None:
    loc = GridLocator(tiny_layer())
    with pytest.raises(InputError) as err:
        loc.locate(np.zeros(3), np.zeros(2))
    assert err.value.field == "y"
    with pytest.raises(InputError) as err:
        loc.locate(["a", "b"], [1.0, 2.0])
    assert err.value.field == "x"


def test_non_polygon_geometry_names_the_feature() -> None:
    layer = gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1), LineString([(0, 0), (1, 1)])], crs=CRS)
    with pytest.raises(InputError) as err:
        GridLocator(layer)
    assert err.value.row == 2 and err.value.field == "geometry"
    with pytest.raises(InputError):
        GridLocator(pd.DataFrame({"a": [1]}))  # type: ignore[arg-type]


def test_empty_and_missing_geometries_never_contain() -> None:
    layer = gpd.GeoDataFrame(geometry=[None, shapely.Polygon(), box(0, 0, 1, 1)], crs=CRS)
    loc = GridLocator(layer)
    assert loc.locate(np.array([0.5, 5.0]), np.array([0.5, 5.0])).tolist() == [2, -1]
    empty = GridLocator(gpd.GeoDataFrame(geometry=[None], crs=CRS))
    assert empty.locate(np.array([0.0]), np.array([0.0])).tolist() == [-1]
    assert empty.nearest(np.array([0.0]), np.array([0.0]))[0].tolist() == [-1]


def test_input_frame_is_not_mutated() -> None:
    layer = tiny_layer()
    before = layer.copy()
    loc = GridLocator(layer)
    loc.locate(np.array([5.0]), np.array([5.0]))
    loc.nearest(np.array([100.0]), np.array([5.0]))
    pd.testing.assert_frame_equal(layer, before)
    assert not shapely.is_prepared(np.asarray(layer.geometry.values)).any()


def test_nearest_outside_points() -> None:
    loc = GridLocator(tiny_layer())
    x = np.array([-3.0, 10.0, 25.0, 47.0, 5.0])
    y = np.array([5.0, 13.0, 5.0, 2.0, 5.0])
    pos, dist = loc.nearest(x, y)
    # (-3,5): A at 3; (10,13): A and B both at 3 -> lowest position; (25,5) in C's hole 22..28 x 2..8: rim
    # at 3; (47,2) between D's parts: D at 2; (5,5) inside A: distance 0.
    assert pos.tolist() == [0, 0, 2, 3, 0]
    np.testing.assert_allclose(dist, [3.0, 3.0, 3.0, 2.0, 0.0])
    pos, dist = loc.nearest(x, y, max_distance=2.5)
    assert pos.tolist() == [-1, -1, -1, 3, 0]
    assert np.isnan(dist[:3]).all()


def test_workers_give_identical_answers() -> None:
    layer = voronoi_layer(300, seed=3)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-100, 3100, 250_000), rng.uniform(-100, 3100, 250_000)
    one = GridLocator(layer).locate(x, y)
    two = GridLocator(layer, workers=2).locate(x, y)
    np.testing.assert_array_equal(one, two)


# -- agreement with shapely covers --------------------------------------------------------------------

def voronoi_layer(n: int, seed: int, side: float = 3000.0) -> gpd.GeoDataFrame:
    """Voronoi cells of random seeds clipped to a square, a few holed, in shuffled row order."""
    rng = np.random.default_rng(seed)
    square = box(0, 0, side, side)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(rng.uniform(0, side, (n, 2))),
                                                       extend_to=square))
    cells = list(shapely.intersection(cells, square)[rng.permutation(len(cells))])
    for i in range(0, len(cells), 7):
        c = cells[i].centroid
        hole = Point(c.x, c.y).buffer(0.1 * np.sqrt(cells[i].area), quad_segs=3)
        if cells[i].contains(hole):
            cells[i] = cells[i].difference(hole)
    return gpd.GeoDataFrame({"code": [f"G{i:04d}" for i in range(len(cells))]}, geometry=cells, crs=CRS)


def covers_reference(layer: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Lowest position among the polygons that ``covers`` each point, by brute force."""
    geoms = np.asarray(layer.geometry.values)
    pts = shapely.points(x, y)
    out = np.full(x.size, -1)
    for pos in range(len(geoms) - 1, -1, -1):
        out[shapely.covers(geoms[pos], pts)] = pos
    return out


def probe_points(layer: gpd.GeoDataFrame, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random points plus points exactly on vertices and on (axis-aligned) outer edges."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = layer.total_bounds
    x = rng.uniform(minx - 50, maxx + 50, n)
    y = rng.uniform(miny - 50, maxy + 50, n)
    verts = shapely.get_coordinates(layer.geometry.values)
    pick = verts[rng.integers(0, len(verts), n // 10)]
    edge = np.column_stack([rng.uniform(minx, maxx, 100), np.full(100, miny)])
    return np.concatenate([x, pick[:, 0], edge[:, 0]]), np.concatenate([y, pick[:, 1], edge[:, 1]])


def test_agrees_with_covers_on_random_voronoi_layer() -> None:
    layer = voronoi_layer(150, seed=11)
    x, y = probe_points(layer, 10_000, seed=5)
    expected = covers_reference(layer, x, y)
    for bins_per_grid in (3, 400):
        np.testing.assert_array_equal(GridLocator(layer, bins_per_grid=bins_per_grid).locate(x, y), expected)
    assert (expected >= 0).mean() > 0.9


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(1, 40), bins=st.sampled_from([1, 5, 50, 400]))
def test_agrees_with_covers_property(seed: int, n: int, bins: int) -> None:
    layer = voronoi_layer(max(n, 2), seed=seed, side=100.0)
    x, y = probe_points(layer, 500, seed=seed)
    np.testing.assert_array_equal(GridLocator(layer, bins_per_grid=bins).locate(x, y),
                                  covers_reference(layer, x, y))


@pytest.mark.parametrize("bins_per_grid", [1, 4, 9, 400])
def test_lattice_of_boxes_with_points_on_every_edge_and_vertex(bins_per_grid: int) -> None:
    # 10 x 10 unit boxes in shuffled order; probes on the integer and half-integer lattice, so most lie
    # exactly on edges or vertices, many of them on bin edges too.
    rng = np.random.default_rng(2)
    boxes = [box(i, j, i + 1, j + 1) for i in range(10) for j in range(10)]
    layer = gpd.GeoDataFrame(geometry=[boxes[k] for k in rng.permutation(100)], crs=CRS)
    gx, gy = np.meshgrid(np.arange(-1, 11.5, 0.5), np.arange(-1, 11.5, 0.5))
    x, y = gx.ravel(), gy.ravel()
    np.testing.assert_array_equal(GridLocator(layer, bins_per_grid=bins_per_grid).locate(x, y),
                                  covers_reference(layer, x, y))


def test_geographic_crs_demo_areas() -> None:
    areas = gpd.read_file(f"{DEMO}/demo_county.gpkg", layer="areas")
    addresses = pd.read_csv(f"{DEMO}/addresses.csv")
    x = addresses["lon"].to_numpy()
    y = addresses["lat"].to_numpy()
    rng = np.random.default_rng(0)
    minx, miny, maxx, maxy = areas.total_bounds
    x = np.concatenate([x, rng.uniform(minx, maxx, 5000)])
    y = np.concatenate([y, rng.uniform(miny, maxy, 5000)])
    loc = GridLocator(areas)
    np.testing.assert_array_equal(loc.locate(x, y), covers_reference(areas, x, y))


def test_nearest_grid_in_metres() -> None:
    """NearestGrid measures in metres (a Gauss-Krüger zone), not degrees; inside a grid the distance is 0."""
    grids = gpd.GeoSeries([box(120.0, 31.0, 120.01, 31.01), box(120.02, 31.0, 120.03, 31.01)], crs=4490)
    nearest = NearestGrid(grids)
    # 0.01° of latitude north of the first box: about 1,109 m (one degree of latitude is ~110.9 km here).
    pos, metres = nearest.nearest(120.005, 31.02)
    assert pos == 0 and 1100 < metres < 1120
    # In the 0.01° gap between the boxes, a third of the way across: the first, ~320 m away.
    pos, metres = nearest.nearest(120.0133, 31.005)
    assert pos == 0 and 310 < metres < 325
    assert nearest.nearest(120.029, 31.005) == (1, 0.0)


def test_nearest_grid_needs_degrees() -> None:
    with pytest.raises(InputError):
        NearestGrid(gpd.GeoSeries([box(0, 0, 10, 10)], crs=4547))
