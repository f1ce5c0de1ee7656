"""Split buildings too big for one grid along their unit entrances (单元).

A building is never split by a grid boundary, with one exception the spec requires: a single
building with more households than the band maximum (a 30-storey tower of 800 households is common)
is split along its units when the data gives their number, otherwise it becomes a grid of its own.
:func:`split_by_units` runs before :func:`gis.atoms.build_atoms`: each unit becomes a footprint of
its own (a "piece"), so the atoms, which never split a footprint, may put the units of one tower in
different grids while every unit stays whole.

How a building is cut: the long axis of its footprint is the longer side of its minimum rotated
rectangle; the footprint's extent along that axis is cut into ``units`` strips of equal width by
lines perpendicular to it, and each unit is the footprint's part in one strip (so L- and U-shaped
buildings work; a U may give a unit in two parts). Real 单元 are laid out along a slab's long side
with equal bays, which is what equal strips model; the data says how many units there are, not
where their walls run. Should a strip hold no part of the footprint (a MultiPolygon whose parts
leave a gap), the cuts are placed at equal shares of the area instead, so no unit is ever empty.

Order and shares (the rule printed in the report): units are numbered 1..n **west to east** when
the long axis runs closer to east-west than to north-south (exactly diagonal counts as east-west),
otherwise **north to south**. Households are spread as evenly as possible, the remainder going one
each to the first units: 801 households in 4 units give 201, 200, 200, 200. Population likewise.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.errors import InputError
from gis.partition import Finding

SOURCE = "buildings"
#: Relative tolerance (of the larger side) under which the two sides of the minimum rotated
#: rectangle count as equal, or the long axis as exactly diagonal; picks a deterministic axis.
_TIE = 1e-9
#: A strip holding less than this share of the footprint's area counts as empty (a MultiPolygon gap
#: or a mere touch along the cut line), and the cuts go to equal shares of the area instead.
_EMPTY_SHARE = 1e-9
#: Bisection steps placing an equal-area cut: 60 halvings leave well under a micrometre.
_BISECT_STEPS = 60


@dataclass(frozen=True)
class UnitSplit:
    """Result of :func:`split_by_units`.

    Attributes
    ----------
    pieces
        The buildings to tessellate, in the input CRS: one row per unsplit building and one per unit
        of a split building, in input order (units in their order), with a fresh RangeIndex. All
        input columns are kept (a unit copies its building's values) except ``households`` and
        ``population``, which are the unit's share, and ``units``, which is 1 for a unit. Added
        columns: ``building`` (the input index label) and ``unit`` (``Int64``: 1..n, ``<NA>`` for
        an unsplit building).
    findings
        One per building over the maximum: ``building_split_by_units`` (``'info'``, or
        ``'warning'`` when a unit alone is still over the maximum) or ``building_over_max_no_units``
        (``'warning'``: no unit count, a single unit or no footprint; it becomes a grid of its own).
    """

    pieces: gpd.GeoDataFrame
    findings: list[Finding]


def split_by_units(buildings: gpd.GeoDataFrame, max_households: int) -> UnitSplit:
    """Cut each building with more than ``max_households`` households into its units (单元).

    Parameters
    ----------
    buildings
        Footprints (Polygon/MultiPolygon) in a projected metric CRS with ``households`` (whole
        ≥ 0), optional ``units`` (number of unit entrances, whole ≥ 1; empty means unknown) and
        optional ``population`` (whole ≥ 0 or empty). Not modified. Buildings carrying an exclusive
        ``site`` kind are never split: an exclusive grid is outside the household band anyway.
    max_households
        The band maximum (households): only buildings over it are split, each into ``units`` pieces
        when ``units ≥ 2``.

    Returns
    -------
    UnitSplit
        The pieces (units tile their building's footprint exactly and their households sum to the
        building's) and a finding per building over the maximum. See the module docstring for the
        cutting, ordering and sharing rules.

    Raises
    ------
    InputError
        Not a GeoDataFrame, a geographic CRS, a bad ``max_households``, ``households`` missing or
        not whole ≥ 0, ``units`` not whole ≥ 1, ``population`` not whole ≥ 0, or the
        input already has a ``building`` or ``unit`` column (naming row and field).
    """
    _check_frame(buildings, max_households)
    households = _counts(buildings, "households", minimum=0, required=True)
    units = _counts(buildings, "units", minimum=1, required=False)
    sites = buildings["site"] if "site" in buildings.columns else pd.Series(None, index=buildings.index)
    geoms = np.asarray(buildings.geometry.values, dtype=object)

    positions: list[int] = []  # input row of each piece
    piece_geoms: list = []
    piece_unit: list = []
    piece_households: list[int] = []
    piece_population: dict[int, list] = {}  # piece number -> split population, for split rows only
    findings: list[Finding] = []
    population = (_counts(buildings, "population", minimum=0, required=False)
                  if "population" in buildings.columns else None)
    # Only the buildings over the maximum are looked at one by one (a handful of towers); the site
    # test, a pandas lookup per row, is asked of them alone.
    over = np.zeros(len(buildings), dtype=bool)
    for i in np.flatnonzero(households > max_households).tolist():
        over[i] = not _has_text(sites.iloc[i])
    for i, label in enumerate(buildings.index):
        h = int(households[i])
        n = units[i]
        cut = None
        if over[i]:
            geom = geoms[i]
            polygonal = geom is not None and not shapely.is_empty(geom) and shapely.get_type_id(geom) in (3, 6)
            if not np.isnan(n) and n >= 2 and polygonal:
                cut = _cut(geom, int(n))
            findings.append(_finding(label, h, max_households, n, cut, polygonal))
        if cut is None:
            positions.append(i)
            piece_geoms.append(geoms[i])
            piece_unit.append(pd.NA)
            piece_households.append(h)
            continue
        shares = _spread(h, len(cut))
        pop = None if population is None or np.isnan(population[i]) else _spread(int(population[i]), len(cut))
        for k, (piece, share) in enumerate(zip(cut, shares, strict=True)):
            if pop is not None:
                piece_population[len(positions)] = pop[k]
            positions.append(i)
            piece_geoms.append(piece)
            piece_unit.append(k + 1)
            piece_households.append(share)

    pieces = _pieces_frame(buildings, positions, piece_geoms, piece_unit, piece_households, piece_population)
    return UnitSplit(pieces, findings)


def _pieces_frame(buildings: gpd.GeoDataFrame, positions: list[int], piece_geoms: list, piece_unit: list,
                  piece_households: list[int], piece_population: dict[int, list]) -> gpd.GeoDataFrame:
    """The rows of ``buildings`` repeated per piece, with each piece's footprint, unit and counts."""
    pieces = buildings.iloc[positions].copy()
    pieces.index = pd.RangeIndex(len(pieces))
    unit = pd.array(piece_unit, dtype="Int64")
    split = ~pd.isna(unit)
    pieces[buildings.geometry.name] = gpd.GeoSeries(piece_geoms, index=pieces.index, crs=buildings.crs)
    if split.any():
        pieces["households"] = np.asarray(piece_households, dtype=np.int64)
        if piece_population:
            column = pieces["population"].astype(object)
            column.iloc[list(piece_population)] = list(piece_population.values())
            pieces["population"] = _like(column, buildings["population"])
        if "units" in pieces.columns:
            column = pieces["units"].astype(object)
            column[np.asarray(split)] = 1
            pieces["units"] = _like(column, buildings["units"])
    pieces["building"] = buildings.index.take(positions)
    pieces["unit"] = unit
    return pieces


def previous_by_piece(previous: Mapping[str, Iterable[Hashable]] | None,
                      pieces: gpd.GeoDataFrame) -> tuple[dict[str, set[int]], pd.Series]:
    """Previous grid codes keyed by building, re-keyed by piece for :func:`gis.codes.assign_codes`.

    Parameters
    ----------
    previous
        ``code -> members`` of the previous version, a member being a building id (a label of the
        frame given to :func:`split_by_units`) or a ``(building id, unit number)`` pair naming one
        unit of a split building. A mapping ``{member: households}`` is read as its keys: the
        households matched on are today's.
    pieces
        :attr:`UnitSplit.pieces` (its ``building``, ``unit`` and ``households`` columns).

    Returns
    -------
    previous
        ``code -> piece ids``; members no longer present drop out.
    households
        Households per piece id to match grids on (``households`` of :func:`gis.codes.assign_codes`):
        a piece's households, except 0 for the units of a building now split that the previous
        version lists whole. Where those units went before is unknown (a stored grid holds a
        building by its representative point), so counting them all in one old grid would make
        both new grids sharing the tower look changed; weighing them 0 on both sides matches those
        grids on their other buildings. Naming units as ``(building, unit)`` pairs (see
        :func:`previous_members`) keeps their weight.
    """
    households = pd.Series(pieces["households"].to_numpy(dtype=np.int64), index=pieces.index, name="households")
    if not previous:
        return {}, households
    ids = pd.Series(pieces.index, index=pd.Index(pieces["building"]))
    of_building = {b: [int(p) for p in group] for b, group in ids.groupby(level=0, sort=False)}
    unit_numbers = pieces["unit"].to_numpy()
    of_unit = {(b, int(u)): int(p) for p, b, u in zip(pieces.index, pieces["building"], unit_numbers, strict=True)
               if not pd.isna(u)}
    split = set(pieces.loc[pieces["unit"].notna(), "building"])
    ambiguous: set[int] = set()
    result: dict[str, set[int]] = {}
    for code, members in previous.items():
        mine: set[int] = set()
        for member in members:
            if member in of_building:
                mine.update(of_building[member])
                if member in split:
                    ambiguous.update(of_building[member])
            elif isinstance(member, tuple) and len(member) == 2:
                if member in of_unit:
                    mine.add(of_unit[member])
                elif member[0] in of_building and member[0] not in split:
                    # A unit of a building not split now (a lower count or a higher maximum):
                    # the old grid held at least part of it, so it holds the building.
                    mine.update(of_building[member[0]])
        result[code] = mine
    households.loc[sorted(ambiguous)] = 0
    return result, households


def previous_members(buildings: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, max_households: int, *,
                     code: str = "code") -> dict[str, set[Hashable]]:
    """What each stored grid holds, units of split buildings named one by one, for :func:`previous_by_piece`.

    Parameters
    ----------
    buildings
        As for :func:`split_by_units`, in the CRS of ``grids``.
    grids
        The previous version's grids: polygons with a ``code`` column.
    max_households
        Band maximum of the new division: the buildings it splits are split here the same way.
    code
        Name of the code column of ``grids``.

    Returns
    -------
    dict
        ``code -> members``: building ids, and ``(building id, unit)`` pairs for the units of a
        building over ``max_households``, each in the grid holding its representative point (a
        point on its surface). Unlike a whole building's point, a unit's point tells which of the
        grids sharing a tower held it, so both keep their codes.
    """
    pieces = split_by_units(buildings, max_households).pieces
    points = shapely.point_on_surface(np.asarray(pieces.geometry.values, dtype=object))
    shapes = np.asarray(grids.geometry.values, dtype=object)
    inside, grid = shapely.STRtree(shapes).query(points, predicate="within")
    result: dict[str, set[Hashable]] = {}
    labels, units = pieces["building"].to_numpy(dtype=object), pieces["unit"].to_numpy()
    codes = grids[code].to_numpy(dtype=object)
    for p, g in zip(inside.tolist(), grid.tolist(), strict=True):
        member = labels[p] if pd.isna(units[p]) else (labels[p], int(units[p]))
        result.setdefault(codes[g], set()).add(member)
    return result


# --------------------------------------------------------------------------- validation


def _check_frame(buildings: gpd.GeoDataFrame, max_households: int) -> None:
    if not isinstance(buildings, gpd.GeoDataFrame):
        raise InputError(f"buildings must be a GeoDataFrame, got {type(buildings).__name__}", source=SOURCE)
    if not isinstance(max_households, int | np.integer) or isinstance(max_households, bool) or max_households < 1:
        raise InputError(f"max_households must be a whole number >= 1, got {max_households!r}",
                         field="max_households")
    if buildings.crs is not None and not buildings.crs.is_projected:
        raise InputError(f"buildings are in {buildings.crs.to_string()}, a geographic CRS: reproject them to a "
                         "projected metric CRS first (units are cut in metres)", source=SOURCE)
    for column in ("building", "unit"):
        if column in buildings.columns:
            raise InputError(f"column '{column}' is reserved for the unit split; rename it", source=SOURCE,
                             field=column)
    if not buildings.index.is_unique:
        dup = buildings.index[buildings.index.duplicated()][0]
        raise InputError(f"the buildings index must be unique (pieces refer to it); {dup!r} repeats",
                         source=SOURCE)


def _counts(frame: pd.DataFrame, column: str, *, minimum: int, required: bool) -> np.ndarray:
    """Whole numbers ≥ ``minimum`` as floats, NaN where empty (only allowed when not ``required``)."""
    if column not in frame.columns:
        if required:
            raise InputError(f"column '{column}' is missing", source=SOURCE, field=column)
        return np.full(len(frame), np.nan)
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values) | (values < minimum) | (values != np.round(values))
    if not required:
        bad &= ~raw.isna().to_numpy()  # empty means unknown; only text like 'x' coerces to NaN too
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{column} must be a whole number >= {minimum}{'' if required else ' or empty'}, "
                         f"got {raw.iloc[i]!r}", source=SOURCE, row=i + 1, field=column)
    return values


