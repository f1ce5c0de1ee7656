"""Snapping a hand-drawn division onto atoms (gis.snap)."""

from __future__ import annotations

import geopandas as gpd
import pytest
from atomfixtures import CRS, box_atoms
from shapely.geometry import box

from gis.errors import InputError
from gis.snap import snap_division


def drawn_split() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    # 2 x 2 atoms of 100 m. The drawn line between A and B runs 30 m inside the east column, so
    # atoms 1 and 3 are split 30/70 and go to B; C is drawn far away and gets nothing.
    atoms, _ = box_atoms(2, 2, [10, 20, 30, 40])
    x0, y0 = atoms.total_bounds[:2]
    drawn = gpd.GeoDataFrame(
        {"name": ["A", "B", "C"]},
        geometry=[box(x0, y0, x0 + 130, y0 + 200), box(x0 + 130, y0, x0 + 200, y0 + 200),
                  box(x0 + 1000, y0, x0 + 1100, y0 + 100)], crs=CRS)
    return atoms, drawn


def test_snap_by_largest_area_and_report_splits() -> None:
    atoms, drawn = drawn_split()
    result = snap_division(atoms, drawn)
    assert result.labels.to_dict() == {0: "A", 1: "B", 2: "A", 3: "B"}
    assert result.split_atoms["atom_id"].tolist() == [1, 3]
    assert result.split_atoms["households"].tolist() == [20, 40]
    assert result.split_atoms["share"].tolist() == pytest.approx([0.7, 0.7])
    assert result.split_atoms["others"].tolist() == [["A"], ["A"]]
    assert result.split_households == 60
    assert result.empty_grids == ["C"]
    assert result.unmatched_atoms.empty


def test_slop_under_tolerance_is_not_a_split() -> None:
    atoms, drawn = drawn_split()
    x0, y0 = atoms.total_bounds[:2]
    drawn = drawn.iloc[:2].copy()
    drawn["geometry"] = [box(x0, y0, x0 + 101, y0 + 200), box(x0 + 101, y0, x0 + 200, y0 + 200)]
    result = snap_division(atoms, drawn)
    assert result.labels.to_dict() == {0: "A", 1: "B", 2: "A", 3: "B"}
    assert result.split_atoms.empty


def test_uncovered_atom_goes_to_nearest_and_is_reported() -> None:
    atoms, drawn = drawn_split()
    x0, y0 = atoms.total_bounds[:2]
    # Only the south row is drawn: atoms 0 and 1 (north row) are covered by nothing.
    drawn = gpd.GeoDataFrame({"name": ["S"]}, geometry=[box(x0, y0, x0 + 200, y0 + 90)], crs=CRS)
    result = snap_division(atoms, drawn)
    assert set(result.labels) == {"S"}
    assert result.unmatched_atoms["atom_id"].tolist() == [0, 1]
    assert result.unmatched_atoms["distance_m"].tolist() == pytest.approx([10.0, 10.0])


def test_drawn_in_another_crs_is_reprojected() -> None:
    atoms, drawn = drawn_split()
    result = snap_division(atoms, drawn.to_crs("EPSG:4490"))
    assert result.labels.to_dict() == {0: "A", 1: "B", 2: "A", 3: "B"}


def test_inputs_checked() -> None:
    atoms, drawn = drawn_split()
    with pytest.raises(InputError, match="no CRS"):
        snap_division(atoms, drawn.set_crs(None, allow_override=True))
    with pytest.raises(InputError, match="'code'"):
        snap_division(atoms, drawn, key="code")
    with pytest.raises(InputError, match="geographic"):
        snap_division(atoms.to_crs("EPSG:4490"), drawn)
