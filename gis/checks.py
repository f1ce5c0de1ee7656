"""Live checks of an assignment for the map editor: per-grid figures and the problems to fix.

Everything is computed from the arrays of an :class:`gis.edits.EditContext` without any polygon
union, so a full recount of a 2,000-atom community takes a few milliseconds (see
``benchmarks/edit_speed.py``):

* households, population, atoms: sums per grid;
* area: sum of the atom areas (m²);
* perimeter: each atom's outer length (boundary shared with no other atom) plus every edge between
  atoms of different grids (m). For atoms forming an exact coverage this is the perimeter of the
  union exactly, so Polsby-Popper ``4πA/P²`` matches :func:`gis.quality.grid_quality`;
* contiguity: connected components of the edges joining atoms of the same grid;
* barrier share: share of a grid's boundary with other grids lying on roads, rivers or walls.

Severity rules (documented for the UI; ``code`` is stable, ``message`` English):

``error`` (blocks submission)
    ``unassigned`` (atoms in no grid), ``not_contiguous`` (a grid in several pieces; the bbox frames
    the pieces cut off from the largest), ``grid_over_max`` / ``grid_under_min`` (a comprehensive
    grid outside the band, e.g. 300-500 households for an urban grid).
``warning`` (shown, does not block)
    ``atom_over_max``: over the maximum because one atom alone holds more than the maximum (the
    regulations cannot be met there; the message says whether other atoms could leave).
    ``island_under_min``: under the minimum, but the connected stretch of comprehensive atoms it
    lies in (cut off by exclusive grids, over-max atoms or the community edge) holds fewer than the
    minimum.
    ``band_infeasible``: outside the band, but that stretch holds a total no number of grids can
    split into the band (e.g. 520 households for 300-500).
    ``grid_over_max`` / ``grid_under_min`` of a grid the caller lists as ``excused`` (the user has
    justified it, e.g. atom granularity the engine reported).
    ``low_compactness``: Polsby-Popper under ``Thresholds.min_polsby_popper`` (0.2).
    ``low_barrier_share``: under ``Thresholds.min_barrier_share`` (0.5) of its boundary with other
    grids on barriers. Both are skipped for exclusive grids and one-atom grids (nothing to edit).

Exclusive grids (专属网格) are not judged by the band: their ``status`` is ``'exclusive'`` and
``in_band`` is NA.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from gis.edits import UNASSIGNED, Assignment, EditContext, as_assignment, checked_labels, grid_components, id_list
from gis.errors import InputError
from gis.partition import Band

BBox = tuple[float, float, float, float]

GRID_COLUMNS = ["households", "population", "status", "in_band", "contiguous", "n_pieces", "polsby_popper",
                "barrier_share", "area_m2", "perimeter_m", "n_atoms", "max_atom_households", "bbox"]


@dataclass(frozen=True)
class Thresholds:
    """Warning thresholds of :func:`live_checks`.

    Parameters
    ----------
    min_polsby_popper
        Polsby-Popper (``4πA/P²``, 1 for a disc, 0.785 for a square) under which a grid is flagged.
    min_barrier_share
        Share (0-1) of a grid's boundary with other grids on barriers under which it is flagged.
    """

    min_polsby_popper: float = 0.2
    min_barrier_share: float = 0.5


@dataclass(frozen=True)
class Problem:
    """One thing to fix (error) or look at (warning).

    Attributes
    ----------
    code
        Machine code for the UI to translate (see the module docstring).
    severity
        ``'error'`` (blocks submission) or ``'warning'``.
    message
        English explanation with the numbers.
    grid
        Label of the grid concerned (None for unassigned atoms).
    bbox
        ``(minx, miny, maxx, maxy)`` to zoom to, in the atoms' CRS (metres).
    atom_ids
        Atoms concerned (detached pieces, unassigned atoms, the over-max atom), when specific.
    """

    code: str
    severity: Literal["error", "warning"]
    message: str
    grid: int | None
    bbox: BBox
    atom_ids: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {"code": self.code, "severity": self.severity, "message": self.message, "grid": self.grid,
                "bbox": list(self.bbox), "atom_ids": list(self.atom_ids)}


@dataclass(frozen=True)
class LiveChecks:
    """Result of :func:`live_checks`.

    Attributes
    ----------
    grids
        Indexed by label (ascending), columns :data:`GRID_COLUMNS`: households, population, status
        (``'under'``/``'ok'``/``'over'``/``'exclusive'``), in_band (nullable bool, NA for exclusive
        grids), contiguous, n_pieces, polsby_popper, barrier_share (NaN without boundary with other
        grids), area_m2, perimeter_m, n_atoms, max_atom_households, bbox (tuple, atoms' CRS).
    problems
        Errors first, then warnings, each by grid label.
    """

    grids: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        """Problems that block submission."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """Problems that do not block submission."""
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error (the division may be submitted)."""
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ``grids`` (list of rows with ``label``), ``problems``, ``ok``."""
        rows = []
        for label, row in zip(self.grids.index.tolist(), self.grids.itertuples(index=False), strict=True):
            d = row._asdict()
            out: dict[str, Any] = {"label": int(label)}
            for key, value in d.items():
                if key == "bbox":
                    out[key] = list(value)
                elif value is pd.NA or (isinstance(value, float) and math.isnan(value)):
                    out[key] = None
                elif isinstance(value, np.generic):
                    out[key] = value.item()
                else:
                    out[key] = value
            rows.append(out)
        return {"grids": rows, "problems": [p.to_dict() for p in self.problems], "ok": self.ok}


def _bbox(bounds: np.ndarray) -> BBox:
    return (float(bounds[:, 0].min()), float(bounds[:, 1].min()), float(bounds[:, 2].max()),
            float(bounds[:, 3].max()))


def live_checks(context: EditContext, labels: Assignment | pd.Series, band: Band, exclusive: Iterable[int] = (), *,
                thresholds: Thresholds | None = None, excused: Iterable[int] = ()) -> LiveChecks:
    """Per-grid figures and problems of an assignment, fast enough to run after every edit.

    Parameters
    ----------
    context
        The community (:meth:`gis.edits.EditContext.build`).
    labels
        The assignment (or ``atom_id -> label`` Series; atoms missing from it count as unassigned).
    band
        Household band of comprehensive grids.
    exclusive
        Labels of exclusive grids (专属网格), which the band does not bind.
    thresholds
        Warning thresholds; :class:`Thresholds` defaults when None.
    excused
        Labels of grids whose household count the user has justified (atom granularity can make
        the band unreachable even where the totals allow it, as :func:`gis.partition.divide`
        reports): their ``grid_over_max`` / ``grid_under_min`` are warnings instead of errors.

    Returns
    -------
    LiveChecks

    Raises
    ------
    InputError
        ``band`` not a Band; an exclusive label not in the assignment; labels not matching the atoms.
    """
    if not isinstance(band, Band):
        raise InputError(f"band must be a Band, got {band!r}", field="band")
    th = thresholds or Thresholds()
    asg = as_assignment(context, labels)
    excl = checked_labels(asg, exclusive, "exclusive")
    pardoned = checked_labels(asg, excused, "excused")
    f = _figures(context, asg.labels.astype(np.int64), band, excl)
    errors: list[Problem] = []
    warnings: list[Problem] = []
    if not f.assigned.all():
        loose = np.flatnonzero(~f.assigned)
        ids = context.atom_ids[loose].tolist()
        errors.append(Problem(
            "unassigned", "error",
            f"{len(ids)} atom{'s are' if len(ids) != 1 else ' is'} in no grid ({id_list(ids)}, "
            f"{int(context.households[loose].sum())} households)", None, _bbox(context.bounds[loose]),
            tuple(int(x) for x in ids)))
    stretch, stretch_total = _stretches(context, f, band)
    for c in range(len(f.uniques)):
        if f.n_pieces[c] > 1:
            errors.append(_pieces_problem(context, f, c))
        if not f.is_excl[c] and f.status[c] != "ok":
            members = f.members(c)
            total = int(stretch_total[stretch[members[0]]]) if stretch_total is not None else int(f.hh[c])
            problem = _band_problem(context, f, c, band, total, pardoned)
            (errors if problem.severity == "error" else warnings).append(problem)
        if not f.is_excl[c] and f.n_atoms[c] >= 2:
            warnings += _shape_problems(f, c, th)
    return LiveChecks(grids=f.table, problems=errors + warnings)


@dataclass
class _Figures:
    """Per-grid arrays of one assignment (grid ``c`` is label ``uniques[c]``), shared by the checks."""

    assigned: np.ndarray  # per atom: in a grid
    codes_assigned: np.ndarray  # grid number of each assigned atom
    uniques: np.ndarray
    hh: np.ndarray
    n_atoms: np.ndarray
    n_pieces: np.ndarray
    comp: np.ndarray  # per atom: its piece (component of same-grid edges)
    order: np.ndarray  # assigned atoms sorted by grid
    starts: np.ndarray  # where each grid starts in ``order``
    max_atom: np.ndarray
    pp: np.ndarray
    share: np.ndarray
    is_excl: np.ndarray
    status: np.ndarray
    boxes: list
    table: pd.DataFrame

    def members(self, c: int) -> np.ndarray:
        """Positions of the atoms of grid ``c``."""
        return self.order[self.starts[c]:self.starts[c] + self.n_atoms[c]]


def _figures(context: EditContext, lab: np.ndarray, band: Band, excl: frozenset[int]) -> _Figures:
    """Households, shape, barrier share, pieces and bounding box of every grid, with numpy only."""
    n = context.n
    assigned = lab >= 0
    uniques, codes_assigned = np.unique(lab[assigned], return_inverse=True)
    k = len(uniques)
    codes = np.full(n, -1, dtype=np.int64)
    codes[assigned] = codes_assigned

    def per_grid(values: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(codes_assigned, weights=None if values is None else values[assigned], minlength=k)

    hh, pop = per_grid(context.households).astype(np.int64), per_grid(context.population).astype(np.int64)
    n_atoms, area, perim = per_grid(), per_grid(context.area), per_grid(context.outer_length)
    pp, share = _shape(context, codes, k, area, perim)
    # Pieces: components of same-grid edges; count distinct components per grid.
    comp = grid_components(context, lab)
    n_pieces = np.bincount(np.unique(codes_assigned * n + comp[assigned]) // n, minlength=k)
    # Bounding boxes and the heaviest atom per grid, via one sort by grid.
    order = np.flatnonzero(assigned)[np.argsort(codes_assigned, kind="stable")]
    starts = np.searchsorted(codes[order], np.arange(k))
    if k:
        b = context.bounds[order]
        bbox = np.column_stack([np.minimum.reduceat(b[:, 0], starts), np.minimum.reduceat(b[:, 1], starts),
                                np.maximum.reduceat(b[:, 2], starts), np.maximum.reduceat(b[:, 3], starts)])
        max_atom = np.maximum.reduceat(context.households[order], starts)
    else:
        bbox, max_atom = np.zeros((0, 4)), np.zeros(0, dtype=np.int64)
    is_excl = np.array([int(g) in excl for g in uniques.tolist()], dtype=bool)
    status = np.where(is_excl, "exclusive", np.where(hh < band.min, "under", np.where(hh > band.max, "over", "ok")))
    in_band = pd.array([pd.NA if e else s == "ok" for e, s in zip(is_excl, status, strict=True)], dtype="boolean")
    boxes = [tuple(float(x) for x in row) for row in bbox.tolist()]
    table = pd.DataFrame({
        "households": hh, "population": pop, "status": status, "in_band": in_band, "contiguous": n_pieces == 1,
        "n_pieces": n_pieces, "polsby_popper": pp, "barrier_share": share, "area_m2": area, "perimeter_m": perim,
        "n_atoms": n_atoms, "max_atom_households": max_atom, "bbox": boxes,
    }, index=pd.Index(uniques.astype(np.int64), name="label"))
    return _Figures(assigned, codes_assigned, uniques, hh, n_atoms, n_pieces, comp, order, starts, max_atom, pp,
                    share, is_excl, status, boxes, table)


def _shape(context: EditContext, codes: np.ndarray, k: int, area: np.ndarray, perim: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Polsby-Popper and barrier share per grid; adds the cut edges to ``perim`` (metres) in place."""
    ca, cb = codes[context.edge_a], codes[context.edge_b]
    cross = ca != cb
    length, barrier = context.edge_length[cross], context.edge_barrier[cross]
    ca_x, cb_x = ca[cross], cb[cross]
    cut_len = np.zeros(k)
    cut_bar = np.zeros(k)
    for side, other in ((ca_x, cb_x), (cb_x, ca_x)):
        mine = side >= 0
        perim += np.bincount(side[mine], weights=length[mine], minlength=k)
        graded = mine & (other >= 0)
        cut_len += np.bincount(side[graded], weights=length[graded], minlength=k)
        cut_bar += np.bincount(side[graded], weights=barrier[graded], minlength=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        pp = np.where(perim > 0, 4.0 * math.pi * area / perim**2, np.nan)
        share = np.where(cut_len > 0, cut_bar / cut_len, np.nan)
    return pp, share


def _stretches(context: EditContext, f: _Figures, band: Band) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Stretches of comprehensive atoms (cut by exclusive grids, over-max atoms, unassigned atoms, the edge).

    Returns the stretch of each atom and the households of each stretch, or ``(None, None)`` when
    every grid is in the band (nothing needs them).
    """
    if not (~f.is_excl & (f.status != "ok")).any():
        return None, None
    banded = f.assigned.copy()
    banded[f.assigned] = ~f.is_excl[f.codes_assigned]
    banded &= context.households <= band.max  # over-max atoms are grids of their own, as in divide
    stretch = grid_components(context, np.where(banded, 0, UNASSIGNED))
    return stretch, np.bincount(stretch, weights=np.where(banded, context.households, 0))


def _pieces_problem(context: EditContext, f: _Figures, c: int) -> Problem:
    """The grid is in pieces: name the atoms cut off from its main piece (most households)."""
    g = int(f.uniques[c])
    members = f.members(c)
    pieces, inv = np.unique(f.comp[members], return_inverse=True)
    p_hh = np.bincount(inv, weights=context.households[members])
    p_n = np.bincount(inv)
    main = max(range(len(pieces)), key=lambda i: (p_hh[i], p_n[i], -i))
    cut = members[inv != main]
    ids = context.atom_ids[cut].tolist()
    return Problem("not_contiguous", "error",
                   f"grid {g} is in {int(f.n_pieces[c])} pieces: atoms {id_list(ids)} are cut off from the rest",
                   g, _bbox(context.bounds[cut]), tuple(int(x) for x in ids))


def _band_problem(context: EditContext, f: _Figures, c: int, band: Band, total: int,
                  pardoned: frozenset[int]) -> Problem:
    """Why a comprehensive grid is out of the band: one atom, a small area, an infeasible total, or the drawing."""
    g, h, box, status = int(f.uniques[c]), int(f.hh[c]), f.boxes[c], f.status[c]
    if status == "over" and f.max_atom[c] > band.max:
        members = f.members(c)
        heavy = members[int(np.argmax(context.households[members]))]
        others = int(f.n_atoms[c]) - 1
        extra = (f"; its {others} other atom{'s' if others != 1 else ''} could go to neighbouring grids"
                 if others else "")
        return Problem("atom_over_max", "warning",
                       f"grid {g} holds {h} households, over the maximum {band.max}, because atom "
                       f"{int(context.atom_ids[heavy])} alone holds {int(context.households[heavy])}{extra}",
                       g, box, (int(context.atom_ids[heavy]),))
    if status == "under" and total < band.min:
        return Problem("island_under_min", "warning",
                       f"grid {g} holds {h} households, under the minimum {band.min}, but the connected area it "
                       f"lies in holds only {total}", g, box)
    side = f"under the minimum {band.min}" if status == "under" else f"over the maximum {band.max}"
    if not len(band.feasible_counts(total)):
        return Problem("band_infeasible", "warning",
                       f"grid {g} holds {h} households, {side}; the connected area it lies in holds {total}, which "
                       f"cannot be split into grids of {band.min}-{band.max}", g, box)
    code = "grid_over_max" if status == "over" else "grid_under_min"
    if g in pardoned:
        return Problem(code, "warning", f"grid {g} holds {h} households, {side} (excused)", g, box)
    return Problem(code, "error", f"grid {g} holds {h} households, {side}", g, box)


def _shape_problems(f: _Figures, c: int, th: Thresholds) -> list[Problem]:
    """Warnings on a grid's shape: ragged outline, boundary off roads and rivers."""
    g, box, out = int(f.uniques[c]), f.boxes[c], []
    if f.pp[c] < th.min_polsby_popper:
        out.append(Problem("low_compactness", "warning", f"grid {g} is elongated or ragged: Polsby-Popper "
                           f"{f.pp[c]:.2f}, under {th.min_polsby_popper:g}", g, box))
    if f.share[c] < th.min_barrier_share:
        out.append(Problem("low_barrier_share", "warning",
                           f"only {f.share[c]:.0%} of grid {g}'s boundary with other grids follows roads, rivers "
                           f"or walls (under {th.min_barrier_share:.0%})", g, box))
    return out


__all__ = ["GRID_COLUMNS", "LiveChecks", "Problem", "Thresholds", "live_checks"]
