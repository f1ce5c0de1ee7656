"""Grid codes: reading order, 15-digit codes, keeping codes of unchanged grids, never reusing (gis.codes)."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from atomfixtures import CRS
from shapely.geometry import box

from gis.codes import assign_codes, micro_codes, order_grids
from gis.errors import InfeasibleError, InputError

COMMUNITY = "320102001001"


def layout_3x3(jitter: float = 0.0) -> gpd.GeoDataFrame:
    """Nine 100 m grids in 3 rows; label = 10*row + col, listed shuffled; middle column nudged."""
    cells = []
    for r in range(3):
        for c in range(3):
            dy = jitter if c == 1 else 0.0
            cells.append((10 * r + c, box(c * 100, (2 - r) * 100 + dy, (c + 1) * 100, (3 - r) * 100 + dy)))
    order = [4, 0, 8, 2, 6, 1, 5, 3, 7]
    return gpd.GeoDataFrame({"label": [cells[i][0] for i in order],
                             "kind": ["comprehensive"] * 9},
                            geometry=[cells[i][1] for i in order], crs=CRS)


def test_reading_order_rows_north_to_south_then_west_to_east() -> None:
    assert order_grids(layout_3x3()) == [0, 1, 2, 10, 11, 12, 20, 21, 22]


def test_small_north_south_offsets_stay_in_one_row() -> None:
    # The middle column sits 30 m higher (under half the 100 m grid size): rows are unchanged.
    assert order_grids(layout_3x3(jitter=30.0)) == [0, 1, 2, 10, 11, 12, 20, 21, 22]


def test_labels_from_index_when_no_label_column() -> None:
    grids = layout_3x3().set_index("label")
    assert order_grids(grids)[:3] == [0, 1, 2]


def test_assign_codes_sequence_and_exclusive_series() -> None:
    grids = layout_3x3()
    grids.loc[grids["label"] == 11, "kind"] = "exclusive"
    codes = assign_codes(grids, COMMUNITY)
    assert codes.to_dict() == {
        0: COMMUNITY + "001", 1: COMMUNITY + "002", 2: COMMUNITY + "003", 10: COMMUNITY + "004",
        11: COMMUNITY + "901", 12: COMMUNITY + "005", 20: COMMUNITY + "006", 21: COMMUNITY + "007",
        22: COMMUNITY + "008",
    }


def test_unchanged_grid_keeps_its_code_new_ones_never_reuse() -> None:
    # Two grids now: label 0 = atoms {1, 2, 3, 4} (same as old ...001 but for atom 5, 10 households of
    # 100), label 1 = atoms {5, 6}. Old ...002 held {6, 7, 8}: too different, so label 1 gets a new number
    # that is neither used before (001, 002) nor retired (003).
    grids = gpd.GeoDataFrame({"label": [0, 1], "kind": ["comprehensive"] * 2},
                             geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=CRS)
    households = pd.Series({1: 30, 2: 30, 3: 20, 4: 10, 5: 10, 6: 50, 7: 40, 8: 40})
    labels = pd.Series({1: 0, 2: 0, 3: 0, 4: 0, 5: 1, 6: 1})
    previous = {COMMUNITY + "001": {1, 2, 3, 4, 5}, COMMUNITY + "002": {6, 7, 8}}
    codes = assign_codes(grids, COMMUNITY, previous=previous, retired={COMMUNITY + "003"}, labels=labels,
                         households=households)
    assert codes.to_dict() == {0: COMMUNITY + "001", 1: COMMUNITY + "004"}


def test_overlap_threshold_both_ways() -> None:
    grids = gpd.GeoDataFrame({"label": [0], "kind": ["comprehensive"]}, geometry=[box(0, 0, 1, 1)], crs=CRS)
    labels = pd.Series({1: 0, 2: 0})
    # Old grid {1, 2, 3}: the new grid holds 2/3 of its atoms (no households: counted by atoms) < 0.8.
    codes = assign_codes(grids, COMMUNITY, previous={COMMUNITY + "001": {1, 2, 3}}, labels=labels)
    assert codes[0] == COMMUNITY + "002"
    loose = assign_codes(grids, COMMUNITY, previous={COMMUNITY + "001": {1, 2, 3}}, labels=labels, overlap=0.6)
    assert loose[0] == COMMUNITY + "001"
    # Households given with previous: atom 3 is nearly empty, so the grid is the same by households.
    by_hh = assign_codes(grids, COMMUNITY, previous={COMMUNITY + "001": {1: 100, 2: 100, 3: 5}}, labels=labels)
    assert by_hh[0] == COMMUNITY + "001"


def test_a_grid_that_became_exclusive_takes_a_new_number() -> None:
    grids = gpd.GeoDataFrame({"label": [0], "kind": ["exclusive"]}, geometry=[box(0, 0, 1, 1)], crs=CRS)
    codes = assign_codes(grids, COMMUNITY, previous={COMMUNITY + "001": {1}}, labels=pd.Series({1: 0}))
    assert codes[0] == COMMUNITY + "901"


@pytest.mark.parametrize("bad", ["32010200100", "3201020010011", "32010200100a", 320102001001])
def test_community_code_must_be_12_digits(bad: object) -> None:
    with pytest.raises(InputError, match="12 digits"):
        assign_codes(layout_3x3(), bad)  # type: ignore[arg-type]


def test_bad_previous_code_and_missing_labels() -> None:
    with pytest.raises(InputError, match="15 digits"):
        assign_codes(layout_3x3(), COMMUNITY, previous={"123": {1}}, labels=pd.Series({1: 0}))
    with pytest.raises(InputError, match="labels"):
        assign_codes(layout_3x3(), COMMUNITY, previous={COMMUNITY + "001": {1}})


def test_running_out_of_numbers_is_infeasible() -> None:
    retired = {f"{COMMUNITY}{i:03d}" for i in range(1, 900)}
    with pytest.raises(InfeasibleError, match="001-899"):
        assign_codes(layout_3x3(), COMMUNITY, retired=retired)


def test_micro_codes() -> None:
    codes = micro_codes(COMMUNITY + "004", ["b", "a", "c"])
    assert codes.to_dict() == {"b": COMMUNITY + "00401", "a": COMMUNITY + "00402", "c": COMMUNITY + "00403"}
    with pytest.raises(InputError):
        micro_codes("123", ["a"])
    with pytest.raises(InfeasibleError):
        micro_codes(COMMUNITY + "004", list(range(100)))
