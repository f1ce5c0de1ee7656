"""The partition engine: divide a community's atoms into grids (网格) of a household band.

A division is an assignment of atoms (基础单元) to grids. :func:`divide` carves out exclusive grids
(专属网格) and oversized atoms first, reports what makes the band unreachable, then divides each
connected remainder of the atom adjacency graph into ``k`` contiguous grids:

1. ``k`` from the total households and the band target, clamped to the feasible range;
2. an initial partition by METIS (vertex weight = households, edge weight favouring cuts on roads,
   rivers and walls), several seeded restarts;
3. contiguity repair (detached pieces join the neighbour they share most boundary with);
4. local search moving boundary atoms between neighbouring grids, keeping both contiguous, that
   minimises lexicographically the band violation, then a weighted sum of the cut length off
   barriers and the compactness deficit of the grids; a grid still outside the band is re-divided
   exactly together with each neighbouring grid;
5. a shape polish of the best starts: single moves and exact re-splits of neighbouring pairs that
   raise the grids' summed Polsby-Popper without more households or grids outside the band, more
   boundary off barriers, or a lower share of the cut on barriers; the rounder start is kept.

Everything here works on positional arrays built once from the atoms and edges; the geometry is only
read for perimeters and areas (metres, square metres) and for the union of each grid at the end.
"""

from __future__ import annotations

import gc
import logging
import math
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pymetis

from gis.errors import InputError
from gis.graph import (
    AtomGraph,
    build_graph,
    can_leave,
    components,
    format_ids,
    is_connected,
    is_whole,
    label_components,
    subgraph,
    union_cells,
    whole_column,
)

log = logging.getLogger(__name__)

Severity = Literal["error", "warning", "info"]

#: Exclusive grid types (专属网格), city regs art. 6.
SITE_TYPES = frozenset(
    {"school", "hospital", "government", "industrial_park", "market", "park", "enterprise", "business"}
)

_EPS = 1e-9

#: Atoms free to change sides when the last shape polish re-divides a pair of grids too large to
#: try every split of (see :meth:`_State._pair_units`). Each more about doubles the splits tried.
#: On the 14 benchmark communities (CPU seconds of all their partitions, mean Polsby-Popper of the
#: 13): none 0.56 s, 0.6357; 9 atoms 0.62 s, 0.6366; 12 atoms 0.70 s, 0.6376, which is where the
#: engine's grids are first as round as GerryChain's (0.6374) while keeping their band and barriers.
_PAIR_ZONE = 12


