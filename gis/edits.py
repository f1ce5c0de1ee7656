"""The pure core of the map editor: edit operations on an assignment of atoms to grids.

A division is an :class:`Assignment`: one grid label per atom, a compact read-only integer array
aligned to the atoms' row order. Grids are unions of atoms, so no edit can ever leave a gap or an
overlap; what an edit *can* break is contiguity, and every operation here refuses (raising
:class:`gis.errors.InputError`) an edit that would cut a grid it touches into more pieces.

All operations take an :class:`EditContext`, built once per community (adjacency arrays,
representative points, areas, outer boundary lengths), and return an :class:`EditResult`: the new
assignment plus a :class:`Change` saying which atoms, households and grids the edit touched. Inputs
are never modified, so the server keeps undo/redo as a plain stack of assignments.

Operations
----------
:func:`paint`
    Put atoms in an existing grid (click, brush, lasso).
:func:`new_grid`
    Make a new grid of atoms taken from their grids.
:func:`split_by_line`
    Cut a grid in two along a drawn line.
:func:`merge`, :func:`delete_grid`
    Join two neighbouring grids.
:func:`move_boundary`
    Drag the boundary between two neighbouring grids (swept polygon, or the new boundary line).
:func:`auto_divide`, :func:`rebalance_unlocked`
    The engine (:func:`gis.partition.divide`, :func:`gis.rebalance.rebalance`) on the unlocked grids.

Locked grids (a set of labels passed to each operation) are never changed; an edit touching one is
refused. Lengths are metres, areas square metres, coordinates those of the atoms' projected CRS.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.ops
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from gis.errors import InputError
from gis.graph import build_graph, is_whole
from gis.partition import Band, Division, Finding, PartitionSettings, divide
from gis.rebalance import rebalance

#: Label of an atom that belongs to no grid (only in assignments built with ``allow_unassigned``).
UNASSIGNED = -1

_LABEL_MAX = np.iinfo(np.int32).max


# --------------------------------------------------------------------------------------------------
# Context and assignment
# --------------------------------------------------------------------------------------------------


def id_list(ids: Iterable[object], limit: int = 8) -> str:
    """``'1, 2, 3 and 5 more'``: ids for a message, at most ``limit`` of them."""
    ids = [int(x) if isinstance(x, int | np.integer) else x for x in ids]
    shown = ", ".join(str(x) for x in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


@dataclass(frozen=True, eq=False)
class EditContext:
    """Everything about one community's atoms an edit needs, precomputed once.

    Build it with :meth:`build` (or :meth:`from_layer`); all arrays are aligned to the atoms' row
    order ("positions" 0..n-1) and read-only.

    Attributes
    ----------
    atoms, edges
        The frames it was built from (kept for the engine wrappers; never modified).
    atom_ids
        ``atom_id`` at each position (int64).
    households, population
        Counts per atom (int64).
    area
        Atom area, square metres.
    perimeter
        Atom perimeter, metres.
    outer_length
        Metres of each atom's boundary shared with no other atom (its perimeter minus the lengths of
        its edges, clipped at 0): the community boundary, holes, and gaps between atoms.
    bounds
        ``(n, 4)`` array of atom bounding boxes ``minx, miny, maxx, maxy`` in the atoms' CRS.
    rep_x, rep_y
        Coordinates of each atom's representative point (inside the atom), used to decide which
        side of a line or which swept area an atom falls in.
    edge_a, edge_b
        Positions of the two atoms of each edge (``edge_a < edge_b`` not guaranteed).
    edge_length, edge_barrier
        Shared boundary of each edge and the part of it on a barrier (road, river, wall), metres.
    component
        Connected component of each atom in the whole adjacency graph (0-based).
    """

    atoms: gpd.GeoDataFrame
    edges: pd.DataFrame
    atom_ids: np.ndarray
    households: np.ndarray
    population: np.ndarray
    area: np.ndarray
    perimeter: np.ndarray
    outer_length: np.ndarray
    bounds: np.ndarray
    rep_x: np.ndarray
    rep_y: np.ndarray
    edge_a: np.ndarray
    edge_b: np.ndarray
    edge_length: np.ndarray
    edge_barrier: np.ndarray
    component: np.ndarray
    _sorted_ids: np.ndarray
    _sorted_pos: np.ndarray

    @classmethod
    def build(cls, atoms: gpd.GeoDataFrame, edges: pd.DataFrame) -> EditContext:
        """Validate one community's atoms and edges and precompute the editing arrays.

        Parameters
        ----------
        atoms
            As for :func:`gis.partition.divide`: ``atom_id``, ``households``, optional
            ``population``, Polygon geometry in a projected metric CRS. Not modified.
        edges
            ``a``, ``b`` (atom ids), ``length`` and ``barrier_length`` (metres). Not modified.

        Returns
        -------
        EditContext

        Raises
        ------
        InputError
            Whatever :func:`gis.partition.divide` rejects: missing columns, bad counts, duplicate
            or unknown atom ids, a missing or geographic CRS, missing geometry.
        """
        graph = build_graph(atoms, edges, id_col="atom_id", what="atoms", edges_what="edges")
        n = graph.n
        ids = np.asarray(graph.ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        if len(edges):
            ea = np.searchsorted(sorted_ids, pd.to_numeric(edges["a"]).to_numpy(dtype=np.int64))
            eb = np.searchsorted(sorted_ids, pd.to_numeric(edges["b"]).to_numpy(dtype=np.int64))
            ea, eb = order[ea], order[eb]
            length = pd.to_numeric(edges["length"]).to_numpy(dtype=float)
            if "barrier_length" in edges.columns:
                barrier = np.minimum(pd.to_numeric(edges["barrier_length"]).to_numpy(dtype=float), length)
            else:
                barrier = np.zeros(len(edges))
        else:
            ea = eb = np.zeros(0, dtype=np.int64)
            length = barrier = np.zeros(0)
        shared = np.bincount(ea, weights=length, minlength=n) + np.bincount(eb, weights=length, minlength=n)
        outer = np.maximum(graph.perimeter - shared, 0.0)
        geoms = atoms.geometry.to_numpy()
        bounds = shapely.bounds(geoms)
        rep = shapely.point_on_surface(geoms)
        adj = csr_matrix((np.ones(len(ea)), (ea, eb)), shape=(n, n))
        _, component = connected_components(adj, directed=False)
        arrays = {
            "atom_ids": ids, "households": np.asarray(graph.households, dtype=np.int64),
            "population": np.asarray(graph.population, dtype=np.int64), "area": graph.area.astype(float),
            "perimeter": graph.perimeter.astype(float), "outer_length": outer, "bounds": bounds,
            "rep_x": shapely.get_x(rep), "rep_y": shapely.get_y(rep), "edge_a": ea.astype(np.int64),
            "edge_b": eb.astype(np.int64), "edge_length": length, "edge_barrier": barrier,
            "component": component.astype(np.int64), "_sorted_ids": sorted_ids, "_sorted_pos": order,
        }
        for value in arrays.values():
            value.flags.writeable = False
        return cls(atoms=atoms, edges=edges, **arrays)

    @classmethod
    def from_layer(cls, layer: object) -> EditContext:
        """Context of a :class:`gis.atoms.AtomLayer` (its ``atoms`` and ``edges``)."""
        return cls.build(layer.atoms, layer.edges)  # type: ignore[attr-defined]

    @property
    def n(self) -> int:
        """Number of atoms."""
        return len(self.atom_ids)

    @property
    def geometry(self) -> np.ndarray:
        """Atom polygons (shapely objects) in row order."""
        return self.atoms.geometry.to_numpy()

    def positions(self, atom_ids: Iterable[object], field: str = "atom_ids") -> np.ndarray:
        """Row positions of ``atom_ids`` (duplicates dropped, sorted).

        Raises
        ------
        InputError
            When ``atom_ids`` is empty, holds something that is not a whole number, or names an
            atom that is not in this community (the message names it).
        """
        if isinstance(atom_ids, int | np.integer):
            atom_ids = [atom_ids]
        values = list(atom_ids)
        if not values:
            raise InputError("no atoms selected", field=field)
        bad = [x for x in values if not (is_whole(x) or (isinstance(x, float) and float(x).is_integer()))]
        if bad:
            raise InputError(f"atom ids must be whole numbers, got {bad[0]!r}", field=field)
        ids = np.unique(np.asarray(values, dtype=np.int64))
        at = np.searchsorted(self._sorted_ids, ids)
        at_c = np.minimum(at, self.n - 1)
        unknown = ids[(at >= self.n) | (self._sorted_ids[at_c] != ids)]
        if len(unknown):
            noun = "atom" if len(unknown) == 1 else "atoms"
            raise InputError(f"{noun} {id_list(unknown.tolist())} {'is' if len(unknown) == 1 else 'are'} "
                             "not in this community", field=field)
        return np.sort(self._sorted_pos[at_c])


@dataclass(frozen=True, eq=False)
class Assignment:
    """One grid label per atom, aligned to :attr:`EditContext.atom_ids`.

    Parameters
    ----------
    labels
        Whole numbers ``>= 0`` (grid labels) or :data:`UNASSIGNED` (-1), one per atom position.
        Stored as a read-only int32 copy (4 bytes per atom: cheap to keep on an undo stack).
    """

    labels: np.ndarray

    def __post_init__(self) -> None:
        raw = np.asarray(self.labels)
        if raw.ndim != 1:
            raise InputError(f"labels must be one-dimensional, got shape {raw.shape}", field="labels")
        if raw.dtype.kind not in "iu":
            if raw.dtype.kind == "f" and np.all(np.isfinite(raw)) and np.all(raw == np.round(raw)):
                pass
            else:
                bad = next((x for x in raw.tolist() if not isinstance(x, int)), raw[0] if len(raw) else None)
                raise InputError(f"grid labels must be whole numbers, got {bad!r}", field="labels")
        if len(raw) and (raw.min() < UNASSIGNED or raw.max() > _LABEL_MAX):
            bad = raw.min() if raw.min() < UNASSIGNED else raw.max()
            raise InputError(f"grid labels must be whole numbers 0..{_LABEL_MAX}, got {bad!r}", field="labels")
        arr = raw.astype(np.int32, copy=True)
        arr.flags.writeable = False
        object.__setattr__(self, "labels", arr)

    @classmethod
    def from_series(cls, context: EditContext, labels: pd.Series, *, allow_unassigned: bool = False) -> Assignment:
        """Assignment from ``atom_id -> grid label`` (e.g. :attr:`gis.partition.Division.labels`).

        Parameters
        ----------
        context
            The community.
        labels
            Whole-number labels ``>= 0`` indexed by atom_id.
        allow_unassigned
            Atoms missing from ``labels`` become :data:`UNASSIGNED` instead of raising.

        Raises
        ------
        InputError
            Labels for atoms not in the community, duplicated atoms, missing atoms (unless allowed),
            labels that are not whole numbers >= 0.
        """
        if not isinstance(labels, pd.Series):
            raise InputError(f"labels must be a pandas Series atom_id -> grid, got {type(labels).__name__}",
                             field="labels")
        if labels.index.has_duplicates:
            dup = labels.index[labels.index.duplicated()][0]
            raise InputError(f"labels give atom {dup} more than one grid", field="labels")
        extra = labels.index.difference(pd.Index(context.atom_ids))
        if len(extra):
            raise InputError(f"labels name atoms {id_list(list(extra))} that are not in this community",
                             field="labels")
        aligned = labels.reindex(pd.Index(context.atom_ids))
        values = pd.to_numeric(aligned, errors="coerce").to_numpy(dtype=float, na_value=np.nan, copy=True)
        missing = np.isnan(values) & aligned.isna().to_numpy()
        if missing.any() and not allow_unassigned:
            raise InputError(f"labels give no grid to atoms {id_list(context.atom_ids[missing].tolist())}",
                             field="labels")
        bad = (~missing) & (~np.isfinite(values) | (values < 0) | (values != np.round(values)))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"labels must be whole numbers >= 0; atom {int(context.atom_ids[i])} has "
                             f"{aligned.iloc[i]!r}", field="labels")
        values[missing] = UNASSIGNED
        return cls(values.astype(np.int64))

    @classmethod
    def from_division(cls, context: EditContext, division: Division) -> Assignment:
        """Assignment of a :class:`gis.partition.Division`."""
        return cls.from_series(context, division.labels)

    def to_series(self, context: EditContext) -> pd.Series:
        """``atom_id -> grid label`` (int; -1 for unassigned atoms)."""
        return pd.Series(self.labels.astype(np.int64), index=pd.Index(context.atom_ids, name="atom_id"),
                         name="grid")

    @property
    def grids(self) -> np.ndarray:
        """Sorted labels of the grids (unassigned excluded)."""
        u = np.unique(self.labels)
        return u[u >= 0]

    def __len__(self) -> int:
        return len(self.labels)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Assignment):
            return NotImplemented
        return np.array_equal(self.labels, other.labels)

    def __hash__(self) -> int:
        return hash(self.labels.tobytes())


@dataclass(frozen=True)
class Change:
    """What an edit changed.

    Attributes
    ----------
    op
        Operation name (``'paint'``, ``'split'``, ...).
    description
        One English sentence for the undo list / status bar.
    atoms_moved
        Ids of atoms whose grid changed, ascending.
    households_moved, population_moved
        Totals over ``atoms_moved``.
    grids_touched
        Labels of the grids that gained or lost atoms (including created and removed ones).
    created, removed
        Labels that appeared / disappeared.
    attached
        :func:`split_by_line` only: atoms put on the other side of the line than their representative
        point, to keep both parts in one piece.
    exclusive
        :func:`auto_divide` only: labels of the exclusive grids (专属网格) it made.
    findings
        Engine findings (:func:`auto_divide`, :func:`rebalance_unlocked`).
    """

    op: str
    description: str
    atoms_moved: tuple[int, ...] = ()
    households_moved: int = 0
    population_moved: int = 0
    grids_touched: tuple[int, ...] = ()
    created: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()
    attached: tuple[int, ...] = ()
    exclusive: tuple[int, ...] = ()
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class EditResult:
    """New assignment plus what changed."""

    assignment: Assignment
    change: Change


# --------------------------------------------------------------------------------------------------
# Internals
# --------------------------------------------------------------------------------------------------


def as_assignment(context: EditContext, labels: Assignment | pd.Series) -> Assignment:
    """``labels`` as an :class:`Assignment` of ``context``'s atoms, checked for type and length."""
    if isinstance(labels, pd.Series):
        labels = Assignment.from_series(context, labels, allow_unassigned=True)
    if not isinstance(labels, Assignment):
        raise InputError(f"labels must be an Assignment or a pandas Series, got {type(labels).__name__}",
                         field="labels")
    if len(labels) != context.n:
        raise InputError(f"the assignment has {len(labels)} labels but the community has {context.n} atoms",
                         field="labels")
    return labels


