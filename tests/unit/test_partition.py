"""Exact divisions of tiny box grids by the partition engine (gis.partition, gis.rebalance, micro-grids)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from atomfixtures import box_atoms, groups

from gis.errors import InputError
from gis.microgrids import divide_micro
from gis.partition import Band, Division, Finding, PartitionSettings, divide
from gis.rebalance import rebalance

URBAN = PartitionSettings(band=Band.urban(), seed=0)


def codes(division: Division) -> list[str]:
    return [f.code for f in division.findings]


def assert_contiguous(atoms: gpd.GeoDataFrame, edges: pd.DataFrame, labels: pd.Series) -> None:
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(atoms["atom_id"])
    graph.add_edges_from(edges[["a", "b"]].itertuples(index=False))
    for label, members in labels.groupby(labels).groups.items():
        assert nx.is_connected(graph.subgraph(members)), f"grid {label} is not contiguous"


# ---- Band and settings ---------------------------------------------------------------------------


def test_band_presets() -> None:
    assert Band.urban() == Band(300, 500, 400)
    assert Band.rural() == Band(200, 400, 300)
    assert Band.micro() == Band(30, 100, 60)


@pytest.mark.parametrize("args", [(0, 500, 400), (300, 500, 600), (400, 300, 350), (300, 500, 250)])
def test_band_rejects_bad_values_naming_them(args: tuple) -> None:
    with pytest.raises(InputError) as err:
        Band(*args)
    assert f"min={args[0]}, target={args[2]}, max={args[1]}" in str(err.value)


def test_band_needs_whole_numbers() -> None:
    with pytest.raises(InputError, match="min must be a whole number of households, got 300.5"):
        Band(300.5, 500, 400)  # type: ignore[arg-type]


def test_band_violation_and_feasible_counts() -> None:
    band = Band.urban()
    assert [band.violation(h) for h in (250, 300, 500, 520)] == [50, 0, 0, 20]
    assert list(band.feasible_counts(1000)) == [2, 3]
    assert list(Band(400, 500, 450).feasible_counts(1050)) == []


def test_settings_validation() -> None:
    with pytest.raises(InputError, match="seed"):
        PartitionSettings(seed=-1)
    with pytest.raises(InputError, match="barrier_weight"):
        PartitionSettings(barrier_weight=-1.0)
    with pytest.raises(InputError, match="restarts"):
        PartitionSettings(restarts=0)
    with pytest.raises(InputError, match="pair_zone"):
        PartitionSettings(pair_zone=-1)
    assert PartitionSettings(pair_zone=0).pair_zone == 0  # 0 turns the widened pair polish off


# ---- exact divisions -----------------------------------------------------------------------------


def test_strip_of_four_makes_two_grids_of_two() -> None:
    atoms, edges = box_atoms(1, 4, 200)
    division = divide(atoms, edges, URBAN)
    assert groups(division.labels) == [{0, 1}, {2, 3}]
    assert division.findings == []
    assert list(division.grids["households"]) == [400, 400]
    assert list(division.grids["label"]) == [0, 1]
    assert division.labels.index.name == "atom_id"
    assert list(division.labels.index) == [0, 1, 2, 3]


def test_cut_follows_the_road_rather_than_the_compact_cut() -> None:
    # 2 x 4 cells of 100 households. Without roads the compact cut is vertical (two 2 x 2 squares);
    # a road between the rows makes the horizontal cut free of off-barrier boundary.
    road = [(0, 4), (1, 5), (2, 6), (3, 7)]
    atoms, edges = box_atoms(2, 4, 100, barriers=road)
    division = divide(atoms, edges, URBAN)
    assert groups(division.labels) == [{0, 1, 2, 3}, {4, 5, 6, 7}]
    assert division.score["off_barrier_cut_m"] == 0.0
    plain = divide(*box_atoms(2, 4, 100), URBAN)
    assert groups(plain.labels) == [{0, 1, 4, 5}, {2, 3, 6, 7}]


def test_vertical_road_in_a_2x3_box() -> None:
    # A road between columns 0 and 1: the 200-household column 0 and the 400-household rest.
    atoms, edges = box_atoms(2, 3, 100, barriers=[(0, 1), (3, 4)])
    division = divide(atoms, edges, PartitionSettings(band=Band(200, 400, 300)))
    assert groups(division.labels) == [{0, 3}, {1, 2, 4, 5}]


def test_atom_over_max_becomes_its_own_grid_with_a_message() -> None:
    hh = [820, 150, 150, 150]
    atoms, edges = box_atoms(1, 4, hh, compounds={0: "阳光花园"}, extra={"units": {0: 6, 1: 1, 2: 1, 3: 1}})
    division = divide(atoms, edges, URBAN)
    assert groups(division.labels) == [{0}, {1, 2, 3}]
    finding = next(f for f in division.findings if f.code == "atom_over_max")
    assert finding.severity == "warning"
    assert finding.atom_ids == (0,)
    assert finding.grid == int(division.labels[0])
    assert finding.message.startswith(
        "atom 0 (compound 阳光花园) alone holds 820 households, over the band maximum 500: "
        "it becomes a grid of its own")
    assert "6 units (单元)" in finding.message
    # Reported once: no extra grid_out_of_band finding for the same grid.
    assert codes(division) == ["atom_over_max"]


def test_disconnected_island_under_min_is_one_grid() -> None:
    # Columns 0-3 form the main part (4 x 100 = 400); cell 5 is cut off by dropping cell 4.
    atoms, edges = box_atoms(1, 6, [100, 100, 100, 100, 0, 140], drop=[4])
    division = divide(atoms, edges, PartitionSettings(band=Band.rural()))
    assert groups(division.labels) == [{0, 1, 2, 3}, {4}]
    (finding,) = [f for f in division.findings if f.code == "island_under_min"]
    assert finding.message == ("atom 4, holding 140 households, is an island: under the minimum 200, "
                               "it stays one grid of its own")
    assert finding.atom_ids == (4,) and finding.grid == int(division.labels[4])


def test_island_of_several_atoms_message() -> None:
    atoms, edges = box_atoms(1, 6, [150, 150, 100, 0, 60, 80], drop=[3])
    division = divide(atoms, edges, PartitionSettings(band=Band.rural()))
    assert groups(division.labels) == [{0, 1, 2}, {3, 4}]
    (finding,) = division.findings
    assert finding.message == ("a group of 2 atoms (3, 4) holding 140 households is an island: under the "
                               "minimum 200, it stays one grid of its own")


def test_infeasible_band_reports_and_picks_least_violation() -> None:
    atoms, edges = box_atoms(1, 3, 350)
    division = divide(atoms, edges, PartitionSettings(band=Band(400, 500, 450)))
    # Two grids (700 + 350) miss by 250 households, three grids (350 each) by 150: three it is.
    assert groups(division.labels) == [{0}, {1}, {2}]
    (finding,) = division.findings
    assert finding.code == "band_infeasible"
    assert "1050 households" in finding.message and "400-500" in finding.message
    assert "150 households outside the band" in finding.message
    assert division.score["band_violation"] == 150


def test_locked_grid_is_kept_exactly() -> None:
    atoms, edges = box_atoms(2, 4, 100)
    # An odd locked grid: the L of atoms 0, 1, 4 (300 households). The rest (500) is one grid.
    division = divide(atoms, edges, URBAN, locked={0: 1, 1: 1, 4: 1})
    assert groups(division.labels) == [{0, 1, 4}, {2, 3, 5, 6, 7}]
    assert int(division.labels[0]) == 1  # a locked label that fits 0..k-1 is kept
    assert division.grids.set_index("label").loc[1, "locked"]


def test_locked_labels_outside_range_are_renumbered_but_grid_kept() -> None:
    atoms, edges = box_atoms(1, 4, 200)
    division = divide(atoms, edges, URBAN, locked={3: 17})
    assert {3} in groups(division.labels)
    assert "locked_relabelled" in codes(division)


def test_locked_unknown_atom_is_an_input_error() -> None:
    atoms, edges = box_atoms(1, 4, 200)
    with pytest.raises(InputError, match="99"):
        divide(atoms, edges, URBAN, locked={99: 0})


def test_exclusive_site_becomes_an_exclusive_grid() -> None:
    # Atoms 0 and 1 are one school (adjacent, same site); atom 3 a hospital; the rest are homes.
    hh = [0, 10, 200, 5, 150, 150, 150, 150]
    atoms, edges = box_atoms(2, 4, hh, sites={0: "school", 1: "school", 3: "hospital"})
    division = divide(atoms, edges, URBAN)
    # The only contiguous in-band split of the homes (800): {2, 6, 7} = 500 and {4, 5} = 300.
    assert groups(division.labels) == [{0, 1}, {2, 6, 7}, {3}, {4, 5}]
    grids = division.grids.set_index("label")
    school, hospital = int(division.labels[0]), int(division.labels[3])
    assert grids.loc[school, ["kind", "subtype", "households"]].tolist() == ["exclusive", "school", 10]
    assert grids.loc[hospital, ["kind", "subtype"]].tolist() == ["exclusive", "hospital"]
    assert codes(division) == ["exclusive_site", "exclusive_site"]
    assert division.findings[0].severity == "info" and division.findings[0].grid == school
    off = divide(atoms, edges, PartitionSettings(exclusive_sites=False))
    assert set(off.grids["kind"]) == {"comprehensive"}


def test_exclusive_grids_exact() -> None:
    hh = [0, 200, 200, 200, 200, 0]
    atoms, edges = box_atoms(1, 6, hh, sites={0: "park", 5: "government"})
    division = divide(atoms, edges, URBAN)
    assert groups(division.labels) == [{0}, {1, 2}, {3, 4}, {5}]
    kinds = division.grids.set_index("label")["kind"]
    assert kinds[int(division.labels[0])] == "exclusive"
    assert kinds[int(division.labels[1])] == "comprehensive"


def test_grid_frame_geometry_and_totals() -> None:
    atoms, edges = box_atoms(2, 4, 100)
    division = divide(atoms, edges, URBAN)
    grids = division.grids
    assert grids.crs == atoms.crs
    assert list(grids.columns) == ["label", "kind", "subtype", "households", "population", "n_atoms",
                                   "locked", "geometry"]
    assert grids["households"].sum() == 800 and grids["population"].sum() == 2400
    assert shapely.union_all(grids.geometry.to_numpy()).area == pytest.approx(atoms.union_all().area)
    assert all(g.geom_type == "Polygon" for g in grids.geometry)


def test_deterministic_per_seed() -> None:
    rng = np.random.default_rng(7)
    atoms, edges = box_atoms(8, 9, rng.integers(0, 90, 72), barriers=lambda p, q: p[1] == 3 and q[1] == 4)
    first = divide(atoms, edges, PartitionSettings(seed=5))
    second = divide(atoms, edges, PartitionSettings(seed=5))
    pd.testing.assert_series_equal(first.labels, second.labels)
    assert first.score == second.score
    # A different seed may give a different (equally valid) division: it must still be valid.
    other = divide(atoms, edges, PartitionSettings(seed=6))
    assert other.score["band_violation"] == 0
    assert_contiguous(atoms, edges, other.labels)


def test_inputs_are_not_mutated() -> None:
    atoms, edges = box_atoms(3, 3, 100)
    a0, e0 = atoms.copy(), edges.copy()
    divide(atoms, edges, URBAN, locked={0: 0})
    pd.testing.assert_frame_equal(atoms, a0)
    pd.testing.assert_frame_equal(edges, e0)


def test_every_grid_in_band_on_a_larger_community() -> None:
    rng = np.random.default_rng(3)
    atoms, edges = box_atoms(20, 20, rng.integers(0, 25, 400),
                             barriers=lambda p, q: (p[1] % 5 == 4 and q[1] % 5 == 0))
    division = divide(atoms, edges, URBAN)
    assert division.score["band_violation"] == 0
    assert division.grids["households"].between(300, 500).all()
    assert_contiguous(atoms, edges, division.labels)
    assert division.findings == []


# ---- input validation ----------------------------------------------------------------------------


def test_geographic_crs_is_refused() -> None:
    atoms, edges = box_atoms(1, 2, 100)
    with pytest.raises(InputError, match="geographic"):
        divide(atoms.set_crs("EPSG:4490", allow_override=True), edges)


def test_missing_households_column_is_named() -> None:
    atoms, edges = box_atoms(1, 2, 100)
    with pytest.raises(InputError, match="households"):
        divide(atoms.drop(columns="households"), edges)


def test_negative_households_named_with_row() -> None:
    atoms, edges = box_atoms(1, 2, 100)
    atoms = atoms.assign(households=[100, -3])
    with pytest.raises(InputError) as err:
        divide(atoms, edges)
    assert "-3" in str(err.value) and "feature 2" in str(err.value)


def test_edge_to_unknown_atom_and_bad_barrier_length() -> None:
    atoms, edges = box_atoms(1, 2, 100)
    with pytest.raises(InputError, match="atom_id 9"):
        divide(atoms, pd.DataFrame({"a": [0], "b": [9], "length": [100.0], "barrier_length": [0.0]}))
    with pytest.raises(InputError, match="exceeds"):
        divide(atoms, edges.assign(barrier_length=[150.0]))


# ---- rebalance -----------------------------------------------------------------------------------


def test_rebalance_moves_the_smallest_sufficient_atom() -> None:
    # Grid 0 = columns 0-1 (100+150+230+60 = 540, 40 over), grid 1 = columns 2-3 (350).
    # Atom 1 (150) or atom 5 (60) could go; 60 households is the least to move.
    atoms, edges = box_atoms(2, 4, [100, 150, 100, 100, 230, 60, 100, 50])
    labels = pd.Series([0, 0, 1, 1, 0, 0, 1, 1], index=pd.Index(range(8), name="atom_id"))
    result = rebalance(atoms, edges, labels, Band.urban())
    assert result.moves == [(5, 0, 1, 60)]
    assert result.households_moved == 60
    assert result.findings == []
    assert list(result.labels) == [0, 0, 1, 1, 0, 1, 1, 1]


def test_rebalance_chain_through_a_full_middle_grid() -> None:
    # 1 x 7: grid 0 (atoms 0-1) = 520, grid 1 (2-4) = 500, full, grid 2 (5-6) = 320. No single move
    # helps; pass 30 households from grid 1 to grid 2 and 30 from grid 0 to grid 1.
    atoms, edges = box_atoms(1, 7, [490, 30, 30, 440, 30, 20, 300])
    labels = pd.Series([0, 0, 1, 1, 1, 2, 2])
    result = rebalance(atoms, edges, labels, Band.urban())
    assert result.moves == [(1, 0, 1, 30), (4, 1, 2, 30)]
    assert result.findings == []


def test_rebalance_redivides_a_pair_no_move_or_chain_can_fix() -> None:
    # 2 x 2: grid 0 = top row (200 + 210 = 410, 10 over), grid 1 = bottom row (100 + 190 = 290,
    # 10 under). Every single move makes it worse and there is no third grid for a chain; the
    # columns (200 + 100, 210 + 190) fit both. Atoms 1 and 2 swap: 310 households moved.
    atoms, edges = box_atoms(2, 2, [200, 210, 100, 190])
    result = rebalance(atoms, edges, pd.Series([0, 0, 1, 1]), Band(300, 400, 350))
    assert sorted(result.moves) == [(1, 0, 1, 210), (2, 1, 0, 100)]
    assert result.findings == []
    assert_contiguous(atoms, edges, result.labels)


def test_rebalance_leaves_locked_grids_alone() -> None:
    atoms, edges = box_atoms(2, 4, [100, 150, 100, 100, 230, 60, 100, 50])
    labels = pd.Series([0, 0, 1, 1, 0, 0, 1, 1])
    result = rebalance(atoms, edges, labels, Band.urban(), locked_grids={1})
    assert result.moves == []
    (finding,) = result.findings
    assert finding.code == "grid_out_of_band" and finding.grid == 0 and "540" in finding.message


def test_rebalance_splits_a_double_grid() -> None:
    atoms, edges = box_atoms(1, 6, 200)
    result = rebalance(atoms, edges, pd.Series([0, 0, 0, 0, 0, 1]), Band.urban())
    assert groups(result.labels) == [{0, 1}, {2, 3}, {4, 5}]
    assert [f.code for f in result.findings] == ["grid_split"]


def test_rebalance_merges_an_unfixable_small_grid() -> None:
    # Grid 1 (atom 2, 100 households) sits between grids it cannot take from without breaking them;
    # merged into grid 0 (300 -> 400).
    atoms, edges = box_atoms(1, 4, [150, 150, 100, 450])
    result = rebalance(atoms, edges, pd.Series([0, 0, 1, 2]), Band.urban())
    assert groups(result.labels) == [{0, 1, 2}, {3}]
    assert [f.code for f in result.findings] == ["grid_merged"]
    assert result.moves == [(2, 1, 0, 100)]


def test_rebalance_requires_a_label_for_every_atom() -> None:
    atoms, edges = box_atoms(1, 4, 100)
    with pytest.raises(InputError, match="no grid"):
        rebalance(atoms, edges, pd.Series([0, 0, 1]), Band.urban())


# ---- micro-grids ---------------------------------------------------------------------------------


def parcels_of(atoms: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return atoms.rename(columns={"atom_id": "parcel_id"}).assign(atom_id=atoms["atom_id"])


def test_micro_grids_divide_each_grid_separately() -> None:
    # 2 grids of 2 x 4 parcels (columns 0-3 and 4-7 of a 2 x 8 box), 15 households per parcel:
    # each grid of 120 households becomes two micro-grids of 2 x 2 parcels (60 each), never
    # crossing the grid boundary between columns 3 and 4.
    atoms, edges = box_atoms(2, 8, 15)
    parcels = parcels_of(atoms)
    grid = pd.Series([0 if c < 4 else 1 for r in range(2) for c in range(8)], index=range(16))
    labels = divide_micro(parcels, edges, grid, seed=0)
    assert groups(labels) == [{0, 1, 8, 9}, {2, 3, 10, 11}, {4, 5, 12, 13}, {6, 7, 14, 15}]
    assert labels.attrs["grid"] == {0: 0, 1: 0, 2: 1, 3: 1}
    assert labels.attrs["findings"] == []


def test_micro_grids_absorb_empty_parcels() -> None:
    # One grid: a strip of 40, 0, 0, 40, 0 households -> never a micro-grid with 0 households.
    atoms, edges = box_atoms(1, 5, [40, 0, 0, 40, 0])
    labels = divide_micro(parcels_of(atoms), edges, pd.Series(0, index=range(5)))
    hh = atoms["households"].groupby(labels.to_numpy()).sum()
    assert (hh > 0).all()
    assert hh.sum() == 80


def test_micro_grids_of_an_empty_grid() -> None:
    atoms, edges = box_atoms(1, 3, 0)
    labels = divide_micro(parcels_of(atoms), edges, pd.Series(7, index=range(3)))
    assert groups(labels) == [{0, 1, 2}]
    assert isinstance(labels.attrs["findings"][0], Finding)


def test_micro_grid_cut_off_empty_piece_joins_nearest() -> None:
    # Parcels 0-2 (50 households each) and an empty parcel 3 separated by a dropped cell.
    atoms, edges = box_atoms(1, 5, [50, 50, 50, 0, 0], drop=[3])
    labels = divide_micro(parcels_of(atoms), edges, pd.Series(0, index=range(4)))
    hh = atoms["households"].groupby(labels.to_numpy()).sum()
    assert (hh > 0).all()
    assert "empty_piece_joined" in [f.code for f in labels.attrs["findings"]]


def test_micro_grids_say_nothing_of_empty_parcels() -> None:
    # A strip 40, 200, 0: the oversized parcel cuts the empty parcel off from the parcel of 40. Reported
    # on its own, the empty parcel would be an "island under the minimum"; it joins its neighbour
    # silently instead, and the findings name only parcels that hold households.
    atoms, edges = box_atoms(1, 3, [40, 200, 0])
    labels = divide_micro(parcels_of(atoms), edges, pd.Series(0, index=range(3)))
    assert groups(labels) == [{0}, {1, 2}]
    findings = labels.attrs["findings"]
    assert findings, "the oversized parcel and the small one are still reported"
    for f in findings:
        named = atoms.set_index("atom_id").loc[list(f.atom_ids), "households"]
        assert (named > 0).all(), f.message


def test_exclusive_site_message_names_the_site() -> None:
    atoms, edges = box_atoms(1, 4, [0, 5, 200, 200], sites={0: "school", 1: "school"},
                             extra={"site_id": {0: "实验小学", 1: "实验小学"}})
    (finding,) = divide(atoms, edges, URBAN).findings
    assert finding.message == ("atoms 0, 1 (school 实验小学, 5 households) form an exclusive grid, outside the "
                               "household band")


def test_empty_atoms_and_no_edges() -> None:
    atoms, _ = box_atoms(1, 3, 200)
    with pytest.raises(InputError, match="empty"):
        divide(atoms.iloc[:0], pd.DataFrame(columns=["a", "b", "length", "barrier_length"]))
    # Without edges nothing touches: every atom is an island of its own.
    division = divide(atoms, pd.DataFrame(columns=["a", "b", "length", "barrier_length"]), URBAN)
    assert groups(division.labels) == [{0}, {1}, {2}]
    assert codes(division) == ["island_under_min"] * 3
