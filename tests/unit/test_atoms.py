"""Atoms: exact coverage, unsplit buildings, compounds and sites, adjacency, input checks.

Tiny hand-built boxes with exact expected results, a real data set (momepy's Bubeneč, Prague), a
2,000-building timing run and hypothesis property tests over random boxes, roads, sites and
compounds. ``check_layer`` verifies every guarantee of an AtomLayer independently with shapely.
"""

from __future__ import annotations

import os
import time

import geopandas as gpd
import momepy
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely import LineString, Point, box

from gis.atoms import AtomLayer, build_atoms, street_blocks
from gis.errors import InputError

#: Hypothesis examples per property test. By default the examples are derandomised so CI is
#: reproducible; set ATOMS_EXAMPLES (e.g. 6000) to hunt for edge cases with fresh random ones.
EXAMPLES = int(os.environ.get("ATOMS_EXAMPLES", "50"))
HUNT = "ATOMS_EXAMPLES" in os.environ
CRS = "EPSG:4547"  # CGCS2000 3-degree Gauss-Krüger CM 114E (metres)
BOX = box(0, 0, 300, 200)


# --------------------------------------------------------------------------- helpers


def roads(*lines: list[tuple[float, float]], crs: str = CRS) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[LineString(line) for line in lines], crs=crs)


def houses(rows: list[tuple], crs: str = CRS, **columns) -> gpd.GeoDataFrame:
    """Buildings from (geometry, households) rows; other columns as keyword lists."""
    return gpd.GeoDataFrame({"households": [r[1] for r in rows], **columns},
                            geometry=[r[0] for r in rows], crs=crs)


def no_barriers(crs: str = CRS) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=crs), crs=crs)


def geometric_edges(frame: gpd.GeoDataFrame) -> dict[tuple[int, int], float]:
    """Shared boundary length of every pair, measured independently with shapely."""
    geoms = frame.geometry.values
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = i < j
    i, j = i[keep], j[keep]
    length = shapely.length(shapely.intersection(shapely.boundary(geoms[i]), shapely.boundary(geoms[j])))
    return {(int(a), int(b)): float(x) for a, b, x in zip(i, j, length, strict=True) if x > 0.01}


def check_coverage(frame: gpd.GeoDataFrame, boundary, edges: pd.DataFrame, min_area: float,
                   id_column: str) -> None:
    """The exact-coverage guarantees, checked one by one."""
    geoms = frame.geometry.values
    assert list(frame.index) == list(range(len(frame)))
    assert (frame[id_column].to_numpy() == np.arange(len(frame))).all()
    assert (shapely.get_type_id(geoms) == 3).all(), frame.geom_type.value_counts()
    assert shapely.is_valid(geoms).all()
    # union == boundary
    union = shapely.coverage_union_all(geoms)
    assert union.symmetric_difference(boundary).area < 1e-6 * boundary.area
    # zero-area overlaps
    i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = i < j
    overlap = shapely.area(shapely.intersection(geoms[i[keep]], geoms[j[keep]]))
    assert (overlap < 1e-6).all(), overlap.max()
    # shared edges vertex for vertex
    assert shapely.coverage_is_valid(geoms)
    # no slivers, except a piece holding a (tiny) building
    small = (shapely.area(geoms) < min_area) & (frame["n_buildings"].to_numpy() == 0)
    assert not small.any()
    # edges: exactly the pairs sharing > 1 cm, with the right lengths
    expected = geometric_edges(frame)
    got = {(int(a), int(b)): float(x) for a, b, x in edges[["a", "b", "length"]].itertuples(index=False)}
    assert set(got) == set(expected)
    for pair, length in expected.items():
        assert got[pair] == pytest.approx(length, abs=1e-6)
    assert (edges["a"] < edges["b"]).all()
    assert not edges.duplicated(["a", "b"]).any()
    assert (edges["barrier_length"] >= 0).all()
    assert (edges["barrier_length"] <= edges["length"] + 1e-9).all()


def check_layer(layer: AtomLayer, boundary, buildings: gpd.GeoDataFrame, *, min_area: float = 1.0
                ) -> None:
    """Every guarantee of an AtomLayer."""
    atoms, parcels = layer.atoms, layer.parcels
    check_coverage(atoms, boundary, layer.edges, min_area, "atom_id")
    check_coverage(parcels, boundary, layer.parcel_edges, min_area, "parcel_id")
    assert atoms.crs == buildings.crs and parcels.crs == buildings.crs
    assert set(atoms["kind"]) <= {"block", "compound", "site", "parcel"}
    # totals preserved, every building assigned exactly once
    assert atoms["households"].sum() == buildings["households"].sum()
    assert parcels["households"].sum() == buildings["households"].sum()
    if "population" in buildings:
        assert atoms["population"].sum() == buildings["population"].sum()
    assert atoms["n_buildings"].sum() == len(buildings)
    assert layer.building_atom.index.equals(buildings.index)
    assert layer.building_parcel.index.equals(buildings.index)
    by_atom = buildings["households"].groupby(layer.building_atom.to_numpy()).sum()
    assert (atoms.loc[by_atom.index, "households"].to_numpy() == by_atom.to_numpy()).all()
    by_parcel = buildings["households"].groupby(layer.building_parcel.to_numpy()).sum()
    assert (parcels.loc[by_parcel.index, "households"].to_numpy() == by_parcel.to_numpy()).all()
    # a building's parcel lies in the building's atom
    assert (parcels.loc[layer.building_parcel.to_numpy(), "atom_id"].to_numpy()
            == layer.building_atom.to_numpy()).all()
    # parcels nest in atoms and tile them exactly
    for atom_id, group in parcels.groupby("atom_id"):
        atom = atoms.geometry.iloc[atom_id]
        assert shapely.coverage_union_all(group.geometry.values).symmetric_difference(atom).area < 1e-6
    assert (parcels.groupby("atom_id")["households"].sum().to_numpy() == atoms["households"].to_numpy()).all()
    # no building split: its atom holds at least as much of it as any other atom. Checked for
    # buildings overlapping no other: where two footprints overlap, the shared area can only go
    # to one of them and "most of its area" is no longer well defined.
    fp = buildings.geometry.values
    i, j = shapely.STRtree(fp).query(fp, predicate="intersects")
    pair = i != j
    overlapping = np.zeros(len(fp), dtype=bool)
    overlapping[i[pair][shapely.area(shapely.intersection(fp[i[pair]], fp[j[pair]])) > 0]] = True
    bi, ai = shapely.STRtree(atoms.geometry.values).query(fp, predicate="intersects")
    keep = ~overlapping[bi]
    bi, ai = bi[keep], ai[keep]
    share = pd.DataFrame({"b": bi, "a": ai,
                          "area": shapely.area(shapely.intersection(fp[bi], atoms.geometry.values[ai]))})
    best = share.groupby("b")["area"].max()
    mine = share[share["a"].to_numpy() == layer.building_atom.to_numpy()[share["b"].to_numpy()]]
    mine = mine.groupby("b")["area"].sum().reindex(best.index, fill_value=0)
    assert (mine >= best - 1e-6).all()
    # outer length: the atoms' share of the community boundary adds up to its perimeter (measured
    # on the union: a zero-width spike of the input outline has no area and no atom edge)
    assert layer.outer_length.index.equals(atoms.index)
    perimeter = shapely.coverage_union_all(atoms.geometry.values).length
    assert layer.outer_length.sum() == pytest.approx(perimeter, rel=1e-6)
    assert perimeter <= boundary.length * (1 + 1e-6)