def _grid(asg: Assignment, grid: object, field: str) -> int:
    if not (is_whole(grid) or (isinstance(grid, float) and float(grid).is_integer())) or grid < 0:
        raise InputError(f"grid labels are whole numbers >= 0, got {grid!r}", field=field)
    g = int(grid)
    if not (asg.labels == g).any():
        raise InputError(f"unknown grid label {g}: this division has grids {id_list(asg.grids.tolist(), 12)}",
                         field=field)
    return g


def checked_labels(asg: Assignment, locked: Iterable[object], field: str = "locked") -> frozenset[int]:
    """Validated set of labels (locked or exclusive grids): whole numbers naming grids of ``asg``."""
    out = set()
    present = set(asg.grids.tolist())
    for x in locked:
        if not (is_whole(x) or (isinstance(x, float) and float(x).is_integer())):
            raise InputError(f"{field} grid labels are whole numbers, got {x!r}", field=field)
        if int(x) not in present:
            raise InputError(f"{field} names grid {int(x)}, which is not in this division", field=field)
        out.add(int(x))
    return frozenset(out)


def _refuse_locked(grids: Iterable[int], locked: frozenset[int], what: str) -> None:
    hit = sorted(set(grids) & locked)
    if hit:
        noun = "grid" if len(hit) == 1 else "grids"
        raise InputError(f"{what}: {noun} {id_list(hit)} {'is' if len(hit) == 1 else 'are'} locked; unlock "
                         f"{'it' if len(hit) == 1 else 'them'} first", field="locked")