def _has_text(value: object) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value)) and value is not pd.NA \
        and str(value) != ""


def _like(column: pd.Series, original: pd.Series) -> pd.Series:
    """``column`` back in the dtype of ``original`` when it fits (integers stay integers)."""
    try:
        return column.astype(original.dtype)
    except (TypeError, ValueError):
        return pd.to_numeric(column)


# --------------------------------------------------------------------------- cutting


def _spread(total: int, n: int) -> list[int]:
    """``total`` in ``n`` whole shares as even as possible, the remainder one each to the first."""
    if n == 0:
        return []
    base, extra = divmod(total, n)
    return [base + 1] * extra + [base] * (n - extra)


def _axis(footprint) -> tuple[np.ndarray, np.ndarray] | None:
    """Unit vector of the long axis, pointing east (or south), and its normal; None if degenerate.

    The minimum rotated rectangle is found here by rotating calipers over the convex hull's edges
    (one side of it always lies along a hull edge) rather than with ``shapely.minimum_rotated_rectangle``,
    whose GEOS implementation can be off by a few microradians: enough to tilt the cuts of a rotated
    tower and make its units unequal by 1e-7 of their area.
    """
    hull = shapely.convex_hull(footprint)
    if shapely.get_type_id(hull) != 3:
        return None
    xy = shapely.get_coordinates(hull)
    xy = xy - xy[0]
    edges = np.diff(xy, axis=0)
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    edges = edges[lengths > 0] / lengths[lengths > 0, None]
    normals = np.column_stack([-edges[:, 1], edges[:, 0]])
    along = np.ptp(xy @ edges.T, axis=0)
    across = np.ptp(xy @ normals.T, axis=0)
    area = along * across
    if area.min() <= 0:
        return None
    # Among rectangles of equal area (a square, or a symmetric hull) take the one whose long side
    # runs closest to east-west, so that the choice does not depend on where the ring starts.
    candidates = np.flatnonzero(area <= area.min() * (1 + _TIE))
    sides = [edges[c] if along[c] >= across[c] else normals[c] for c in candidates]
    ties = [abs(along[c] - across[c]) <= _TIE * max(along[c], across[c]) for c in candidates]
    for k, tie in enumerate(ties):
        if tie:  # a square: either side is the long one
            sides[k] = max((edges[candidates[k]], normals[candidates[k]]), key=lambda d: abs(d[0]))
    u = max(sides, key=lambda d: abs(d[0]))
    if abs(u[0]) >= abs(u[1]) - _TIE:
        u = u if u[0] > 0 else -u  # west to east
    else:
        u = u if u[1] < 0 else -u  # north to south
    return u, np.array([-u[1], u[0]])