def edge_lookup(edges: pd.DataFrame) -> dict[tuple[int, int], tuple[float, float]]:
    return {(int(r.a), int(r.b)): (r.length, r.barrier_length) for r in edges.itertuples(index=False)}


# --------------------------------------------------------------------------- blocks


def test_one_road_two_blocks_exact_households():
    bld = houses([(box(20, 20, 40, 40), 10), (box(60, 120, 80, 150), 20), (box(100, 60, 120, 80), 30),
                  (box(200, 20, 230, 40), 5), (box(240, 150, 260, 170), 7)])
    layer = build_atoms(BOX, roads([(150, -10), (150, 210)]), bld)
    check_layer(layer, BOX, bld)
    atoms = layer.atoms
    assert len(atoms) == 2
    assert list(atoms["kind"]) == ["block", "block"]
    assert list(atoms["block"]) == [0, 1]  # west block first (same latitude)
    assert list(atoms["households"]) == [60, 12]
    assert list(atoms["n_buildings"]) == [3, 2]
    assert atoms.geometry.iloc[0].symmetric_difference(box(0, 0, 150, 200)).area < 1e-9
    assert list(layer.building_atom) == [0, 0, 0, 1, 1]
    assert edge_lookup(layer.edges) == {(0, 1): (pytest.approx(200), pytest.approx(200))}
    assert list(layer.outer_length) == [pytest.approx(500), pytest.approx(500)]
    # below the household maximum each block is one atom, but each building still has a parcel
    assert len(layer.parcels) == 5
    assert layer.parcels.groupby("atom_id").size().to_dict() == {0: 3, 1: 2}


def test_cross_of_roads_four_blocks_no_point_contact():
    bld = houses([(box(10, 110, 20, 120), 1), (box(200, 150, 210, 160), 2), (box(10, 10, 20, 20), 3),
                  (box(200, 10, 210, 20), 4)])
    layer = build_atoms(BOX, roads([(150, -5), (150, 205)], [(-5, 100), (305, 100)]), bld)
    check_layer(layer, BOX, bld)
    assert len(layer.atoms) == 4
    assert list(layer.atoms["households"]) == [1, 2, 3, 4]  # NW, NE, SW, SE
    assert list(layer.atoms["block"]) == [0, 1, 2, 3]
    edges = edge_lookup(layer.edges)
    # the diagonal pairs touch at the crossing only: not neighbours
    assert set(edges) == {(0, 1), (0, 2), (1, 3), (2, 3)}
    assert edges[(0, 1)] == (pytest.approx(100), pytest.approx(100))
    assert edges[(0, 2)] == (pytest.approx(150), pytest.approx(150))


def test_dangling_road_stopping_short_still_splits():
    bld = houses([(box(20, 20, 40, 40), 1), (box(200, 20, 220, 40), 2)])
    # 0.3 m short of the boundary at both ends (snap_tolerance 0.5 extends lines by 1 m)
    layer = build_atoms(BOX, roads([(150, 0.3), (150, 199.7)]), bld)
    check_layer(layer, BOX, bld)
    assert list(layer.atoms["households"]) == [1, 2]
    assert layer.atoms.geometry.iloc[0].symmetric_difference(box(0, 0, 150, 200)).area < 1e-6


def test_road_stopping_short_of_another_road_closes_its_block():
    bld = houses([(box(20, 20, 40, 40), 1), (box(20, 150, 40, 170), 2), (box(200, 20, 220, 40), 4)])
    layer = build_atoms(BOX, roads([(150, -5), (150, 205)], [(-3, 100), (149.7, 100)]), bld)
    check_layer(layer, BOX, bld)
    assert len(layer.atoms) == 3
    assert sorted(layer.atoms["households"]) == [1, 2, 4]


def test_dead_end_road_does_not_split():
    bld = houses([(box(20, 20, 40, 40), 1), (box(200, 20, 220, 40), 2)])
    # stops 30 m short: a cul-de-sac, not a block edge; a road entirely outside is ignored
    layer = build_atoms(BOX, roads([(150, -5), (150, 170)], [(400, -5), (400, 205)]), bld)
    check_layer(layer, BOX, bld)
    assert len(layer.atoms) == 1
    assert layer.atoms["households"].iloc[0] == 3
    assert layer.edges.empty


def test_overshooting_road_adds_nothing_outside():
    bld = houses([(box(20, 20, 40, 40), 1), (box(200, 20, 220, 40), 2)])
    layer = build_atoms(BOX, roads([(150, -80), (150, 290)], [(-50, 250), (350, 250)]), bld)
    check_layer(layer, BOX, bld)
    assert len(layer.atoms) == 2


