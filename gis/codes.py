"""Grid and micro-grid codes (网格编码).

A grid code is the community's 12-digit statistical division code (统计用区划代码) followed by a
3-digit sequence (Beijing DB11 layout): comprehensive grids 001-899 numbered west→east, north→south,
exclusive grids 901-999. A micro-grid appends 2 digits to its grid's code. A code once used is never
given to a different grid: an adjusted grid that is still mostly the same grid keeps its code, and
new grids take numbers never used before.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.errors import InfeasibleError, InputError

_COMMUNITY = re.compile(r"\d{12}")
_GRID = re.compile(r"\d{15}")

COMPREHENSIVE = range(1, 900)
EXCLUSIVE = range(901, 1000)


def _check_community(code: object) -> str:
    if not isinstance(code, str) or not _COMMUNITY.fullmatch(code):
        raise InputError(f"community code must be 12 digits (统计用区划代码), got {code!r}", field="community_code")
    return code


def _labels_of(grids: gpd.GeoDataFrame) -> list[Hashable]:
    return list(grids["label"]) if "label" in grids.columns else list(grids.index)


def order_grids(grids: gpd.GeoDataFrame) -> list[Hashable]:
    """Grid labels in reading order: rows north→south, west→east within a row.

    Parameters
    ----------
    grids
        Grid polygons (any CRS with x east and y north; projected for a meaningful tolerance) with a
        ``label`` column, or labels as the index.

    Returns
    -------
    list
        Labels in reading order.

    Notes
    -----
    Each grid is placed by its representative point (always inside the polygon). Points whose
    northing lies within half the typical grid size (median square root of grid area) of the first
    point of the current row join that row, so grids of one visual row are not split by small
    north-south offsets.
    """
    labels = _labels_of(grids)
    if not labels:
        return []
    geoms = grids.geometry.to_numpy()
    if shapely.is_missing(geoms).any() or shapely.is_empty(geoms).any():
        i = int(np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))[0])
        raise InputError(f"grid {labels[i]!r} has no geometry", row=i + 1, field="geometry")
    pts = shapely.point_on_surface(geoms)
    x, y = shapely.get_x(pts), shapely.get_y(pts)
    size = float(np.median(np.sqrt(shapely.area(geoms))))
    tol = 0.5 * size if size > 0 else 0.0
    order = sorted(range(len(labels)), key=lambda i: (-y[i], x[i], i))
    rows: list[list[int]] = []
    anchor = math.inf
    for i in order:
        if not rows or anchor - y[i] > tol:
            rows.append([i])
            anchor = y[i]
        else:
            rows[-1].append(i)
    return [labels[i] for row in rows for i in sorted(row, key=lambda i: (x[i], -y[i], i))]


def _sequence(code: object, what: str) -> tuple[str, int]:
    if not isinstance(code, str) or not _GRID.fullmatch(code):
        raise InputError(f"{what} code must be 15 digits (community 12 + sequence 3), got {code!r}", field=what)
    return code[:12], int(code[12:])


def _weights(members: object, households: Mapping[int, int]) -> dict[int, float]:
    """Atom -> households of a previous grid (given as a set of atom ids or a mapping to households)."""
    if isinstance(members, Mapping):
        return {int(a): float(households.get(int(a), h)) for a, h in members.items()}
    return {int(a): float(households.get(int(a), 0)) for a in members}


def _overlaps(old: Mapping[int, float], new: Mapping[int, float]) -> tuple[float, float]:
    """Shares of ``old`` inside ``new`` and of ``new`` inside ``old``, by households, else by atoms."""
    common = old.keys() & new.keys()
    old_total, new_total = sum(old.values()), sum(new.values())
    if old_total > 0 and new_total > 0:
        inter = sum(new[a] for a in common)
        return inter / old_total, inter / new_total
    if not old or not new:
        return 0.0, 0.0
    return len(common) / len(old), len(common) / len(new)


def assign_codes(grids: gpd.GeoDataFrame, community_code: str, *,
                 previous: Mapping[str, Iterable[int] | Mapping[int, int]] | None = None,
                 retired: Iterable[str] = frozenset(), overlap: float = 0.8,
                 labels: pd.Series | None = None, households: pd.Series | Mapping[int, int] | None = None,
                 ) -> pd.Series:
    """15-digit codes for the grids of one community.

    Parameters
    ----------
    grids
        Grid polygons with ``label`` (or labels as index) and ``kind`` (``'exclusive'`` for 专属网格;
        anything else is comprehensive).
    community_code
        12-digit statistical division code of the community.
    previous
        Codes of the previous version: ``code -> atom ids`` (a set) or ``code -> {atom_id: households}``.
        Needs ``labels`` to know which atoms each new grid holds.
    retired
        Codes (15 digits) retired earlier: never given again.
    overlap
        A new grid keeps an old grid's code when each holds at least this share of the other's
        households (of atoms when there are no households); must be in (0.5, 1] so that a match is
        unique.
    labels
        ``atom_id -> grid label`` of the new division.
    households
        ``atom_id -> households`` now (defaults to the households given in ``previous``).

    Returns
    -------
    pandas.Series
        ``label -> code`` in reading order.

    Raises
    ------
    InputError
        Bad community code, malformed previous or retired codes, ``previous`` without ``labels``.
    InfeasibleError
        More than 899 comprehensive or 99 exclusive grids, counting numbers already used.
    """
    community_code = _check_community(community_code)
    if not isinstance(overlap, int | float) or not 0.5 < overlap <= 1:
        raise InputError(f"overlap must be in (0.5, 1], got {overlap!r}", field="overlap")
    previous = dict(previous or {})
    if previous and labels is None:
        raise InputError("previous codes need labels (atom_id -> grid label) to match grids to them",
                         field="labels")
    used: set[int] = set()
    for code in list(retired) + list(previous):
        prefix, seq = _sequence(code, "retired" if code not in previous else "previous")
        if prefix == community_code:
            used.add(seq)
    order = order_grids(grids)
    kinds = dict(zip(_labels_of(grids), grids["kind"] if "kind" in grids.columns else ["comprehensive"] * len(
        grids), strict=True))
    assigned = _matched_codes(previous, community_code, order, kinds, labels, households, overlap) if previous else {}
    for label in order:
        if label in assigned:
            continue
        series = EXCLUSIVE if kinds[label] == "exclusive" else COMPREHENSIVE
        seq = next((s for s in series if s not in used), None)
        if seq is None:
            kind = "exclusive" if series is EXCLUSIVE else "comprehensive"
            raise InfeasibleError(f"no {kind} grid number left in {series.start:03d}-{series.stop - 1:03d} for "
                                  f"community {community_code}: every one is in use or retired")
        used.add(seq)
        assigned[label] = f"{community_code}{seq:03d}"
    return pd.Series([assigned[label] for label in order], index=pd.Index(order, name="label"), name="code")


def _matched_codes(previous: dict, community_code: str, order: list, kinds: dict, labels: pd.Series,
                   households: pd.Series | Mapping[int, int] | None, overlap: float) -> dict[Hashable, str]:
    """New grid label -> previous code, for each grid essentially the same as a previous one (see ``overlap``)."""
    hh_now = {int(a): int(h) for a, h in dict(households if households is not None else {}).items()}
    new_members: dict[Hashable, dict[int, float]] = {}
    for atom_id, label in pd.Series(labels).items():
        new_members.setdefault(label, {})[int(atom_id)] = 0.0
    old_weights = {code: _weights(members, hh_now) for code, members in previous.items()}
    # Households per atom: now if known, else as recorded in previous.
    known = {a: w for members in old_weights.values() for a, w in members.items()}
    for members in new_members.values():
        for a in members:
            members[a] = float(hh_now.get(a, known.get(a, 0.0)))
    assigned: dict[Hashable, str] = {}
    taken: set[str] = set()
    for label in order:
        mine = new_members.get(label, {})
        for code in sorted(previous):
            if code in taken or code[:12] != community_code:
                continue
            if (int(code[12:]) in EXCLUSIVE) != (kinds[label] == "exclusive"):
                continue  # a grid that changed type takes a number of its new series
            a, b = _overlaps(old_weights[code], mine)
            if a >= overlap and b >= overlap:
                assigned[label] = code
                taken.add(code)
                break
    return assigned


def micro_codes(grid_code: str, micro_labels: Sequence[Hashable]) -> pd.Series:
    """17-digit micro-grid codes: the grid code plus a 2-digit sequence 01-99 in the given order.

    Parameters
    ----------
    grid_code
        15-digit code of the grid.
    micro_labels
        Micro-grid labels of that grid, already in the wanted order (e.g. from :func:`order_grids`).

    Returns
    -------
    pandas.Series
        ``micro label -> code``.
    """
    _sequence(grid_code, "grid")
    labels = list(micro_labels)
    if len(set(labels)) != len(labels):
        raise InputError("micro_labels repeat a label", field="micro_labels")
    if len(labels) > 99:
        raise InfeasibleError(f"grid {grid_code} has {len(labels)} micro-grids: at most 99 can be coded")
    return pd.Series([f"{grid_code}{i:02d}" for i in range(1, len(labels) + 1)],
                     index=pd.Index(labels, name="label"), name="code")
