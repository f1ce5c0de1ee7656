"""Tests of gis.crs: metric zones, GCJ-02/BD-09 offsets pinned to published pairs, CRS parsing."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, box

from gis.crs import (
    BD09,
    GCJ02,
    STORAGE_CRS,
    CoordSystem,
    bd09_to_gcj02,
    bd09_to_wgs84,
    frame_to_storage,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    metric_crs_for,
    metric_crs_for_frame,
    out_of_china,
    parse_crs,
    points_to_storage,
    to_metric,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from gis.errors import InputError

GEOD = pyproj.Geod(ellps="WGS84")


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Geodesic distance in metres between two sets of lon/lat points."""
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


# --------------------------------------------------------------------------------------------------
# Published reference pairs
# --------------------------------------------------------------------------------------------------
# wandergis/coordtransform, test/app.js (input 116.404, 39.915 for every function).
COORDTRANSFORM = {
    "bd09_to_gcj02": (116.39762729119315, 39.90865673957631),
    "gcj02_to_bd09": (116.41036949371029, 39.92133699351021),
    "wgs84_to_gcj02": (116.41024449916938, 39.91640428150164),
}
# hujiulong/gcoord, test/unit/crs/*.spec.ts (input 123, 45); gcoord pins them to 5 decimals.
GCOORD = {
    "wgs84_to_gcj02": (123.00607541, 45.00197815),
    "wgs84_to_bd09": (123.0124491, 45.0083293),
    "gcj02_to_bd09": (123.00636499, 45.00636899),
    "bd09_to_gcj02": (122.99363304, 44.99365430),
    "gcj02_to_wgs84": (122.99395597, 44.99804071),
    "bd09_to_wgs84": (122.98762210, 44.99171540),
}
# googollee/eviltransform, python/test.py: (wgs lat, wgs lng, gcj lat, gcj lng).
EVILTRANSFORM = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]
FUNCTIONS = {f.__name__: f for f in (wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02,
                                      wgs84_to_bd09, bd09_to_wgs84)}


@pytest.mark.parametrize("name", sorted(COORDTRANSFORM))
def test_coordtransform_reference_pairs(name):
    lon, lat = FUNCTIONS[name](116.404, 39.915)
    assert lon == pytest.approx(COORDTRANSFORM[name][0], abs=1e-6)
    assert lat == pytest.approx(COORDTRANSFORM[name][1], abs=1e-6)


@pytest.mark.parametrize("name", sorted(GCOORD))
def test_gcoord_reference_pairs(name):
    lon, lat = FUNCTIONS[name](123, 45)
    assert lon == pytest.approx(GCOORD[name][0], abs=1e-6)
    assert lat == pytest.approx(GCOORD[name][1], abs=1e-6)


@pytest.mark.parametrize("wgs_lat, wgs_lon, gcj_lat, gcj_lon", EVILTRANSFORM)
def test_eviltransform_reference_pairs(wgs_lat, wgs_lon, gcj_lat, gcj_lon):
    lon, lat = wgs84_to_gcj02(wgs_lon, wgs_lat)
    assert (lon, lat) == pytest.approx((gcj_lon, gcj_lat), abs=1e-6)
    # The exact inverse gives the published WGS84 point back to < 1e-7 degrees (~1 cm).
    back_lon, back_lat = gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert (back_lon, back_lat) == pytest.approx((wgs_lon, wgs_lat), abs=1e-7)
    assert metres(back_lon, back_lat, wgs_lon, wgs_lat) < 0.05


def test_gcj02_inverse_is_exact_not_one_step():
    # coordtransform's one-step inverse gives (116.39775550083061, 39.91359571849836) for this
    # point: its forward image misses the input by ~6 cm (up to ~5 m elsewhere in China), while the
    # iterated inverse maps back onto the input.
    lon, lat = gcj02_to_wgs84(116.404, 39.915)
    assert wgs84_to_gcj02(lon, lat) == pytest.approx((116.404, 39.915), abs=1e-9)
    crude_image = wgs84_to_gcj02(116.39775550083061, 39.91359571849836)
    assert metres(116.404, 39.915, *crude_image) > 0.03


def test_offsets_are_hundreds_of_metres():
    lon, lat = wgs84_to_gcj02(116.39, 39.91)
    assert 100 < metres(116.39, 39.91, lon, lat) < 1000
    lon, lat = wgs84_to_bd09(116.39, 39.91)
    assert 500 < metres(116.39, 39.91, lon, lat) < 2000