def test_road_along_the_boundary_leaves_no_sliver():
    bld = houses([(box(20, 20, 40, 40), 1)])
    # 0.2 m inside the southern edge: a 60 m² strip, thinner than the tolerance
    blocks = street_blocks(BOX, np.array([LineString([(-5, 0.2), (305, 0.2)])]))
    assert len(blocks) == 1
    layer = build_atoms(BOX, roads([(-5, 0.2), (305, 0.2)]), bld)
    check_layer(layer, BOX, bld)
    assert len(layer.atoms) == 1


def test_road_digitised_twice_makes_no_sliver_block():
    bld = houses([(box(20, 20, 40, 40), 1), (box(200, 20, 220, 40), 2)])
    # two copies of one road 0.3 m apart: the strip between them is a sliver, not a block
    layer = build_atoms(BOX, roads([(150, -5), (150, 205)], [(150.3, -5), (150.3, 205)]), bld)
    check_layer(layer, BOX, bld)
    assert len(layer.atoms) == 2
    assert list(layer.atoms["block"]) == [0, 1]
    assert layer.edges["barrier_length"].iloc[0] == pytest.approx(200)


def test_polygon_barrier_uses_its_outline():
    river = gpd.GeoDataFrame(geometry=[box(140, -10, 160, 210)], crs=CRS)
    bld = houses([(box(20, 20, 40, 40), 1), (box(200, 20, 220, 40), 2)])
    layer = build_atoms(BOX, river, bld)
    check_layer(layer, BOX, bld)
    assert len(layer.atoms) == 3  # west bank, the river itself, east bank
    assert sorted(layer.atoms["households"]) == [0, 1, 2]


def test_multipart_community_and_no_buildings():
    community = shapely.MultiPolygon([box(0, 0, 100, 100), box(200, 0, 300, 100)])
    bld = houses([(box(10, 10, 20, 20), 3), (box(210, 10, 220, 20), 4)])
    layer = build_atoms(community, no_barriers(), bld)
    check_layer(layer, community, bld)
    assert list(layer.atoms["households"]) == [3, 4]
    assert layer.edges.empty
    empty = gpd.GeoDataFrame({"households": []}, geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)
    layer = build_atoms(BOX, roads([(150, -5), (150, 205)]), empty)
    check_layer(layer, BOX, empty)
    assert list(layer.atoms["households"]) == [0, 0]
    assert len(layer.parcels) == 2 and layer.building_atom.empty


def test_building_straddling_a_road_goes_to_its_larger_side():
    bld = houses([(box(140, 50, 170, 70), 9),  # 10 m west, 20 m east of the road
                  (box(130, 120, 160, 140), 4),  # 20 m west, 10 m east
                  (box(20, 20, 40, 40), 1)])
    layer = build_atoms(BOX, roads([(150, -5), (150, 205)]), bld)
    check_layer(layer, BOX, bld)
    assert list(layer.atoms["households"]) == [5, 9]
    assert list(layer.building_atom) == [1, 0, 0]


# --------------------------------------------------------------------------- parcels


def test_block_over_maximum_gives_one_parcel_atom_per_building():
    rows = [(box(x, y, x + 20, y + 15), 100) for x in (20, 120, 220) for y in (30, 130)]
    bld = houses(rows)
    layer = build_atoms(BOX, no_barriers(), bld, max_atom_households=500)
    check_layer(layer, BOX, bld)
    assert len(layer.atoms) == len(bld) == len(layer.parcels)
    assert set(layer.atoms["kind"]) == {"parcel"}
    assert (layer.atoms["n_buildings"] == 1).all()
    assert (layer.atoms["households"] == 100).all()
    assert layer.atoms["compound"].isna().all()
    # every building lies wholly in its own parcel
    fp = bld.geometry.values
    own = layer.parcels.geometry.values[layer.building_parcel.to_numpy()]
    assert shapely.covers(own, fp).all()


def test_empty_land_joins_a_neighbouring_parcel():
    bld = houses([(box(10, 10, 20, 20), 300), (box(280, 180, 290, 190), 300)])
    layer = build_atoms(BOX, no_barriers(), bld)
    check_layer(layer, BOX, bld)
    assert len(layer.parcels) == 2
    assert layer.parcels.area.sum() == pytest.approx(BOX.area)


def test_one_building_in_an_enclosure_gets_exactly_one_cell():
    concave = shapely.Polygon([(20, 20), (120, 20), (120, 40), (40, 40), (40, 120), (20, 120)])
    bld = houses([(concave, 600), (box(200, 50, 210, 60), 1)])
    layer = build_atoms(BOX, roads([(150, -5), (150, 205)]), bld, max_atom_households=500)
    check_layer(layer, BOX, bld)
    west = layer.atoms[layer.atoms["households"] == 600]
    assert len(west) == 1
    assert west.geometry.iloc[0].symmetric_difference(box(0, 0, 150, 200)).area < 1e-6
    assert (layer.parcels["atom_id"] == west.index[0]).sum() == 1


def test_touching_buildings_each_get_their_own_cell():
    row = [(box(50 + 10 * i, 80, 60 + 10 * i, 100), 200) for i in range(5)]  # shared walls
    bld = houses(row)
    layer = build_atoms(BOX, no_barriers(), bld)
    check_layer(layer, BOX, bld)
    assert len(layer.parcels) == 5
    own = layer.parcels.geometry.values[layer.building_parcel.to_numpy()]
    share = shapely.area(shapely.intersection(own, bld.geometry.values)) / bld.area.to_numpy()
    assert (share > 0.9).all()


def test_duplicate_buildings_are_both_counted():
    bld = houses([(box(20, 20, 40, 40), 300), (box(20, 20, 40, 40), 300), (box(200, 50, 220, 70), 1)])
    layer = build_atoms(BOX, no_barriers(), bld)
    check_layer(layer, BOX, bld)
    assert layer.building_parcel.iloc[0] == layer.building_parcel.iloc[1]