def _strip(origin: np.ndarray, u: np.ndarray, v: np.ndarray, t0: float, t1: float, s0: float,
           s1: float) -> shapely.Polygon:
    corners = [origin + t * u + s * v for t, s in ((t0, s0), (t1, s0), (t1, s1), (t0, s1))]
    return shapely.Polygon(corners)


def _polygonal(geom):
    """The polygonal part of an intersection (which may carry stray lines or points along a cut)."""
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    polys = [p for p in shapely.get_parts(geom) if shapely.get_type_id(p) in (3, 6)]
    return shapely.union_all(polys) if polys else shapely.Polygon()


def _cut(footprint, n: int) -> list | None:
    """The ``n`` pieces of ``footprint`` across its long axis, in unit order; None if it cannot be cut."""
    if not shapely.is_valid(footprint):
        footprint = _polygonal(shapely.make_valid(footprint))
    axis = _axis(footprint)
    if axis is None:
        return None
    u, v = axis
    xy = shapely.get_coordinates(footprint)
    # Project relative to a corner of the footprint: coordinates of 10⁵-10⁶ m would cost digits.
    origin = xy.min(axis=0)
    t, s = (xy - origin) @ u, (xy - origin) @ v
    # Strips reach well past the footprint sideways and at both ends, so that every point of it
    # falls in a strip whatever the rounding of the projections.
    pad = 1.0 + float(t.max() - t.min() + s.max() - s.min())
    s0, s1 = float(s.min()) - pad, float(s.max()) + pad
    cuts = np.linspace(t.min(), t.max(), n + 1)
    frame = (origin, u, v, s0, s1, pad)
    pieces = _pieces(footprint, frame, cuts)
    area = shapely.area(footprint)
    if min(shapely.area(pieces)) <= _EMPTY_SHARE * area:
        cuts = _area_cuts(footprint, frame, float(t.min()), float(t.max()), n)
        pieces = _pieces(footprint, frame, cuts)
        if min(shapely.area(pieces)) <= _EMPTY_SHARE * area:
            return None
    return pieces


