"""Live checks of the map editor (gis.checks): per-grid figures and problems with their severities."""

from __future__ import annotations

import json
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from atomfixtures import CRS, box_atoms

from gis.checks import GRID_COLUMNS, Thresholds, live_checks
from gis.edits import UNASSIGNED, Assignment, EditContext
from gis.errors import InputError
from gis.partition import Band
from gis.quality import grid_quality

X0, Y0 = 500000.0, 2500000.0
BAND = Band(300, 500, 400)
QUADRANTS = [0, 0, 1, 1,
             0, 0, 1, 1,
             2, 2, 3, 3,
             2, 2, 3, 3]


def context(nrows: int = 4, ncols: int = 4, households=100, **kwargs) -> EditContext:
    atoms, edges = box_atoms(nrows, ncols, households, **kwargs)
    return EditContext.build(atoms, edges)


def codes(checks) -> list[tuple[str, str, int | None]]:
    return [(p.code, p.severity, p.grid) for p in checks.problems]


def test_quadrants_all_in_band() -> None:
    # Road between the west and east halves: grids 0|1 and 2|3 are split along it.
    ctx = context(barriers=lambda p, q: p[1] == 1 and q[1] == 2)
    checks = live_checks(ctx, Assignment(np.array(QUADRANTS)), BAND)
    table = checks.grids
    assert list(table.columns) == GRID_COLUMNS and table.index.tolist() == [0, 1, 2, 3]
    row = table.loc[0]
    assert row["households"] == 400 and row["population"] == 1200 and row["n_atoms"] == 4
    assert row["status"] == "ok" and bool(row["in_band"]) and bool(row["contiguous"]) and row["n_pieces"] == 1
    assert row["area_m2"] == pytest.approx(40_000.0) and row["perimeter_m"] == pytest.approx(800.0)
    assert row["polsby_popper"] == pytest.approx(math.pi / 4)
    assert row["barrier_share"] == pytest.approx(0.5)  # 200 m to grid 1 on the road, 200 m to grid 2 not
    assert row["bbox"] == (X0, Y0 + 200, X0 + 200, Y0 + 400)
    assert row["max_atom_households"] == 100
    assert checks.ok and checks.errors == []
    assert codes(checks) == []


def test_low_barrier_share_is_a_warning_only() -> None:
    checks = live_checks(context(), Assignment(np.array(QUADRANTS)), BAND)
    assert checks.ok
    assert codes(checks) == [("low_barrier_share", "warning", g) for g in range(4)]
    relaxed = live_checks(context(), Assignment(np.array(QUADRANTS)), BAND, thresholds=Thresholds(min_barrier_share=0))
    assert relaxed.problems == []


def test_out_of_band_grids_are_errors() -> None:
    labels = [0, 0, 0, 1,
              0, 0, 0, 1,
              2, 2, 3, 3,
              2, 2, 3, 3]
    checks = live_checks(context(), Assignment(np.array(labels)), BAND, thresholds=Thresholds(min_barrier_share=0))
    assert checks.grids["status"].tolist() == ["over", "under", "ok", "ok"]
    assert checks.grids["in_band"].tolist() == [False, False, True, True]
    assert codes(checks) == [("grid_over_max", "error", 0), ("grid_under_min", "error", 1)]
    assert not checks.ok
    excused = live_checks(context(), Assignment(np.array(labels)), BAND, thresholds=Thresholds(min_barrier_share=0),
                          excused=[1])
    assert codes(excused) == [("grid_over_max", "error", 0), ("grid_under_min", "warning", 1)]
    assert "excused" in excused.problems[1].message
    with pytest.raises(InputError, match="excused names grid 8"):
        live_checks(context(), Assignment(np.array(labels)), BAND, excused=[8])
    over = checks.errors[0]
    assert "600" in over.message and "500" in over.message
    assert over.bbox == (X0, Y0 + 200, X0 + 300, Y0 + 400)


