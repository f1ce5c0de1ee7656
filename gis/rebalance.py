"""Bring an existing division back into the household band after counts change (动态调整).

Households move; grids drift out of the band. Re-dividing from scratch would redraw every boundary,
so :func:`rebalance` instead moves as few households as it can: single boundary atoms between
neighbouring grids, chains of two moves through a middle grid, or (when neither helps) a new
division of the grid and one neighbour between the two, always keeping every grid connected and
never touching locked grids. Only when moves cannot do it does it split an over-full grid or merge
an under-full one into a neighbour, and it reports that.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.errors import InputError
from gis.graph import AtomGraph, align_labels, build_graph, can_leave, format_ids, is_whole
from gis.partition import Band, Finding, PartitionSettings, Region, connected_sets, mask_connected

log = logging.getLogger(__name__)

Move = tuple[int, int, int, int]  # (atom_id, from grid, to grid, households)

#: Splits of a pair of grids tried at most when re-dividing the pair (bounds the time, about 50 ms,
#: where many empty atoms let almost every connected set through).
PAIR_SPLITS_TRIED = 20_000


@dataclass(frozen=True)
class RebalanceResult:
    """Result of :func:`rebalance`.

    Attributes
    ----------
    labels
        ``atom_id -> grid label`` after rebalancing. Labels are kept; a split grid's new part gets
        a new label above the largest one, a merged grid's label disappears.
    moves
        Net moves ``(atom_id, from_label, to_label, households)``, sorted by atom id.
    findings
        Splits, merges, and grids that stay out of the band (with why).
    """

    labels: pd.Series
    moves: list[Move]
    findings: list[Finding]

    @property
    def households_moved(self) -> int:
        """Households in atoms whose grid changed."""
        return sum(m[3] for m in self.moves)


class _Rebalancer:
    """Greedy minimum-households repair of band violations on a fixed labelling."""

    def __init__(self, graph: AtomGraph, lab: list[int], band: Band, locked: set[int], seed: int) -> None:
        self.g = graph
        self.lab = lab
        self.band = band
        self.locked = locked
        self.seed = seed
        self.w = [int(x) for x in graph.households]
        self.H: dict[int, int] = {}
        self.size: dict[int, int] = {}
        for v, g in enumerate(lab):
            self.H[g] = self.H.get(g, 0) + self.w[v]
            self.size[g] = self.size.get(g, 0) + 1
        self.findings: list[Finding] = []

    def viol(self, h: int) -> int:
        return self.band.violation(h)

    def out_of_band(self) -> list[int]:
        out = [g for g in self.H if g not in self.locked and self.viol(self.H[g]) > 0]
        return sorted(out, key=lambda g: (-self.viol(self.H[g]), g))

    # ---- candidate plans --------------------------------------------------------------------------

    def _border(self, src: int, dst: int) -> list[int]:
        """Atoms of ``src`` touching ``dst`` that can leave ``src`` keeping it connected."""
        if self.size[src] <= 1:
            return []
        nbrs, lab = self.g.nbrs, self.lab
        out = []
        for v in range(self.g.n):
            if lab[v] == src and any(lab[u] == dst for u in nbrs[v]) and can_leave(nbrs, lab, v, src):
                out.append(v)
        return out

    def _neighbour_grids(self, grid: int) -> list[int]:
        nbrs, lab = self.g.nbrs, self.lab
        found = {lab[u] for v in range(self.g.n) if lab[v] == grid for u in nbrs[v]}
        found.discard(grid)
        return sorted(found - self.locked)

    def _delta(self, plan: list[tuple[int, int, int]]) -> int:
        change: dict[int, int] = {}
        for v, src, dst in plan:
            change[src] = change.get(src, 0) - self.w[v]
            change[dst] = change.get(dst, 0) + self.w[v]
        return sum(self.viol(self.H[g] + d) - self.viol(self.H[g]) for g, d in change.items())

    def _best_plan(self, grid: int) -> list[tuple[int, int, int]] | None:
        over = self.H[grid] > self.band.max
        plans: list[list[tuple[int, int, int]]] = []
        for other in self._neighbour_grids(grid):
            src, dst = (grid, other) if over else (other, grid)
            plans.extend([(v, src, dst)] for v in self._border(src, dst))
        best = self._pick(plans)
        if best is not None:
            return best
        # No single move helps: pass households through a middle grid (grid -> mid -> far, or back).
        nbrs, lab = self.g.nbrs, self.lab
        for mid in self._neighbour_grids(grid):
            for far in self._neighbour_grids(mid):
                if far == grid:
                    continue
                if over:
                    first = self._border(mid, far)
                    second = self._border(grid, mid)
                    for v1 in first:
                        for v0 in second:
                            # v0 must still touch ``mid`` once v1 has left it.
                            if any(lab[u] == mid and u != v1 for u in nbrs[v0]):
                                plans.append([(v1, mid, far), (v0, grid, mid)])
                else:
                    first = self._border(mid, grid)
                    second = self._border(far, mid)
                    for v0 in first:
                        for v1 in second:
                            if v1 != v0 and any(lab[u] == mid and u != v0 for u in nbrs[v1]):
                                if self.size[mid] > 1:
                                    plans.append([(v0, mid, grid), (v1, far, mid)])
        best = self._pick(plans)
        return best if best is not None else self._pair_plan(grid)

    def _pair_plan(self, grid: int, limit: int = 20) -> list[tuple[int, int, int]] | None:
        """Re-divide ``grid`` and one neighbouring grid, when no move or chain helps.

        Two grids of a few big atoms can be stuck with every single move and chain making things
        worse, while dividing their atoms differently (e.g. by columns instead of rows) fits both
        in the band. Splits of the pair (at most ``limit`` atoms; up to :data:`PAIR_SPLITS_TRIED`)
        into two connected grids are tried, ranked like :meth:`_pick`, each side going to the label
        that moves fewer households.
        """
        lo, hi = self.band.min, self.band.max
        best_key, best = None, None
        for other in self._neighbour_grids(grid):
            units = [v for v in range(self.g.n) if self.lab[v] in (grid, other)]
            n = len(units)
            if n > limit:
                continue
            now = self.viol(self.H[grid]) + self.viol(self.H[other])
            local = {v: i for i, v in enumerate(units)}
            nmask = [sum(1 << local[u] for u in self.g.nbrs[v] if u in local) for v in units]
            w = [self.w[v] for v in units]
            total, full, zeros = sum(w), (1 << n) - 1, [0.0] * n
            # Over either cap one side alone is at least ``now`` outside the band.
            cap = min(hi, total - lo) + now - 1
            for s, hs, _, _ in connected_sets(nmask, w, zeros, zeros, cap, budget=PAIR_SPLITS_TRIED):
                gain = self.viol(hs) + self.viol(total - hs) - now
                if s == full or gain >= 0 or not mask_connected(full ^ s, nmask):
                    continue
                for first, second in ((grid, other), (other, grid)):
                    plan = [(v, self.lab[v], first if s >> i & 1 else second) for i, v in enumerate(units)
                            if self.lab[v] != (first if s >> i & 1 else second)]
                    key = (gain, sum(self.w[v] for v, _, _ in plan), len(plan), round(self._cut_delta(plan), 6),
                           [v for v, _, _ in plan])
                    if best_key is None or key < best_key:
                        best_key, best = key, plan
        return best

    def _pick(self, plans: list[list[tuple[int, int, int]]]) -> list[tuple[int, int, int]] | None:
        """Largest violation reduction first, then fewest households moved, then smallest atom ids."""
        best_key = None
        best = None
        for plan in plans:
            d = self._delta(plan)
            if d >= 0:
                continue
            key = (d, sum(self.w[v] for v, _, _ in plan), len(plan), round(self._cut_delta(plan), 6),
                   [v for v, _, _ in plan])
            if best_key is None or key < best_key:
                best_key, best = key, plan
        return best

    def _cut_delta(self, plan: list[tuple[int, int, int]]) -> float:
        """Change of grid boundary off barriers (metres) if ``plan`` were applied; breaks ties."""
        lab = self.lab
        moved = {v: dst for v, _, dst in plan}
        delta = 0.0
        for v, src, dst in plan:
            for u, off_len in zip(self.g.nbrs[v], self.g.off[v], strict=True):
                if u in moved and u < v:
                    continue  # an edge between two moved atoms: counted once, from the smaller id
                before = lab[u] != src
                after = moved.get(u, lab[u]) != dst
                delta += off_len * (int(after) - int(before))
        return delta

    def _apply(self, plan: list[tuple[int, int, int]]) -> None:
        for v, src, dst in plan:
            self.lab[v] = dst
            self.H[src] -= self.w[v]
            self.H[dst] += self.w[v]
            self.size[src] -= 1
            self.size[dst] += 1

    # ---- structural fixes -------------------------------------------------------------------------

    def _split(self, grid: int) -> bool:
        members = [v for v in range(self.g.n) if self.lab[v] == grid]
        total = self.H[grid]
        feasible = self.band.feasible_counts(total)
        k = min(max(round(total / self.band.target), feasible.start), feasible.stop - 1) if len(feasible) \
            else max(2, -(-total // self.band.max))
        k = min(k, len(members))
        if k < 2:
            return False
        defaults = PartitionSettings(band=self.band, seed=self.seed)
        region = Region(self.g, members, self.band, defaults.barrier_weight, defaults.compactness_weight,
                         defaults.max_passes)
        state = region.solve(k, np.random.default_rng(self.seed), defaults.restarts)
        before = self.viol(total)
        parts: dict[int, list[int]] = {}
        for i, part in enumerate(state.lab):
            parts.setdefault(part, []).append(members[i])
        after = sum(self.viol(sum(self.w[v] for v in p)) for p in parts.values())
        if after >= before:
            return False
        # The heaviest part keeps the label, so the grid people know keeps its name and code.
        ordered = sorted(parts.values(), key=lambda p: (-sum(self.w[v] for v in p), min(p)))
        next_label = max(self.H) + 1
        new_labels = [grid]
        for part in ordered[1:]:
            self.H[next_label] = 0
            self.size[next_label] = 0
            self._apply([(v, grid, next_label) for v in part])
            new_labels.append(next_label)
            next_label += 1
        sizes = ", ".join(str(self.H[x]) for x in new_labels)
        self.findings.append(Finding(
            "grid_split", "warning",
            f"grid {grid} holds {total} households, over the maximum {self.band.max}: split into grids "
            f"{', '.join(map(str, new_labels))} of {sizes} households",
            tuple(int(self.g.ids[v]) for v in members), grid))
        return True

    def _merge(self, grid: int) -> bool:
        options = []
        for other in self._neighbour_grids(grid):
            merged = self.H[grid] + self.H[other]
            gain = self.viol(self.H[grid]) + self.viol(self.H[other]) - self.viol(merged)
            if gain > 0:
                options.append((-gain, self.H[other], other))
        if not options:
            return False
        _, _, other = min(options)
        members = [v for v in range(self.g.n) if self.lab[v] == grid]
        before = self.H[grid]
        self._apply([(v, grid, other) for v in members])
        del self.H[grid]
        del self.size[grid]
        self.findings.append(Finding(
            "grid_merged", "warning",
            f"grid {grid} holds {before} households, under the minimum {self.band.min}: merged into neighbouring "
            f"grid {other}, now {self.H[other]} households",
            tuple(int(self.g.ids[v]) for v in members), other))
        return True

    # ---- driver -----------------------------------------------------------------------------------

    def total_violation(self) -> int:
        return sum(self.viol(h) for g, h in self.H.items() if g not in self.locked)

    def run(self, *, structure_first: bool = False) -> None:
        """Repair until no step helps; ``structure_first`` splits/merges before trying moves."""
        for _ in range(4 * self.g.n + 10):
            out = self.out_of_band()
            if not out:
                return
            if structure_first and any(self._structural(grid) for grid in out if self._clearly_structural(grid)):
                continue
            for grid in out:
                plan = self._best_plan(grid)
                if plan is not None:
                    self._apply(plan)
                    break
            else:
                if not any(self._structural(grid) for grid in out):
                    return

    def _structural(self, grid: int) -> bool:
        return self._split(grid) if self.H[grid] > self.band.max else self._merge(grid)

    def _clearly_structural(self, grid: int) -> bool:
        """A grid that holds two grids' worth, or that a neighbour could absorb within the band."""
        h = self.H[grid]
        if h > self.band.max:
            return h >= 2 * self.band.min
        return any(self.band.contains(h + self.H[o]) for o in self._neighbour_grids(grid))