def _pieces(footprint, frame: tuple, cuts: np.ndarray) -> list:
    origin, u, v, s0, s1, pad = frame
    ends = [float(c) for c in cuts]
    ends[0] -= pad
    ends[-1] += pad
    # Neighbouring strips share the same computed corner coordinates, so they meet exactly and
    # their parts of the footprint tile it.
    strips = [_strip(origin, u, v, a, b, s0, s1) for a, b in zip(ends[:-1], ends[1:], strict=True)]
    return [_polygonal(shapely.intersection(footprint, strip)) for strip in strips]


def _area_cuts(footprint, frame: tuple, t0: float, t1: float, n: int) -> np.ndarray:
    """Cut positions along the axis leaving ``k / n`` of the area before the ``k``-th cut."""
    origin, u, v, s0, s1, pad = frame
    total = shapely.area(footprint)
    cuts = [t0]
    for k in range(1, n):
        lo, hi = cuts[-1], t1
        for _ in range(_BISECT_STEPS):
            mid = (lo + hi) / 2
            before = _strip(origin, u, v, t0 - pad, mid, s0, s1)
            if shapely.area(shapely.intersection(footprint, before)) < k * total / n:
                lo = mid
            else:
                hi = mid
        cuts.append((lo + hi) / 2)
    return np.array([*cuts, t1])


