"""The shape polish of the partition engine and the move bookkeeping it relies on."""

from __future__ import annotations

import math

import numpy as np
import pytest
from atomfixtures import box_atoms, street_region

from gis.graph import build_graph, can_leave, is_connected
from gis.partition import Band, Region, _Starts, _State, connected_sets, mask_connected


def _start(region: Region, k: int, seed: int) -> _State:
    return _State(region, region.repair(region.metis(k, seed, 30), k), k, np.random.default_rng(seed))


def _assert_bookkeeping_fresh(state: _State) -> None:
    fresh = _State(state.r, state.lab, state.k, np.random.default_rng(0))
    assert state.H == fresh.H
    assert state.size == fresh.size
    assert np.allclose(state.A, fresh.A)
    assert np.allclose(state.P, fresh.P)
    assert math.isclose(state.cut_off, fresh.cut_off, abs_tol=1e-6)


def _pp_sum(state: _State) -> float:
    return sum(4.0 * math.pi * a / p**2 for p, a in zip(state.P, state.A, strict=True))


@pytest.mark.parametrize("seed", range(5))
def test_incremental_moves_equal_a_recount(seed: int) -> None:
    region = street_region(seed)
    state = _start(region, 6, seed)
    rng = np.random.default_rng(seed)
    moves = 0
    for v in rng.integers(0, region.m, 400).tolist():
        a = state.lab[v]
        others = sorted({state.lab[u] for u in region.nbrs[v]} - {a})
        if not others or state.size[a] == 1 or not can_leave(region.nbrs, state.lab, v, a):
            continue
        b = others[int(rng.integers(len(others)))]
        sums = {g: [0.0, 0.0] for g in (a, b)}
        for u, length_m, off_len in zip(region.nbrs[v], region.lens[v], region.offs[v], strict=True):
            if state.lab[u] in sums:
                sums[state.lab[u]][0] += length_m
                sums[state.lab[u]][1] += off_len
        state._move(v, a, b, *sums[a], *sums[b])
        moves += 1
    assert moves > 50
    _assert_bookkeeping_fresh(state)


@pytest.mark.parametrize("seed", range(8))
def test_polish_rounds_grids_and_gives_up_nothing_ranked_above(seed: int) -> None:
    region = street_region(seed)
    state = _start(region, 6, seed)
    state.optimise()
    band = region.band
    viol_before = [band.violation(h) for h in state.H]
    cut_before, off_before = state.cut_lengths()
    pp_before = _pp_sum(state)
    state.polish_shape()
    _assert_bookkeeping_fresh(state)
    assert all(band.violation(h) <= v for h, v in zip(state.H, viol_before, strict=True))
    cut_after, off_after = state.cut_lengths()
    assert off_after <= off_before + 1e-6
    assert (cut_after - off_after) / cut_after >= (cut_before - off_before) / cut_before - 1e-9
    assert _pp_sum(state) >= pp_before - 1e-12
    for g in range(state.k):
        assert is_connected(region.graph, [v for v in range(region.m) if state.lab[v] == g])


def test_polish_takes_back_a_protruding_atom() -> None:
    # 4 x 4 open blocks, two grids: columns 0-1 plus the top atom of column 2, and the rest.
    atoms, edges = box_atoms(4, 4, [10] * 16)
    graph = build_graph(atoms, edges, id_col="atom_id", what="atoms", edges_what="edges")
    region = Region(graph, range(graph.n), Band(20, 140, 80), 1.0, 0.3, 40)
    lab = [0 if col < 2 or (row, col) == (0, 2) else 1 for row in range(4) for col in range(4)]
    state = _State(region, lab, 2, np.random.default_rng(0))
    before = _pp_sum(state)
    assert state.polish_shape() >= 1
    assert state.lab == [0 if col < 2 else 1 for row in range(4) for col in range(4)]
    assert _pp_sum(state) > before