def _new_label(asg: Assignment, label: object | None, field: str) -> int:
    if label is None:
        return int(asg.labels.max()) + 1 if len(asg.labels) and asg.labels.max() >= 0 else 0
    if not (is_whole(label) or (isinstance(label, float) and float(label).is_integer())) or not (
            0 <= label <= _LABEL_MAX):
        raise InputError(f"a new grid label must be a whole number 0..{_LABEL_MAX}, got {label!r}", field=field)
    if (asg.labels == int(label)).any():
        raise InputError(f"grid label {int(label)} is already used", field=field)
    return int(label)


def grid_components(context: EditContext, lab: np.ndarray) -> np.ndarray:
    """Component id of each atom in the graph of edges joining two atoms of the same grid."""
    la = lab[context.edge_a]
    same = (la == lab[context.edge_b]) & (la >= 0)
    a, b = context.edge_a[same], context.edge_b[same]
    adj = csr_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(context.n, context.n))
    return connected_components(adj, directed=False)[1]


def _pieces(lab: np.ndarray, comp: np.ndarray, grids: Iterable[int]) -> dict[int, int]:
    """Number of connected pieces of each of ``grids``."""
    return {g: len(np.unique(comp[lab == g])) for g in grids}


def _adjacent(context: EditContext, lab: np.ndarray, a: int, b: int) -> bool:
    la, lb = lab[context.edge_a], lab[context.edge_b]
    return bool((((la == a) & (lb == b)) | ((la == b) & (lb == a))).any())