# --------------------------------------------------------------------------- report


def _amounts(shares: list[int]) -> str:
    if len(set(shares)) == 1:
        return str(shares[0])
    return ", ".join(str(s) for s in shares[:-1]) + f" and {shares[-1]}"


def _finding(label, households: int, maximum: int, units: float, cut: list | None, polygonal: bool) -> Finding:
    subject = f"building {label} of {households} households is over the band maximum {maximum}"
    if cut is not None:
        shares = _spread(households, len(cut))
        message = f"{subject}: split into its {len(cut)} units (单元) of {_amounts(shares)} households"
        over = sum(s > maximum for s in shares)
        if not over:
            return Finding("building_split_by_units", "info", message)
        message += (f"; with only {len(cut)} units, {'each' if over == len(cut) else f'{over} of them'} still "
                    f"holds more than {maximum} households and becomes a grid of its own")
        return Finding("building_split_by_units", "warning", message)
    if np.isnan(units):
        why = "has no unit count (单元)"
    elif units < 2:
        why = "has a single unit (单元)"
    elif not polygonal:
        why = f"has no footprint to cut into its {int(units)} units (单元)"
    else:
        why = f"has a degenerate footprint that cannot be cut into its {int(units)} units (单元)"
    return Finding("building_over_max_no_units", "warning", f"{subject} and {why}: it becomes a grid of its own")