@pytest.mark.parametrize(("seed", "limit", "zone"), [(s, 16, 0) for s in range(6)] + [(s, 8, 6) for s in range(6)])
def test_pair_polish_rounds_pairs_and_gives_up_nothing_ranked_above(seed: int, limit: int, zone: int) -> None:
    # zone > 0: the pairs over ``limit`` atoms are re-split too, near their common boundary.
    region = street_region(seed)
    state = _start(region, 8, seed)
    state.optimise()
    band = region.band
    viol_before = sum(band.violation(h) for h in state.H)
    out_before = sum(band.violation(h) > 0 for h in state.H)
    _, off_before = state.cut_lengths()
    floor = state.barrier_share()
    pp_before = _pp_sum(state)
    state.pair_polish(floor, limit, zone)
    _assert_bookkeeping_fresh(state)
    assert sum(band.violation(h) for h in state.H) <= viol_before
    assert sum(band.violation(h) > 0 for h in state.H) <= out_before
    assert state.cut_lengths()[1] <= off_before + 1e-6
    assert state.barrier_share() >= floor - 1e-9
    assert _pp_sum(state) >= pp_before - 1e-12
    for g in range(state.k):
        assert is_connected(region.graph, [v for v in range(region.m) if state.lab[v] == g])


def test_pair_polish_redraws_two_grids_cut_the_long_way() -> None:
    # A 2 x 4 strip of open blocks cut lengthwise into two 1 x 4 rows; two 2 x 2 squares are rounder.
    atoms, edges = box_atoms(2, 4, [10] * 8)
    graph = build_graph(atoms, edges, id_col="atom_id", what="atoms", edges_what="edges")
    region = Region(graph, range(graph.n), Band(20, 140, 40), 1.0, 0.3, 40)
    state = _State(region, [0, 0, 0, 0, 1, 1, 1, 1], 2, np.random.default_rng(0))
    assert state.pair_polish(state.barrier_share()) == 1
    assert state.lab in ([0, 0, 1, 1, 0, 0, 1, 1], [1, 1, 0, 0, 1, 1, 0, 0])


def test_pair_polish_straightens_a_large_pair_near_its_boundary() -> None:
    # 4 x 6 open blocks of 10 households, band exactly 120: two grids of 12 atoms, columns 0-2 and
    # 3-5 but with the corner atoms (0, 2) and (3, 3) swapped. Any single move takes a grid out of
    # the band, and 24 atoms are over the limit of the exact pair re-split; freeing the 10 atoms
    # nearest the boundary finds the straight cut.
    atoms, edges = box_atoms(4, 6, [10] * 24)
    graph = build_graph(atoms, edges, id_col="atom_id", what="atoms", edges_what="edges")
    region = Region(graph, range(graph.n), Band(120, 120, 120), 1.0, 0.3, 40)
    straight = [0 if col < 3 else 1 for row in range(4) for col in range(6)]
    lab = list(straight)
    lab[0 * 6 + 2], lab[3 * 6 + 3] = 1, 0
    state = _State(region, lab, 2, np.random.default_rng(0))
    floor = state.barrier_share()
    before = _pp_sum(state)
    assert state.polish_shape(floor) == 0
    assert state.pair_polish(floor) == 0
    assert state.pair_polish(floor, zone=10) == 1
    assert state.lab == straight
    assert _pp_sum(state) > before
    assert state.violation() == 0
    assert state.barrier_share() >= floor - 1e-9
    _assert_bookkeeping_fresh(state)


def test_pair_pass_redivides_a_pair_into_the_band() -> None:
    # A row of four open blocks, 100-250-250-100 households, band 300-400: 600 + 100 re-split as
    # 350 + 350, both grids in one piece.
    atoms, edges = box_atoms(1, 4, [100, 250, 250, 100])
    graph = build_graph(atoms, edges, id_col="atom_id", what="atoms", edges_what="edges")
    region = Region(graph, range(graph.n), Band(300, 400, 350), 1.0, 0.3, 40)
    state = _State(region, [0, 0, 0, 1], 2, np.random.default_rng(0))
    assert state.violation() == 400
    assert state._pair_pass() == 1
    assert state.violation() == 0
    assert state.lab in ([0, 0, 1, 1], [1, 1, 0, 0])
    _assert_bookkeeping_fresh(state)


