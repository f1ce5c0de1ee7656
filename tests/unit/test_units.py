"""Unit split (单元): towers over the band maximum cut into their units, and what the atoms make of them.

Tiny hand-built boxes with exact expected pieces; every split is also checked independently with
shapely (the pieces tile the footprint, households and population sum exactly) by ``check_split``.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal
from shapely import box

from gis.atoms import build_atoms
from gis.codes import assign_codes
from gis.errors import InputError
from gis.partition import Band, PartitionSettings, divide
from gis.units import previous_by_piece, previous_members, split_by_units

CRS = "EPSG:4547"  # CGCS2000 3-degree Gauss-Krüger CM 114E (metres)
X0, Y0 = 500_000.0, 2_500_000.0


def frame(geoms: list, households: list[int], crs: str = CRS, **columns) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"households": households, **columns}, geometry=geoms, crs=crs)


def same(a, b, tol: float = 1e-6) -> bool:
    """Same area up to ``tol`` m² of symmetric difference."""
    return shapely.symmetric_difference(a, b).area <= tol


def check_split(buildings: gpd.GeoDataFrame, pieces: gpd.GeoDataFrame) -> None:
    """The guarantees of a UnitSplit, checked independently."""
    assert list(pieces.index) == list(range(len(pieces)))
    assert set(pieces["building"]) == set(buildings.index)
    assert pieces.crs == buildings.crs
    assert pieces["households"].sum() == buildings["households"].sum()
    for label, group in pieces.groupby("building", sort=False):
        footprint = buildings.geometry.loc[label]
        hh = buildings.at[label, "households"]
        assert group["households"].sum() == hh
        if "population" in buildings.columns:
            assert group["population"].sum() == buildings.at[label, "population"]
        geoms = group.geometry.to_numpy()
        assert not shapely.is_empty(geoms).any() and (shapely.area(geoms) > 0).all()
        assert shapely.is_valid(geoms).all()
        assert shapely.area(geoms).sum() == pytest.approx(footprint.area, rel=1e-6)
        assert same(shapely.union_all(geoms), footprint, 1e-6 * footprint.area)
        i, j = shapely.STRtree(geoms).query(geoms, predicate="intersects")
        keep = i < j
        assert (shapely.area(shapely.intersection(geoms[i[keep]], geoms[j[keep]])) < 1e-6).all()
        if len(group) > 1:
            assert list(group["unit"]) == list(range(1, len(group) + 1))
            assert max(group["households"]) - min(group["households"]) <= 1
            assert list(group["households"]) == sorted(group["households"], reverse=True)
        else:
            assert pd.isna(group["unit"].iloc[0])


# --------------------------------------------------------------------------- exact pieces


def test_tower_is_cut_into_four_units_west_to_east():
    buildings = frame([box(X0, Y0, X0 + 60, Y0 + 15)], [800], units=[4], population=[2000], name=["A"])
    result = split_by_units(buildings, 500)
    pieces = result.pieces
    check_split(buildings, pieces)
    assert len(pieces) == 4
    for k, geom in enumerate(pieces.geometry):
        assert same(geom, box(X0 + 15 * k, Y0, X0 + 15 * (k + 1), Y0 + 15))
    assert list(pieces["households"]) == [200] * 4
    assert list(pieces["population"]) == [500] * 4
    assert list(pieces["name"]) == ["A"] * 4  # other columns copied
    assert list(pieces["units"]) == [1] * 4  # each piece is one unit
    assert list(pieces["building"]) == [0] * 4
    assert list(pieces["unit"]) == [1, 2, 3, 4] and pieces["unit"].dtype == "Int64"
    [finding] = result.findings
    assert finding.code == "building_split_by_units" and finding.severity == "info"
    assert finding.message == ("building 0 of 800 households is over the band maximum 500: split into its 4 units "
                               "(单元) of 200 households")


def test_vertical_tower_is_cut_north_to_south():
    buildings = frame([box(X0, Y0, X0 + 15, Y0 + 60)], [800], units=[4])
    pieces = split_by_units(buildings, 500).pieces
    check_split(buildings, pieces)
    for k, geom in enumerate(pieces.geometry):
        assert same(geom, box(X0, Y0 + 60 - 15 * (k + 1), X0 + 15, Y0 + 60 - 15 * k))


def test_l_shaped_building_is_cut_across_its_long_axis():
    # An 80 m wing along the south and a 30 m wing up the west side; the minimum rotated rectangle
    # is the 80×30 box, so cuts fall every 20 m from west to east and the first unit holds the corner.
    footprint = shapely.union(box(X0, Y0, X0 + 80, Y0 + 10), box(X0, Y0, X0 + 10, Y0 + 30))
    buildings = frame([footprint], [802], units=[4])
    pieces = split_by_units(buildings, 500).pieces
    check_split(buildings, pieces)
    assert same(pieces.geometry.iloc[0], shapely.union(box(X0, Y0, X0 + 20, Y0 + 10), box(X0, Y0, X0 + 10, Y0 + 30)))
    for k in (1, 2, 3):
        assert same(pieces.geometry.iloc[k], box(X0 + 20 * k, Y0, X0 + 20 * (k + 1), Y0 + 10))
    assert list(pieces["households"]) == [201, 201, 200, 200]


def test_rotated_tower_is_cut_along_its_own_axis():
    tower = shapely.affinity.rotate(box(X0, Y0, X0 + 60, Y0 + 15), 30, origin="centroid")
    buildings = frame([tower], [800], units=[4])
    pieces = split_by_units(buildings, 500).pieces
    check_split(buildings, pieces)
    assert shapely.area(pieces.geometry.to_numpy()) == pytest.approx([225.0] * 4, rel=1e-9)
    # Each unit is the matching 15×15 square of the unrotated tower, turned with it; the axis runs
    # 30° north of east, closer to east-west, so units go west to east.
    centre = box(X0, Y0, X0 + 60, Y0 + 15).centroid
    for k, geom in enumerate(pieces.geometry):
        square = shapely.affinity.rotate(box(X0 + 15 * k, Y0, X0 + 15 * (k + 1), Y0 + 15), 30, origin=centre)
        assert same(geom, square)
    xs = [g.centroid.x for g in pieces.geometry]
    assert xs == sorted(xs)


def test_steep_tower_is_cut_north_to_south():
    tower = shapely.affinity.rotate(box(X0, Y0, X0 + 60, Y0 + 15), 60, origin="centroid")
    pieces = split_by_units(frame([tower], [800], units=[4]), 500).pieces
    ys = [g.centroid.y for g in pieces.geometry]
    assert ys == sorted(ys, reverse=True)


def test_remainder_goes_to_the_first_units():
    buildings = frame([box(X0, Y0, X0 + 60, Y0 + 15)], [801], units=[4], population=[2003])
    result = split_by_units(buildings, 500)
    check_split(buildings, result.pieces)
    assert list(result.pieces["households"]) == [201, 200, 200, 200]
    assert list(result.pieces["population"]) == [501, 501, 501, 500]
    assert result.findings[0].message.endswith("split into its 4 units (单元) of 201, 200, 200 and 200 households")


def test_too_few_units_still_split_with_a_warning():
    buildings = frame([box(X0, Y0, X0 + 40, Y0 + 15)], [1500], units=[2])
    result = split_by_units(buildings, 500)
    check_split(buildings, result.pieces)
    assert list(result.pieces["households"]) == [750, 750]
    [finding] = result.findings
    assert finding.code == "building_split_by_units" and finding.severity == "warning"
    assert "each still holds more than 500 households" in finding.message


def test_parts_with_a_gap_get_equal_area_cuts():
    # Equal spacing would leave the middle strip (x 20..40) empty: cuts go to equal areas instead.
    footprint = shapely.union(box(X0, Y0, X0 + 20, Y0 + 10), box(X0 + 40, Y0, X0 + 60, Y0 + 10))
    buildings = frame([footprint], [900], units=[3])
    pieces = split_by_units(buildings, 500).pieces
    check_split(buildings, pieces)
    assert shapely.area(pieces.geometry.to_numpy()) == pytest.approx([400 / 3] * 3, rel=1e-9)


# --------------------------------------------------------------------------- not split


@pytest.mark.parametrize("units", [[1], [None], None], ids=["one-unit", "empty", "no-column"])
def test_over_max_without_units_is_unchanged_with_a_warning(units):
    extra = {} if units is None else {"units": units}
    buildings = frame([box(X0, Y0, X0 + 60, Y0 + 15)], [800], **extra)
    result = split_by_units(buildings, 500)
    check_split(buildings, result.pieces)
    assert len(result.pieces) == 1 and same(result.pieces.geometry.iloc[0], buildings.geometry.iloc[0])
    assert result.pieces["households"].iloc[0] == 800
    [finding] = result.findings
    assert finding.code == "building_over_max_no_units" and finding.severity == "warning"
    assert finding.message.startswith("building 0 of 800 households is over the band maximum 500 and has ")
    assert finding.message.endswith(": it becomes a grid of its own")
    assert ("single unit" if units == [1] else "no unit count") in finding.message


def test_buildings_within_the_maximum_pass_through():
    buildings = frame([box(X0, Y0, X0 + 60, Y0 + 15), box(X0 + 100, Y0, X0 + 110, Y0 + 10)], [500, 30],
                      units=[4, 1], name=["A", "B"])
    buildings.index = ["b-7", "b-3"]
    result = split_by_units(buildings, 500)
    assert result.findings == []
    expected = buildings.reset_index(drop=True).assign(building=["b-7", "b-3"],
                                                       unit=pd.array([pd.NA, pd.NA], dtype="Int64"))
    assert_geodataframe_equal(result.pieces, expected)


def test_exclusive_site_buildings_are_not_split():
    buildings = frame([box(X0, Y0, X0 + 60, Y0 + 15)], [800], units=[4], site=["hospital"])
    result = split_by_units(buildings, 500)
    assert len(result.pieces) == 1 and result.findings == []


def test_mixed_frame_keeps_input_order_and_labels():
    buildings = frame([box(X0, Y0, X0 + 10, Y0 + 10), box(X0 + 20, Y0, X0 + 80, Y0 + 15),
                       box(X0 + 100, Y0, X0 + 110, Y0 + 10)], [40, 800, 60], units=[1, 4, None])
    buildings.index = [11, 12, 13]
    result = split_by_units(buildings, 500)
    check_split(buildings, result.pieces)
    assert list(result.pieces["building"]) == [11, 12, 12, 12, 12, 13]
    assert list(result.pieces["households"]) == [40, 200, 200, 200, 200, 60]
    assert [f.code for f in result.findings] == ["building_split_by_units"]
    assert "building 12 of 800" in result.findings[0].message


def test_input_is_not_mutated():
    buildings = frame([box(X0, Y0, X0 + 60, Y0 + 15), box(X0 + 100, Y0, X0 + 110, Y0 + 10)], [801, 30],
                      units=[4, None], population=[2000, 90])
    before = buildings.copy(deep=True)
    split_by_units(buildings, 500)
    assert_geodataframe_equal(buildings, before)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("bad", [-1, 0, 2.5, "x"])
def test_bad_units_name_row_and_field(bad):
    buildings = frame([box(X0, Y0, X0 + 10, Y0 + 10), box(X0 + 20, Y0, X0 + 80, Y0 + 15)], [40, 800],
                      units=pd.Series([2, bad], dtype=object))
    with pytest.raises(InputError) as err:
        split_by_units(buildings, 500)
    assert err.value.row == 2 and err.value.field == "units"
    assert repr(bad) in str(err.value)


@pytest.mark.parametrize("bad", [-5, 1.5, None, "many"])
def test_bad_households_name_row_and_field(bad):
    buildings = frame([box(X0, Y0, X0 + 10, Y0 + 10)], pd.Series([bad], dtype=object))
    with pytest.raises(InputError) as err:
        split_by_units(buildings, 500)
    assert err.value.row == 1 and err.value.field == "households"


def test_other_bad_input():
    tower = frame([box(X0, Y0, X0 + 60, Y0 + 15)], [800], units=[4])
    with pytest.raises(InputError, match="max_households"):
        split_by_units(tower, 0)
    with pytest.raises(InputError, match="geographic CRS"):
        split_by_units(frame([box(114, 30, 114.001, 30.001)], [800], crs="EPSG:4490", units=[4]), 500)
    with pytest.raises(InputError) as err:
        split_by_units(tower.assign(unit=[1]), 500)
    assert err.value.field == "unit"
    with pytest.raises(InputError, match="households"):
        split_by_units(tower.drop(columns="households"), 500)


# --------------------------------------------------------------------------- previous codes


def test_previous_codes_follow_the_units_of_a_split_building():
    buildings = frame([box(X0, Y0, X0 + 10, Y0 + 10), box(X0 + 20, Y0, X0 + 80, Y0 + 15)], [40, 801],
                      units=[1, 4])
    buildings.index = [7, 9]
    pieces = split_by_units(buildings, 500).pieces
    # A split building listed whole stands for all its units, which weigh 0 in the matching.
    previous, households = previous_by_piece({"A": {7}, "B": {9, 99}}, pieces)
    assert previous == {"A": {0}, "B": {1, 2, 3, 4}}
    assert households.to_dict() == {0: 40, 1: 0, 2: 0, 3: 0, 4: 0}
    # Units named one by one keep their households.
    previous, households = previous_by_piece({"A": {7, (9, 1), (9, 2)}, "B": {(9, 3), (9, 4)}}, pieces)
    assert previous == {"A": {0, 1, 2}, "B": {3, 4}}
    assert households.to_dict() == {0: 40, 1: 201, 2: 200, 3: 200, 4: 200}
    assert previous_by_piece({"B": {9: 801}}, pieces)[0] == {"B": {1, 2, 3, 4}}
    previous, households = previous_by_piece(None, pieces)
    assert previous == {} and households.tolist() == [40, 201, 200, 200, 200]


def test_grids_sharing_a_tower_keep_their_codes():
    """Two grids of 400: houses + units 1-2 west, houses + units 3-4 east. The previous version
    lists the tower whole under the west grid's code (by its representative point); both grids must
    keep their codes when the division is unchanged."""
    tower = box(X0 + 20, Y0 + 100, X0 + 100, Y0 + 115)
    houses = [box(X0 + 5 + 30 * i, Y0 + 20, X0 + 20 + 30 * i, Y0 + 35) for i in range(4)]
    buildings = frame([tower, *houses], [400, 100, 100, 100, 100], units=[4, 1, 1, 1, 1])
    buildings.index = [50, 51, 52, 53, 54]
    pieces = split_by_units(buildings, 300).pieces
    grids = gpd.GeoDataFrame({"label": [0, 1], "kind": ["comprehensive"] * 2},
                             geometry=[box(X0, Y0, X0 + 60, Y0 + 120), box(X0 + 60, Y0, X0 + 120, Y0 + 120)], crs=CRS)
    labels = pd.Series([0, 0, 1, 1, 0, 0, 1, 1], index=pieces.index)  # pieces: 4 units, then 4 houses
    previous, households = previous_by_piece({"320499001001003": {50, 51, 52}, "320499001001004": {53, 54}},
                                             pieces)
    codes = assign_codes(grids, "320499001001", labels=labels, households=households, previous=previous)
    assert codes.to_dict() == {0: "320499001001003", 1: "320499001001004"}
    # Counting the whole tower in the west grid would have lost both codes.
    naive = {code: members for code, members in previous.items()}
    assert assign_codes(grids, "320499001001", labels=labels, households=pieces["households"],
                        previous=naive).to_dict() != codes.to_dict()


def test_previous_members_name_the_units_each_grid_held():
    buildings = frame([box(X0 + 20, Y0 + 100, X0 + 100, Y0 + 115), box(X0 + 5, Y0 + 20, X0 + 20, Y0 + 35)],
                      [400, 100], units=[4, 1])
    buildings.index = [50, 51]
    grids = gpd.GeoDataFrame({"code": ["W", "E"]}, geometry=[box(X0, Y0, X0 + 60, Y0 + 120),
                                                            box(X0 + 60, Y0, X0 + 120, Y0 + 120)], crs=CRS)
    members = previous_members(buildings, grids, 300)
    assert members == {"W": {(50, 1), (50, 2), 51}, "E": {(50, 3), (50, 4)}}
    pieces = split_by_units(buildings, 300).pieces
    previous, households = previous_by_piece(members, pieces)
    assert previous == {"W": {0, 1, 4}, "E": {2, 3}}
    assert households.tolist() == [100, 100, 100, 100, 100]
    # Under a higher maximum the tower is whole now: a grid that held any unit holds the building.
    whole = split_by_units(buildings, 500).pieces
    assert previous_by_piece(members, whole)[0] == {"W": {0, 1}, "E": {0}}


# --------------------------------------------------------------------------- end to end


def test_split_tower_lets_every_grid_reach_the_band():
    """A 120×120 m community: an 800-household, 4-unit tower along the north edge and eight
    50-household houses in the south, 1,200 households in all, band 300-500.

    Whole, the tower is one atom over the maximum and the houses (400) are the only other grid.
    Split, a division in band exists by construction — units 1-2 (400), units 3-4 (400), the eight
    houses (400), each contiguous — and the engine must find one in band.
    """
    tower = box(X0 + 30, Y0 + 95, X0 + 90, Y0 + 110)
    houses = [box(X0 + 10 + 28 * i, Y0 + 15 + 30 * j, X0 + 26 + 28 * i, Y0 + 30 + 30 * j)
              for i in range(4) for j in range(2)]
    buildings = frame([tower, *houses], [800] + [50] * 8, units=[4] + [1] * 8)
    boundary = box(X0, Y0, X0 + 120, Y0 + 120)
    no_barriers = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)
    band = Band.urban()

    split = split_by_units(buildings, band.max)
    pieces = split.pieces
    check_split(buildings, pieces)
    assert len(pieces) == 12
    layer = build_atoms(boundary, no_barriers, pieces, max_atom_households=band.max)

    # No piece is split further: each lies in exactly one atom, which holds it whole.
    assert layer.building_atom.index.equals(pieces.index)
    atom_geoms = layer.atoms.geometry.to_numpy()[layer.building_atom.to_numpy()]
    inside = shapely.area(shapely.intersection(pieces.geometry.to_numpy(), atom_geoms))
    assert inside == pytest.approx(shapely.area(pieces.geometry.to_numpy()), rel=1e-9)
    # The four units are four atoms, so they may go to different grids.
    units = layer.building_atom[pieces["unit"].notna().to_numpy()]
    assert units.nunique() == 4

    division = divide(layer.atoms, layer.edges, PartitionSettings(band=band, seed=0))
    grids = division.grids
    assert grids["households"].sum() == 1200
    assert grids["households"].between(band.min, band.max).all(), grids["households"].tolist()
    assert not [f for f in division.findings if f.code == "atom_over_max"]
    # Each unit of the tower is in exactly one grid, the tower in two.
    piece_grid = layer.building_atom.map(division.labels)
    assert piece_grid.notna().all()
    assert piece_grid[units.index].nunique() == 2

    # Without the split the same community cannot reach the band: the tower is a grid of its own.
    whole = build_atoms(boundary, no_barriers, buildings, max_atom_households=band.max)
    unsplit = divide(whole.atoms, whole.edges, PartitionSettings(band=band, seed=0))
    assert [f.code for f in unsplit.findings if f.code == "atom_over_max"] == ["atom_over_max"]