def _neighbours(context: EditContext, lab: np.ndarray, g: int) -> list[int]:
    la, lb = lab[context.edge_a], lab[context.edge_b]
    found = np.concatenate([lb[(la == g) & (lb != g)], la[(lb == g) & (la != g)]])
    return sorted(int(x) for x in np.unique(found) if x >= 0)


def _commit(context: EditContext, asg: Assignment, new: np.ndarray, op: str, what: str, description: str, *,
            locked: frozenset[int], budget: dict[int, int] | None = None, check_pieces: bool = True,
            field: str = "atom_ids", **extra: object) -> EditResult:
    """Check an edited label array and wrap it as an :class:`EditResult`.

    ``what`` prefixes error messages ("painting atoms 3, 4 into grid 2"). ``budget`` overrides, per
    grid, how many pieces it may have afterwards (by default: as many as before, at least 1).
    """
    old = asg.labels
    moved = np.flatnonzero(new != old)
    if not len(moved):
        extra = {k: v for k, v in extra.items() if k in ("findings", "exclusive")}
        return EditResult(asg, Change(op, f"{description}: nothing changed", **extra))  # type: ignore[arg-type]
    touched = set(np.unique(old[moved]).tolist()) | set(np.unique(new[moved]).tolist())
    touched.discard(UNASSIGNED)
    _refuse_locked(touched, locked, what)
    if check_pieces:
        after_grids = [g for g in touched if (new == g).any()]
        after = _pieces(new, grid_components(context, new), after_grids)
        before = _pieces(old, grid_components(context, old), [g for g in after_grids if (old == g).any()])
        for g in sorted(after_grids):
            allowed = (budget or {}).get(g, max(1, before.get(g, 1)))
            if after[g] > allowed:
                raise InputError(f"{what} would leave grid {g} in {after[g]} pieces; every grid must stay in one "
                                 "connected piece", field=field)
    old_grids = set(np.unique(old).tolist())
    new_grids = set(np.unique(new).tolist())
    change = Change(
        op=op, description=description, atoms_moved=tuple(int(x) for x in np.sort(context.atom_ids[moved])),
        households_moved=int(context.households[moved].sum()), population_moved=int(context.population[moved].sum()),
        grids_touched=tuple(sorted(touched)), created=tuple(sorted(new_grids - old_grids - {UNASSIGNED})),
        removed=tuple(sorted(old_grids - new_grids - {UNASSIGNED})), **extra)  # type: ignore[arg-type]
    return EditResult(Assignment(new), change)


def _line(line: object, field: str = "line") -> shapely.LineString:
    if not isinstance(line, shapely.LineString):
        raise InputError(f"expected a LineString, got {getattr(line, 'geom_type', type(line).__name__)}",
                         field=field)
    coords = shapely.get_coordinates(line)
    if line.is_empty or len(coords) < 2 or not np.isfinite(coords).all():
        raise InputError("the line needs at least two finite points", field=field)
    keep = np.ones(len(coords), dtype=bool)
    keep[1:] = np.any(np.diff(coords, axis=0) != 0, axis=1)
    coords = coords[keep]
    if len(coords) < 2:
        raise InputError("the line has zero length", field=field)
    return shapely.LineString(coords)


def _region(region: object, field: str = "region") -> shapely.Geometry:
    if not isinstance(region, shapely.Polygon | shapely.MultiPolygon) or region.is_empty:
        raise InputError(f"expected a non-empty Polygon or MultiPolygon, got "
                         f"{getattr(region, 'geom_type', type(region).__name__)}", field=field)
    if not region.is_valid:
        # A hand-swept outline may cross itself; keep its polygonal parts.
        fixed = shapely.make_valid(region)
        parts = [g for g in shapely.get_parts(fixed) if isinstance(g, shapely.Polygon | shapely.MultiPolygon)]
        region = shapely.union_all(parts) if parts else shapely.Polygon()
        if region.is_empty:
            raise InputError("the swept polygon has no area", field=field)
    return region