def test_pair_pass_leaves_pairs_it_cannot_improve() -> None:
    # 450 + 450 households against a band of 300-400: no split of the pair does better.
    atoms, edges = box_atoms(1, 2, [450, 450])
    graph = build_graph(atoms, edges, id_col="atom_id", what="atoms", edges_what="edges")
    region = Region(graph, range(graph.n), Band(300, 400, 350), 1.0, 0.3, 40)
    state = _State(region, [0, 1], 2, np.random.default_rng(0))
    assert state._pair_pass() == 0
    assert state.lab == [0, 1]


@pytest.mark.parametrize("seed", range(3))
def test_the_finalists_are_the_starts_as_close_to_the_band_as_the_best(seed: int) -> None:
    starts = _Starts(street_region(seed), 6, np.random.default_rng(seed), 8, suggested=True)
    starts.run_base()
    best, finalists = starts.result(), starts.finalists()
    keys = [x.key() for x in finalists]
    assert finalists[0] is best
    assert keys == sorted(set(keys))
    assert all(x.violation() == best.violation() for x in finalists)


@pytest.mark.parametrize("seed", range(4))
def test_atoms_the_search_skipped_could_not_have_moved(seed: int) -> None:
    # The move loop skips atoms whose grid and neighbouring grids did not change since they last
    # stayed; a fresh state that looks at every atom must find the search's result a local optimum.
    region = street_region(seed)
    state = _start(region, 6, seed)
    state.optimise()
    fresh = _State(region, state.lab, state.k, np.random.default_rng(seed + 1))
    fresh._passes(balance=False)
    assert fresh.lab == state.lab


def _three_by_three() -> list[int]:
    """Neighbour bit masks of a 3 x 3 block of units, bit i = unit i (row-major)."""
    nmask = [0] * 9
    for i in range(9):
        r, c = divmod(i, 3)
        for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= rr < 3 and 0 <= cc < 3:
                nmask[i] |= 1 << (3 * rr + cc)
    return nmask


def test_connected_sets_are_every_connected_set_with_unit_zero_once() -> None:
    # Brute force over all subsets of a 3 x 3 block agrees.
    nmask = _three_by_three()
    w = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    found = [s for s, _, _, _ in connected_sets(nmask, w, [0.0] * 9, [0.0] * 9, 20)]
    expected = [s for s in range(1, 1 << 9) if s & 1 and mask_connected(s, nmask)
                and sum(w[i] for i in range(9) if s >> i & 1) <= 20]
    assert sorted(found) == sorted(expected)
    assert len(found) == len(set(found))
    assert len(connected_sets(nmask, w, [0.0] * 9, [0.0] * 9, 45, budget=10)) == 10


def test_connected_sets_hold_the_required_units_and_none_of_the_excluded() -> None:
    # Sets of a 3 x 3 block holding units 0 and 8 but not 4 go round the centre.
    nmask = _three_by_three()
    w = [1] * 9
    found = [s for s, _, _, _ in connected_sets(nmask, w, [0.0] * 9, [0.0] * 9, 9, required=1 | 1 << 8,
                                                excluded=1 << 4)]
    expected = [s for s in range(1, 1 << 9) if s & 1 and s >> 8 & 1 and not s >> 4 & 1
                and mask_connected(s, nmask)]
    assert sorted(found) == sorted(expected)
    assert len(found) == len(set(found)) > 0


@pytest.mark.parametrize("seed", range(3))
def test_the_components_search_of_a_start_matches_the_graph_module(seed: int) -> None:
    from gis.graph import label_components
    from gis.partition import _numbered, _same_label_components

    region = street_region(seed)
    _, _, length, off = region.graph.edge_arrays
    lab = np.random.default_rng(seed).integers(0, 5, region.m).tolist()
    assert _same_label_components(region.nbrs, lab) == _numbered(label_components(region.graph, np.asarray(lab)))
    blocks = _numbered(label_components(region.graph, np.asarray(lab), off > 0.5 * length))
    assert _same_label_components(region.open_nbrs, lab) == blocks
