"""Per-grid and whole-division quality of any labelling (gis.quality)."""

from __future__ import annotations

import math

import geopandas as gpd
import pandas as pd
import pytest
from atomfixtures import CRS, box_atoms
from shapely.geometry import box

from gis.errors import InputError
from gis.partition import Band, divide
from gis.quality import division_quality, grid_quality

BAND = Band(150, 250, 200)


def test_grid_quality_of_two_halves_cut_on_a_road() -> None:
    # 2 x 2 cells of 100 m, 100 households each; grids = west and east columns; road between them.
    atoms, edges = box_atoms(2, 2, 100, barriers=[(0, 1), (2, 3)])
    table = grid_quality(atoms, edges, pd.Series([0, 1, 0, 1]), BAND)
    assert list(table.index) == [0, 1]
    assert list(table.columns) == ["households", "population", "in_band", "contiguous", "polsby_popper",
                                   "barrier_share", "area_m2", "perimeter_m", "n_atoms"]
    row = table.loc[0]
    assert row["households"] == 200 and row["population"] == 600 and row["n_atoms"] == 2
    assert bool(row["in_band"]) and bool(row["contiguous"])
    assert row["area_m2"] == pytest.approx(20_000.0)
    assert row["perimeter_m"] == pytest.approx(600.0)
    assert row["polsby_popper"] == pytest.approx(4 * math.pi * 20_000 / 600**2)
    assert row["barrier_share"] == pytest.approx(1.0)


def test_barrier_share_counts_only_boundary_with_other_grids() -> None:
    # Road on the cut between atoms 0|1 only: half of the 200 m between the two grids is on it.
    atoms, edges = box_atoms(2, 2, 100, barriers=[(0, 1)])
    table = grid_quality(atoms, edges, pd.Series([0, 1, 0, 1]), BAND)
    assert table["barrier_share"].tolist() == pytest.approx([0.5, 0.5])
    single = grid_quality(atoms, edges, pd.Series([0, 0, 0, 0]), Band(300, 500, 400))
    assert math.isnan(single.loc[0, "barrier_share"])


def test_non_contiguous_grid_and_out_of_band() -> None:
    atoms, edges = box_atoms(1, 3, 100)
    table = grid_quality(atoms, edges, pd.Series(["a", "b", "a"]), BAND)
    assert table.loc["a", "contiguous"] == False  # noqa: E712 - numpy bool
    assert table.loc["b", "contiguous"] == True  # noqa: E712
    assert table.loc["b", "in_band"] == False  # noqa: E712


def test_exclusive_grids_are_not_judged_by_the_band() -> None:
    atoms, edges = box_atoms(1, 3, 100)
    table = grid_quality(atoms, edges, pd.Series([0, 0, 1]), BAND, exclusive={1})
    assert table["in_band"].isna().tolist() == [False, True]
    summary = division_quality(atoms, edges, pd.Series([0, 0, 1]), BAND, exclusive={1})
    assert summary["share_in_band"] == 1.0


def test_division_quality_summary_of_an_engine_division() -> None:
    atoms, edges = box_atoms(2, 4, 100, barriers=[(0, 4), (1, 5), (2, 6), (3, 7)])
    division = divide(atoms, edges)
    summary = division_quality(atoms, edges, division.labels, Band.urban())
    assert summary == {
        "n_grids": 2, "n_atoms": 8, "households": 800, "share_in_band": 1.0, "min_households": 400,
        "max_households": 400, "contiguous_share": 1.0,
        "mean_pp": pytest.approx(4 * math.pi * 40_000 / 1000**2), "barrier_share": 1.0,
        "cut_length_m": 400.0, "gap_area_m2": 0.0, "overlap_area_m2": 0.0,
    }


def test_gap_and_overlap_of_drawn_polygons() -> None:
    atoms, edges = box_atoms(1, 2, 100)
    x0, y0 = atoms.total_bounds[:2]
    # West grid drawn 10 m too far east (overlap 10 x 100), east grid stops 20 m short (gap 20 x 100).
    drawn = gpd.GeoDataFrame({"name": ["w", "e"]}, geometry=[box(x0, y0, x0 + 110, y0 + 100),
                                                             box(x0 + 100, y0, x0 + 180, y0 + 100)], crs=CRS)
    summary = division_quality(atoms, edges, pd.Series([0, 1]), Band(50, 150, 100), grids=drawn)
    assert summary["overlap_area_m2"] == pytest.approx(1000.0)
    assert summary["gap_area_m2"] == pytest.approx(2000.0)
    with pytest.raises(InputError, match="reproject"):
        division_quality(atoms, edges, pd.Series([0, 1]), Band(50, 150, 100), grids=drawn.to_crs("EPSG:4490"))


def test_labels_must_cover_every_atom_exactly() -> None:
    atoms, edges = box_atoms(1, 3, 100)
    with pytest.raises(InputError, match="no grid"):
        grid_quality(atoms, edges, pd.Series([0, 0], index=[0, 1]), BAND)
    with pytest.raises(InputError, match="not among"):
        grid_quality(atoms, edges, pd.Series([0, 0, 0, 1], index=[0, 1, 2, 7]), BAND)
