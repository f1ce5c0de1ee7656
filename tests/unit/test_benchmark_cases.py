"""The benchmark's case loaders and its shared scoring function (benchmarks/cases.py, benchmarks/metrics.py)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from atomfixtures import CRS, box_atoms
from shapely.geometry import box

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.cases import bubenec_case, bubenec_households, demo_cases  # noqa: E402
from benchmarks.metrics import evaluate  # noqa: E402
from gis.partition import Band  # noqa: E402

X0, Y0 = 500000.0, 2500000.0  # origin of box_atoms


def test_demo_community_loads_as_atoms() -> None:
    (case,) = demo_cases(["320499101201"])
    assert case.kind == "rural" and case.band == Band.rural()
    atoms, edges = case.atoms, case.edges
    assert len(atoms) > 1 and len(edges) > 0
    assert int(atoms["households"].sum()) > 0
    # Every building of the community is in exactly one atom, so households add up.
    assert int(atoms["households"].sum()) == int(case.buildings["households"].sum())
    assert atoms.crs.is_projected
    assert atoms.union_all().area == pytest.approx(case.boundary.area, rel=1e-6)


def test_bubenec_loads_as_atoms() -> None:
    case = bubenec_case()
    assert case.band == Band.urban()
    assert len(case.buildings) == 144  # the hull buffer keeps every building
    assert (case.buildings["households"] >= 0).all() and int(case.atoms["households"].sum()) > 0
    assert int(case.atoms["households"].sum()) == int(case.buildings["households"].sum())
    assert len(case.atoms) > 1 and len(case.edges) > 0
    assert case.atoms.crs.to_epsg() == 32633  # UTM 33N, not the file's Web Mercator


def test_bubenec_household_rule() -> None:
    # 100 m² footprint × 4 storeys / 80 m² = 5 households; 30 m² → 1.5 → 2 (round half to even).
    frame = gpd.GeoDataFrame(geometry=[box(0, 0, 10, 10), box(0, 0, 5, 6), box(0, 0, 3, 3)], crs=CRS)
    assert bubenec_households(frame).tolist() == [5, 2, 0]


def _two_by_two():
    # Cells of 100 m: 0 = NW, 1 = NE, 2 = SW, 3 = SE. A road runs between 0 and 1 only.
    atoms, edges = box_atoms(2, 2, [200, 150, 100, 400], barriers=[(0, 1)])
    buildings = gpd.GeoDataFrame(
        {"households": [10, 10]},
        geometry=[box(X0 + 10, Y0 + 110, X0 + 20, Y0 + 120),  # wholly inside cell 0
                  box(X0 + 90, Y0 + 140, X0 + 110, Y0 + 160)],  # straddles cells 0 and 1 half and half
        crs=CRS)
    return atoms, edges, buildings


def test_metrics_on_two_columns() -> None:
    atoms, edges, buildings = _two_by_two()
    labels = pd.Series([0, 1, 0, 1], index=pd.Index([0, 1, 2, 3], name="atom_id"))
    m = evaluate(atoms, edges, labels, Band.urban(), buildings)
    # West column 200 + 100 = 300 (in band), east 150 + 400 = 550 (50 over the maximum).
    assert m["n_grids"] == 2 and m["n_exclusive"] == 0
    assert m["in_band"] == 0.5 and m["min_hh"] == 300 and m["max_hh"] == 550 and m["violation"] == 50
    assert m["contiguous"] == 1.0
    assert m["gap_m2"] == 0.0 and m["overlap_m2"] == 0.0
    assert m["buildings_split"] == 1  # grids follow cell edges; the straddling building is cut
    # Each grid is a 100 × 200 rectangle: PP = 4π·20000 / 600².
    assert m["mean_pp"] == pytest.approx(4 * math.pi * 20_000 / 600**2)
    # 200 m between the grids, the northern 100 m on the road.
    assert m["barrier_share"] == pytest.approx(0.5) and m["off_barrier_m"] == pytest.approx(100.0)


def test_metrics_treat_site_only_grids_as_exclusive() -> None:
    atoms, edges, buildings = _two_by_two()
    atoms["site"] = [None, None, None, "school"]
    # Grids: the west column {0, 2}, cell 1 alone, and the school (cell 3) alone.
    labels = pd.Series([0, 1, 0, 2], index=pd.Index([0, 1, 2, 3], name="atom_id"))
    m = evaluate(atoms, edges, labels, Band.urban(), None)
    assert m["n_grids"] == 3 and m["n_exclusive"] == 1
    # Comprehensive grids: 300 (in band) and 150 (150 short); the school's 400 is outside the band metrics.
    assert m["in_band"] == 0.5 and m["min_hh"] == 150 and m["max_hh"] == 300 and m["violation"] == 150
    assert math.isnan(m["buildings_split"])
    # The school's edges (1-3, 2-3) are left out of the cut: only the 100 m road between 0 and 1 remains.
    assert m["barrier_share"] == 1.0 and m["off_barrier_m"] == 0.0
    # Polsby-Popper over comprehensive grids: the 100 × 200 column and the 100 m square (π/4).
    assert m["mean_pp"] == pytest.approx((4 * math.pi * 20_000 / 600**2 + math.pi / 4) / 2)


def test_metrics_flag_a_non_contiguous_grid() -> None:
    atoms, edges, _ = _two_by_two()
    labels = pd.Series([0, 1, 1, 0], index=pd.Index([0, 1, 2, 3], name="atom_id"))  # diagonals
    m = evaluate(atoms, edges, labels, Band.urban())
    assert m["contiguous"] == 0.0
    assert m["in_band"] == 0.0 and m["violation"] == 100 + 50  # 600 and 250