def test_non_contiguous_grid_is_an_error_framing_the_cut_off_piece() -> None:
    labels = [0, 0, 1, 1,
              0, 0, 1, 1,
              2, 2, 3, 0,
              2, 2, 3, 3]
    checks = live_checks(context(), Assignment(np.array(labels)), Band(100, 600, 300),
                         thresholds=Thresholds(min_barrier_share=0))
    assert not checks.grids.loc[0, "contiguous"] and checks.grids.loc[0, "n_pieces"] == 2
    [problem] = [p for p in checks.problems if p.code == "not_contiguous"]
    assert problem.severity == "error" and problem.grid == 0 and problem.atom_ids == (11,)
    assert problem.bbox == (X0 + 300, Y0 + 100, X0 + 400, Y0 + 200)
    assert "11" in problem.message


def test_unassigned_atoms_are_an_error() -> None:
    ctx = context()
    series = pd.Series(QUADRANTS, index=range(16)).drop([15])
    checks = live_checks(ctx, series, Band(100, 600, 300), thresholds=Thresholds(min_barrier_share=0))
    assert codes(checks) == [("unassigned", "error", None)]
    problem = checks.problems[0]
    assert problem.atom_ids == (15,) and problem.bbox == (X0 + 300, Y0, X0 + 400, Y0 + 100)
    assert checks.grids.loc[3, "n_atoms"] == 3
    same = live_checks(ctx, Assignment(np.array(QUADRANTS[:-1] + [UNASSIGNED])), Band(100, 600, 300),
                       thresholds=Thresholds(min_barrier_share=0))
    assert codes(same) == codes(checks)


def test_single_atom_over_max_is_a_warning() -> None:
    hh = [100] * 16
    hh[0] = 600
    ctx = context(households=hh)
    alone = [0, 1, 2, 2,
             1, 1, 2, 2,
             3, 3, 4, 4,
             3, 3, 4, 4]
    checks = live_checks(ctx, Assignment(np.array(alone)), BAND, thresholds=Thresholds(min_barrier_share=0))
    assert codes(checks) == [("atom_over_max", "warning", 0)]
    assert checks.problems[0].atom_ids == (0,) and checks.ok
    with_others = live_checks(ctx, Assignment(np.array(QUADRANTS)), BAND,
                              thresholds=Thresholds(min_barrier_share=0))
    assert codes(with_others) == [("atom_over_max", "warning", 0)]
    assert "3 other atoms could go to neighbouring grids" in with_others.problems[0].message


def test_island_under_min_is_a_warning() -> None:
    # A 3 x 4 box without column 2: column 3 (240 households) is cut off from columns 0-1.
    ctx = context(3, 4, households=80, drop=[2, 6, 10])
    labels = [0, 0, 1,
              0, 0, 1,
              0, 0, 1]
    checks = live_checks(ctx, Assignment(np.array(labels)), BAND, thresholds=Thresholds(min_barrier_share=0))
    assert codes(checks) == [("island_under_min", "warning", 1)]
    assert "240" in checks.problems[0].message


def test_band_infeasible_stretch_is_a_warning() -> None:
    # 520 households can make neither one grid of at most 500 nor two of at least 300.
    ctx = context(1, 4, households=130)
    checks = live_checks(ctx, Assignment(np.zeros(4, dtype=int)), BAND, thresholds=Thresholds(min_barrier_share=0))
    assert codes(checks) == [("band_infeasible", "warning", 0)]
    assert "520" in checks.problems[0].message


def test_exclusive_grids_are_outside_the_band() -> None:
    ctx = context()
    labels = [0, 0, 1, 1,
              0, 0, 1, 1,
              2, 2, 3, 3,
              2, 2, 4, 4]
    checks = live_checks(ctx, Assignment(np.array(labels)), BAND, exclusive=[4],
                         thresholds=Thresholds(min_barrier_share=0))
    assert checks.grids.loc[4, "status"] == "exclusive" and pd.isna(checks.grids.loc[4, "in_band"])
    assert codes(checks) == [("grid_under_min", "error", 3)]
    with pytest.raises(InputError, match="exclusive names grid 9") as err:
        live_checks(ctx, Assignment(np.array(labels)), BAND, exclusive=[9])
    assert err.value.field == "exclusive"