def rebalance(atoms: gpd.GeoDataFrame, edges: pd.DataFrame, labels: pd.Series, band: Band, *,
              locked_grids: Iterable[int] = frozenset(), seed: int = 0) -> RebalanceResult:
    """Move as few households as possible to bring out-of-band grids back into the band.

    Parameters
    ----------
    atoms, edges
        As for :func:`gis.partition.divide`, with the current household counts.
    labels
        Current division, ``atom_id -> grid label`` (whole numbers) for every atom.
    band
        Household band.
    locked_grids
        Labels of grids that must not change (neither give nor take atoms).
    seed
        Seed for splitting a grid, the only randomised step.

    Returns
    -------
    RebalanceResult
        The new labels, the net moves and the findings.

    Notes
    -----
    Greedy: each step takes the out-of-band grid with the largest violation and applies the plan
    (one boundary atom, or a chain of two through a middle grid; failing those, a re-division of the
    grid and one neighbour) that most reduces the total band violation, moving the fewest households
    among equals. Every plan keeps all grids connected.
    """
    if not isinstance(band, Band):
        raise InputError(f"band must be a Band, got {band!r}", field="band")
    graph = build_graph(atoms, edges, id_col="atom_id", what="atoms", edges_what="edges")
    raw = align_labels(graph.ids, labels)
    for atom_id, x in zip(graph.ids, raw, strict=True):
        if not is_whole(x) and not (isinstance(x, float) and x.is_integer()):
            raise InputError(f"labels must be whole numbers; atom {atom_id} has {x!r}", field="labels")
    lab = [int(x) for x in raw]
    locked = {int(x) for x in locked_grids}
    unknown = locked - set(lab)
    if unknown:
        raise InputError(f"locked_grids {sorted(unknown)} are not among the labels", field="locked_grids")
    original = list(lab)
    worker = _Rebalancer(graph, list(lab), band, locked, seed)
    worker.run()
    if worker.total_violation() > 0:
        # Moves alone got stuck: try splitting/merging first and keep whichever ends better.
        other = _Rebalancer(graph, list(lab), band, locked, seed)
        other.run(structure_first=True)
        moved = sum(w for w, a, b in zip(other.w, original, other.lab, strict=True) if a != b)
        moved_first = sum(w for w, a, b in zip(worker.w, original, worker.lab, strict=True) if a != b)
        if (other.total_violation(), len(other.findings), moved) < (worker.total_violation(),
                                                                    len(worker.findings), moved_first):
            worker = other
    lab = worker.lab
    findings = worker.findings
    for grid in sorted(worker.H):
        h = worker.H[grid]
        if band.contains(h):
            continue
        members = tuple(int(graph.ids[v]) for v in range(graph.n) if lab[v] == grid)
        side = f"under the minimum {band.min}" if h < band.min else f"over the maximum {band.max}"
        if grid in worker.locked:
            findings.append(Finding("grid_out_of_band", "info",
                                    f"locked grid {grid} holds {h} households, {side}; left as it is",
                                    members, grid))
        else:
            findings.append(Finding(
                "grid_out_of_band", "warning",
                f"grid {grid} holds {h} households, {side}; no move, split or merge brings it into the band "
                f"({format_ids(members)})", members, grid))
    moves = [(int(graph.ids[v]), original[v], lab[v], int(graph.households[v]))
             for v in range(graph.n) if lab[v] != original[v]]
    result = pd.Series(lab, index=pd.Index(graph.ids, name="atom_id"), name="grid")
    return RebalanceResult(labels=result, moves=moves, findings=findings)