@pytest.mark.parametrize("lon, lat", [(183.0, 45.0), (-0.1276, 51.5072), (151.2, -33.9), (100.0, 0.5)])
def test_gcj02_is_identity_outside_china(lon, lat):
    assert out_of_china(lon, lat)
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)


def test_offsets_are_vectorised_and_keep_shape():
    lons = np.array([[116.404, 121.5272106], [2.35, 113.912316]])
    lats = np.array([[39.915, 31.1774276], [48.85, 22.543847]])
    g_lon, g_lat = wgs84_to_gcj02(lons, lats)
    assert g_lon.shape == lons.shape and g_lat.shape == lats.shape
    for i in np.ndindex(lons.shape):
        assert (g_lon[i], g_lat[i]) == wgs84_to_gcj02(float(lons[i]), float(lats[i]))
    assert (g_lon[1, 0], g_lat[1, 0]) == (2.35, 48.85)  # Paris is outside China
    w_lon, w_lat = gcj02_to_wgs84(g_lon, g_lat)
    np.testing.assert_allclose(w_lon, lons, atol=1e-9)
    np.testing.assert_allclose(w_lat, lats, atol=1e-9)


def test_scalar_input_gives_floats():
    for function in FUNCTIONS.values():
        lon, lat = function(116.404, 39.915)
        assert type(lon) is float and type(lat) is float


def test_bd09_round_trips_within_one_metre():
    lon, lat = np.meshgrid(np.linspace(73.6, 135.0, 40), np.linspace(18.0, 53.5, 40))
    g_lon, g_lat = bd09_to_gcj02(*gcj02_to_bd09(lon, lat))
    assert metres(lon.ravel(), lat.ravel(), g_lon.ravel(), g_lat.ravel()).max() < 1.0
    w_lon, w_lat = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert metres(lon.ravel(), lat.ravel(), w_lon.ravel(), w_lat.ravel()).max() < 1.0


china_lon = st.floats(min_value=73.6, max_value=135.0, allow_nan=False)
china_lat = st.floats(min_value=3.9, max_value=53.5, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(china_lon, china_lat)
def test_gcj02_round_trip_within_one_metre(lon, lat):
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    w_lon, w_lat = gcj02_to_wgs84(g_lon, g_lat)
    assert metres(lon, lat, w_lon, w_lat) < 1.0
    # and the other way round: a GCJ-02 point read from Amap goes to WGS84 and back
    back = wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat))
    assert metres(lon, lat, *back) < 1.0


@settings(max_examples=200, deadline=None)
@given(china_lon, china_lat)
def test_bd09_wgs84_round_trip_within_one_metre(lon, lat):
    w_lon, w_lat = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert metres(lon, lat, w_lon, w_lat) < 1.0


# --------------------------------------------------------------------------------------------------
# Metric CRS
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lon, lat, epsg", [
    (116.40, 39.90, 4548),   # Beijing: zone 39, CM 117°E
    (73.5, 39.0, 4534),      # west edge: zone 25 (round half up, not to even), CM 75°E
    (75.0, 39.0, 4534),
    (87.6, 43.8, 4538),      # Urumqi: zone 29, CM 87°E
    (118.5, 32.0, 4549),     # on a zone boundary: rounds up to zone 40, CM 120°E
    (121.47, 31.23, 4549),   # Shanghai
    (135.1, 48.0, 4554),     # east edge: zone 45, CM 135°E
    (2.35, 48.85, 32631),    # Paris: UTM 31N
    (-70.66, -33.45, 32719),  # Santiago: UTM 19S
    (136.0, 40.0, 32653),    # just east of China's span: UTM
    (100.0, 2.0, 32647),     # south of China's span: UTM
])
def test_metric_crs_for(lon, lat, epsg):
    crs = metric_crs_for(lon, lat)
    assert crs.to_epsg() == epsg
    assert crs.is_projected
    assert crs.axis_info[0].unit_name == "metre"


def test_gauss_kruger_zone_has_the_right_central_meridian():
    crs = metric_crs_for(116.4, 39.9)
    assert "117E" in crs.name
    x, _ = pyproj.Transformer.from_crs(STORAGE_CRS, crs, always_xy=True).transform(117.0, 39.9)
    assert x == pytest.approx(500000.0, abs=1e-3)  # CM zones use a 500 km false easting


