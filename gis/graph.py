"""The adjacency graph of atoms (or parcels) that every engine module works on.

:class:`AtomGraph` holds units as positional arrays (households, perimeter, area) plus adjacency
lists with the shared boundary length and the part of it off barriers. :func:`build_graph` validates
a frame and its edges into one; :func:`subgraph`, :func:`components`, :func:`label_components`,
:func:`is_connected` and :func:`can_leave` answer the connectivity questions of partition, edits,
quality, rebalance and micro-grids, with :func:`gis.tessellation.connected_labels` wherever a whole
labelling is asked for (array operations, so the divide path never imports scipy: a fifth of a second).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.errors import InputError
from gis.tessellation import connected_labels


def is_whole(value: object) -> bool:
    """Whether ``value`` is an integer (Python or numpy), booleans excluded."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def format_ids(ids: Sequence[int], noun: str = "atoms", limit: int = 8) -> str:
    """``'atoms 1, 2, 3 and 5 more'``: ids for a message, at most ``limit`` of them."""
    ids = list(ids)
    shown = ", ".join(str(x) for x in ids[:limit])
    more = f" and {len(ids) - limit} more" if len(ids) > limit else ""
    return f"{noun} {shown}{more}"


@dataclass(frozen=True)
class AtomGraph:
    """Units (atoms or parcels) as positional arrays plus adjacency lists.

    Positions are 0..n-1 in the frame's row order; ``ids[i]`` is the unit id at position i.
    """

    ids: np.ndarray
    households: np.ndarray
    population: np.ndarray
    perimeter: np.ndarray  # metres
    area: np.ndarray  # square metres
    nbrs: list[list[int]]
    lengths: list[list[float]]  # shared boundary, metres
    off: list[list[float]]  # shared boundary not on a barrier, metres
    pos: Mapping[int, int]

    @property
    def n(self) -> int:
        """Number of units."""
        return len(self.ids)

    @cached_property
    def edge_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every edge once, ``a < b``: ``(a, b, length, off)`` as arrays (positions, metres)."""
        a = np.repeat(np.arange(self.n), [len(row) for row in self.nbrs])
        b = np.fromiter((y for row in self.nbrs for y in row), dtype=np.int64, count=len(a))
        length = np.fromiter((x for row in self.lengths for x in row), dtype=float, count=len(a))
        off = np.fromiter((x for row in self.off for x in row), dtype=float, count=len(a))
        once = a < b
        return a[once], b[once], length[once], off[once]


def label_components(graph: AtomGraph, labels: np.ndarray, edge_mask: np.ndarray | None = None) -> np.ndarray:
    """Component number of every unit in the graph of edges joining two units of the same label.

    ``edge_mask`` (aligned to :attr:`AtomGraph.edge_arrays`) keeps only some edges. Units with a
    negative label are never joined to anything.
    """
    a, b, _, _ = graph.edge_arrays
    labels = np.asarray(labels)
    keep = (labels[a] == labels[b]) & (labels[a] >= 0)
    if edge_mask is not None:
        keep &= edge_mask
    # Callers compare component numbers or renumber them (partition's _numbered): the numbering
    # itself (by smallest unit) is not part of the contract.
    return connected_labels(graph.n, a[keep], b[keep])


def _groups(comp: np.ndarray, nodes: np.ndarray) -> list[list[int]]:
    """Positions of ``nodes`` grouped by ``comp``, each group ascending, groups by their first position."""
    nodes = np.sort(nodes)
    order = np.argsort(comp[nodes], kind="stable")
    split = np.flatnonzero(np.diff(comp[nodes][order])) + 1
    groups = [g.tolist() for g in np.split(nodes[order], split)] if len(nodes) else []
    groups.sort(key=lambda g: g[0])
    return groups


def components(graph: AtomGraph, nodes: Iterable[int], allowed: np.ndarray) -> list[list[int]]:
    """Connected components of the subgraph induced by ``allowed`` (a boolean mask) that hold a node of ``nodes``.

    Components are returned sorted, each listing positions in ascending order, so that everything
    downstream is deterministic.
    """
    allowed = np.asarray(allowed, dtype=bool)
    comp = label_components(graph, np.where(allowed, 0, -1))
    seeds = np.fromiter((s for s in nodes if allowed[s]), dtype=np.int64)
    wanted = np.isin(comp, comp[seeds]) & allowed
    return _groups(comp, np.flatnonzero(wanted))


def is_connected(graph: AtomGraph, members: Sequence[int]) -> bool:
    """Whether ``members`` (positions) form one connected piece of ``graph``."""
    if len(members) <= 1:
        return True
    mask = np.zeros(graph.n, dtype=bool)
    mask[list(members)] = True
    comp = label_components(graph, np.where(mask, 0, -1))
    return len(np.unique(comp[mask])) == 1


def can_leave(nbrs: list[list[int]], lab: list[int], v: int, a: int) -> bool:
    """Whether grid ``a`` stays connected without ``v`` (``v`` in ``a``, ``a`` has another unit).

    Breadth-first from one neighbour of ``v`` in ``a`` until every other such neighbour is found;
    in planar tessellations they are almost always joined within two steps. This early exit is
    why it stays a hand-written search: a whole-graph ``connected_components`` per candidate move
    would cost the size of the grid every time.
    """
    targets = [u for u in nbrs[v] if lab[u] == a]
    if len(targets) <= 1:
        return True
    want = set(targets)
    want.discard(targets[0])
    seen = {v, targets[0]}
    queue = deque([targets[0]])
    while queue:
        x = queue.popleft()
        for y in nbrs[x]:
            if y not in seen and lab[y] == a:
                seen.add(y)
                if y in want:
                    want.discard(y)
                    if not want:
                        return True
                queue.append(y)
    return False


def subgraph(graph: AtomGraph, members: Sequence[int]) -> AtomGraph:
    """The graph induced by ``members`` (positions), renumbered 0..m-1 in the given order."""
    local = {p: i for i, p in enumerate(members)}
    nbrs, lengths, off = [], [], []
    for p in members:
        row, lrow, orow = [], [], []
        for y, length_m, off_len in zip(graph.nbrs[p], graph.lengths[p], graph.off[p], strict=True):
            j = local.get(y)
            if j is not None:
                row.append(j)
                lrow.append(length_m)
                orow.append(off_len)
        nbrs.append(row)
        lengths.append(lrow)
        off.append(orow)
    members = list(members)
    ids = graph.ids[members]
    return AtomGraph(ids=ids, households=graph.households[members], population=graph.population[members],
                     perimeter=graph.perimeter[members], area=graph.area[members], nbrs=nbrs, lengths=lengths,
                     off=off, pos={int(x): i for i, x in enumerate(ids)})


# --------------------------------------------------------------------------------------------------
# Building a graph from frames, with the input checks
# --------------------------------------------------------------------------------------------------


def check_crs(frame: gpd.GeoDataFrame, what: str) -> None:
    """Refuse a frame without a CRS or in a geographic one (lengths and areas need metres)."""
    if frame.crs is None:
        raise InputError(f"{what} have no CRS: a projected metric CRS is needed to measure lengths and "
                         "areas", source=what)
    if not frame.crs.is_projected:
        raise InputError(f"{what} are in {frame.crs.to_string()}, a geographic CRS: reproject them to a "
                         "projected metric CRS (e.g. a CGCS2000 Gauss-Kruger zone) first", source=what)


def whole_column(frame: pd.DataFrame, column: str, what: str, *, default: int | None = None) -> np.ndarray:
    """A column of whole numbers >= 0 as int64; ``default`` fills a missing column, else it is an error."""
    if column not in frame.columns:
        if default is None:
            raise InputError(f"{what} lack the column '{column}'", source=what, field=column)
        return np.full(len(frame), default, dtype=np.int64)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{what} '{column}' must be whole numbers >= 0, got {frame[column].iloc[i]!r}",
                         source=what, row=i + 1, field=column)
    return values.astype(np.int64)


def unit_ids(frame: pd.DataFrame, id_col: str, what: str) -> np.ndarray:
    """The id column: whole numbers, each once."""
    if id_col not in frame.columns:
        raise InputError(f"{what} lack the column '{id_col}'", source=what, field=id_col)
    ids = whole_column(frame, id_col, what)
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = int(uniq[counts > 1][0])
        raise InputError(f"{what} '{id_col}' {dup} occurs {int(counts[counts > 1][0])} times", source=what,
                         field=id_col)
    return ids


def _measures(frame: pd.DataFrame, ids: np.ndarray, id_col: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Perimeter and area of each unit (zeros for a bare table: compactness then has nothing to measure)."""
    if not (isinstance(frame, gpd.GeoDataFrame) and frame.geometry.name in frame.columns):
        return np.zeros(len(frame)), np.zeros(len(frame))
    check_crs(frame, what)
    geoms = frame.geometry.to_numpy()
    missing = shapely.is_missing(geoms)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise InputError(f"{what} {id_col} {ids[i]} has no geometry", source=what, row=i + 1, field="geometry")
    return shapely.length(geoms).astype(float), shapely.area(geoms).astype(float)