# --------------------------------------------------------------------------------------------------
# Public value types
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Band:
    """Household band of a grid.

    Parameters
    ----------
    min, max
        Inclusive bounds on the households of one grid.
    target
        Households a grid should hold when there is a choice; chooses the number of grids.

    Raises
    ------
    InputError
        Unless ``0 < min <= target <= max`` and all three are whole numbers.
    """

    min: int
    max: int
    target: int

    def __post_init__(self) -> None:
        for name in ("min", "max", "target"):
            value = getattr(self, name)
            if not is_whole(value):
                raise InputError(f"band {name} must be a whole number of households, got {value!r}",
                                 field=name)
        if not 0 < self.min <= self.target <= self.max:
            raise InputError(
                f"band must satisfy 0 < min <= target <= max, got min={self.min}, "
                f"target={self.target}, max={self.max}", field="band")

    @classmethod
    def urban(cls) -> Band:
        """Urban comprehensive grid: 300-500 households, target 400 (Jiangsu art. 6)."""
        return cls(300, 500, 400)

    @classmethod
    def rural(cls) -> Band:
        """Rural comprehensive grid: about 300 households (band 200-400, target 300)."""
        return cls(200, 400, 300)

    @classmethod
    def micro(cls) -> Band:
        """Micro-grid (微网格): 30-100 households, target 60."""
        return cls(30, 100, 60)

    def violation(self, households: int) -> int:
        """Households outside the band: ``max(0, min - h, h - max)``."""
        if households < self.min:
            return int(self.min - households)
        if households > self.max:
            return int(households - self.max)
        return 0

    def contains(self, households: int) -> bool:
        """Whether ``households`` lies inside the band (bounds included)."""
        return self.min <= households <= self.max

    def feasible_counts(self, total: int) -> range:
        """Numbers of grids ``k`` with ``k * min <= total <= k * max`` (may be empty)."""
        lo = max(1, -(-int(total) // self.max))
        hi = int(total) // self.min
        return range(lo, hi + 1)


@dataclass(frozen=True)
class PartitionSettings:
    """How :func:`divide` trades the objectives.

    Parameters
    ----------
    band
        Household band of comprehensive grids.
    seed
        Seed of the numpy Generator driving restarts; same input and seed give the same division.
    barrier_weight
        Cost per metre of grid boundary that does not lie on a road, river or wall.
    compactness_weight
        Cost per metre of compactness deficit, ``P - 2*sqrt(pi*A)`` of each grid (0 for a disc).
        Both weights rank divisions only after the band violation, which always comes first.
    exclusive_sites
        Make atoms with a ``site`` their own exclusive grids, outside the band.
    restarts
        Seeded METIS starts per connected part; the best result is kept. When the best still leaves
        households outside the band, the neighbouring grid counts are tried too (one stops after
        half its starts when it is further from the band than the best count; none is tried once
        one is in the band), and up to three times as many more starts are spent, in turns across
        the counts: on the suggested count until any count is in the band, on another only while
        it beats every other, never once every start of a count has ended in the same division,
        and not after ``restarts`` starts of a count in a row brought it no closer to the band.
        Every other start beyond the suggested count's first ``restarts`` partitions without the
        barrier edge weights, which reaches the band more often. Of counts equally far from the
        band, the suggested one is kept.
    max_passes
        Cap on local-search passes over the boundary atoms per phase.
    """

    band: Band = field(default_factory=Band.urban)
    seed: int = 0
    barrier_weight: float = 1.0
    compactness_weight: float = 0.3
    exclusive_sites: bool = True
    restarts: int = 8
    max_passes: int = 40

    def __post_init__(self) -> None:
        if not isinstance(self.band, Band):
            raise InputError(f"band must be a Band, got {self.band!r}", field="band")
        if not is_whole(self.seed) or self.seed < 0:
            raise InputError(f"seed must be a non-negative whole number, got {self.seed!r}", field="seed")
        for name in ("barrier_weight", "compactness_weight"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise InputError(f"{name} must be a finite number >= 0, got {value!r}", field=name)
        for name in ("restarts", "max_passes"):
            value = getattr(self, name)
            if not is_whole(value) or value < 1:
                raise InputError(f"{name} must be a whole number >= 1, got {value!r}", field=name)


@dataclass(frozen=True)
class Finding:
    """Something the user must know about a division: why the band is not met, what was carved out.

    Parameters
    ----------
    code
        Machine-readable kind: ``atom_over_max``, ``island_under_min``, ``band_infeasible``,
        ``grid_out_of_band``, ``exclusive_site``, ``locked_grid_not_contiguous``, ...
    severity
        ``'error'``, ``'warning'`` or ``'info'``.
    message
        Human-readable explanation with the numbers involved.
    atom_ids
        Atoms concerned.
    grid
        Label of the grid concerned, when there is one.
    """

    code: str
    severity: Severity
    message: str
    atom_ids: tuple[int, ...] = ()
    grid: int | None = None


@dataclass(frozen=True)
class Division:
    """Result of :func:`divide`.

    Attributes
    ----------
    labels
        ``pd.Series`` indexed by atom_id: grid label, integers ``0..k-1``.
    grids
        One row per grid: label, kind (``'comprehensive'``/``'exclusive'``), subtype (site type or
        None), households, population, n_atoms, locked, geometry (union of its atoms, atoms' CRS).
    findings
        Feasibility reports and warnings, in the order they were found.
    score
        ``band_violation`` (households outside the band over comprehensive grids),
        ``off_barrier_cut_m`` (metres of grid boundary not on barriers), ``compactness_m``
        (sum of ``P - 2*sqrt(pi*A)`` over grids, metres).
    """

    labels: pd.Series
    grids: gpd.GeoDataFrame
    findings: list[Finding]
    score: dict[str, float]


# --------------------------------------------------------------------------------------------------
# The solver for one connected part
# --------------------------------------------------------------------------------------------------


def _deficit(perimeter: float, area: float) -> float:
    """Compactness deficit in metres: perimeter beyond that of a disc of the same area (>= 0)."""
    if area <= 0.0:
        return perimeter
    return max(0.0, perimeter - 2.0 * math.sqrt(math.pi * area))


class Region:
    """One connected part of the graph to divide into ``k`` grids, with local (0..m-1) indices.

    Parameters
    ----------
    graph
        The whole graph.
    nodes
        Positions (in ``graph``) of the part, connected.
    band, barrier_weight, compactness_weight
        As in :class:`PartitionSettings`.
    """

    def __init__(self, graph: AtomGraph, nodes: Sequence[int], band: Band, barrier_weight: float,
                 compactness_weight: float, max_passes: int) -> None:
        self.nodes = list(nodes)
        self.band = band
        self.wb = float(barrier_weight)
        self.wc = float(compactness_weight)
        self.max_passes = max_passes
        self.starts = 0  # starts the last :meth:`solve` ran
        self._metis_inputs: dict[float, tuple] = {}
        self.split_cache: dict[tuple, list[bool] | None] = {}  # see _State._balanced_split
        self.shape_cache: dict[tuple, tuple] = {}  # see _State._pair_candidates
        self.graph = subgraph(graph, self.nodes)
        self.m = len(self.nodes)
        self.w = self.graph.households.tolist()
        self.perim = self.graph.perimeter.tolist()
        self.area = self.graph.area.tolist()
        self.nbrs = self.graph.nbrs
        self.lens = self.graph.lengths
        self.offs = self.graph.off
        # (neighbour, shared metres, metres of it off barriers) per atom: what every move reads.
        self.adj = [list(zip(n, ln, of, strict=True)) for n, ln, of in zip(self.nbrs, self.lens, self.offs,
                                                                           strict=True)]
        self.total = sum(self.w)
        # Edges mostly off barriers join atoms of one street block; pieces of a block are moved whole.
        self.open_nbrs = [[u for u, length_m, off_len in row if off_len > 0.5 * length_m] for row in self.adj]

    # ---- initial partition ------------------------------------------------------------------------

    def metis(self, k: int, seed: int, ufactor: int, discount: float | None = 0.9) -> list[int]:
        """METIS k-way partition; edge weights make cutting along barriers cheap.

        ``discount`` is the share of an edge's barrier length that cutting it does not cost; None
        partitions without edge weights (every edge costs the same).
        """
        adjacency, vw, ew = self._metis_input(0.9 if discount is None else discount)
        for contig in (1, 0):
            try:
                opts = pymetis.Options(seed=int(seed), contig=contig, ufactor=int(ufactor))
                res = pymetis.part_graph(k, adjacency, vweights=vw, eweights=None if discount is None else ew,
                                         options=opts)
                return list(res.vertex_part)  # an array of C ints: list() gives Python ints
            except Exception:  # noqa: BLE001 - METIS refuses contig on some inputs; retry without it.
                log.debug("METIS failed with contig=%s, retrying", contig, exc_info=True)
        # Last resort, never expected: a breadth-first cut of the part into k runs.
        return self._bfs_runs(k)

    def _metis_input(self, discount: float) -> tuple[pymetis.CSRAdjacency, list[int], list[int]]:
        """Adjacency, vertex and edge weights for METIS, built once per ``discount``."""
        cached = self._metis_inputs.get(discount)
        if cached is not None:
            return cached
        xadj = [0]
        adjncy: list[int] = []
        ew: list[int] = []
        for i in range(self.m):
            adjncy.extend(self.nbrs[i])
            # length - discount * barrier_length, in decimetres; +1: METIS needs positive weights.
            ew.extend(int(round(10.0 * (off_len + (1.0 - discount) * (length_m - off_len)))) + 1
                      for length_m, off_len in zip(self.lens[i], self.offs[i], strict=True))
            xadj.append(len(adjncy))
        # Zero-household atoms still need a positive weight; x10 keeps that nudge negligible.
        vw = [10 * x + 1 for x in self.w]
        cached = (pymetis.CSRAdjacency(adj_starts=xadj, adjacent=adjncy), vw, ew)
        self._metis_inputs[discount] = cached
        return cached

    def _bfs_runs(self, k: int) -> list[int]:
        order = self._bfs_order(0)
        lab = [0] * self.m
        acc = 0
        per = self.total / k if self.total else self.m / k
        for v in order:
            lab[v] = min(k - 1, int(acc / per)) if per else 0
            acc += self.w[v] if self.total else 1
        return lab

    def _bfs_order(self, start: int) -> list[int]:
        seen = [False] * self.m
        seen[start] = True
        order = [start]
        queue = deque([start])
        while queue:
            x = queue.popleft()
            for y in self.nbrs[x]:
                if not seen[y]:
                    seen[y] = True
                    order.append(y)
                    queue.append(y)
        return order

    # ---- contiguity repair ------------------------------------------------------------------------

    def _label_components(self, lab: list[int]) -> tuple[list[int], list[list[int]]]:
        """Component of each atom among atoms of its own label, numbered by their smallest atom."""
        return _same_label_components(self.nbrs, lab)

    def repair(self, lab: list[int], k: int) -> list[int]:
        """Make every label one connected piece and every label 0..k-1 non-empty."""
        lab = list(lab)
        for _ in range(4 * self.m + 4):
            comp, comps = self._label_components(lab)
            if len(comps) == k and len(set(lab)) == k:
                return lab  # every label one piece, none empty (METIS's usual answer): nothing to repair
            main: dict[int, int] = {}
            for c, members in enumerate(comps):
                g = lab[members[0]]
                key = (sum(self.w[x] for x in members), len(members), -min(members))
                best = main.get(g)
                if best is None or key > self._key(comps[best]):
                    main[g] = c
            detached = [c for c, members in enumerate(comps) if main[lab[members[0]]] != c]
            if not detached:
                break
            is_main = set(main.values())
            moved = False
            for c in detached:
                members = comps[c]
                own = lab[members[0]]
                shared: dict[int, float] = {}
                shared_main: dict[int, float] = {}
                for x in members:
                    for y, length_m in zip(self.nbrs[x], self.lens[x], strict=True):
                        if comp[y] != c:
                            shared[lab[y]] = shared.get(lab[y], 0.0) + length_m + _EPS
                            if comp[y] in is_main:
                                shared_main[lab[y]] = shared_main.get(lab[y], 0.0) + length_m + _EPS
                # Same-label neighbours would be in this component, so ``own`` is never in the pool.
                pool = shared_main or shared
                if not pool:
                    continue
                target = max(sorted(pool), key=lambda g: pool[g])
                if target == own:
                    continue
                for x in members:
                    lab[x] = target
                moved = True
            if not moved:
                break
        self._fill_empty(lab, k)
        return lab

    def _key(self, members: list[int]) -> tuple[int, int, int]:
        return (sum(self.w[x] for x in members), len(members), -min(members))

    def _fill_empty(self, lab: list[int], k: int) -> None:
        sizes = [0] * k
        hh = [0] * k
        for v, g in enumerate(lab):
            sizes[g] += 1
            hh[g] += self.w[v]
        for g in range(k):
            if sizes[g]:
                continue
            # Seed the empty grid with a non-cut atom of the heaviest grid; the balance phase grows it.
            donors = sorted((h for h in range(k) if sizes[h] > 1), key=lambda h: (-hh[h], h))
            for d in donors:
                members = [v for v in range(self.m) if lab[v] == d]
                for v in sorted(members, key=lambda x: (self.w[x], x)):
                    if can_leave(self.nbrs, lab, v, d):
                        lab[v] = g
                        sizes[g], sizes[d] = 1, sizes[d] - 1
                        hh[g], hh[d] = self.w[v], hh[d] - self.w[v]
                        break
                if sizes[g]:
                    break

    # ---- full solve -------------------------------------------------------------------------------

    def solve(self, k: int, rng: np.random.Generator, restarts: int, beat: int | None = None) -> _State:
        """Best of ``restarts`` seeded METIS starts, each repaired and improved by local search.

        ``beat``: households outside the band of the best division already found with another
        number of grids. The extra starts for a violated band are spent only while this count's best
        is under it, i.e. while this count is still the one that may bring the band closest.
        """
        starts = _Starts(self, k, rng, restarts, suggested=True)
        starts.run_base()
        bar = math.inf if beat is None else beat
        while starts.may_continue(bar):
            starts.run_one()
        self.starts = starts.r
        return starts.result()


class _Starts:
    """The seeded METIS starts of one number of grids ``k``, run one at a time.

    Each start is METIS, contiguity repair and the local search (:meth:`_State.optimise`); beyond
    the suggested count's first ``restarts``, every other start's METIS has no edge weights. The seeds
    of every start this count may run are drawn up front, so how many it runs (which depends on
    how good its starts turn out) never shifts the starts of the next count.
    """

    def __init__(self, region: Region, k: int, rng: np.random.Generator, restarts: int,
                 suggested: bool = False) -> None:
        self.region = region
        self.suggested = suggested  # the count the band suggests (see run_one)
        self.k = k = max(1, min(k, region.m))
        self.limit = max(1, restarts)
        self.r = 0  # starts run
        self.improved = 0  # the start that last lowered the best's households outside the band
        self.keys: set[tuple[int, float]] = set()
        self.finished: list[_State] = []
        self.best: _State | None = None
        self.draws: list[tuple[int, int]] = []
        self.best_key: tuple[int, float] = (0, 0.0)  # key() of ``best``, kept: the counts compare it often
        if k == 1 or k == region.m:  # one division only: no starts
            self.best = _State(region, [0] * region.m if k == 1 else list(range(region.m)), k, rng)
            self.best_key = self.best.key()
            return
        mean = region.total / k
        # Imbalance METIS may use: half the room the band leaves above the mean grid, in 1/1000.
        room = (region.band.max / mean - 1.0) if mean > 0 else 0.0
        loose = int(max(30, min(300, 500 * room)))
        for r in range(4 * self.limit):
            seed = int(rng.integers(0, 2**31 - 1))
            self.draws.append((seed, 30 if r == 0 else int(rng.integers(30, max(31, loose + 1)))))

    def violation(self) -> int:
        """Households outside the band of the best start so far."""
        assert self.best is not None
        return self.best_key[0]

    def run_one(self) -> None:
        """Run the next start and keep it when it is the best so far."""
        region = self.region
        seed, ufactor = self.draws[self.r]
        # Restarts vary how strongly METIS prefers barriers, for diversity of the starts.
        discount: float | None = (0.9, 0.99, 0.7)[self.r % 3]
        if self.r % 2 and (not self.suggested or self.r >= self.limit):
            # Every other start beyond the suggested count's own: METIS without edge weights, at
            # the tightest balance. Such starts ignore barriers but reach the band far more often
            # when the weighted ones keep missing it; the local search then moves cuts onto barriers.
            discount, ufactor = None, 30
        lab = region.repair(region.metis(self.k, seed, ufactor, discount), self.k)
        state = _State(region, lab, self.k, np.random.default_rng(seed))
        state.optimise()
        key = state.key()
        self.keys.add(key)
        self.finished.append(state)
        if self.best is None or key[0] < self.best_key[0]:
            self.improved = self.r
        if self.best is None or key < self.best_key:
            self.best, self.best_key = state, key
        self.r += 1

    def run_base(self, bar: float = math.inf) -> None:
        """The ``restarts`` starts every count runs; ``bar``: see :meth:`hopeless`."""
        while self.r < min(self.limit, len(self.draws)):
            self.run_one()
            if self.hopeless(bar):
                break

    def hopeless(self, bar: float) -> bool:
        """Whether half the starts are spent and the best still leaves more households outside the
        band than ``bar`` (another count's best): the rest of them would only decide which of this
        count's losing divisions to keep.
        """
        return self.r >= max(1, self.limit // 2) and self.violation() > bar

    def may_continue(self, bar: float) -> bool:
        """Whether an extra start is worth it: the best is outside the band but under ``bar``, extra
        starts remain (up to 4x the base), the starts so far did not all end in one division, and
        the last ``restarts`` starts did not all fail to bring this count closer to the band.
        """
        stalled = self.r - self.improved > self.limit
        return 0 < self.violation() < bar and self.r < len(self.draws) and len(self.keys) > 1 and not stalled

    def result(self) -> _State:
        """The best start."""
        assert self.best is not None
        return self.best

    def finalists(self) -> list[_State]:
        """The starts as close to the band as the best, one per division, best first: what the shape
        polish chooses from.
        """
        best = self.result()
        distinct = {x.key(): x for x in reversed(self.finished) if x.violation() == best.violation()}
        return sorted(distinct.values(), key=lambda x: x.key()) or [best]


def _numbered(comp: np.ndarray) -> tuple[list[int], list[list[int]]]:
    """Components renumbered by their smallest member, and the members of each, ascending."""
    _, first, inverse = np.unique(comp, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first, kind="stable"), kind="stable")
    numbered = rank[inverse].tolist()
    members: list[list[int]] = [[] for _ in range(len(first))]
    for v, c in enumerate(numbered):
        members[c].append(v)
    return numbered, members


def _same_label_components(nbrs: list[list[int]], lab: list[int]) -> tuple[list[int], list[list[int]]]:
    """As :func:`_numbered` of ``label_components``: the component of each atom among the atoms
    of its own label joined by ``nbrs``, numbered by smallest member, and the members, ascending.

    A plain search: on the few hundred atoms of a region it is several times quicker than building
    a sparse matrix for scipy, and every start calls it a few times.
    """
    comp = [-1] * len(lab)
    members: list[list[int]] = []
    for v in range(len(lab)):
        if comp[v] >= 0:
            continue
        c, g = len(members), lab[v]
        comp[v] = c
        group = [v]
        for x in group:  # grows while it is read: a breadth-first search
            for y in nbrs[x]:
                if comp[y] < 0 and lab[y] == g:
                    comp[y] = c
                    group.append(y)
        group.sort()
        members.append(group)
    return comp, members


def _pp(perimeter: float, area: float) -> float:
    """Polsby-Popper ``4*pi*A/P**2`` (0 without a perimeter)."""
    return 4.0 * math.pi * area / (perimeter * perimeter) if perimeter > 0.0 else 0.0


def mask_connected(mask: int, nmask: list[int]) -> bool:
    """Whether the units in bit mask ``mask`` are one connected piece (``nmask``: neighbours)."""
    seen = frontier = mask & -mask
    while frontier:
        grow = 0
        while frontier:
            low = frontier & -frontier
            grow |= nmask[low.bit_length() - 1]
            frontier ^= low
        frontier = grow & mask & ~seen
        seen |= frontier
    return seen == mask


def connected_sets(nmask: list[int], w: list[int], area: list[float], perim: list[float],
                   cap: float, budget: int | None = None, floor: float = -math.inf, *,
                   required: int = 0, excluded: int = 0) -> list[tuple[int, int, float, float]]:
    """Every connected set of units holding unit 0 (bit masks over ``nmask``, each unit's
    neighbours) with at most ``cap`` households: ``(mask, households, area, summed perimeter)``.

    Grown one neighbour at a time, each set once (units passed over in a branch are excluded from
    the later ones); households never fall as a set grows, so a set over ``cap`` is not grown.
    ``budget``: stop after that many sets (those found first), bounding the time on large pairs.
    ``floor``: sets under that many households are grown but not returned (the callers would only
    throw them away; most sets of a pair are small), and a branch whose excluded units leave too
    few households to reach it is not grown at all.
    ``required``: only sets holding all these units are returned, and a branch that has passed one
    over is not grown; ``excluded``: units no set may hold (both bit masks).
    """
    found: list[tuple[int, int, float, float]] = []
    limit = math.inf if budget is None else budget
    # Households a set may still reach are at most those of the units neither in it nor excluded.
    reach = sum(w) - floor
    others = required & ~1  # unit 0 is in every set (and in ``excluded`` below, as the first unit)

    def grow(mask: int, ext: int, excluded: int, blocked: int, h: int, a: float, p: float) -> None:
        # ``blocked``: households of the excluded units outside ``mask``.
        if h >= floor and mask & others == others:
            found.append((mask, h, a, p))
        while ext and len(found) < limit and blocked <= reach and not excluded & others:
            low = ext & -ext
            ext ^= low
            i = low.bit_length() - 1
            if h + w[i] <= cap:
                grown = mask | low
                grow(grown, (ext | nmask[i]) & ~grown & ~excluded, excluded, blocked, h + w[i], a + area[i],
                     p + perim[i])
            excluded |= low
            blocked += w[i]

    if w and w[0] <= cap and not excluded & 1:
        blocked = sum(x for i, x in enumerate(w) if excluded >> i & 1)
        grow(1, nmask[0] & ~excluded, 1 | excluded, blocked, w[0], area[0], perim[0])
    # ``grow`` calls itself through its closure: a reference cycle that would keep ``found`` alive
    # until the (paused, see _cycle_collection_paused) cycle collector walks it. Emptying the cell
    # frees them at once.
    grow = None  # noqa: F841 - the closure's cell, read by no one after this
    return found


def _balanced_mask(nmask: list[int], w: list[int], lo: int, hi: int, now: float,
                   edges: list[tuple[int, int, float]]) -> int | None:
    """The split of :meth:`_State._pair_pass`: the connected set holding unit 0, with a connected
    rest, leaving fewest households outside the band over both sides (under ``now``), then cutting
    fewest metres off barriers (``edges``: bit of each end, metres off barriers); None if none.

    The sets are those of :func:`connected_sets`, in its order (so ties go the same way), but the
    household bounds that stop a set growing tighten as better splits are found: a side over
    ``hi + bound`` or the other side under ``lo - bound`` is more than ``bound`` outside the band.
    """
    search = _SplitSearch(nmask, w, lo, hi, now, edges)
    if w and w[0] <= search.cap:
        search.grow(1, nmask[0], 1, 0, w[0])
    return search.best


class _SplitSearch:
    """State of :func:`_balanced_mask`'s depth-first search (a class: a nested function calling
    itself would leave a reference cycle per search for the cycle collector).
    """

    __slots__ = ("nmask", "w", "lo", "hi", "edges", "total", "full", "best", "best_v", "best_off", "bound",
                 "cap", "floor", "reach")

    def __init__(self, nmask: list[int], w: list[int], lo: int, hi: int, now: float,
                 edges: list[tuple[int, int, float]]) -> None:
        self.nmask, self.w, self.lo, self.hi, self.edges = nmask, w, lo, hi, edges
        self.total = sum(w)
        self.full = (1 << len(w)) - 1
        self.best: int | None = None
        self.best_v, self.best_off = now, math.inf
        self.tighten(now - 1)

    def tighten(self, bound: float) -> None:
        """Only splits at most ``bound`` households outside the band are still of use."""
        self.bound = bound
        self.cap = min(self.hi + bound, self.total - self.lo + bound)
        self.floor = max(self.lo, self.total - self.hi) - bound
        self.reach = self.total - self.floor  # see connected_sets

    def grow(self, s: int, ext: int, excluded: int, blocked: int, hs: int) -> None:
        """Look at set ``s`` (``hs`` households), then grow it as :func:`connected_sets` does."""
        lo, hi, w, nmask = self.lo, self.hi, self.w, self.nmask
        if hs >= self.floor and s != self.full:
            h2 = self.total - hs
            v = (hs - hi if hs > hi else (lo - hs if hs < lo else 0)) \
                + (h2 - hi if h2 > hi else (lo - h2 if h2 < lo else 0))
            if v <= self.bound and mask_connected(self.full ^ s, nmask):
                off = sum(o for bi, bj, o in self.edges if bool(s & bi) != bool(s & bj))
                if (v, off) < (self.best_v, self.best_off):
                    self.best, self.best_v, self.best_off = s, v, off
                    self.tighten(v)
        while ext and blocked <= self.reach:
            low = ext & -ext
            ext ^= low
            i = low.bit_length() - 1
            if hs + w[i] <= self.cap:
                grown = s | low
                self.grow(grown, (ext | nmask[i]) & ~grown & ~excluded, excluded, blocked, hs + w[i])
            excluded |= low
            blocked += w[i]


class _State:
    """A labelling of a :class:`Region` with per-grid totals kept up to date move by move."""

    def __init__(self, region: Region, lab: list[int], k: int, rng: np.random.Generator) -> None:
        self.r = region
        self.k = k
        self.lab = list(lab)
        self.rng = rng
        self.clock = 0  # see _touch
        self.stamp = [0] * k
        self.seen = {True: [-1] * region.m, False: [-1] * region.m}
        self.H = H = [0] * k
        self.A = A = [0.0] * k
        self.P = P = [0.0] * k
        self.size = size = [0] * k
        lab, w, area, perim = self.lab, region.w, region.area, region.perim
        for v, g in enumerate(lab):
            H[g] += w[v]
            A[g] += area[v]
            P[g] += perim[v]
            size[g] += 1
        cut_off = 0.0
        for v, row in enumerate(region.adj):
            g = lab[v]
            for u, length_m, off_len in row:
                if lab[u] == g:
                    P[g] -= length_m  # each internal edge seen twice: 2 * length_m in total
                elif u > v:
                    cut_off += off_len
        self.cut_off = cut_off

    # ---- scores -----------------------------------------------------------------------------------

    def violation(self) -> int:
        lo, hi = self.r.band.min, self.r.band.max
        return sum(lo - h if h < lo else (h - hi if h > hi else 0) for h in self.H)

    def compactness(self) -> float:
        return sum(_deficit(p, a) for p, a in zip(self.P, self.A, strict=True))

    def secondary(self) -> float:
        return self.r.wb * self.cut_off + self.r.wc * self.compactness()

    def key(self) -> tuple[int, float]:
        return (self.violation(), round(self.secondary(), 6))

    # ---- local search -----------------------------------------------------------------------------

    def optimise(self) -> None:
        """Balance while the band is violated, then polish barriers and compactness."""
        if self.violation() > 0:
            self._passes(balance=True)
        self._passes(balance=False)
        for _ in range(self.r.max_passes):
            if not self._piece_pass():
                break
            self._passes(balance=False)
        if self.violation() > 0:
            self._passes(balance=True)
            self._passes(balance=False)
        for _ in range(self.r.max_passes):
            if self.violation() == 0 or not self._pair_pass():
                break
            self._passes(balance=True)
            self._passes(balance=False)

    def _pair_pass(self, limit: int = 12) -> int:
        """Re-divide each grid outside the band together with one neighbouring grid, exactly.

        With few atoms to a grid, single-atom moves often cannot shift households between two
        grids without one of them passing the band's other edge. For each grid out of band and each
        neighbour (the two holding at most ``limit`` atoms), every split of their atoms into two
        connected grids is tried; the split leaving fewest households outside the band wins, then
        the one cutting least boundary off barriers. Returns the pairs re-divided.
        """
        r = self.r
        lo, hi = r.band.min, r.band.max
        lab = self.lab

        def viol(h: float) -> float:
            return lo - h if h < lo else (h - hi if h > hi else 0)

        changed = 0
        members: list[list[int]] | None = None  # of each grid, ascending; gathered at the first grid out of band
        for a in sorted(range(self.k), key=lambda g: (-viol(self.H[g]), g)):
            if viol(self.H[a]) == 0:
                continue
            if members is None:
                members = [[] for _ in range(self.k)]
                for v, g in enumerate(lab):
                    members[g].append(v)
            mine = members[a]
            for b in sorted({lab[u] for v in mine for u in r.nbrs[v]} - {a}):
                if len(mine) + len(members[b]) > limit:
                    continue
                units = sorted(mine + members[b])
                split = self._balanced_split(units, viol(self.H[a]) + viol(self.H[b]))
                if split is None:
                    continue
                self._resplit(units, split, a, b)
                members[a] = [v for v, side in zip(units, split, strict=True) if side]
                members[b] = [v for v, side in zip(units, split, strict=True) if not side]
                changed += 1
                break
        return changed

    def _balanced_split(self, units: list[int], now: float) -> list[bool] | None:
        """:meth:`_pair_pass` for one pair: each unit's side, or None when no split beats ``now``.

        The same pairs come back start after start, so answers are kept on the region.
        """
        key = (tuple(units), now)
        cache = self.r.split_cache
        if key not in cache:
            cache[key] = self._balanced_split_uncached(units, now)
        return cache[key]

    def _balanced_split_uncached(self, units: list[int], now: float) -> list[bool] | None:
        r = self.r
        lo, hi = r.band.min, r.band.max
        local = {v: i for i, v in enumerate(units)}
        n = len(units)
        nmask = [0] * n
        edges = []
        for i, v in enumerate(units):
            for u, _, off_len in r.adj[v]:
                j = local.get(u)
                if j is not None:
                    nmask[i] |= 1 << j
                    if j > i:
                        edges.append((1 << i, 1 << j, off_len))
        w = [r.w[v] for v in units]
        best = _balanced_mask(nmask, w, lo, hi, now, edges)
        return None if best is None else [bool(best >> i & 1) for i in range(n)]

    def _pieces(self) -> list[list[int]]:
        """Connected parts of street blocks within one grid (atoms joined by edges off barriers)."""
        return _same_label_components(self.r.open_nbrs, self.lab)[1]

    def _piece_pass(self) -> int:
        """Move whole block pieces between neighbouring grids when that improves the objective.

        Single-atom moves cannot take a street block off a grid boundary when every intermediate step
        costs more boundary off the barrier; moving the block's piece in one step can.
        """
        r = self.r
        lo, hi = r.band.min, r.band.max
        wb, wc = r.wb, r.wc
        lab, H, P, A, size = self.lab, self.H, self.P, self.A, self.size
        pieces = [p for p in self._pieces() if len(p) > 1]
        moved = 0
        for i in self.rng.permutation(len(pieces)).tolist():
            piece = pieces[i]
            a = lab[piece[0]]
            if any(lab[v] != a for v in piece) or len(piece) >= size[a]:
                continue  # an earlier move in this pass changed it
            inside = set(piece)
            wsum = sum(r.w[v] for v in piece)
            asum = sum(r.area[v] for v in piece)
            psum = 0.0  # perimeter of the piece itself
            la = oa = 0.0
            shares: dict[int, list[float]] = {}
            for v in piece:
                psum += r.perim[v]
                for u, length_m, off_len in zip(r.nbrs[v], r.lens[v], r.offs[v], strict=True):
                    if u in inside:
                        psum -= length_m
                        continue
                    g = lab[u]
                    if g == a:
                        la += length_m
                        oa += off_len
                    else:
                        s = shares.setdefault(g, [0.0, 0.0])
                        s[0] += length_m
                        s[1] += off_len
            if not shares:
                continue

            def viol(h: int) -> int:
                return lo - h if h < lo else (h - hi if h > hi else 0)

            va, va_new = viol(H[a]), viol(H[a] - wsum)
            pa_new, aa_new = P[a] - psum + 2.0 * la, A[a] - asum
            da = _deficit(pa_new, aa_new) - _deficit(P[a], A[a])
            best_b, best = -1, (0, -_EPS * 1e3)
            for b in sorted(shares):
                dv = va_new + viol(H[b] + wsum) - va - viol(H[b])
                if dv > 0:
                    continue
                lb, ob = shares[b]
                ds = wb * (oa - ob)
                if wc:
                    ds += wc * (da + _deficit(P[b] + psum - 2.0 * lb, A[b] + asum) - _deficit(P[b], A[b]))
                if (dv, ds) < best:
                    best_b, best = b, (dv, ds)
            if best_b < 0 or not self._connected_without(a, inside):
                continue
            b = best_b
            lb, ob = shares[b]
            for v in piece:
                lab[v] = b
            H[a] -= wsum
            H[b] += wsum
            A[a] -= asum
            A[b] += asum
            P[a] = pa_new
            P[b] += psum - 2.0 * lb
            size[a] -= len(piece)
            size[b] += len(piece)
            self.cut_off += oa - ob
            self._touch(a, b)
            moved += 1
        return moved

    def _connected_without(self, a: int, removed: set[int]) -> bool:
        """Whether grid ``a`` minus ``removed`` is still one connected piece."""
        rest = [v for v in range(self.r.m) if self.lab[v] == a and v not in removed]
        return bool(rest) and is_connected(self.r.graph, rest)

    def roundness(self) -> float:
        """Summed Polsby-Popper ``4*pi*A/P**2`` of the grids."""
        return sum(4.0 * math.pi * a / (p * p) for p, a in zip(self.P, self.A, strict=True) if p > 0.0)

    def barrier_share(self) -> float:
        """Share of the boundary between grids lying on barriers (1 when there is none)."""
        cut, off = self.cut_lengths()
        return (cut - off) / cut if cut > 0.0 else 1.0

    def cut_lengths(self) -> tuple[float, float]:
        """Metres of boundary between grids of this part: ``(all of it, the part off barriers)``."""
        a, b, length, off = self.r.graph.edge_arrays
        lab = np.asarray(self.lab)
        cut = lab[a] != lab[b]
        return float(length[cut].sum()), float(off[cut].sum())

    def polish_shape(self, floor: float | None = None) -> int:
        """Make the grids rounder on average without giving up anything ranked above shape.

        The search's shape term (the summed deficit ``P - 2*sqrt(pi*A)``) favours rounding the
        largest grids; what a reader compares is each grid's Polsby-Popper ``4*pi*A/P**2``. This
        last phase moves boundary atoms to raise the sum of Polsby-Popper over the grids, taking a
        move only when neither grid ends further outside the band, no boundary off barriers is
        added and the share of the cut lying on barriers stays at least ``floor`` (by default
        the share when the polish starts). Returns the moves made.
        """
        r = self.r
        lo, hi = r.band.min, r.band.max
        nbrs, adj, w, perim, area = r.nbrs, r.adj, r.w, r.perim, r.area
        lab, H, P, A, size = self.lab, self.H, self.P, self.A, self.size
        cut, _ = self.cut_lengths()
        floor = self.barrier_share() if floor is None else floor
        four_pi = 4.0 * math.pi

        def viol(h: int) -> int:
            return lo - h if h < lo else (h - hi if h > hi else 0)

        def pp(p: float, a: float) -> float:
            return four_pi * a / (p * p) if p > 0.0 else 0.0

        total = 0
        for _ in range(r.max_passes):
            moved = 0
            for v in self.rng.permutation(r.m).tolist():
                a = lab[v]
                if size[a] == 1:
                    continue
                la = oa = 0.0
                shares: dict[int, list[float]] = {}
                for u, length_m, off_len in adj[v]:
                    g = lab[u]
                    if g == a:
                        la += length_m
                        oa += off_len
                    else:
                        s = shares.setdefault(g, [0.0, 0.0])
                        s[0] += length_m
                        s[1] += off_len
                wv = w[v]
                if not shares or viol(H[a] - wv) > viol(H[a]):
                    continue
                pa_new = P[a] - perim[v] + 2.0 * la
                gain_a = pp(pa_new, A[a] - area[v]) - pp(P[a], A[a])
                best_b, best = -1, 1e-9
                for b in sorted(shares):
                    lb, ob = shares[b]
                    d_off, d_cut = oa - ob, la - lb
                    # Off-barrier metres may not grow, nor the share of the cut on barriers fall.
                    if viol(H[b] + wv) > viol(H[b]) or d_off > 1e-9 or \
                            self.cut_off + d_off > (1.0 - floor) * (cut + d_cut) + 1e-6:
                        continue
                    gain = gain_a + pp(P[b] + perim[v] - 2.0 * lb, A[b] + area[v]) - pp(P[b], A[b])
                    if gain > best:
                        best_b, best = b, gain
                if best_b < 0 or not can_leave(nbrs, lab, v, a):
                    continue
                lb, ob = shares[best_b]
                self._move(v, a, best_b, la, oa, lb, ob)
                cut += la - lb
                moved += 1
            total += moved
            if not moved:
                break
        return total

    def pair_polish(self, floor: float, limit: int = 16, zone: int = 0) -> int:
        """Re-divide pairs of neighbouring grids exactly for roundness, giving up nothing ranked above.

        Single-atom moves stop where every one step makes a grid less round, though two grids of
        a few atoms each could be cut quite differently. For each pair of adjacent grids, every
        split of their atoms into two connected grids is scored; the roundest (summed Polsby-Popper)
        wins among the splits that leave no more households and no more grids outside the band,
        add no boundary off barriers and keep the share of the cut on barriers at least ``floor``.
        A pair of more than ``limit`` atoms has too many splits to try them all; there the
        ``limit`` atoms nearest the boundary between the two may change sides and the rest of each
        grid stays (see :meth:`_pair_units`): on real pairs the roundest split moves few atoms, all
        near that boundary. Returns the pairs re-divided.
        """
        cut, _ = self.cut_lengths()
        a_idx, b_idx, _, _ = self.r.graph.edge_arrays
        lab = np.asarray(self.lab)
        pairs = sorted({(min(x, y), max(x, y)) for x, y in zip(lab[a_idx].tolist(), lab[b_idx].tolist(),
                                                                strict=True) if x != y})
        changed = 0
        for a, b in pairs:
            units = [v for v in range(self.r.m) if self.lab[v] in (a, b)]
            if len(units) > limit and not zone:
                continue
            split = self._roundest_split(units, a, b, cut, floor, limit, zone)
            if split is None:
                continue
            self._resplit(units, split, a, b)
            cut, _ = self.cut_lengths()
            changed += 1
        return changed

    def _roundest_split(self, units: list[int], a: int, b: int, cut: float, floor: float,
                        limit: int = 16, zone: int = 0) -> list[bool] | None:
        """:meth:`pair_polish` for one pair: the side of each unit (True: ``a``), or None to keep it."""
        in_a = tuple(self.lab[v] == a for v in units)
        key = (tuple(units), in_a, limit, zone)
        cache = self.r.shape_cache
        if key not in cache:
            cache[key] = self._pair_candidates(units, in_a, limit, zone)
        groups, root_in_a, now, cur_across, cur_off, candidates = cache[key]
        best = None
        best_pp = _pp(self.P[a], self.A[a]) + _pp(self.P[b], self.A[b]) + 1e-9
        for s, across, off, score in candidates:
            # The share of the cut on barriers may not end below ``floor``.
            if self.cut_off - cur_off + off > (1.0 - floor) * (cut - cur_across + across) + 1e-6:
                continue
            if score > best_pp:
                best, best_pp = s, score
        full = (1 << len(groups)) - 1
        if best is None or best == now or best == full ^ now:
            return None
        sides = [False] * len(units)
        for i, group in enumerate(groups):
            for j in group:
                sides[j] = bool(best >> i & 1) == root_in_a
        return sides

    def _pair_units(self, units: list[int], in_a: Sequence[bool], limit: int, zone: int,
                    ) -> tuple[list[list[int]], int, int]:
        """The units a split of a pair moves: groups of positions in ``units``, the first on the side
        every enumerated set holds, and the bit masks of the groups that must stay on that side and
        of those that must stay on the other.

        Up to ``limit`` atoms each atom is a group and may go either way. Beyond, the ``limit``
        atoms nearest the boundary between the two grids (in steps within their own grid) are
        free, and every connected piece of the rest stays in its grid as one group: that keeps the
        number of splits to try bounded whatever the size of the pair.
        """
        n = len(units)
        if n <= limit:
            return [[i] for i in range(n)], 1, 0
        local = {v: i for i, v in enumerate(units)}
        near = [[j for u in self.r.nbrs[v] if (j := local.get(u)) is not None] for v in units]
        dist = [-1] * n
        queue = [i for i in range(n) if any(in_a[j] != in_a[i] for j in near[i])]
        for i in queue:
            dist[i] = 0
        for i in queue:  # grows while it is read: breadth first, within each grid
            for j in near[i]:
                if dist[j] < 0 and in_a[j] == in_a[i]:
                    dist[j] = dist[i] + 1
                    queue.append(j)
        free = set(sorted(range(n), key=lambda i: (dist[i], i))[:zone])
        fixed: list[list[int]] = []
        seen = set(free)
        for i in range(n):
            if i in seen:
                continue
            seen.add(i)
            group = [i]
            for x in group:
                for j in near[x]:
                    if j not in seen and in_a[j] == in_a[i]:
                        seen.add(j)
                        group.append(j)
            fixed.append(sorted(group))
        # The first fixed group roots the sets; its grid's other fixed groups must join it.
        root = in_a[fixed[0][0]]
        groups = fixed + [[i] for i in sorted(free)]
        required = sum(1 << g for g, grp in enumerate(fixed) if in_a[grp[0]] == root)
        excluded = sum(1 << g for g, grp in enumerate(fixed) if in_a[grp[0]] != root)
        return groups, required, excluded

    def _pair_candidates(self, units: list[int], in_a: Sequence[bool], limit: int, zone: int) -> tuple:
        """The splits of a pair :meth:`_roundest_split` may choose from, whatever the rest of the division.

        ``in_a``: whether each unit is in the first grid now. Returns the groups of
        :meth:`_pair_units`, whether the enumerated side is the first grid, the bit mask (over
        groups) of that side now, the metres between the two grids now and the part of it off
        barriers, and each connected split with no more households or grids outside the band and
        no more metres off barriers between them: ``(mask, metres between, off barriers, summed
        Polsby-Popper)``. Kept on the region: the same pairs come back polish round after round,
        and for every finalist.
        """
        r = self.r
        lo, hi = r.band.min, r.band.max
        groups, required, excluded = self._pair_units(units, in_a, limit, zone)
        root_in_a = in_a[groups[0][0]] if excluded or required != 1 else True
        n = len(groups)
        nmask, w, area, perim, edges = self._group_graph(units, groups)

        def viol(h: float) -> float:
            return lo - h if h < lo else (h - hi if h > hi else 0)

        def crossing(mask: int) -> tuple[float, float, float, float]:
            """Metres between the sides, of it off barriers, and inside each side."""
            across = off = in_s = in_t = 0.0
            for bi, bj, length_m, off_len in edges:
                si, sj = mask & bi, mask & bj
                if si and sj:
                    in_s += length_m
                elif not si and not sj:
                    in_t += length_m
                else:
                    across += length_m
                    off += off_len
            return across, off, in_s, in_t

        full = (1 << n) - 1
        now = sum(1 << g for g, group in enumerate(groups) if in_a[group[0]] == root_in_a)
        total_w, total_a, total_p = sum(w), sum(area), sum(perim)
        hs_now = sum(w[i] for i in range(n) if now >> i & 1)
        va, vb = viol(hs_now), viol(total_w - hs_now)
        out_now = (va > 0) + (vb > 0)
        cur_across, cur_off, _, _ = crossing(now)
        slack = va + vb
        candidates = []
        # Over either cap one of the two sides alone is more than ``slack`` outside the band.
        # Under ``floor`` a side alone, or the other side, is more than ``slack`` outside the band.
        floor = max(lo, total_w - hi) - slack
        for s, hs, as_, ps in connected_sets(nmask, w, area, perim, min(hi, total_w - lo) + slack, floor=floor,
                                             required=required, excluded=excluded):
            if s == full:
                continue
            x = lo - hs if hs < lo else (hs - hi if hs > hi else 0)
            ht = total_w - hs
            y = lo - ht if ht < lo else (ht - hi if ht > hi else 0)
            if x + y > slack or (x > 0) + (y > 0) > out_now or not mask_connected(full ^ s, nmask):
                continue
            across, off, in_s, in_t = crossing(s)
            if off > cur_off + 1e-9:
                continue
            score = _pp(ps - 2.0 * in_s, as_) + _pp(total_p - ps - 2.0 * in_t, total_a - as_)
            candidates.append((s, across, off, score))
        return groups, root_in_a, now, cur_across, cur_off, candidates

    def _group_graph(self, units: list[int], groups: list[list[int]]) -> tuple:
        """The groups of :meth:`_pair_units` as units of their own: neighbours (bit masks),
        households, area, perimeter of each, and the edges between two groups
        ``(bit i, bit j, metres, off-barrier metres)``, i < j, one per pair of atoms.
        """
        r = self.r
        n = len(groups)
        of = [0] * len(units)
        for g, group in enumerate(groups):
            for j in group:
                of[j] = g
        local = {v: i for i, v in enumerate(units)}
        nmask = [0] * n
        w = [0] * n
        area = [0.0] * n
        perim = [0.0] * n
        edges = []
        for i, v in enumerate(units):
            g = of[i]
            w[g] += r.w[v]
            area[g] += r.area[v]
            perim[g] += r.perim[v]
            for u, length_m, off_len in r.adj[v]:
                j = local.get(u)
                if j is None:
                    continue
                h = of[j]
                if h == g:
                    perim[g] -= length_m  # seen from both ends: twice in all
                    continue
                nmask[g] |= 1 << h
                if h > g:
                    edges.append((1 << g, 1 << h, length_m, off_len))
        return nmask, w, area, perim, edges

    def _resplit(self, units: list[int], sides: list[bool], a: int, b: int) -> None:
        """Give ``units`` (all of grids ``a`` and ``b``, ascending) to ``a`` or ``b`` by ``sides``.

        Only the two grids' totals are recounted; the rest of the division is untouched.
        """
        r, lab = self.r, self.lab
        inside = set(units)
        off_before = sum(off_len for v in units for u, _, off_len in r.adj[v]
                         if u > v and u in inside and lab[u] != lab[v])
        for v, side in zip(units, sides, strict=True):
            lab[v] = a if side else b
        for g in (a, b):
            members = [v for v in units if lab[v] == g]
            self.H[g] = sum(r.w[v] for v in members)
            self.A[g] = sum(r.area[v] for v in members)
            self.size[g] = len(members)
            # Perimeters first, then the shared edges, in atom order: as :class:`_State` counts them.
            p = sum((r.perim[v] for v in members), 0.0)
            for v in members:
                for u, length_m, _ in r.adj[v]:
                    if lab[u] == g:
                        p -= length_m
            self.P[g] = p
        self.cut_off += sum(off_len for v in units for u, _, off_len in r.adj[v]
                            if u > v and u in inside and lab[u] != lab[v]) - off_before
        self._touch(a, b)

    def _touch(self, a: int, b: int) -> None:
        """Record that grids ``a`` and ``b`` changed (members and totals).

        ``clock`` counts the changes; ``stamp[g]``: the count when grid g last changed;
        ``seen[mode][v]``: the count when atom v was last looked at in that mode of :meth:`_passes`
        and stayed. An atom whose grid and neighbouring grids have not changed since would stay again.
        """
        self.clock += 1
        self.stamp[a] = self.stamp[b] = self.clock

    def _move(self, v: int, a: int, b: int, la: float, oa: float, lb: float, ob: float) -> None:
        """Move atom ``v`` from grid ``a`` to ``b``.

        ``la``/``oa`` (``lb``/``ob``) are its metres of boundary (off barriers) shared with ``a`` (``b``).
        """
        r = self.r
        wv, pv, av = r.w[v], r.perim[v], r.area[v]
        self.lab[v] = b
        self.H[a] -= wv
        self.H[b] += wv
        self.A[a] -= av
        self.A[b] += av
        self.P[a] += -pv + 2.0 * la
        self.P[b] += pv - 2.0 * lb
        self.size[a] -= 1
        self.size[b] += 1
        self.cut_off += oa - ob
        self._touch(a, b)

    def _passes(self, *, balance: bool) -> None:
        """Passes of single-atom moves until none improves (the band first; then barriers and shape).

        The one function over 80 lines in ``gis/``, on purpose: this loop is the engine's hot kernel
        (every atom of every start, many passes), and its locals, inlined band violation and
        deficit, and single body are what keep it fast in pure Python; split into calls per atom it
        runs slower and reads no better.
        """
        r = self.r
        lo, hi = r.band.min, r.band.max
        wb, wc = r.wb, r.wc
        adj, w, perim, area = r.adj, r.w, r.perim, r.area
        lab, H, P, A, size = self.lab, self.H, self.P, self.A, self.size
        two_sqrt_pi = 2.0 * math.sqrt(math.pi)
        sqrt = math.sqrt
        nbrs = r.nbrs
        # An atom that did not move is only looked at again (in this mode) once its grid or a grid
        # next to it changed: nothing else enters its decision. See :meth:`_touch`.
        stamp = self.stamp
        seen = self.seen[balance]
        # map() over this bound lookup runs in C: no Python frame per neighbour (or comprehension).
        grid_of = lab.__getitem__

        for _ in range(r.max_passes):
            moved = 0
            for v in self.rng.permutation(r.m).tolist():
                a = lab[v]
                t = seen[v]
                if t >= 0 and stamp[a] <= t:
                    for u in nbrs[v]:
                        if stamp[lab[u]] > t:
                            break
                    else:
                        continue
                seen[v] = self.clock
                wv = w[v]
                # Balancing never moves an atom without households: no grid's count would change.
                if size[a] == 1 or (balance and not wv):
                    continue
                near = set(map(grid_of, nbrs[v]))  # the grids next to v, its own too when it has company
                near.discard(a)
                if not near:
                    continue
                ha = H[a]
                va = lo - ha if ha < lo else (ha - hi if ha > hi else 0)
                h = ha - wv
                va_new = lo - h if h < lo else (h - hi if h > hi else 0)
                targets = sorted(near) if len(near) > 1 else near
                if balance:
                    # Only households decide here: the metres shared are counted for the move alone.
                    best_b, best_dv, best_dq = -1, 0, 0.0
                    for b in targets:
                        hb = H[b]
                        h = hb + wv
                        dv = va_new + (lo - h if h < lo else (h - hi if h > hi else 0)) - va \
                            - (lo - hb if hb < lo else (hb - hi if hb > hi else 0))
                        if dv > best_dv:
                            continue
                        # Change of sum((H - mean)^2): pushes households down the gradient so that
                        # chains of moves can carry a surplus across grids already at the band edge.
                        dq = 2.0 * wv * (hb - ha + wv)
                        if (dv < 0 or dq < -_EPS) and (dv < best_dv or dq < best_dq):
                            best_b, best_dv, best_dq = b, dv, dq
                    if best_b < 0 or not can_leave(nbrs, lab, v, a):
                        continue
                    la = oa = lb = ob = 0.0
                    for u, length_m, off_len in adj[v]:
                        g = lab[u]
                        if g == a:
                            la += length_m
                            oa += off_len
                        elif g == best_b:
                            lb += length_m
                            ob += off_len
                    self._move(v, a, best_b, la, oa, lb, ob)
                    moved += 1
                    continue
                # A move may not take either grid further outside the band: most targets fail here,
                # before any metres are counted.
                open_ = []
                for b in targets:
                    hb = H[b]
                    h = hb + wv
                    dv = va_new + (lo - h if h < lo else (h - hi if h > hi else 0)) - va \
                        - (lo - hb if hb < lo else (hb - hi if hb > hi else 0))
                    if dv <= 0:
                        open_.append((b, dv))
                if not open_:
                    continue
                la = oa = 0.0
                shares: dict[int, list[float]] = {}
                for u, length_m, off_len in adj[v]:
                    g = lab[u]
                    if g == a:
                        la += length_m
                        oa += off_len
                    else:
                        s = shares.get(g)
                        if s is None:
                            shares[g] = [length_m, off_len]
                        else:
                            s[0] += length_m
                            s[1] += off_len
                if wc:
                    pa, aa = P[a], A[a]
                    pa_new = pa - perim[v] + 2.0 * la
                    aa_new = aa - area[v]
                    d_new = pa_new - two_sqrt_pi * sqrt(aa_new) if aa_new > 0.0 else pa_new
                    d_old = pa - two_sqrt_pi * sqrt(aa) if aa > 0.0 else pa
                    da = (d_new if d_new > 0.0 else 0.0) - (d_old if d_old > 0.0 else 0.0)
                best_b, best_dv, best_ds = -1, 0, -_EPS * 1e3
                for b, dv in open_:
                    if dv > best_dv:
                        continue
                    lb, ob = shares[b]
                    ds = wb * (oa - ob)
                    if wc:
                        pb, ab = P[b], A[b]
                        pb_new = pb + perim[v] - 2.0 * lb
                        ab_new = ab + area[v]
                        d_new = pb_new - two_sqrt_pi * sqrt(ab_new) if ab_new > 0.0 else pb_new
                        d_old = pb - two_sqrt_pi * sqrt(ab) if ab > 0.0 else pb
                        ds += wc * (da + (d_new if d_new > 0.0 else 0.0) - (d_old if d_old > 0.0 else 0.0))
                    if dv < best_dv or ds < best_ds:
                        best_b, best_dv, best_ds = b, dv, ds
                if best_b < 0 or not can_leave(nbrs, lab, v, a):
                    continue
                lb, ob = shares[best_b]
                self._move(v, a, best_b, la, oa, lb, ob)
                moved += 1
            if not moved:
                break


# --------------------------------------------------------------------------------------------------
# Dividing a whole graph: carve-outs, feasibility, then the solver per connected part
# --------------------------------------------------------------------------------------------------


@dataclass
class Grid:
    """One grid of :func:`divide_graph`: its member positions and how it counts against the band."""

    members: list[int]  # positions
    kind: str = "comprehensive"
    subtype: str | None = None
    locked_label: int | None = None
    banded: bool = True  # counted against the band (False for exclusive, oversized, island grids)
    reported: bool = False  # a finding already explains why it is out of band


def _text_column(frame: pd.DataFrame, column: str) -> list[str | None]:
    if column not in frame.columns:
        return [None] * len(frame)
    # Missing text arrives as None, NaN or pd.NA depending on the dtype; all mean "not set".
    return [None if x is None or pd.isna(x) or x == "" else str(x) for x in frame[column].tolist()]


def divide_graph(graph: AtomGraph, settings: PartitionSettings, *, sites: list[str | None],
                 site_keys: list[str | None], compounds: list[str | None], units: np.ndarray | None,
                 locked: Mapping[int, int] | None, noun: str = "atom",
                 ) -> tuple[list[Grid], list[Finding]]:
    """Divide the graph into grids; return the grids (position lists) and the findings.

    Locked grids are kept, exclusive sites and atoms over the band maximum carved out, and each
    connected remainder solved on its own (:class:`Region`). ``sites``, ``site_keys``,
    ``compounds`` and ``units`` are aligned to the graph's positions; ``noun`` names a unit in
    the findings (``'atom'`` or ``'parcel'``).
    """
    rng = np.random.default_rng(settings.seed)
    findings: list[Finding] = []
    free = np.ones(graph.n, dtype=bool)
    grids = _locked_grids(graph, locked, free, findings, noun)
    if settings.exclusive_sites:
        grids += _exclusive_grids(graph, sites, site_keys, free, findings, noun)
    grids += _oversized_grids(graph, settings.band, compounds, units, free, findings, noun)
    with _cycle_collection_paused():
        for comp in components(graph, range(graph.n), free):
            grids += _solve_component(graph, comp, settings, rng, free, findings, noun)
    return grids, findings


_gc_lock = threading.Lock()
_gc_pauses = [0, False]  # solves under way, whether the collector was on when the first began


@contextmanager
def _cycle_collection_paused() -> Iterator[None]:
    """Pause Python's cycle collector while the search runs.

    The search makes and drops millions of small tuples and lists, none of them in reference
    cycles (reference counting frees them all), yet each batch of allocations triggers a
    collection that walks every object of the process: in a process holding geometry that was
    about 7% of the partition's CPU time. Counted, so overlapping solves in threads restore the
    collector only when the last one ends, and only when it was on before.
    """
    with _gc_lock:
        if _gc_pauses[0] == 0:
            _gc_pauses[1] = gc.isenabled()
            gc.disable()
        _gc_pauses[0] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses[0] -= 1
            if _gc_pauses[0] == 0 and _gc_pauses[1]:
                gc.enable()


def _locked_grids(graph: AtomGraph, locked: Mapping[int, int] | None, free: np.ndarray, findings: list[Finding],
                  noun: str) -> list[Grid]:
    """Locked grids, kept exactly: their atoms leave the problem first (``free`` is updated)."""
    if not locked:
        return []
    by_label: dict[int, list[int]] = {}
    for atom_id, label in locked.items():
        p = graph.pos.get(int(atom_id))
        if p is None:
            raise InputError(f"locked names {noun} {atom_id}, which is not among the {noun}s", field="locked")
        if not is_whole(label):
            raise InputError(f"locked label of {noun} {atom_id} must be a whole number, got {label!r}",
                             field="locked")
        by_label.setdefault(int(label), []).append(p)
    grids = []
    for label in sorted(by_label):
        members = sorted(by_label[label])
        free[members] = False
        grids.append(Grid(members, locked_label=label, kind="comprehensive"))
        if not is_connected(graph, members):
            findings.append(Finding(
                "locked_grid_not_contiguous", "warning",
                f"locked grid {label} is not one connected piece; it is kept as it is",
                tuple(int(graph.ids[x]) for x in members), label))
    return grids


def _exclusive_grids(graph: AtomGraph, sites: list[str | None], site_keys: list[str | None], free: np.ndarray,
                     findings: list[Finding], noun: str) -> list[Grid]:
    """Exclusive grids (专属网格): adjacent free atoms of the same site make one grid, outside the band."""
    keys = {key: i for i, key in enumerate(sorted({k for k in site_keys if k is not None}))}
    site_of = np.array([keys[site_keys[i]] if free[i] and sites[i] is not None else -1 for i in range(graph.n)],
                       dtype=np.int64)
    comp = label_components(graph, site_of)
    grids = []
    for members in _numbered(comp)[1]:
        s = members[0]
        if site_of[s] < 0:
            continue
        free[members] = False
        grids.append(Grid(members, kind="exclusive", subtype=sites[s], banded=False, reported=True))
        hh = int(graph.households[members].sum())
        name = f" {site_keys[s].split(':', 1)[1]}" if site_keys[s] and ":" in site_keys[s] else ""
        plural = len(members) > 1
        findings.append(Finding(
            "exclusive_site", "info",
            f"{format_ids([int(graph.ids[x]) for x in members], noun + ('s' if plural else ''))} ({sites[s]}{name}, "
            f"{hh} households) form{'' if plural else 's'} an exclusive grid, outside the household band",
            tuple(int(graph.ids[x]) for x in members)))
    return grids


def _oversized_grids(graph: AtomGraph, band: Band, compounds: list[str | None], units: np.ndarray | None,
                     free: np.ndarray, findings: list[Finding], noun: str) -> list[Grid]:
    """Feasibility before solving: an atom alone over the maximum is a grid of its own."""
    grids = []
    w = graph.households
    for p in np.flatnonzero(free & (w > band.max)).tolist():
        free[p] = False
        grids.append(Grid([p], banded=False, reported=True))
        atom_id = int(graph.ids[p])
        name = f" (compound {compounds[p]})" if compounds[p] else ""
        extra = ""
        if units is not None and units[p] > 1:
            extra = (f"; its {int(units[p])} units (单元) could be split into separate grids by hand "
                     "once unit-level data is loaded")
        findings.append(Finding(
            "atom_over_max", "warning",
            f"{noun} {atom_id}{name} alone holds {int(w[p])} households, over the band maximum {band.max}: "
            f"it becomes a grid of its own{extra}", (atom_id,)))
    return grids


def _solve_component(graph: AtomGraph, comp: list[int], settings: PartitionSettings, rng: np.random.Generator,
                     free: np.ndarray, findings: list[Finding], noun: str) -> list[Grid]:
    """Grids of one connected part of the free atoms: one grid under the minimum, else the best solve."""
    band = settings.band
    total = int(graph.households[comp].sum())
    comp_ids = [int(graph.ids[x]) for x in comp]
    if total < band.min:
        touches = any(not free[y] for x in comp for y in graph.nbrs[x])
        where = "is cut off by locked, exclusive or oversized grids" if touches else "is an island"
        if len(comp) == 1:
            subject = f"{noun} {comp_ids[0]}, holding {total} households,"
        else:
            subject = (f"a group of {len(comp)} {noun}s ({format_ids(comp_ids, '').strip()}) holding "
                       f"{total} households")
        findings.append(Finding("island_under_min", "warning",
                                f"{subject} {where}: under the minimum {band.min}, it stays one grid of its own",
                                tuple(comp_ids)))
        return [Grid(list(comp), banded=False, reported=True)]
    feasible = band.feasible_counts(total)
    region = Region(graph, comp, band, settings.barrier_weight, settings.compactness_weight, settings.max_passes)
    best = _best_count(region, feasible, total, settings, rng)
    if not len(feasible):
        lo_k = feasible.stop - 1
        parts = []
        if lo_k >= 1:
            parts.append(f"{lo_k} grid{'s' if lo_k > 1 else ''} would hold {total / lo_k:.0f} on average")
        parts.append(f"{lo_k + 1} would hold {total / (lo_k + 1):.0f}")
        findings.append(Finding(
            "band_infeasible", "warning",
            f"{format_ids(comp_ids, noun + 's')} hold {total} households, which cannot be split into "
            f"grids of {band.min}-{band.max}: {', '.join(parts)}; made {best.k} grid"
            f"{'s' if best.k > 1 else ''} with {best.violation()} households outside the band in total",
            tuple(comp_ids)))
    lab, positions = np.asarray(best.lab), np.asarray(comp)
    groups = (np.sort(positions[lab == g]).tolist() for g in range(best.k))
    return [Grid(members, reported=not len(feasible)) for members in groups if members]


def _best_count(region: Region, feasible: range, total: int, settings: PartitionSettings,
                rng: np.random.Generator) -> _State:
    """Solve for the number of grids the band suggests; when atoms defeat it, try the neighbouring counts."""
    band = settings.band
    if len(feasible):
        candidates = [min(max(round(total / band.target), feasible.start), feasible.stop - 1)]
    else:
        lo_k, hi_k = feasible.stop - 1, feasible.start  # hi_k = lo_k + 1 here
        candidates = [x for x in (lo_k, hi_k) if x >= 1]
    counts = [_Starts(region, candidates[0], rng, settings.restarts, suggested=True)]
    counts[0].run_base()
    queue = candidates[1:]
    # Outside the band after its starts, the suggested count gets its neighbours tried too.
    if counts[0].violation() > 0 and len(feasible):
        queue += [counts[0].k - 1, counts[0].k + 1]
    tried = {counts[0].k}
    for k in queue:
        k = max(1, min(k, region.m))
        if k in tried:
            continue
        tried.add(k)
        starts = _Starts(region, k, rng, settings.restarts)  # drawn even when not run: later draws stay put
        bar = min(c.violation() for c in counts)
        if bar == 0:
            continue  # a count already in the band: the neighbours' starts rarely beat its shapes
        starts.run_base(bar=bar)
        counts.append(starts)
    _extra_starts(counts)
    # Of counts as far from the band, the suggested one (the first) wins: its grids are nearer the
    # band's target, so more of them are in the band.
    chosen = min(counts, key=lambda c: (c.best_key[0], c.k != counts[0].k, c.best_key[1]))
    best = chosen.result()
    # Shape comes last: the polish may not let the share of the cut on barriers fall below this.
    floor = best.barrier_share()
    # The best two starts by the search's own objective that are as close to the band and cut as
    # much on barriers are polished, and the rounder kept: one start's local optimum is often a
    # poor shape where another's is round (more starts cost time and rarely win).
    finalists = [x for x in chosen.finalists() if x.barrier_share() >= floor - _EPS][:2]
    for state in finalists:
        state.polish_shape(floor)
        for _ in range(settings.max_passes):
            if not state.pair_polish(floor):
                break
            state.polish_shape(floor)
    roundest = max(finalists, key=lambda x: (x.roundness(), -finalists.index(x)))
    _widen_polish(roundest, settings.max_passes)
    log.debug("k=%d: %d finalists, the roundest is number %d", best.k, len(finalists), finalists.index(roundest))
    return roundest


def _widen_polish(state: _State, max_passes: int) -> None:
    """Re-divide the pairs of grids too large for :meth:`_State.pair_polish` to try every split of,
    near the boundary between them, then polish again; for the roundest finalist only.

    The floor is the share of the cut on barriers the finalist has now, so this step raises the
    roundness of the division the polish chose and lowers nothing: not the band, not the metres
    off barriers, not that share. Only on one finalist: it costs more per pair than the exact
    re-splits of small pairs, and run on both finalists it kept the same divisions.
    """
    floor = state.barrier_share()
    for _ in range(max_passes):
        if not state.pair_polish(floor, zone=_PAIR_ZONE):
            break
        state.polish_shape(floor)
        while state.pair_polish(floor):
            state.polish_shape(floor)


def _extra_starts(counts: list[_Starts]) -> None:
    """While the best division leaves households outside the band, spend extra starts on the counts
    that may still bring it closest: the band comes first, and on real atoms more starts often
    reach it (late ones too). The suggested count (the first) keeps them until any count is in the
    band; another count only while it beats every other. Each start goes to the count with the
    least starts times households outside the band (halved for the suggested count, the likeliest
    by the band's target), so a count closer to the band gets more of them, and one that reaches
    it stops the others' extra starts. A count stops too once ``restarts`` starts in a row brought
    it no closer to the band (see :meth:`_Starts.may_continue`).
    """
    while True:
        eligible = []
        for i, c in enumerate(counts):
            others = min((x.violation() for x in counts if x is not c), default=math.inf)
            bar = (math.inf if others > 0 else 0) if i == 0 else others
            if c.may_continue(bar):
                eligible.append((c.r * c.violation() / (2 if i == 0 else 1), c.r, i))
        if not eligible:
            return
        counts[min(eligible)[2]].run_one()


def _label_grids(grids: list[Grid], findings: list[Finding]) -> list[int]:
    """Labels 0..k-1 by smallest member position; locked grids keep their labels when those fit."""
    k = len(grids)
    locked = [g.locked_label for g in grids if g.locked_label is not None]
    keep = bool(locked) and all(0 <= x < k for x in locked)
    if locked and not keep:
        findings.append(Finding("locked_relabelled", "info",
                                f"locked labels {sorted(locked)} do not fit 0..{k - 1}; locked grids were "
                                "renumbered, their atoms unchanged"))
    labels = [-1] * k
    used: set[int] = set()
    if keep:
        for i, grid in enumerate(grids):
            if grid.locked_label is not None:
                labels[i] = grid.locked_label
                used.add(grid.locked_label)
    free_labels = iter(x for x in range(k) if x not in used)
    for i in sorted(range(k), key=lambda i: grids[i].members[0]):
        if labels[i] < 0:
            labels[i] = next(free_labels)
    return labels


def _grid_score(graph: AtomGraph, lab: np.ndarray, banded: np.ndarray, band: Band) -> dict[str, float]:
    k = int(lab.max()) + 1 if len(lab) else 0
    H = np.bincount(lab, weights=graph.households, minlength=k)
    A = np.bincount(lab, weights=graph.area, minlength=k)
    P = np.bincount(lab, weights=graph.perimeter, minlength=k)
    cut_off = 0.0
    for v in range(graph.n):
        g = lab[v]
        for u, length_m, off_len in zip(graph.nbrs[v], graph.lengths[v], graph.off[v], strict=True):
            if lab[u] == g:
                P[g] -= length_m
            elif u > v:
                cut_off += off_len
    viol = sum(band.violation(int(h)) for h, b in zip(H, banded, strict=True) if b)
    return {"band_violation": float(viol), "off_barrier_cut_m": round(float(cut_off), 6),
            "compactness_m": round(float(sum(_deficit(float(p), float(a)) for p, a in zip(P, A, strict=True))), 6)}


def divide(atoms: gpd.GeoDataFrame, edges: pd.DataFrame, settings: PartitionSettings | None = None, *,
           locked: Mapping[int, int] | None = None) -> Division:
    """Divide a community's atoms into grids (网格划分).

    Parameters
    ----------
    atoms
        Atoms of one community in a projected metric CRS: ``atom_id`` (unique int), ``households``
        (int >= 0), optional ``population``, ``site`` (exclusive type or None), ``compound``,
        ``units`` (单元 count, only used in messages), geometry (Polygon, metres). Not modified.
    edges
        One row per adjacent pair: ``a``, ``b`` (atom ids), ``length`` (metres of shared boundary),
        ``barrier_length`` (metres of it on a road, river or wall). Not modified.
    settings
        Band, seed and weights; :class:`PartitionSettings` defaults (urban band) when None.
    locked
        ``atom_id -> grid label`` of grids to keep exactly as they are.

    Returns
    -------
    Division
        Every atom assigned; every grid connected in ``edges``; comprehensive grids inside the band
        wherever the atoms allow, with a :class:`Finding` for each place they do not.

    Raises
    ------
    InputError
        Missing columns, bad counts, unknown atoms in ``edges`` or ``locked``, a missing or
        geographic CRS.
    """
    settings = settings or PartitionSettings()
    graph = build_graph(atoms, edges, id_col="atom_id", what="atoms", edges_what="edges")
    sites = _text_column(atoms, "site")
    site_keys = _site_keys(atoms, sites)
    compounds = _text_column(atoms, "compound")
    units = whole_column(atoms, "units", "atoms") if "units" in atoms.columns else None
    grids, findings = divide_graph(graph, settings, sites=sites, site_keys=site_keys, compounds=compounds,
                                    units=units, locked=locked)
    return _assemble(atoms, graph, grids, findings, settings.band)


def _site_keys(frame: pd.DataFrame, sites: list[str | None]) -> list[str | None]:
    """What makes two adjacent site atoms one exclusive grid: a site id/name when given, else its type."""
    for column in ("site_id", "site_name"):
        if column in frame.columns:
            names = _text_column(frame, column)
            return [f"{s}:{x}" if s is not None and x is not None else s for s, x in zip(sites, names,
                                                                                      strict=True)]
    return list(sites)


def _assemble(frame: gpd.GeoDataFrame, graph: AtomGraph, grids: list[Grid], findings: list[Finding],
              band: Band, id_col: str = "atom_id") -> Division:
    labels_of = _label_grids(grids, findings)
    lab = np.full(graph.n, -1, dtype=np.int64)
    for grid, label in zip(grids, labels_of, strict=True):
        lab[grid.members] = label
    order = np.argsort(labels_of, kind="stable")
    geoms = frame.geometry.to_numpy()
    rows = []
    banded = np.zeros(len(grids), dtype=bool)
    for i in order.tolist():
        grid = grids[i]
        label = labels_of[i]
        hh = int(graph.households[grid.members].sum())
        banded[label] = grid.kind == "comprehensive" and grid.banded
        rows.append({"label": label, "kind": grid.kind, "subtype": grid.subtype, "households": hh,
                     "population": int(graph.population[grid.members].sum()), "n_atoms": len(grid.members),
                     "locked": grid.locked_label is not None, "geometry": union_cells(geoms[grid.members])})
        if grid.kind == "comprehensive" and not band.contains(hh) and not grid.reported:
            side = f"under the minimum {band.min}" if hh < band.min else f"over the maximum {band.max}"
            why = "locked grid" if grid.locked_label is not None else "grid"
            findings.append(Finding(
                "grid_out_of_band", "warning",
                f"{why} {label} holds {hh} households, {side}", tuple(int(graph.ids[x]) for x in grid.members),
                label))
    grid_frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=frame.crs)
    labels = pd.Series(lab, index=pd.Index(graph.ids, name=id_col), name="grid")
    score = _grid_score(graph, lab, banded, band)
    # Findings naming a grid label were made before labels existed for some; attach the label now.
    fixed = []
    pos_label = {int(graph.ids[p]): int(lab[p]) for p in range(graph.n)}
    for f in findings:
        if f.grid is None and f.atom_ids and f.code in {"atom_over_max", "island_under_min", "exclusive_site"}:
            f = Finding(f.code, f.severity, f.message, f.atom_ids, pos_label[f.atom_ids[0]])
        fixed.append(f)
    return Division(labels=labels, grids=grid_frame, findings=fixed, score=score)
