"""Import a hand-drawn division (shapefile, CAD export) by snapping it onto the atoms.

Each atom goes to the drawn grid covering most of its area; an atom no drawn grid touches goes to
the nearest one. The report lists what the drawing did not respect: atoms it cuts through (with their
households, which the drawing left ambiguous) and drawn grids that received no atom at all.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.errors import InputError
from gis.graph import check_crs, unit_ids, whole_column


@dataclass(frozen=True)
class SnapResult:
    """Result of :func:`snap_division`.

    Attributes
    ----------
    labels
        ``atom_id -> drawn grid key`` (the value of ``drawn[key]``) for every atom.
    split_atoms
        Atoms the drawing cuts: atom_id, households, grid (the key they were given), share (of the
        atom's area in that grid, 0-1), others (keys of the other drawn grids holding part of it).
    unmatched_atoms
        Atoms no drawn grid touches, given to the nearest one: atom_id, households, grid, distance_m.
    empty_grids
        Keys of drawn grids that got no atom.
    """

    labels: pd.Series
    split_atoms: pd.DataFrame
    unmatched_atoms: pd.DataFrame
    empty_grids: list[Hashable]

    @property
    def split_households(self) -> int:
        """Households in atoms the drawing cuts through."""
        return int(self.split_atoms["households"].sum())


def snap_division(atoms: gpd.GeoDataFrame, drawn: gpd.GeoDataFrame, *, key: str = "name",
                  split_tolerance: float = 0.02) -> SnapResult:
    """Snap drawn grid polygons onto atoms.

    Parameters
    ----------
    atoms
        Atoms in a projected metric CRS (``atom_id``, ``households``, geometry). Not modified.
    drawn
        Drawn grids, any CRS (reprojected to the atoms' CRS); several polygons with the same key are
        one grid. Not modified.
    key
        Column of ``drawn`` naming each grid.
    split_tolerance
        An atom counts as split when more than this share of its area lies outside its grid;
        below it the difference is digitising slop.

    Returns
    -------
    SnapResult
    """
    check_crs(atoms, "atoms")
    ids = unit_ids(atoms, "atom_id", "atoms")
    households = whole_column(atoms, "households", "atoms")
    if key not in drawn.columns:
        raise InputError(f"drawn grids lack the column '{key}'", source="drawn", field=key)
    if drawn.crs is None:
        raise InputError("drawn grids have no CRS: cannot place them on the atoms", source="drawn")
    if len(drawn) == 0:
        raise InputError("drawn grids are empty", source="drawn")
    if not 0 <= split_tolerance < 0.5:
        raise InputError(f"split_tolerance must be in [0, 0.5), got {split_tolerance!r}", field="split_tolerance")
    names = drawn[key]
    if names.isna().any():
        i = int(np.flatnonzero(names.isna().to_numpy())[0])
        raise InputError(f"drawn grid has no {key}", source="drawn", row=i + 1, field=key)
    shapes = drawn.to_crs(atoms.crs).geometry.to_numpy() if not drawn.crs.equals(atoms.crs) \
        else drawn.geometry.to_numpy()
    # Hand-drawn polygons are often self-intersecting; repair rather than fail (missing ones stay None).
    shapes = shapely.make_valid(shapes)
    keys = names.to_numpy(dtype=object)
    geoms = atoms.geometry.to_numpy()
    area = shapely.area(geoms)
    tree = shapely.STRtree(shapes)
    ai, di = tree.query(geoms, predicate="intersects")
    inter = shapely.area(shapely.intersection(geoms[ai], shapes[di])) if len(ai) else np.zeros(0)
    pieces = pd.DataFrame({"atom": ai, "key": keys[di], "area": inter})
    pieces = pieces[pieces["area"] > 0].groupby(["atom", "key"], sort=True, as_index=False)["area"].sum()
    pieces["share"] = pieces["area"] / area[pieces["atom"].to_numpy()]
    # Largest share wins; ties go to the first key in sorted order, so the result is deterministic.
    pieces = pieces.sort_values(["atom", "share", "key"], ascending=[True, False, True], kind="stable")
    best = pieces.drop_duplicates("atom", keep="first").set_index("atom")
    label = np.empty(len(atoms), dtype=object)
    label[best.index.to_numpy()] = best["key"].to_numpy()
    split_rows = []
    for atom, group in pieces.groupby("atom", sort=True):
        top = group.iloc[0]
        if 1.0 - top["share"] > split_tolerance:
            split_rows.append({"atom_id": int(ids[atom]), "households": int(households[atom]),
                               "grid": top["key"], "share": float(top["share"]),
                               "others": [k for k in group["key"].iloc[1:]]})
    unmatched_rows = []
    missing = np.setdiff1d(np.arange(len(atoms)), best.index.to_numpy())
    if len(missing):
        near_a, near_d = tree.query_nearest(geoms[missing], return_distance=False, all_matches=False)
        for j, d in zip(near_a.tolist(), near_d.tolist(), strict=True):
            atom = int(missing[j])
            label[atom] = keys[d]
            unmatched_rows.append({"atom_id": int(ids[atom]), "households": int(households[atom]),
                                   "grid": keys[d], "distance_m": float(shapely.distance(geoms[atom], shapes[d]))})
    got = set(label.tolist())
    empty = [k for k in pd.unique(keys) if k not in got]
    return SnapResult(
        labels=pd.Series(label, index=pd.Index(ids, name="atom_id"), name="grid"),
        split_atoms=pd.DataFrame(split_rows, columns=["atom_id", "households", "grid", "share", "others"]),
        unmatched_atoms=pd.DataFrame(unmatched_rows, columns=["atom_id", "households", "grid", "distance_m"]),
        empty_grids=empty,
    )