def test_point_buildings_are_accepted():
    bld = houses([(Point(30, 30), 300), (Point(250, 150), 300)])
    layer = build_atoms(BOX, no_barriers(), bld)
    check_layer(layer, BOX, bld)
    assert len(layer.atoms) == 2


# --------------------------------------------------------------------------- compounds and sites


def test_compound_attribute_under_maximum_is_one_atom():
    rows = [(box(10, 10, 30, 30), 40), (box(40, 10, 60, 30), 40), (box(10, 40, 30, 60), 20),
            (box(200, 100, 220, 120), 300), (box(250, 150, 270, 170), 300)]
    bld = houses(rows, compound=["A", "A", "A", None, None])
    layer = build_atoms(BOX, no_barriers(), bld, max_atom_households=500)
    check_layer(layer, BOX, bld)
    compound = layer.atoms[layer.atoms["kind"] == "compound"]
    assert len(compound) == 1
    assert compound["compound"].iloc[0] == "A"
    assert compound["households"].iloc[0] == 100
    assert compound["n_buildings"].iloc[0] == 3
    # the other two buildings exceed 500 together: one parcel atom each
    assert sorted(layer.atoms.loc[layer.atoms["kind"] == "parcel", "households"]) == [300, 300]


def test_compound_attribute_across_an_internal_road_stays_one_atom():
    # a compound's own lane is drawn as a road: its buildings on both sides form one atom
    rows = [(box(130, 60, 145, 80), 50), (box(155, 60, 170, 80), 50), (box(20, 20, 40, 40), 7)]
    bld = houses(rows, compound=["Q", "Q", None])
    layer = build_atoms(BOX, roads([(150, -5), (150, 205)]), bld)
    check_layer(layer, BOX, bld)
    q = layer.atoms[layer.atoms["compound"] == "Q"]
    assert len(q) == 1 and q["kind"].iloc[0] == "compound" and q["households"].iloc[0] == 100
    assert layer.building_atom.iloc[0] == layer.building_atom.iloc[1]


def test_compound_site_under_maximum_is_one_atom_with_its_outline():
    outline = box(20, 20, 120, 120)
    sites = gpd.GeoDataFrame({"kind": ["residential_compound"], "id": ["C1"]}, geometry=[outline], crs=CRS)
    rows = [(box(30 + 30 * i, 30 + 25 * j, 45 + 30 * i, 40 + 25 * j), 30) for i in range(3) for j in range(3)]
    rows.append((box(200, 150, 220, 170), 5))
    bld = houses(rows)
    layer = build_atoms(BOX, no_barriers(), bld, sites)
    check_layer(layer, BOX, bld)
    atoms = layer.atoms.set_index("kind", drop=False)
    compound = atoms.loc[["compound"]]
    assert len(compound) == 1
    assert compound["compound"].iloc[0] == "C1"
    assert compound["households"].iloc[0] == 270
    assert compound.geometry.iloc[0].symmetric_difference(outline).area < 1e-6
    block = atoms.loc[["block"]]
    assert block["households"].iloc[0] == 5
    assert len(block.geometry.iloc[0].interiors) == 1  # the compound is a hole in its block


def test_compound_over_maximum_splits_into_parcels_keeping_its_id():
    outline = box(20, 20, 120, 120)
    sites = gpd.GeoDataFrame({"kind": ["residential_compound"], "id": ["C1"]}, geometry=[outline], crs=CRS)
    rows = [(box(30 + 30 * i, 30 + 25 * j, 45 + 30 * i, 40 + 25 * j), 100) for i in range(3) for j in range(3)]
    bld = houses(rows)
    layer = build_atoms(BOX, no_barriers(), bld, sites, max_atom_households=500)
    check_layer(layer, BOX, bld)
    split = layer.atoms[layer.atoms["compound"] == "C1"]
    assert len(split) == 9
    assert set(split["kind"]) == {"parcel"}
    assert shapely.coverage_union_all(split.geometry.values).symmetric_difference(outline).area < 1e-6
    assert (layer.parcels.loc[layer.building_parcel.to_numpy(), "compound"] == "C1").all()


def test_school_site_is_a_site_atom_even_across_a_road():
    outline = box(100, 20, 200, 120)  # crosses the road at x = 150
    sites = gpd.GeoDataFrame({"kind": ["school"], "id": ["S1"]}, geometry=[outline], crs=CRS)
    bld = houses([(box(110, 30, 130, 50), 0), (box(160, 60, 190, 90), 2), (box(20, 150, 40, 170), 50),
                  (box(250, 150, 270, 170), 60)], population=[0, 3, 130, 150])
    layer = build_atoms(BOX, roads([(150, -5), (150, 205)]), bld, sites)
    check_layer(layer, BOX, bld)
    site = layer.atoms[layer.atoms["kind"] == "site"]
    assert len(site) == 1
    assert site["site"].iloc[0] == "school"
    assert site["site_id"].iloc[0] == "S1"
    assert site["n_buildings"].iloc[0] == 2
    assert site["population"].iloc[0] == 3
    assert site.geometry.iloc[0].symmetric_difference(outline).area < 1e-6
    assert layer.atoms["population"].sum() == 283
    assert sorted(layer.atoms.loc[layer.atoms["kind"] == "block", "households"]) == [50, 60]


def test_site_partly_outside_is_clipped_and_overlaps_resolved():
    sites = gpd.GeoDataFrame({"kind": ["hospital", "enterprise"], "id": ["H", "E"]},
                             geometry=[box(250, 150, 350, 250), box(200, 100, 300, 200)], crs=CRS)
    bld = houses([(box(270, 170, 290, 190), 0), (box(210, 110, 230, 130), 0), (box(20, 20, 40, 40), 3)])
    layer = build_atoms(BOX, no_barriers(), bld, sites)
    check_layer(layer, BOX, bld)
    sites_out = layer.atoms[layer.atoms["kind"] == "site"].set_index("site_id")
    # the smaller clipped hospital is carved first; the enterprise keeps the rest
    assert sites_out.loc["H"].geometry.symmetric_difference(box(250, 150, 300, 200)).area < 1e-6
    assert sites_out.loc["E"].geometry.area == pytest.approx(100 * 100 - 50 * 50)