def _sides(context: EditContext, members: np.ndarray, line: shapely.LineString, field: str) -> np.ndarray:
    """Which side of ``line`` each member's representative point lies on (True = first side).

    The line is extended straight from both ends (along its first and last segments) far beyond the
    members' bounding box, which it then cuts into exactly two half-planes.
    """
    b = context.bounds[members]
    lb = line.bounds
    minx, miny = min(b[:, 0].min(), lb[0]), min(b[:, 1].min(), lb[1])
    maxx, maxy = max(b[:, 2].max(), lb[2]), max(b[:, 3].max(), lb[3])
    diag = float(np.hypot(maxx - minx, maxy - miny))
    margin = 1.0 + 0.01 * diag
    frame = shapely.box(minx - margin, miny - margin, maxx + margin, maxy + margin)
    reach = 2.0 * (diag + 2.0 * margin)
    coords = shapely.get_coordinates(line)
    d0 = coords[0] - coords[1]
    d1 = coords[-1] - coords[-2]
    start = coords[0] + d0 / np.hypot(*d0) * reach
    end = coords[-1] + d1 / np.hypot(*d1) * reach
    extended = shapely.LineString(np.vstack([start, coords, end]))
    if not extended.is_simple:
        raise InputError("the line crosses itself (or its straight extension past its ends does); draw a line "
                         "that cuts the area in two", field=field)
    pieces = [g for g in shapely.get_parts(shapely.ops.split(frame, extended)) if isinstance(g, shapely.Polygon)]
    if len(pieces) != 2:
        raise InputError("the line does not cut the area in two", field=field)
    return shapely.contains_xy(pieces[0], context.rep_x[members], context.rep_y[members])


def _crosses(context: EditContext, members: np.ndarray, line: shapely.LineString) -> bool:
    b = context.bounds[members]
    lb = line.bounds
    near = members[(b[:, 0] <= lb[2]) & (b[:, 2] >= lb[0]) & (b[:, 1] <= lb[3]) & (b[:, 3] >= lb[1])]
    return bool(len(near)) and bool(shapely.intersects(context.geometry[near], line).any())


def _side_components(context: EditContext, members: np.ndarray, side: np.ndarray) -> np.ndarray:
    """Component id (within ``members``) of each member in the graph of same-side member edges."""
    lab = np.full(context.n, UNASSIGNED, dtype=np.int64)
    lab[members] = side.astype(np.int64)
    comp = grid_components(context, lab)
    return comp[members]


