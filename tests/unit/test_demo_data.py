"""Invariants of the committed demo county (data/boundaries/demo) and of its generator.

All measurements are made in EPSG:4549 (CGCS2000 3-degree Gauss-Krüger, central meridian 120°E),
never in degrees.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "boundaries" / "demo"
GENERATOR = ROOT / "data" / "boundaries" / "generate.py"
METRIC = "EPSG:4549"
LAYERS = ("areas", "barriers", "buildings", "sites")
EXCLUSIVE = ("school", "hospital", "government", "industrial_park", "market", "park")

COLUMNS = {
    "areas": ["code", "name", "level", "parent_code", "kind"],
    "barriers": ["id", "kind", "class", "name"],
    "buildings": ["id", "community_code", "name", "road", "number", "storeys", "units", "households",
                  "population", "compound", "site"],
    "sites": ["id", "name", "kind", "community_code"],
}
ADDRESS_COLUMNS = ["id", "address", "city", "district", "road", "number", "building", "unit",
                   "building_id", "households", "lon", "lat"]
URBAN_ADDRESS = re.compile(r"^.+(路|街|道|巷)\d+号(\d+(幢|栋)(\d+单元)?)?$")
VILLAGE_ADDRESS = re.compile(r"^.+村.+(路|街|道|巷)\d+号$")


def _load_generator():
    spec = importlib.util.spec_from_file_location("demo_generate", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules["demo_generate"] = module
    spec.loader.exec_module(module)
    return module


def _read(directory: Path) -> dict:
    gpkg = directory / "demo_county.gpkg"
    layers = {name: gpd.read_file(gpkg, layer=name, engine="pyogrio") for name in LAYERS}
    layers["addresses"] = pd.read_csv(directory / "addresses.csv", dtype={"building": str, "unit": str},
                                      keep_default_na=False, na_values=[])
    return layers


@pytest.fixture(scope="module")
def demo() -> dict:
    return _read(DEMO)


@pytest.fixture(scope="module")
def metric(demo) -> dict:
    return {name: demo[name].to_crs(METRIC) for name in LAYERS}


@pytest.fixture(scope="module")
def communities(metric) -> gpd.GeoDataFrame:
    areas = metric["areas"]
    return areas[areas["level"] == "community"].reset_index(drop=True)


# -- files and schema ---------------------------------------------------------------------------------

def test_files_layers_and_schema(demo):
    assert {name for name, _ in pyogrio.list_layers(DEMO / "demo_county.gpkg")} >= set(LAYERS)
    for name in LAYERS:
        frame = demo[name]
        assert frame.crs.to_epsg() == 4490, name
        assert list(frame.columns.drop("geometry")) == COLUMNS[name], name
        assert frame.geometry.notna().all() and frame.geometry.is_valid.all(), name
        assert not frame.geometry.is_empty.any(), name
    assert set(demo["areas"].geom_type) <= {"Polygon", "MultiPolygon"}
    assert set(demo["barriers"].geom_type) == {"LineString"}
    assert set(demo["buildings"].geom_type) == {"Polygon"}
    assert set(demo["sites"].geom_type) == {"Polygon"}
    assert list(demo["addresses"].columns) == ADDRESS_COLUMNS
    for name, column in (("buildings", "id"), ("sites", "id"), ("barriers", "id"), ("areas", "code")):
        assert demo[name][column].is_unique, name
    assert demo["addresses"]["id"].is_unique


def test_location_is_southern_jiangsu(demo):
    minx, miny, maxx, maxy = demo["areas"].total_bounds
    assert 119.85 <= minx and maxx <= 120.15 and 31.6 <= miny and maxy <= 31.8


# -- codes and hierarchy --------------------------------------------------------------------------------

def test_codes_follow_the_hierarchy(demo):
    areas = demo["areas"]
    assert areas["code"].str.fullmatch(r"\d{12}").all()
    county = areas[areas["level"] == "county"]
    assert list(county["code"]) == ["320499000000"] and list(county["name"]) == ["示范县"]
    assert county["parent_code"].isna().all() and county["kind"].isna().all()
    townships = areas[areas["level"] == "township"]
    assert len(townships) >= 2
    assert (townships["parent_code"] == "320499000000").all()
    assert townships["code"].str.startswith("320499").all() and townships["code"].str.endswith("000").all()
    seq = townships["code"].str[6:9].astype(int)
    street = townships["kind"] == "street"
    assert set(townships["kind"]) == {"street", "town"}
    assert seq[street].between(1, 99).all() and seq[~street].between(100, 199).all()
    comms = areas[areas["level"] == "community"]
    assert len(comms) >= 8
    by_code = townships.set_index("code")
    for _, c in comms.iterrows():
        assert c["parent_code"] in by_code.index
        assert c["code"][:9] == c["parent_code"][:9]
        n = int(c["code"][9:])
        if c["kind"] == "urban":
            assert 1 <= n <= 199, c["code"]
        else:
            assert c["kind"] == "rural" and n >= 200, c["code"]
    assert set(comms["kind"]) == {"urban", "rural"}


def test_communities_tile_townships_and_townships_tile_county(metric):
    areas = metric["areas"]
    county = areas[areas["level"] == "county"].geometry.iloc[0]
    townships = areas[areas["level"] == "township"]
    comms = areas[areas["level"] == "community"]
    for _, t in townships.iterrows():
        parts = comms[comms["parent_code"] == t["code"]].geometry
        union = shapely.union_all(parts.values)
        assert union.symmetric_difference(t.geometry).area < 1.0, t["code"]
        assert parts.area.sum() - union.area < 1.0, f"communities overlap in {t['code']}"
    union = shapely.union_all(townships.geometry.values)
    assert union.symmetric_difference(county).area < 1.0
    assert townships.area.sum() - union.area < 1.0


# -- buildings --------------------------------------------------------------------------------------------

def test_every_building_inside_exactly_one_community(metric, communities):
    buildings = metric["buildings"]
    pairs = gpd.sjoin(buildings[["id", "community_code", "geometry"]], communities[["code", "geometry"]],
                      predicate="intersects")
    counts = pairs.groupby("id").size()
    assert len(counts) == len(buildings) and (counts == 1).all()
    inside = gpd.sjoin(buildings[["id", "community_code", "geometry"]], communities[["code", "geometry"]],
                       predicate="within")
    assert len(inside) == len(buildings)
    assert (inside["code"] == inside["community_code"]).all()


def test_buildings_do_not_overlap(metric):
    geoms = metric["buildings"].geometry.values
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    assert (left == right).all(), f"{int((left != right).sum()) // 2} overlapping pairs"


def test_buildings_cross_no_barrier_and_keep_off_roads(metric):
    buildings = metric["buildings"].geometry.values
    barriers = metric["barriers"]
    lines = barriers.geometry.values
    hits = shapely.STRtree(lines).query(buildings, predicate="intersects")
    assert hits.size == 0, f"{hits.shape[1]} building/barrier crossings"
    centre_lines = barriers[barriers["kind"].isin(["road", "river", "rail"])].geometry.values
    near = shapely.STRtree(centre_lines).query(buildings, predicate="dwithin", distance=4.99)
    assert near.size == 0, "a building closer than 5 m to a road, river or rail centre line"


def test_building_attributes(demo):
    b = demo["buildings"]
    assert b["id"].str.fullmatch(r"B\d{6}").all()
    assert (b["units"] >= 1).all() and (b["storeys"] >= 1).all() and (b["households"] >= 0).all()
    assert b["road"].notna().all() and (b["number"] > 0).all()
    residential = b["households"] > 0
    assert (b.loc[residential, "population"] >= b.loc[residential, "households"]).all()
    assert (b.loc[~residential, "population"] == 0).all()
    ratio = b["population"].sum() / b["households"].sum()
    assert 2.4 <= ratio <= 2.8
    named = b["name"].dropna()
    assert named.str.fullmatch(r"\d+幢").all()


def test_totals(demo, communities):
    b = demo["buildings"]
    total = int(b["households"].sum())
    assert 30_000 <= total <= 60_000
    per = b.groupby("community_code")["households"].sum()
    assert set(per.index) == set(communities["code"])
    assert (per > 0).all()
    villages = per[communities.set_index("code").loc[per.index, "kind"].eq("rural").values]
    assert villages.min() < 150, "no small village for the 'too small' case"
    assert villages.max() <= 900


def test_tall_towers(demo):
    b = demo["buildings"]
    big = b[b["households"] > 500]
    assert len(big) >= 2
    assert (big["storeys"] >= 18).all()
    assert b.loc[b["site"].isna() & (b["households"] > 0), "storeys"].max() <= 33


# -- sites ------------------------------------------------------------------------------------------------

def test_sites(metric, communities):
    sites = metric["sites"]
    buildings = metric["buildings"]
    assert sites["id"].str.fullmatch(r"S\d{4}").all()
    for kind in EXCLUSIVE:
        assert (sites["kind"] == kind).any(), kind
    assert (sites["kind"] == "residential_compound").sum() >= 20
    inside = gpd.sjoin(sites[["id", "community_code", "geometry"]], communities[["code", "geometry"]],
                       predicate="within")
    assert len(inside) == len(sites) and (inside["code"] == inside["community_code"]).all()
    left, right = shapely.STRtree(sites.geometry.values).query(sites.geometry.values, predicate="overlaps")
    assert left.size == 0
    by_id = sites.set_index("id")
    in_site = buildings[buildings["compound"].notna()]
    assert in_site["compound"].isin(by_id.index).all()
    owner = by_id.loc[in_site["compound"]]
    assert shapely.within(in_site.geometry.values, owner.geometry.values).all()
    expected_site = owner["kind"].where(owner["kind"] != "residential_compound", None).values
    assert (in_site["site"].fillna("-").values == pd.Series(expected_site).fillna("-").values).all()
    assert buildings.loc[buildings["compound"].isna(), "site"].isna().all()
    for kind in EXCLUSIVE:
        assert (buildings["site"] == kind).any(), f"no building in a {kind}"
    walls = metric["barriers"][metric["barriers"]["kind"] == "wall"]
    assert len(walls) >= (sites["kind"] == "residential_compound").sum()


# -- addresses ------------------------------------------------------------------------------------------

def test_address_text(demo):
    a = demo["addresses"]
    b = demo["buildings"].set_index("id")
    assert (a["city"] == "示范市").all() and (a["district"] == "示范县").all()
    ok = a["address"].str.match(URBAN_ADDRESS) | a["address"].str.match(VILLAGE_ADDRESS)
    assert ok.all(), a.loc[~ok, "address"].head().tolist()
    for _, row in a.sample(min(len(a), 400), random_state=0).iterrows():
        bld = b.loc[row["building_id"]]
        assert row["road"] == bld["road"] and row["number"] == bld["number"]
        assert f"{row['road']}{row['number']}号{row['building']}{row['unit']}" in row["address"]
    assert a["address"].is_unique


def test_address_households_match_buildings(demo):
    a = demo["addresses"]
    b = demo["buildings"].set_index("id")
    assert a["building_id"].isin(b.index).all()
    sums = a.groupby("building_id")["households"].sum().reindex(b.index)
    assert sums.notna().all(), "a building without address"
    assert (sums == b["households"]).all()
    counts = a.groupby("building_id").size().reindex(b.index)
    residential = (b["households"] > 0) & b["site"].isna()
    assert (counts[residential] == b.loc[residential, "units"]).all()
    assert (counts[~residential] == 1).all()


def test_address_points_inside_their_building(demo, metric):
    a = demo["addresses"]
    pts = gpd.GeoSeries(gpd.points_from_xy(a["lon"], a["lat"]), crs="EPSG:4490").to_crs(METRIC)
    footprints = metric["buildings"].set_index("id").geometry.loc[a["building_id"]]
    assert shapely.within(pts.values, footprints.values).all()


# -- roads ------------------------------------------------------------------------------------------------

def test_barrier_kinds_and_names(demo):
    bar = demo["barriers"]
    assert {"road", "river", "wall"} <= set(bar["kind"])
    roads = bar[bar["kind"] == "road"]
    assert set(roads["class"]) == {"arterial", "secondary", "local", "lane"}
    assert roads["name"].notna().all()
    assert bar.loc[bar["kind"] != "road", "class"].isna().all()
    named = set(roads["name"])
    assert {"人民路", "建设路", "青石路"} <= named


def test_road_network_is_connected(metric):
    bar = metric["barriers"]
    roads = bar[(bar["kind"] == "road") & (bar["class"] != "lane")]
    graph = nx.Graph()
    for geom in roads.geometry.values:
        coords = shapely.get_coordinates(geom)
        a = tuple(np.round(coords[0], 2))
        b = tuple(np.round(coords[-1], 2))
        graph.add_edge(a, b)
    assert nx.number_connected_components(graph) == 1
    assert graph.number_of_nodes() > 50


# -- determinism -------------------------------------------------------------------------------------------

def _assert_same(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame, name: str) -> None:
    assert len(a) == len(b), name
    pd.testing.assert_frame_equal(a.drop(columns="geometry").reset_index(drop=True),
                                  b.drop(columns="geometry").reset_index(drop=True), obj=name)
    same = shapely.equals_exact(a.geometry.values, b.geometry.values, tolerance=1e-9)
    assert same.all(), f"{name}: {int((~same).sum())} geometries differ"


def test_regenerating_with_the_seed_reproduces_the_committed_files(demo, tmp_path):
    gen = _load_generator()
    layers = gen.generate_county(seed=2026, scale=1.0)
    gen.write_county(layers, tmp_path)
    again = _read(tmp_path)
    for name in LAYERS:
        _assert_same(demo[name], again[name], name)
        # the in-memory frames match what was written, too
        _assert_same(layers[name].reset_index(drop=True), again[name], name + " (memory)")
    pd.testing.assert_frame_equal(demo["addresses"], again["addresses"])