@pytest.mark.parametrize("lon, lat", [(float("nan"), 30.0), (200.0, 30.0), (100.0, 95.0)])
def test_metric_crs_for_rejects_non_coordinates(lon, lat):
    with pytest.raises(InputError):
        metric_crs_for(lon, lat)


def test_metric_crs_for_frame_converts_bounds_to_4490_first():
    frame = gpd.GeoDataFrame(geometry=[box(116.3, 39.8, 116.5, 40.0)], crs=STORAGE_CRS)
    assert metric_crs_for_frame(frame).to_epsg() == 4548
    assert metric_crs_for_frame(frame.to_crs(3857)).to_epsg() == 4548


def test_metric_crs_for_frame_needs_a_crs_and_geometry():
    with pytest.raises(InputError) as caught:
        metric_crs_for_frame(gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)]))
    assert caught.value.field == "crs"
    with pytest.raises(InputError):
        metric_crs_for_frame(gpd.GeoDataFrame(geometry=[], crs=STORAGE_CRS))


def test_to_metric_returns_a_projected_copy():
    # 0.01° × 0.01° at 40°N is about 1113 m × 853 m.
    frame = gpd.GeoDataFrame({"households": [300]}, geometry=[box(116.40, 40.00, 116.41, 40.01)],
                             crs=STORAGE_CRS)
    before = frame.copy()
    metric = to_metric(frame)
    assert metric.crs.to_epsg() == 4548
    assert metric.geometry.area.iloc[0] == pytest.approx(1113.2 * 852.9, rel=0.01)
    assert metric.loc[0, "households"] == 300
    assert frame.crs.to_epsg() == 4490 and frame.geom_equals(before).all()


def test_to_metric_needs_a_crs():
    with pytest.raises(InputError):
        to_metric(gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)]))


# --------------------------------------------------------------------------------------------------
# parse_crs
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, name", [
    ("EPSG:4326", "EPSG:4326"), ("epsg:4326", "EPSG:4326"), ("4326", "EPSG:4326"), (4326, "EPSG:4326"),
    ("wgs84", "EPSG:4326"), ("WGS-84", "EPSG:4326"), (" WGS84 ", "EPSG:4326"),
    ("cgcs2000", "EPSG:4490"), ("CGCS2000", "EPSG:4490"), ("EPSG:4490", "EPSG:4490"),
    ("EPSG:4547", "EPSG:4547"),
    ("+proj=longlat +datum=WGS84 +no_defs", "EPSG:4326"),
])
def test_parse_crs_epsg(text, name):
    system = parse_crs(text)
    assert system.name == name
    assert system.offset is None
    assert system.crs.equals(pyproj.CRS(name), ignore_axis_order=True)


@pytest.mark.parametrize("text, expected", [
    ("gcj02", GCJ02), ("GCJ02", GCJ02), ("GCJ-02", GCJ02), ("gcj_02", GCJ02),
    ("bd09", BD09), ("BD-09", BD09), ("BD09", BD09), ("bd09ll", BD09),
])
def test_parse_crs_offsets(text, expected):
    system = parse_crs(text)
    assert system == expected
    assert system.crs is None and system.offset in ("gcj02", "bd09")


def test_parse_crs_passes_systems_and_pyproj_through():
    assert parse_crs(GCJ02) is GCJ02
    assert parse_crs(pyproj.CRS(4490)).name == "EPSG:4490"


@pytest.mark.parametrize("value", ["mars", "EPSG:999999", 999999, "", "EPSG:5773", None, 4.5])
def test_parse_crs_rejects_unknown_values(value):
    with pytest.raises(InputError) as caught:
        parse_crs(value)
    assert caught.value.field == "crs"
    if value not in (None, ""):
        assert str(value) in str(caught.value)


def test_coord_system_is_frozen_and_one_of_crs_or_offset():
    with pytest.raises(ValueError):
        CoordSystem("nothing")
    with pytest.raises(AttributeError):
        GCJ02.name = "x"  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------
# points_to_storage, frame_to_storage
# --------------------------------------------------------------------------------------------------

def test_points_to_storage_from_wgs84_is_identity():
    # pyproj only knows a null ("ballpark") transformation between WGS84 and CGCS2000.
    lon, lat = points_to_storage(np.array([116.404, 121.5]), np.array([39.915, 31.2]), "wgs84")
    np.testing.assert_allclose(lon, [116.404, 121.5], atol=1e-12)
    np.testing.assert_allclose(lat, [39.915, 31.2], atol=1e-12)