def test_building_site_attribute_makes_a_site_atom():
    bld = houses([(box(20, 20, 40, 40), 0), (box(200, 100, 220, 120), 10)], site=["market", None])
    layer = build_atoms(BOX, no_barriers(), bld)
    check_layer(layer, BOX, bld)
    site = layer.atoms[layer.atoms["kind"] == "site"]
    assert list(site["site"]) == ["market"]
    assert site["n_buildings"].iloc[0] == 1


# --------------------------------------------------------------------------- adjacency, holes, determinism


def test_edges_barrier_length_between_parcels_and_across_roads():
    rows = [(box(20, 20, 40, 40), 300), (box(100, 20, 120, 40), 300), (box(200, 20, 220, 40), 1)]
    bld = houses(rows)
    layer = build_atoms(BOX, roads([(150, -5), (150, 205)]), bld, max_atom_households=500)
    check_layer(layer, BOX, bld)
    edges = layer.edges
    west = set(layer.building_atom.iloc[:2])
    east = layer.building_atom.iloc[2]
    for r in edges.itertuples(index=False):
        if {r.a, r.b} == west:  # two parcels of one block: a Voronoi edge, off the road
            assert r.barrier_length <= 2 * 0.5 + 1e-6
        else:  # across the road
            assert east in (r.a, r.b)
            assert r.barrier_length == pytest.approx(r.length)
    assert edges["length"][edges["a"].isin(west) & (edges["b"] == east)].sum() == pytest.approx(200)


def test_community_with_a_hole():
    community = shapely.Polygon(BOX.exterior.coords, [box(100, 50, 200, 150).exterior.coords])
    bld = houses([(box(20, 20, 40, 40), 3), (box(250, 150, 270, 170), 4)])
    layer = build_atoms(community, roads([(150, -5), (150, 205)]), bld)
    check_layer(layer, community, bld)
    assert len(layer.atoms) == 2
    assert layer.outer_length.sum() == pytest.approx(1000 + 400)


def test_same_input_same_output_and_inputs_untouched():
    rng = np.random.default_rng(7)
    rows = [(box(x, y, x + 12, y + 9), int(rng.integers(0, 80))) for x in range(5, 290, 25)
            for y in range(5, 190, 22)]
    bld = houses(rows, compound=["K" if i % 7 == 0 else None for i in range(len(rows))])
    bar = roads([(90, -5), (110, 205)], [(-5, 120), (305, 90)])
    before_b, before_r = bld.copy(), bar.copy()
    first = build_atoms(BOX, bar, bld, max_atom_households=200)
    second = build_atoms(BOX, bar, bld, max_atom_households=200)
    assert_geodataframe_equal(first.atoms, second.atoms)
    assert_geodataframe_equal(first.parcels, second.parcels)
    pd.testing.assert_frame_equal(first.edges, second.edges)
    pd.testing.assert_series_equal(first.building_atom, second.building_atom)
    assert shapely.equals_exact(first.atoms.geometry.values, second.atoms.geometry.values, 0).all()
    assert_geodataframe_equal(bld, before_b)
    assert_geodataframe_equal(bar, before_r)
    check_layer(first, BOX, bld)


def test_buildings_index_is_kept():
    bld = houses([(box(20, 20, 40, 40), 3), (box(200, 20, 220, 40), 4)])
    bld.index = pd.Index(["b-17", "b-3"])
    layer = build_atoms(BOX, roads([(150, -5), (150, 205)]), bld)
    assert list(layer.building_atom.index) == ["b-17", "b-3"]
    assert list(layer.building_atom) == [0, 1]


# --------------------------------------------------------------------------- input errors


def test_geographic_crs_is_refused():
    bld = houses([(box(114.0, 30.0, 114.001, 30.001), 3)], crs="EPSG:4490")
    with pytest.raises(InputError, match="EPSG:4490"):
        build_atoms(box(113.9, 29.9, 114.1, 30.1), no_barriers("EPSG:4490"), bld)


def test_mismatched_crs_is_refused():
    bld = houses([(box(20, 20, 40, 40), 3)])
    with pytest.raises(InputError, match="EPSG:4549") as err:
        build_atoms(BOX, no_barriers("EPSG:4549"), bld)
    assert err.value.source == "barriers"


def test_non_metric_crs_is_refused():
    bld = houses([(box(20, 20, 40, 40), 3)], crs="EPSG:2263")  # US survey feet
    with pytest.raises(InputError, match="metre"):
        build_atoms(BOX, no_barriers("EPSG:2263"), bld)


@pytest.mark.parametrize(("households", "row"), [([3, -1], 2), ([3, 2.5], 2), ([None, 1], 1)])
def test_bad_households_name_the_row(households, row):
    bld = gpd.GeoDataFrame({"households": households}, geometry=[box(20, 20, 40, 40), box(50, 50, 60, 60)],
                           crs=CRS)
    with pytest.raises(InputError) as err:
        build_atoms(BOX, no_barriers(), bld)
    assert (err.value.row, err.value.field) == (row, "households")


def test_missing_households_column():
    bld = gpd.GeoDataFrame(geometry=[box(20, 20, 40, 40)], crs=CRS)
    with pytest.raises(InputError, match="households"):
        build_atoms(BOX, no_barriers(), bld)


def test_building_outside_the_community_is_refused():
    bld = houses([(box(20, 20, 40, 40), 3), (box(500, 20, 520, 40), 1)])
    with pytest.raises(InputError, match="outside") as err:
        build_atoms(BOX, no_barriers(), bld)
    assert err.value.row == 2


def test_unknown_site_kind_is_refused():
    sites = gpd.GeoDataFrame({"kind": ["casino"], "id": ["X"]}, geometry=[box(0, 0, 10, 10)], crs=CRS)
    with pytest.raises(InputError, match="casino") as err:
        build_atoms(BOX, no_barriers(), houses([(box(20, 20, 40, 40), 3)]), sites)
    assert (err.value.source, err.value.row, err.value.field) == ("sites", 1, "kind")