def _edge_columns(edges: pd.DataFrame, edges_what: str) -> tuple[np.ndarray, ...]:
    """``a``, ``b``, ``length`` and ``barrier_length`` of the edges, checked."""
    for column in ("a", "b", "length"):
        if column not in edges.columns:
            raise InputError(f"{edges_what} lack the column '{column}'", source=edges_what, field=column)
    ea = whole_column(edges, "a", edges_what)
    eb = whole_column(edges, "b", edges_what)
    length = pd.to_numeric(edges["length"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if "barrier_length" in edges.columns:
        barrier = pd.to_numeric(edges["barrier_length"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    else:
        barrier = np.zeros(len(edges))
    for name, values in (("length", length), ("barrier_length", barrier)):
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{edges_what} '{name}' must be a finite number of metres >= 0, got "
                             f"{edges[name].iloc[i]!r}", source=edges_what, row=i + 1, field=name)
    # Digitising noise can make the barrier part a hair longer than the edge; more is an error.
    too_long = barrier > length * (1 + 1e-6) + 1e-6
    if too_long.any():
        i = int(np.flatnonzero(too_long)[0])
        raise InputError(f"{edges_what} edge ({ea[i]}, {eb[i]}): barrier_length {barrier[i]:g} m exceeds "
                         f"its length {length[i]:g} m", source=edges_what, row=i + 1, field="barrier_length")
    return ea, eb, length, np.minimum(barrier, length)


def _edge_positions(ea: np.ndarray, eb: np.ndarray, ids: np.ndarray, pos: Mapping[int, int], id_col: str,
                    what: str, edges_what: str) -> tuple[np.ndarray, np.ndarray]:
    """Positions of both ends of every edge; refuses loops, unknown units and repeated pairs."""
    loops = ea == eb
    if loops.any():
        i = int(np.flatnonzero(loops)[0])
        raise InputError(f"{edges_what} edge joins {id_col} {ea[i]} to itself", source=edges_what, row=i + 1,
                         field="b")
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    pa = np.clip(np.searchsorted(sorted_ids, ea), 0, len(ids) - 1)
    pb = np.clip(np.searchsorted(sorted_ids, eb), 0, len(ids) - 1)
    unknown = (sorted_ids[pa] != ea) | (sorted_ids[pb] != eb)
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        x, y = int(ea[i]), int(eb[i])
        missing = x if x not in pos else y
        raise InputError(f"{edges_what} edge ({x}, {y}) names {id_col} {missing}, which is not among the {what}",
                         source=edges_what, row=i + 1, field="a" if x not in pos else "b")
    lo, hi = np.minimum(ea, eb), np.maximum(ea, eb)
    pairs = np.stack([lo, hi], axis=1)
    _, first, counts = np.unique(pairs, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        seen = np.zeros(len(ea), dtype=bool)
        seen[first] = True
        i = int(np.flatnonzero(~seen)[0])
        raise InputError(f"{edges_what} list the pair ({lo[i]}, {hi[i]}) more than once", source=edges_what,
                         row=i + 1)
    return order[pa], order[pb]


def build_graph(frame: pd.DataFrame, edges: pd.DataFrame, *, id_col: str, what: str,
                edges_what: str) -> AtomGraph:
    """Validate units and their edges and build the adjacency lists (never mutates the inputs)."""
    if len(frame) == 0:
        raise InputError(f"{what} are empty: nothing to divide", source=what)
    ids = unit_ids(frame, id_col, what)
    households = whole_column(frame, "households", what)
    population = whole_column(frame, "population", what, default=0)
    perimeter, area = _measures(frame, ids, id_col, what)
    pos = {int(x): i for i, x in enumerate(ids)}
    n = len(ids)
    nbrs: list[list[int]] = [[] for _ in range(n)]
    lengths: list[list[float]] = [[] for _ in range(n)]
    off: list[list[float]] = [[] for _ in range(n)]
    if len(edges):
        ea, eb, length, barrier = _edge_columns(edges, edges_what)
        px, py = _edge_positions(ea, eb, ids, pos, id_col, what, edges_what)
        off_len = (length - barrier).tolist()
        for x, y, length_m, o in zip(px.tolist(), py.tolist(), length.tolist(), off_len, strict=True):
            nbrs[x].append(y)
            lengths[x].append(length_m)
            off[x].append(o)
            nbrs[y].append(x)
            lengths[y].append(length_m)
            off[y].append(o)
    return AtomGraph(ids=ids, households=households, population=population, perimeter=perimeter, area=area,
                     nbrs=nbrs, lengths=lengths, off=off, pos=pos)


def align_labels(atom_ids: np.ndarray, labels: pd.Series, what: str = "labels") -> np.ndarray:
    """Labels aligned to the atoms' row order; every atom must have exactly one label."""
    if not isinstance(labels, pd.Series):
        labels = pd.Series(labels)
    if labels.index.has_duplicates:
        dup = labels.index[labels.index.duplicated()][0]
        raise InputError(f"{what} give atom {dup} more than one grid", field=what)
    aligned = labels.reindex(pd.Index(atom_ids))
    missing = aligned.isna().to_numpy()
    if missing.any():
        ids = atom_ids[missing][:8].tolist()
        raise InputError(f"{what} give no grid to atoms {ids}" + (" and more" if missing.sum() > 8 else ""),
                         field=what)
    extra = labels.index.difference(pd.Index(atom_ids))
    if len(extra):
        raise InputError(f"{what} name atoms {list(extra[:8])} that are not among the atoms", field=what)
    return aligned.to_numpy(dtype=object)


def union_cells(geoms: np.ndarray) -> shapely.Geometry:
    """Union of a grid's atoms; coverage union is exact and fast for a gap-free tessellation."""
    if len(geoms) == 1:
        return geoms[0]
    merged = shapely.coverage_union_all(geoms)
    # coverage_union assumes edges match exactly; if they do not, fall back to the robust union.
    expected = float(shapely.area(geoms).sum())
    if not merged.is_valid or abs(merged.area - expected) > 1e-6 * max(expected, 1.0):
        merged = shapely.union_all(geoms)
    return merged


def merge_empty(graph: AtomGraph) -> np.ndarray:
    """Representative of every unit once each unit without households joins a neighbour that has some.

    Empty units join, ring by ring outwards from the units with households, the already placed
    neighbour they share the longest boundary with (ties: the smaller position). A group of empty
    units touching no unit with households stays as it is. Returns positions: ``rep[i] == i`` for
    every kept unit.
    """
    rep = np.arange(graph.n)
    placed = graph.households > 0
    if placed.all() or not placed.any():
        return rep
    while True:
        ring = {}
        for v in np.flatnonzero(~placed).tolist():
            row = [(length_m, -u) for u, length_m in zip(graph.nbrs[v], graph.lengths[v], strict=True) if placed[u]]
            if row:
                ring[v] = -max(row)[1]
        if not ring:
            return rep
        for v, u in ring.items():
            rep[v] = rep[u]
            placed[v] = True


def contract(graph: AtomGraph, rep: np.ndarray) -> tuple[AtomGraph, list[list[int]]]:
    """The graph with every unit merged into its representative ``rep[i]`` (a position with ``rep[r] == r``).

    Returns the contracted graph (its ids are the representatives' ids; households, population and
    area summed; perimeter of the merged outline; shared lengths summed) and, per contracted unit,
    the positions of ``graph`` it holds.
    """
    keep = np.flatnonzero(rep == np.arange(graph.n))
    new = np.full(graph.n, -1, dtype=np.int64)
    new[keep] = np.arange(len(keep))
    of = new[rep]
    groups: list[list[int]] = [[] for _ in keep]
    for v, c in enumerate(of.tolist()):
        groups[c].append(v)
    a, b, length, off = graph.edge_arrays
    ca, cb = of[a], of[b]
    inner = ca == cb
    perimeter = np.bincount(of, weights=graph.perimeter, minlength=len(keep))
    perimeter -= 2.0 * np.bincount(ca[inner], weights=length[inner], minlength=len(keep))
    lo, hi = np.minimum(ca, cb)[~inner], np.maximum(ca, cb)[~inner]
    # One integer per pair (ordered as the pairs are): np.unique over rows sorts a structured view,
    # several times slower, and this runs once per grid for the micro-grids.
    width = max(len(keep), 1)
    keys, at = np.unique(lo.astype(np.int64) * width + hi, return_inverse=True)
    pairs = np.stack([keys // width, keys % width], axis=1)
    at = np.asarray(at).reshape(-1)
    pair_length = np.bincount(at, weights=length[~inner], minlength=len(pairs))
    pair_off = np.bincount(at, weights=off[~inner], minlength=len(pairs))
    nbrs: list[list[int]] = [[] for _ in keep]
    lengths: list[list[float]] = [[] for _ in keep]
    offs: list[list[float]] = [[] for _ in keep]
    for (x, y), length_m, o in zip(pairs.tolist(), pair_length.tolist(), pair_off.tolist(), strict=True):
        nbrs[x].append(y)
        lengths[x].append(length_m)
        offs[x].append(o)
        nbrs[y].append(x)
        lengths[y].append(length_m)
        offs[y].append(o)
    ids = graph.ids[keep]

    def summed(values: np.ndarray) -> np.ndarray:
        return np.bincount(of, weights=values, minlength=len(keep))

    return AtomGraph(ids=ids, households=summed(graph.households).round().astype(np.int64),
                     population=summed(graph.population).round().astype(np.int64),
                     perimeter=np.maximum(perimeter, 0.0), area=summed(graph.area), nbrs=nbrs, lengths=lengths,
                     off=offs, pos={int(x): i for i, x in enumerate(ids)}), groups