def test_points_to_storage_from_projected_crs():
    x, y = pyproj.Transformer.from_crs(4490, 4548, always_xy=True).transform(116.404, 39.915)
    lon, lat = points_to_storage(x, y, "EPSG:4548")
    assert type(lon) is float
    assert (lon, lat) == pytest.approx((116.404, 39.915), abs=1e-9)


@pytest.mark.parametrize("wgs_lat, wgs_lon, gcj_lat, gcj_lon", EVILTRANSFORM)
def test_points_to_storage_from_gcj02_and_bd09(wgs_lat, wgs_lon, gcj_lat, gcj_lon):
    lon, lat = points_to_storage(gcj_lon, gcj_lat, "gcj02")
    assert metres(lon, lat, wgs_lon, wgs_lat) < 1.0
    bd_lon, bd_lat = gcj02_to_bd09(gcj_lon, gcj_lat)
    lon, lat = points_to_storage(bd_lon, bd_lat, BD09)
    assert metres(lon, lat, wgs_lon, wgs_lat) < 1.0


def test_frame_to_storage_offsets_every_coordinate_of_every_geometry_type():
    geoms = [
        Point(116.404, 39.915),
        LineString([(116.40, 39.90), (116.41, 39.91), (116.42, 39.90)]),
        Polygon(box(116.40, 39.90, 116.41, 39.91).exterior, [box(116.403, 39.903, 116.405, 39.905)
                                                              .exterior.coords]),
        MultiPolygon([box(121.4, 31.2, 121.41, 31.21), box(121.42, 31.2, 121.43, 31.21)]),
        shapely.GeometryCollection([Point(113.9, 22.5), LineString([(113.9, 22.5), (113.91, 22.51)])]),
        None,
    ]
    frame = gpd.GeoDataFrame({"n": range(len(geoms))}, geometry=geoms, crs=4326)
    before = frame.copy()
    out = frame_to_storage(frame, "gcj02")
    assert out.crs.to_epsg() == 4490
    assert frame.crs.to_epsg() == 4326  # not mutated
    assert frame.geometry.iloc[:-1].geom_equals(before.geometry.iloc[:-1]).all()
    assert out.geometry.iloc[-1] is None
    for original, converted in zip(geoms[:-1], out.geometry.iloc[:-1], strict=True):
        assert converted.geom_type == original.geom_type
        source = shapely.get_coordinates(original)
        expected = np.column_stack(gcj02_to_wgs84(source[:, 0], source[:, 1]))
        np.testing.assert_allclose(shapely.get_coordinates(converted), expected, atol=1e-12)
    assert list(out["n"]) == list(range(len(geoms)))


def test_frame_to_storage_keeps_z():
    frame = gpd.GeoDataFrame(geometry=[Point(116.404, 39.915, 42.0)], crs=4326)
    out = frame_to_storage(frame, BD09)
    point = out.geometry.iloc[0]
    assert point.has_z and point.z == 42.0
    assert (point.x, point.y) == pytest.approx(bd09_to_wgs84(116.404, 39.915), abs=1e-12)


def test_frame_to_storage_uses_frame_crs_or_override():
    x, y = pyproj.Transformer.from_crs(4490, 4548, always_xy=True).transform(116.404, 39.915)
    frame = gpd.GeoDataFrame(geometry=[Point(x, y)], crs=4548)
    out = frame_to_storage(frame)
    assert out.crs.to_epsg() == 4490
    assert (out.geometry.x.iloc[0], out.geometry.y.iloc[0]) == pytest.approx((116.404, 39.915), abs=1e-9)
    # an override wins over what the frame declares
    undeclared = gpd.GeoDataFrame(geometry=[Point(x, y)])
    out = frame_to_storage(undeclared, "EPSG:4548")
    assert out.geometry.x.iloc[0] == pytest.approx(116.404, abs=1e-9)
    assert undeclared.crs is None


def test_frame_to_storage_without_any_crs_is_an_error():
    with pytest.raises(InputError) as caught:
        frame_to_storage(gpd.GeoDataFrame(geometry=[Point(1, 2)]), None)
    assert caught.value.field == "crs"
    assert "no CRS" in str(caught.value)