def test_point_barrier_is_refused():
    bar = gpd.GeoDataFrame(geometry=[Point(5, 5)], crs=CRS)
    with pytest.raises(InputError, match="Point"):
        build_atoms(BOX, bar, houses([(box(20, 20, 40, 40), 3)]))


def test_boundary_must_be_polygonal():
    with pytest.raises(InputError, match="boundary"):
        build_atoms(LineString([(0, 0), (1, 1)]), no_barriers(), houses([(box(20, 20, 40, 40), 3)]))


# --------------------------------------------------------------------------- real data


def bubenec() -> tuple[shapely.Polygon, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """momepy's Bubeneč (Prague) sample, EPSG:3857 (the file's CRS; metres, Mercator-scaled).

    Households are estimated as max(1, round(footprint m² × 4 storeys / 90 m² per household)),
    a stand-in for the address counts a real community would supply.
    """
    path = momepy.datasets.get_path("bubenec")
    buildings = gpd.read_file(path, layer="buildings")
    streets = gpd.read_file(path, layer="streets")
    buildings["households"] = np.maximum(1, np.round(buildings.area * 4 / 90)).astype(int)
    boundary = streets.union_all().convex_hull
    return boundary, streets, buildings


@pytest.mark.parametrize("max_households", [500, 100])
def test_bubenec_real_streets_and_buildings(max_households):
    boundary, streets, buildings = bubenec()
    start = time.perf_counter()
    layer = build_atoms(boundary, streets, buildings, max_atom_households=max_households)
    elapsed = time.perf_counter() - start
    print(f"\nbubenec: {len(buildings)} buildings, {len(layer.atoms)} atoms, {len(layer.parcels)} parcels "
          f"in {elapsed:.2f} s (max {max_households} households)")
    check_layer(layer, boundary, buildings)
    assert len(layer.parcels) >= len(buildings)
    assert (layer.parcels["n_buildings"] <= 1).all()  # one cell per building
    over = layer.atoms[layer.atoms["kind"] == "block"]
    assert (over["households"] <= max_households).all()
    graph = nx.Graph(list(zip(layer.edges["a"], layer.edges["b"], strict=True)))
    graph.add_nodes_from(layer.atoms.index)
    assert nx.is_connected(graph)


def test_bubenec_with_sites_and_compounds():
    boundary, streets, buildings = bubenec()
    plots = gpd.read_file(momepy.datasets.get_path("bubenec"), layer="plots")
    chosen = plots.iloc[[3, 40, 80, 120, 160, 200, 240, 280]]
    sites = gpd.GeoDataFrame({"kind": ["school", "residential_compound", "hospital", "park",
                                       "residential_compound", "market", "government", "enterprise"],
                              "id": [f"s{i}" for i in range(len(chosen))]},
                             geometry=chosen.buffer(5).to_numpy(), crs=buildings.crs)
    buildings = buildings.assign(compound=[f"k{i % 4}" if i % 5 == 0 else None for i in range(len(buildings))],
                                 population=buildings["households"] * 3)
    layer = build_atoms(boundary, streets, buildings, sites, max_atom_households=300)
    check_layer(layer, boundary, buildings)
    assert {"site", "compound", "parcel", "block"} <= set(layer.atoms["kind"])
    atoms = layer.atoms
    for site in sites.itertuples():
        # no site or compound outline is cut (these do not overlap and are under 300 households)
        mine = atoms[(atoms["site_id"] == site.id) | (atoms["compound"] == site.id)]
        assert len(mine) == 1
        assert mine.geometry.iloc[0].symmetric_difference(site.geometry.intersection(boundary)).area < 1.0


def test_two_thousand_buildings_timing():
    rng = np.random.default_rng(1)
    width, height = 1500, 1200
    community = box(0, 0, width, height)
    lines = ([[(x, -5), (x + rng.uniform(-30, 30), height + 5)] for x in range(100, width, 150)]
             + [[(-5, y), (width + 5, y + rng.uniform(-30, 30))] for y in range(100, height, 150)])
    bar = roads(*lines)
    clear = bar.buffer(6).union_all()
    rows = []
    for x in np.arange(5, width - 20, 26):
        for y in np.arange(5, height - 20, 24):
            g = shapely.affinity.rotate(box(x, y, x + rng.uniform(8, 16), y + rng.uniform(8, 14)),
                                        rng.uniform(-20, 20))
            if not g.intersects(clear):
                rows.append((g, int(rng.integers(0, 40))))
    bld = houses(rows[:2000])
    start = time.perf_counter()
    layer = build_atoms(community, bar, bld)
    elapsed = time.perf_counter() - start
    print(f"\nsynthetic: {len(bld)} buildings, {len(layer.atoms)} atoms in {elapsed:.2f} s")
    check_layer(layer, community, bld)
    assert elapsed < 30  # generous: catches an accidental O(n²), not a slow machine


# --------------------------------------------------------------------------- property test


@st.composite
def communities(draw):
    width = draw(st.floats(80, 400))
    height = draw(st.floats(80, 300))
    x0 = draw(st.floats(4e5, 6e5))
    y0 = draw(st.floats(3e6, 4e6))
    n_roads = draw(st.integers(0, 4))
    lines = []
    for _ in range(n_roads):
        # from a point on one side to a point on another, overshooting a little
        a = draw(st.tuples(st.floats(-0.05, 1.05), st.sampled_from([-0.02, 1.02])))
        b = draw(st.tuples(st.floats(-0.05, 1.05), st.sampled_from([-0.02, 1.02])))
        if draw(st.booleans()):
            a, b = a[::-1], b[::-1]
        lines.append([(x0 + a[0] * width, y0 + a[1] * height), (x0 + b[0] * width, y0 + b[1] * height)])
    n_bld = draw(st.integers(1, 25))
    rows = []
    for _ in range(n_bld):
        bx = draw(st.floats(0, 0.95)) * width
        by = draw(st.floats(0, 0.95)) * height
        w = draw(st.floats(0.5, 25))
        h = draw(st.floats(0.5, 25))
        rows.append((box(x0 + bx, y0 + by, x0 + min(bx + w, width), y0 + min(by + h, height)),
                     draw(st.integers(0, 200))))
    max_hh = draw(st.integers(1, 600))
    return box(x0, y0, x0 + width, y0 + height), lines, rows, max_hh


@settings(max_examples=EXAMPLES, deadline=None, derandomize=not HUNT,
          suppress_health_check=[HealthCheck.too_slow])
@given(communities())
def test_property_random_boxes_and_roads(case):
    boundary, lines, rows, max_hh = case
    bar = roads(*lines) if lines else no_barriers()
    bld = houses(rows)
    layer = build_atoms(boundary, bar, bld, max_atom_households=max_hh)
    check_layer(layer, boundary, bld)
    graph = nx.Graph(list(zip(layer.edges["a"], layer.edges["b"], strict=True)))
    graph.add_nodes_from(layer.atoms.index)
    assert nx.is_connected(graph)
    pgraph = nx.Graph(list(zip(layer.parcel_edges["a"], layer.parcel_edges["b"], strict=True)))
    pgraph.add_nodes_from(layer.parcels.index)
    assert nx.is_connected(pgraph)


@st.composite
def messy_communities(draw):
    """Rotated buildings, dangling and near-parallel roads, overlapping sites, compounds."""
    x0, y0 = draw(st.floats(3.8e7, 3.9e7)), draw(st.floats(2e6, 5e6))  # zone-prefixed GK eastings
    size = draw(st.floats(150, 400))
    n_sides = draw(st.integers(5, 9))
    angles = np.sort(np.array(draw(st.lists(st.floats(0, 2 * np.pi), min_size=n_sides, max_size=n_sides,
                                            unique=True))))
    radii = np.array(draw(st.lists(st.floats(0.6, 1.0), min_size=n_sides, max_size=n_sides))) * size / 2
    boundary = shapely.Polygon(np.column_stack([x0 + radii * np.cos(angles), y0 + radii * np.sin(angles)]))
    boundary = shapely.make_valid(boundary)
    # A neck or spike narrower than the 1 cm adjacency threshold (from near-equal angles) really
    # detaches part of the community, and "the atom graph is connected" would not hold: avoid them.
    opened = boundary.buffer(-0.01, join_style="mitre").buffer(0.01, join_style="mitre")
    if boundary.geom_type != "Polygon" or boundary.area < 2000 or opened.geom_type != "Polygon" \
            or abs(opened.length - boundary.length) > 0.1:
        boundary = shapely.Point(x0, y0).buffer(size / 2, quad_segs=4)
    minx, miny, maxx, maxy = boundary.bounds
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        cx, cy = draw(st.floats(minx, maxx)), draw(st.floats(miny, maxy))
        angle = draw(st.floats(0, np.pi))
        half = draw(st.sampled_from([size, size, draw(st.floats(5, size / 2))]))  # some dangle
        dx, dy = np.cos(angle) * half, np.sin(angle) * half
        lines.append([(cx - dx, cy - dy), (cx + dx, cy + dy)])
        if draw(st.booleans()):  # a second digitisation of the same road, slightly off
            off = draw(st.floats(0.01, 3))
            lines.append([(cx - dx - dy / half * off, cy - dy + dx / half * off),
                          (cx + dx - dy / half * off, cy + dy + dx / half * off)])
    rows, compounds = [], []
    for _ in range(draw(st.integers(1, 30))):
        px, py = draw(st.floats(minx, maxx)), draw(st.floats(miny, maxy))
        w, h = draw(st.floats(1, 30)), draw(st.floats(1, 20))
        g = shapely.affinity.rotate(box(px, py, px + w, py + h), draw(st.floats(0, 90)))
        if g.intersection(boundary).area <= 0:
            continue
        rows.append((g, draw(st.integers(0, 150))))
        compounds.append(draw(st.sampled_from([None, None, "A", "B"])))
    if not rows:
        rows, compounds = [(boundary.representative_point().buffer(3, quad_segs=1), 10)], [None]
    site_rows = []
    for i in range(draw(st.integers(0, 3))):
        px, py = draw(st.floats(minx, maxx)), draw(st.floats(miny, maxy))
        w, h = draw(st.floats(10, 120)), draw(st.floats(10, 120))
        kind = draw(st.sampled_from(["school", "residential_compound", "market"]))
        site_rows.append((box(px, py, px + w, py + h), kind, f"s{i}"))
    return boundary, lines, rows, compounds, site_rows, draw(st.integers(1, 600))


@settings(max_examples=EXAMPLES // 2, deadline=None, derandomize=not HUNT,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(messy_communities())
def test_property_messy_communities(case):
    boundary, lines, rows, compounds, site_rows, max_hh = case
    bar = roads(*lines) if lines else no_barriers()
    bld = houses(rows, compound=compounds)
    sites = (gpd.GeoDataFrame({"kind": [s[1] for s in site_rows], "id": [s[2] for s in site_rows]},
                              geometry=[s[0] for s in site_rows], crs=CRS) if site_rows else None)
    layer = build_atoms(boundary, bar, bld, sites, max_atom_households=max_hh)
    check_layer(layer, boundary, bld)
    graph = nx.Graph(list(zip(layer.edges["a"], layer.edges["b"], strict=True)))
    graph.add_nodes_from(layer.atoms.index)
    assert nx.is_connected(graph)


def test_voronoi_ridges_lie_midway_between_points_of_different_labels() -> None:
    # Every ridge point is as far from the nearest generator of one label as from the nearest of
    # another, and nearer than any third point: it is on the boundary between the labels' cells.
    from gis.tessellation import voronoi_ridges

    rng = np.random.default_rng(3)
    points = rng.random((300, 2)) * 100 + [3.9e7, 3.5e6]
    labels = (points[:, 0] - 3.9e7 > 50).astype(int) + 2 * (points[:, 1] - 3.5e6 > 40).astype(int)
    ridges = voronoi_ridges(points, labels, (3.9e7, 3.5e6, 3.9e7 + 100, 3.5e6 + 100))
    segs = shapely.get_parts(ridges)
    assert len(segs) > 10
    mid = shapely.get_coordinates(shapely.line_interpolate_point(segs, 0.5, normalized=True))
    dist = np.hypot(*(mid[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
    two = np.argsort(dist, axis=1)[:, :2]
    d_two = np.take_along_axis(dist, two, axis=1)
    assert np.allclose(d_two[:, 0], d_two[:, 1], atol=1e-6)
    assert (labels[two[:, 0]] != labels[two[:, 1]]).all()
    # And complete: wherever the nearest generator's label changes, a ridge passes close by.
    xs, ys = np.meshgrid(np.arange(10, 90, 0.5) + 3.9e7, np.arange(10, 90, 0.5) + 3.5e6)
    grid = np.column_stack([xs.ravel(), ys.ravel()])
    nearest = labels[np.argmin(np.hypot(*(grid[:, None, :] - points[None, :, :]).transpose(2, 0, 1)), axis=1)]
    change = np.flatnonzero((nearest[:-1] != nearest[1:]) & (np.diff(grid[:, 1]) == 0))
    crossings = shapely.points((grid[change] + grid[change + 1]) / 2)
    assert len(change) > 20
    assert (shapely.distance(crossings, ridges) <= 0.25 + 1e-9).all()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.lists(st.tuples(st.integers(0, 39), st.integers(0, 39)), max_size=60))
def test_connected_labels_match_scipy(n: int, pairs: list[tuple[int, int]]) -> None:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from gis.tessellation import connected_labels

    a = np.array([p for p, q in pairs if p < n and q < n], dtype=np.int64)
    b = np.array([q for p, q in pairs if p < n and q < n], dtype=np.int64)
    expected = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n)), directed=False)[1]
    assert connected_labels(n, a, b).tolist() == expected.tolist()


def test_divide_path_modules_do_not_import_scipy() -> None:
    # scipy's import costs a quarter of a second of every `wangge divide-file`; atoms need none of it.
    import subprocess
    import sys

    code = "import sys, gis.atoms, gis.tessellation; print(any(m.startswith('scipy') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_on_line_lengths_measure_what_an_overlay_measures() -> None:
    # Random segments against a few barrier lines: the length within the tolerance equals that of
    # the segment's intersection with the union of the barriers' buffered pieces.
    from gis.tessellation import on_line_lengths

    rng = np.random.default_rng(7)
    start = rng.random((400, 2)) * 100 + [4.0e7, 3.0e6]
    segs = np.hstack([start, start + rng.normal(0, 8, (400, 2))])
    lines = np.array([LineString([(4.0e7, 3.0e6 + 50), (4.0e7 + 60, 3.0e6 + 52), (4.0e7 + 100, 3.0e6 + 20)]),
                      LineString([(4.0e7 + 30, 3.0e6), (4.0e7 + 31, 3.0e6 + 100)])], dtype=object)
    got = on_line_lengths(segs, lines, 2.0)
    coords = [np.array(g.coords) for g in lines]
    pieces = [LineString(c[i:i + 2]) for c in coords for i in range(len(c) - 1)]
    zone = shapely.union_all(shapely.buffer(np.array(pieces, dtype=object), 2.0, quad_segs=4))
    expected = shapely.length(shapely.intersection(shapely.linestrings(segs.reshape(-1, 2, 2)), zone))
    assert (got > 0).sum() > 20
    assert np.allclose(got, expected, atol=1e-6)


def test_capsule_corners_are_the_corners_geos_buffers() -> None:
    # The barrier capsules are computed, not buffered: they must be GEOS's polygons corner for corner,
    # short pieces and every heading included, or barrier lengths would drift from the overlay's.
    from gis.tessellation import _capsule_corners

    rng = np.random.default_rng(3)
    p0 = rng.random((300, 2)) * 1000 + [4.0e7, 3.0e6]
    p1 = p0 + rng.normal(0, 20, (300, 2))
    p1[:20] = p0[:20] + rng.normal(0, 1e-3, (20, 2))
    corners = _capsule_corners(p0, p1, 0.5)
    buffered = shapely.buffer(shapely.linestrings(np.stack([p0, p1], axis=1)), 0.5, quad_segs=4)
    for mine, theirs in zip(corners, buffered, strict=True):
        ring = shapely.get_coordinates(theirs)[:-1]
        assert len(ring) == len(mine) == 18
        assert {tuple(c) for c in ring} == {tuple(c) for c in mine}


def test_sites_snap_as_to_all_block_edges() -> None:
    # Each site is snapped only to the block-edge vertices near it: the outline must come out as
    # snapping to every block edge gives it, vertex for vertex (tolerances from small to large).
    from gis.atoms import _snap_to_edges

    rng = np.random.default_rng(11)
    blocks = street_blocks(BOX, np.array([LineString([(0, 100.2), (300, 99.7)]), LineString([(150.3, 0), (149.6, 200)]),
                                          LineString([(60, 0), (61, 100), (59.5, 200)])], dtype=object))
    edges = shapely.union_all(shapely.boundary(blocks))
    sites = np.array([shapely.buffer(Point(rng.random() * 300, rng.random() * 200), 5 + 30 * rng.random(), quad_segs=2)
                      for _ in range(40)], dtype=object)
    moved = 0
    for tolerance in (0.5, 3.0, 12.0):
        expected = [shapely.snap(site, edges, tolerance) for site in sites]
        got = _snap_to_edges(sites, edges, tolerance)
        moved += sum(not shapely.equals_exact(e, s, 0) for e, s in zip(expected, sites, strict=True))
        for e, g in zip(expected, got, strict=True):
            assert np.array_equal(shapely.get_coordinates(e), shapely.get_coordinates(g))
    assert moved > 10  # the check means something: many outlines did move
