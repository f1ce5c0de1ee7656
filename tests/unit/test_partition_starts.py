"""How the partition engine spends its METIS starts across grid counts."""

from __future__ import annotations

import math

import numpy as np
from atomfixtures import street_region

from gis.partition import _extra_starts, _Starts


class _Scripted:
    """A count whose starts end with the given households outside the band, in order."""

    def __init__(self, outcomes: list[int]) -> None:
        self.outcomes = outcomes
        self.r = 0
        self.best = math.inf

    def violation(self) -> float:
        return self.best

    def run_one(self) -> None:
        self.best = min(self.best, self.outcomes[self.r])
        self.r += 1

    def may_continue(self, bar: float) -> bool:
        return 0 < self.best < bar and self.r < len(self.outcomes)


def _scripted(outcomes: list[int], base: int) -> _Scripted:
    count = _Scripted(outcomes)
    for _ in range(base):
        count.run_one()
    return count


def test_a_count_reaching_the_band_stops_the_extra_starts_of_the_others() -> None:
    first = _scripted([65] * 32, 8)
    lower = _scripted([70] * 32, 8)
    upper = _scripted([10] * 8 + [30] * 4 + [0] + [30] * 19, 8)
    _extra_starts([first, lower, upper])
    assert upper.violation() == 0 and upper.r == 13
    assert lower.r == 8  # never beat the others: no extra starts
    assert first.r <= upper.r  # taken in turns, stopped once the band was reached


def test_the_suggested_count_keeps_its_extra_starts_while_no_count_is_in_the_band() -> None:
    # Its late starts are what find the band's closest division; a neighbour that looked closer
    # after the base starts does not take them all.
    first = _scripted([42] * 8 + [50] * 8 + [28] + [50] * 15, 8)
    upper = _scripted([36] * 32, 8)
    _extra_starts([first, upper])
    assert first.violation() == 28 and first.r == 32
    assert upper.r < 32  # stopped once the suggested count beat it


def test_a_neighbouring_count_further_from_the_band_stops_after_half_its_starts() -> None:
    region = street_region(0)
    starts = _Starts(region, 6, np.random.default_rng(0), 8)
    starts.run_base(bar=-1)  # nothing can beat a bar under zero
    assert starts.r == 4


def test_run_base_without_a_bar_runs_every_base_start_and_solve_matches_it() -> None:
    region = street_region(1)
    starts = _Starts(region, 6, np.random.default_rng(1), 8)
    starts.run_base()
    assert starts.r == 8
    solved = region.solve(6, np.random.default_rng(1), 8)
    assert solved.key() == starts.result().key()


def test_the_cycle_collector_is_paused_only_while_solving_and_restored_as_it_was() -> None:
    import gc

    from gis.partition import _cycle_collection_paused

    was = gc.isenabled()
    try:
        for before in (True, False):
            gc.enable() if before else gc.disable()
            with _cycle_collection_paused():
                with _cycle_collection_paused():  # a second solve overlapping the first
                    assert not gc.isenabled()
                assert not gc.isenabled()
            assert gc.isenabled() is before
    finally:
        gc.enable() if was else gc.disable()


def test_connected_sets_under_a_floor_are_the_heavier_sets_in_the_same_order() -> None:
    from gis.partition import connected_sets

    rng = np.random.default_rng(3)
    # A 2 x 4 lattice of units.
    nmask = [0] * 8
    for i, j in [(0, 1), (1, 2), (2, 3), (4, 5), (5, 6), (6, 7), (0, 4), (1, 5), (2, 6), (3, 7)]:
        nmask[i] |= 1 << j
        nmask[j] |= 1 << i
    w = rng.integers(0, 30, len(nmask)).tolist()
    zeros = [0.0] * len(nmask)
    every = connected_sets(nmask, w, zeros, zeros, 90)
    assert connected_sets(nmask, w, zeros, zeros, 90, floor=40) == [x for x in every if x[1] >= 40]