def _attach_fragments(context: EditContext, members: np.ndarray, side: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Flip detached fragments of either side to the other until each side is one piece.

    The fragment flipped first is always the smallest (households, then atoms, then lowest
    position); each side keeps its largest piece, so neither side empties.
    """
    original = side
    side = side.copy()
    hh = context.households[members]
    for _ in range(len(members)):
        comp = _side_components(context, members, side)
        ids, inverse = np.unique(comp, return_inverse=True)
        if len(ids) <= 2:
            break
        c_hh = np.bincount(inverse, weights=hh, minlength=len(ids))
        c_n = np.bincount(inverse, minlength=len(ids))
        c_first = np.full(len(ids), len(members))
        np.minimum.at(c_first, inverse, np.arange(len(members)))
        c_side = np.zeros(len(ids), dtype=bool)
        c_side[inverse] = side
        key = list(zip(c_hh.tolist(), c_n.tolist(), (-c_first).tolist(), strict=True))
        mains = set()
        for s in (True, False):
            cands = [c for c in range(len(ids)) if c_side[c] == s]
            if cands:
                mains.add(max(cands, key=lambda c: key[c]))
        frags = [c for c in range(len(ids)) if c not in mains]
        if not frags:
            break
        smallest = min(frags, key=lambda c: (key[c][0], key[c][1], -key[c][2]))
        flip = inverse == smallest
        side[flip] = ~side[flip]
    return side, sorted(int(x) for x in context.atom_ids[members[side != original]])


# --------------------------------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------------------------------


def paint(context: EditContext, labels: Assignment | pd.Series, atom_ids: Iterable[int], grid: int, *,
          locked: Iterable[int] = ()) -> EditResult:
    """Put atoms in an existing grid (click, brush and lasso selections).

    Parameters
    ----------
    context
        The community.
    labels
        Current assignment.
    atom_ids
        Atoms to move; atoms already in ``grid`` are left alone (painting them is not an error).
    grid
        Label of an existing grid. To start a new grid use :func:`new_grid`.
    locked
        Labels of locked grids: neither ``grid`` nor the grids the atoms come from may be locked.

    Returns
    -------
    EditResult
        A grid whose atoms are all painted away disappears (listed in ``change.removed``).

    Raises
    ------
    InputError
        Unknown grid label; atom not in this community; a locked grid involved; a grid left in more
        pieces than before (the painted atoms must touch ``grid``, the grids they leave must stay
        connected).
    """
    asg = as_assignment(context, labels)
    g = _grid(asg, grid, "grid")
    lock = checked_labels(asg, locked)
    pos = context.positions(atom_ids)
    what = f"painting atoms {id_list(context.atom_ids[pos].tolist())} into grid {g}"
    sources = set(np.unique(asg.labels[pos]).tolist()) - {g, UNASSIGNED}
    _refuse_locked({g} | sources, lock, what)
    new = asg.labels.copy()
    new[pos] = g
    moved = pos[asg.labels[pos] != g]
    hh = int(context.households[moved].sum())
    src = ", ".join(str(x) for x in sorted(sources)) or "no grid"
    desc = f"painted {len(moved)} atom{'s' if len(moved) != 1 else ''} ({hh} households) from {src} into grid {g}"
    return _commit(context, asg, new, "paint", what, desc, locked=lock, field="atom_ids")


def new_grid(context: EditContext, labels: Assignment | pd.Series, atom_ids: Iterable[int], *,
             label: int | None = None, locked: Iterable[int] = ()) -> EditResult:
    """Make a new grid of the given atoms, taken from their current grids.

    Parameters
    ----------
    context, labels
        The community and the current assignment.
    atom_ids
        Atoms of the new grid; they must form one connected piece.
    label
        Label of the new grid; default one above the largest label in use.
    locked
        Labels of locked grids, which may not give atoms.

    Returns
    -------
    EditResult
        ``change.created`` holds the new label.

    Raises
    ------
    InputError
        Atom not in this community; label already used; atoms from a locked grid; the atoms not
        connected, or taking them would cut a grid they leave into pieces.
    """
    asg = as_assignment(context, labels)
    lock = checked_labels(asg, locked)
    pos = context.positions(atom_ids)
    g = _new_label(asg, label, "label")
    what = f"making a new grid {g} of atoms {id_list(context.atom_ids[pos].tolist())}"
    sources = set(np.unique(asg.labels[pos]).tolist()) - {UNASSIGNED}
    _refuse_locked(sources, lock, what)
    new = asg.labels.copy()
    new[pos] = g
    hh = int(context.households[pos].sum())
    src = ", ".join(str(x) for x in sorted(sources)) or "no grid"
    desc = f"new grid {g} of {len(pos)} atom{'s' if len(pos) != 1 else ''} ({hh} households) from {src}"
    return _commit(context, asg, new, "new_grid", what, desc, locked=lock, field="atom_ids")


def merge(context: EditContext, labels: Assignment | pd.Series, a: int, b: int, *,
          locked: Iterable[int] = ()) -> EditResult:
    """Merge grid ``b`` into its neighbour ``a``; ``a`` keeps its label, ``b`` disappears.

    Raises
    ------
    InputError
        Unknown label; ``a == b``; the grids share no boundary; either is locked.
    """
    asg = as_assignment(context, labels)
    ga, gb = _grid(asg, a, "a"), _grid(asg, b, "b")
    if ga == gb:
        raise InputError(f"cannot merge grid {ga} with itself", field="b")
    lock = checked_labels(asg, locked)
    what = f"merging grid {gb} into grid {ga}"
    _refuse_locked({ga, gb}, lock, what)
    if not _adjacent(context, asg.labels, ga, gb):
        raise InputError(f"grids {ga} and {gb} are not neighbours (they share no boundary); only neighbouring "
                         "grids can be merged", field="b")
    new = asg.labels.copy()
    new[new == gb] = ga
    hh = int(context.households[new == ga].sum())
    comp = grid_components(context, asg.labels)
    pa, pb = _pieces(asg.labels, comp, [ga, gb]).values()
    desc = f"merged grid {gb} into grid {ga}, now {hh} households"
    return _commit(context, asg, new, "merge", what, desc, locked=lock, budget={ga: max(1, pa + pb - 1)}, field="b")


def delete_grid(context: EditContext, labels: Assignment | pd.Series, grid: int, into: int, *,
                locked: Iterable[int] = ()) -> EditResult:
    """Delete ``grid``: all its atoms go to the neighbouring grid ``into``.

    Raises
    ------
    InputError
        Unknown label; ``into == grid``; ``into`` is not a neighbour of ``grid``; either is locked.
    """
    asg = as_assignment(context, labels)
    g, target = _grid(asg, grid, "grid"), _grid(asg, into, "into")
    if g == target:
        raise InputError(f"cannot delete grid {g} into itself", field="into")
    lock = checked_labels(asg, locked)
    what = f"deleting grid {g} into grid {target}"
    _refuse_locked({g, target}, lock, what)
    if not _adjacent(context, asg.labels, g, target):
        nbrs = _neighbours(context, asg.labels, g)
        raise InputError(f"grid {target} is not a neighbour of grid {g}; its neighbours are "
                         f"{id_list(nbrs) if nbrs else 'none'}", field="into")
    new = asg.labels.copy()
    new[new == g] = target
    comp = grid_components(context, asg.labels)
    pg, pt = _pieces(asg.labels, comp, [g, target]).values()
    n_atoms = int((asg.labels == g).sum())
    desc = f"deleted grid {g}: its {n_atoms} atom{'s' if n_atoms != 1 else ''} went to grid {target}"
    return _commit(context, asg, new, "delete_grid", what, desc, locked=lock, budget={target: max(1, pg + pt - 1)},
                   field="into")


def split_by_line(context: EditContext, labels: Assignment | pd.Series, grid: int, line: shapely.LineString, *,
                  new_label: int | None = None, locked: Iterable[int] = ()) -> EditResult:
    """Split a grid in two along a drawn line.

    Each atom of ``grid`` goes to the side of the line its representative point lies on; the line
    is extended straight past both ends (along its first and last segments), so a line that stops
    short of the grid's edge still cuts it. The side with more households keeps the label (ties:
    the side holding the first atom in row order); the other side becomes ``new_label``.

    When a side falls into several pieces (a line crossing a concave grid twice, an atom whose
    representative point falls across the line), its smaller pieces are attached to the other side,
    smallest first, until both sides are one piece each; those atoms are listed in
    ``change.attached`` and named in the description.

    Parameters
    ----------
    context, labels
        The community and the current assignment.
    grid
        Label of the grid to split.
    line
        LineString in the atoms' CRS (metres); it must intersect the grid and must not cross itself.
    new_label
        Label of the new part; default one above the largest label in use.
    locked
        Labels of locked grids; ``grid`` may not be one.

    Raises
    ------
    InputError
        Unknown grid; locked grid; not a LineString; a line that does not cross the grid, or leaves
        all its atoms on one side; a self-crossing line; ``new_label`` already used.
    """
    asg = as_assignment(context, labels)
    g = _grid(asg, grid, "grid")
    lock = checked_labels(asg, locked)
    _refuse_locked({g}, lock, f"splitting grid {g}")
    ln = _line(line)
    members = np.flatnonzero(asg.labels == g)
    if not _crosses(context, members, ln):
        raise InputError(f"the line does not cross grid {g}", field="line")
    side = _sides(context, members, ln, "line")
    if side.all() or not side.any():
        raise InputError(f"the line does not cut grid {g} in two: all its {len(members)} atoms lie on one side of "
                         "it", field="line")
    side, attached = _attach_fragments(context, members, side)
    hh = context.households[members]
    keep_first = (hh[side].sum(), -np.flatnonzero(side)[0]) >= (hh[~side].sum(), -np.flatnonzero(~side)[0])
    to_new = members[~side] if keep_first else members[side]
    target = _new_label(asg, new_label, "new_label")
    new = asg.labels.copy()
    new[to_new] = target
    kept_hh = int(context.households[new == g].sum())
    new_hh = int(context.households[to_new].sum())
    desc = f"split grid {g} into grid {g} ({kept_hh} households) and new grid {target} ({new_hh} households)"
    if attached:
        desc += f"; atoms {id_list(attached)} were put across the line to keep both parts in one piece"
    return _commit(context, asg, new, "split", f"splitting grid {g}", desc, locked=lock, attached=tuple(attached),
                   field="line")


def move_boundary(context: EditContext, labels: Assignment | pd.Series, a: int, b: int,
                  shape: shapely.Polygon | shapely.MultiPolygon | shapely.LineString, *,
                  locked: Iterable[int] = ()) -> EditResult:
    """Drag the boundary between neighbouring grids ``a`` and ``b``.

    Two well-defined forms, by the type of ``shape``:

    Polygon or MultiPolygon (the area swept between the old and the new boundary)
        Every atom of ``a`` whose representative point lies inside goes to ``b`` and every atom of
        ``b`` inside goes to ``a``; atoms of other grids are ignored. The boundary thus snaps to atom
        edges.
    LineString (the whole new boundary, drawn across ``a`` ∪ ``b``)
        The atoms of ``a`` and ``b`` are split by the line as in :func:`split_by_line`, without
        fragment attaching; each side goes to the grid that keeps more of its atoms there.

    Parameters
    ----------
    context, labels
        The community and the current assignment.
    a, b
        Labels of two neighbouring grids.
    shape
        The swept polygon or the new boundary line, in the atoms' CRS.
    locked
        Labels of locked grids; neither ``a`` nor ``b`` may be one.

    Raises
    ------
    InputError
        Unknown label; ``a == b``; grids not neighbours; locked grid; wrong geometry type; a
        swept area holding no atom of ``a`` or ``b``; a line not crossing them; an edit that would
        empty a grid or leave it in pieces.
    """
    asg = as_assignment(context, labels)
    ga, gb = _grid(asg, a, "a"), _grid(asg, b, "b")
    if ga == gb:
        raise InputError(f"grid {ga} has no boundary with itself", field="b")
    lock = checked_labels(asg, locked)
    what = f"moving the boundary between grids {ga} and {gb}"
    _refuse_locked({ga, gb}, lock, what)
    if not _adjacent(context, asg.labels, ga, gb):
        raise InputError(f"grids {ga} and {gb} are not neighbours (they share no boundary)", field="b")
    lab = asg.labels
    members = np.flatnonzero((lab == ga) | (lab == gb))
    new = lab.copy()
    if isinstance(shape, shapely.LineString):
        ln = _line(shape, "shape")
        if not _crosses(context, members, ln):
            raise InputError(f"the line does not cross grids {ga} and {gb}", field="shape")
        side = _sides(context, members, ln, "shape")
        in_a = lab[members] == ga
        keep = int((side & in_a).sum() + (~side & ~in_a).sum())
        if keep >= len(members) - keep:
            new[members] = np.where(side, ga, gb)
        else:
            new[members] = np.where(side, gb, ga)
    else:
        region = _region(shape, "shape")
        inside = shapely.contains_xy(region, context.rep_x[members], context.rep_y[members])
        if not inside.any():
            raise InputError(f"the swept area holds no atom of grid {ga} or {gb}", field="shape")
        flip = members[inside]
        new[flip] = np.where(lab[flip] == ga, gb, ga)
    for g in (ga, gb):
        if not (new == g).any():
            raise InputError(f"{what} would leave grid {g} with no atoms; use merge or delete instead",
                             field="shape")
    to_a = np.flatnonzero((lab == gb) & (new == ga))
    to_b = np.flatnonzero((lab == ga) & (new == gb))
    parts = []
    if len(to_a):
        parts.append(f"{len(to_a)} atom{'s' if len(to_a) != 1 else ''} ({int(context.households[to_a].sum())} "
                     f"households) from grid {gb} to grid {ga}")
    if len(to_b):
        parts.append(f"{len(to_b)} atom{'s' if len(to_b) != 1 else ''} ({int(context.households[to_b].sum())} "
                     f"households) from grid {ga} to grid {gb}")
    desc = f"moved the boundary between grids {ga} and {gb}: " + ("; ".join(parts) or "no atom changed sides")
    return _commit(context, asg, new, "move_boundary", what, desc, locked=lock, field="shape")


# --------------------------------------------------------------------------------------------------
# Engine wrappers
# --------------------------------------------------------------------------------------------------


def auto_divide(context: EditContext, labels: Assignment | pd.Series, settings: PartitionSettings | None = None, *,
                locked: Iterable[int] = ()) -> EditResult:
    """Re-divide every atom outside the locked grids with :func:`gis.partition.divide`.

    Locked grids keep their atoms and labels exactly. The other grids get labels not used by a
    locked grid (the engine's own numbering when it already keeps the locked labels, otherwise
    the smallest free labels in the engine's order). ``change.exclusive`` lists the exclusive grids
    it made and ``change.findings`` the engine's findings (their ``grid`` field remapped; numbers
    inside their messages are the engine's).

    Raises
    ------
    InputError
        Unknown locked label; whatever :func:`gis.partition.divide` rejects.
    """
    asg = as_assignment(context, labels)
    lock = checked_labels(asg, locked)
    lab = asg.labels
    locked_map = {int(context.atom_ids[p]): int(lab[p]) for p in np.flatnonzero(np.isin(lab, list(lock)))}
    division = divide(context.atoms, context.edges, settings, locked=locked_map or None)
    raw = Assignment.from_series(context, division.labels).labels.astype(np.int64)
    # Map each engine label back: a locked grid's to its own label, the others to free labels.
    mapping: dict[int, int] = {}
    for g in lock:
        engine = np.unique(raw[lab == g])
        for e in engine.tolist():
            mapping[int(e)] = g
    if any(k != v for k, v in mapping.items()):
        free = (x for x in range(_LABEL_MAX) if x not in lock)
        for e in sorted(set(raw.tolist()) - set(mapping)):
            mapping[e] = next(free)
    else:
        mapping.update({e: e for e in set(raw.tolist()) - set(mapping)})
    keys = np.array(sorted(mapping))
    vals = np.array([mapping[k] for k in keys.tolist()])
    new = vals[np.searchsorted(keys, raw)].astype(np.int32)
    exclusive = tuple(sorted(mapping[int(x)] for x in division.grids.loc[division.grids["kind"] == "exclusive",
                                                                          "label"]))
    findings = tuple(
        Finding(f.code, f.severity, f.message, f.atom_ids, mapping.get(f.grid, f.grid) if f.grid is not None else None)
        for f in division.findings if f.code != "locked_relabelled")
    n_grids = len(np.unique(new))
    desc = f"divided the unlocked atoms afresh: {n_grids} grids" + (f", {len(lock)} locked kept" if lock else "")
    return _commit(context, asg, new, "auto_divide", "dividing automatically", desc, locked=frozenset(),
                   check_pieces=False, exclusive=exclusive, findings=findings)


def rebalance_unlocked(context: EditContext, labels: Assignment | pd.Series, band: Band, *,
                       locked: Iterable[int] = (), exclusive: Iterable[int] = (), seed: int = 0) -> EditResult:
    """Bring out-of-band grids back into the band with :func:`gis.rebalance.rebalance`.

    Locked and exclusive grids neither give nor take atoms. A grid the engine splits gets a new
    label above the largest in use (``change.created``); a grid merged away is in ``change.removed``.

    Raises
    ------
    InputError
        Unassigned atoms (paint them into a grid first); unknown locked or exclusive labels.
    """
    asg = as_assignment(context, labels)
    lock = checked_labels(asg, locked)
    excl = checked_labels(asg, exclusive, "exclusive")
    if (asg.labels == UNASSIGNED).any():
        missing = context.atom_ids[asg.labels == UNASSIGNED].tolist()
        raise InputError(f"atoms {id_list(missing)} have no grid; paint them into a grid first", field="labels")
    result = rebalance(context.atoms, context.edges, asg.to_series(context), band, locked_grids=lock | excl,
                       seed=seed)
    new = Assignment.from_series(context, result.labels).labels
    findings = tuple(f for f in result.findings if not (f.code == "grid_out_of_band" and f.grid in excl))
    desc = (f"rebalanced: {len(result.moves)} atom{'s' if len(result.moves) != 1 else ''} "
            f"({result.households_moved} households) moved")
    return _commit(context, asg, new.copy(), "rebalance", "rebalancing", desc, locked=frozenset(),
                   check_pieces=False, findings=findings)


__all__ = [
    "UNASSIGNED", "Assignment", "Change", "EditContext", "EditResult", "auto_divide", "delete_grid", "merge",
    "move_boundary", "new_grid", "paint", "rebalance_unlocked", "split_by_line",
]