def test_low_compactness_warning() -> None:
    ctx = context(1, 16, households=25)
    checks = live_checks(ctx, Assignment(np.zeros(16, dtype=int)), BAND)
    assert checks.grids.loc[0, "polsby_popper"] == pytest.approx(4 * math.pi * 16 / 34**2)
    assert codes(checks) == [("low_compactness", "warning", 0)]
    assert math.isnan(checks.grids.loc[0, "barrier_share"])


def test_bad_band_and_labels() -> None:
    ctx = context()
    with pytest.raises(InputError, match="band"):
        live_checks(ctx, Assignment(np.array(QUADRANTS)), (300, 500))
    with pytest.raises(InputError, match="3 labels"):
        live_checks(ctx, Assignment(np.array([0, 0, 0])), BAND)


def test_to_dict_is_json_ready() -> None:
    ctx = context()
    labels = [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 0, 2, 2, 3, 3]
    data = live_checks(ctx, Assignment(np.array(labels)), BAND, exclusive=[2]).to_dict()
    text = json.dumps(data)
    assert data["ok"] is False and data["grids"][0]["label"] == 0
    assert data["grids"][2]["in_band"] is None and data["grids"][2]["status"] == "exclusive"
    assert "not_contiguous" in {p["code"] for p in data["problems"]}
    assert "NaN" not in text


def voronoi_community(n: int, seed: int) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Irregular atoms: Voronoi cells of random points clipped to a 1 km square, with exact edges."""
    rng = np.random.default_rng(seed)
    square = shapely.box(X0, Y0, X0 + 1000, Y0 + 1000)
    points = shapely.multipoints(rng.uniform(0, 1000, (n, 2)) + [X0, Y0])
    cells = shapely.get_parts(shapely.voronoi_polygons(points, extend_to=square))
    cells = shapely.intersection(cells, square)
    atoms = gpd.GeoDataFrame({"atom_id": np.arange(len(cells)), "households": rng.integers(0, 60, len(cells))},
                             geometry=cells, crs=CRS)
    tree = shapely.STRtree(cells)
    left, right = tree.query(cells, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    length = shapely.length(shapely.intersection(cells[left], cells[right]))
    ok = length > 1e-6
    on_road = rng.random(ok.sum()) < 0.4
    edges = pd.DataFrame({"a": left[ok], "b": right[ok], "length": length[ok],
                          "barrier_length": np.where(on_road, length[ok], 0.0)})
    return atoms, edges


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_figures_match_gis_quality_on_irregular_atoms(seed: int) -> None:
    atoms, edges = voronoi_community(150, seed)
    ctx = EditContext.build(atoms, edges)
    rng = np.random.default_rng(seed)
    # Random labels: grids are usually in pieces, which the edge-based perimeter must handle too.
    labels = rng.integers(0, 6, ctx.n)
    mine = live_checks(ctx, Assignment(labels), BAND).grids
    ref = grid_quality(atoms, edges, pd.Series(labels), BAND)
    for column in ("households", "population", "n_atoms", "contiguous"):
        assert mine[column].tolist() == ref[column].tolist()
    for column in ("area_m2", "perimeter_m", "polsby_popper", "barrier_share"):
        np.testing.assert_allclose(mine[column].to_numpy(float), ref[column].to_numpy(float), rtol=1e-6)


def test_checks_do_not_mutate_inputs() -> None:
    ctx = context()
    series = pd.Series(QUADRANTS, index=range(16))
    before = series.copy()
    live_checks(ctx, series, BAND, exclusive={1})
    pd.testing.assert_series_equal(series, before)
