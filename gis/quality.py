"""Checks and scores of a division: household band, contiguity, compactness, boundary-on-barrier.

Works for any assignment of atoms to grids: one made by :func:`gis.partition.divide`, edited by hand,
or a legacy drawing snapped onto the atoms (:func:`gis.snap.snap_division`). Lengths in metres, areas
in square metres: the atoms must be in a projected metric CRS.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.errors import InputError
from gis.graph import align_labels, build_graph, union_cells
from gis.partition import Band


def grid_quality(atoms: gpd.GeoDataFrame, edges: pd.DataFrame, labels: pd.Series, band: Band, *,
                 exclusive: Iterable[Hashable] = ()) -> pd.DataFrame:
    """Per-grid checks and scores.

    Parameters
    ----------
    atoms, edges
        As for :func:`gis.partition.divide` (projected metric CRS).
    labels
        ``atom_id -> grid label`` for every atom (labels may be any hashable values).
    band
        Household band comprehensive grids should meet.
    exclusive
        Labels of exclusive grids (专属网格), which the band does not bind: their ``in_band`` is NA.

    Returns
    -------
    pandas.DataFrame
        Indexed by label (sorted): households, population, in_band (nullable bool), contiguous (one
        connected piece in ``edges``), polsby_popper (``4*pi*A/P**2`` of the grid polygon, 1 for a
        disc), barrier_share (share of the grid's boundary with other grids lying on barriers; NaN
        when it has no such boundary), area_m2, perimeter_m, n_atoms.
    """
    table, _, _ = _grid_table(atoms, edges, labels, band, exclusive)
    return table


def _grid_table(atoms: gpd.GeoDataFrame, edges: pd.DataFrame, labels: pd.Series, band: Band,
                exclusive: Iterable[Hashable]) -> tuple[pd.DataFrame, np.ndarray, list]:
    """The per-grid table plus each grid's boundary-with-other-grids length (m) and its polygon."""
    graph = build_graph(atoms, edges, id_col="atom_id", what="atoms", edges_what="edges")
    lab = align_labels(graph.ids, labels)
    codes, uniques = pd.factorize(pd.Series(lab), sort=True)
    k = len(uniques)
    hh = np.bincount(codes, weights=graph.households, minlength=k).astype(np.int64)
    pop = np.bincount(codes, weights=graph.population, minlength=k).astype(np.int64)
    n_atoms = np.bincount(codes, minlength=k)
    # Contiguity: union-find over edges joining two atoms of the same grid.
    parent = list(range(graph.n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    cut_len = np.zeros(k)
    cut_bar = np.zeros(k)
    for v in range(graph.n):
        gv = codes[v]
        for u, length_m, off_len in zip(graph.nbrs[v], graph.lengths[v], graph.off[v], strict=True):
            if u <= v:
                continue
            gu = codes[u]
            if gu == gv:
                ru, rv = find(u), find(v)
                if ru != rv:
                    parent[ru] = rv
            else:
                for g in (gu, gv):
                    cut_len[g] += length_m
                    cut_bar[g] += length_m - off_len
    roots: list[set[int]] = [set() for _ in range(k)]
    for v in range(graph.n):
        roots[codes[v]].add(find(v))
    geoms = atoms.geometry.to_numpy()
    polys = [union_cells(geoms[codes == g]) for g in range(k)]
    area = shapely.area(polys) if k else np.zeros(0)
    perim = shapely.length(polys) if k else np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        pp = np.where(perim > 0, 4.0 * math.pi * area / perim**2, np.nan)
        share = np.where(cut_len > 0, cut_bar / cut_len, np.nan)
    excl = set(exclusive)
    in_band = pd.array([pd.NA if uniques[g] in excl else band.contains(int(hh[g])) for g in range(k)],
                       dtype="boolean")
    table = pd.DataFrame({
        "households": hh, "population": pop, "in_band": in_band,
        "contiguous": [len(r) == 1 for r in roots], "polsby_popper": pp, "barrier_share": share,
        "area_m2": area, "perimeter_m": perim, "n_atoms": n_atoms,
    }, index=pd.Index(uniques, name="label"))
    return table, np.vstack([cut_len, cut_bar]), polys


def division_quality(atoms: gpd.GeoDataFrame, edges: pd.DataFrame, labels: pd.Series, band: Band, *,
                     exclusive: Iterable[Hashable] = (), grids: gpd.GeoDataFrame | None = None,
                     ) -> dict[str, Any]:
    """Summary of a division.

    Parameters
    ----------
    atoms, edges, labels, band, exclusive
        As for :func:`grid_quality`.
    grids
        Grid polygons to check for gaps and overlaps (e.g. a hand-drawn division). When None the
        union of each grid's atoms is used, which has neither by construction.

    Returns
    -------
    dict
        n_grids, n_atoms, households, share_in_band (over comprehensive grids), min_households,
        max_households, contiguous_share, mean_pp (mean Polsby-Popper), barrier_share (of all
        boundary between grids, by length), cut_length_m, gap_area_m2 (area of the atoms not covered
        by any grid polygon), overlap_area_m2 (area covered by two or more grid polygons).
    """
    per, cuts, polys = _grid_table(atoms, edges, labels, band, exclusive)
    comprehensive = per["in_band"].notna()
    in_band = per.loc[comprehensive, "in_band"].astype(bool)
    # Every boundary between two grids was counted once for each side.
    cut_total = float(cuts[0].sum()) / 2.0
    bar_total = float(cuts[1].sum()) / 2.0
    if grids is not None:
        if grids.crs is None or atoms.crs is None or not grids.crs.equals(atoms.crs):
            raise InputError(f"grid polygons are in {grids.crs}, atoms in {atoms.crs}: reproject them to the "
                             "same projected CRS first", field="crs")
        polys = list(grids.geometry.to_numpy())
    atoms_union = shapely.union_all(atoms.geometry.to_numpy())
    grids_union = shapely.union_all(polys) if polys else shapely.Polygon()
    gap = float(shapely.difference(atoms_union, grids_union).area)
    overlap = float(sum(shapely.area(polys)) - grids_union.area) if polys else 0.0
    hh = per["households"]
    return {
        "n_grids": len(per),
        "n_atoms": len(atoms),
        "households": int(hh.sum()),
        "share_in_band": float(in_band.mean()) if len(in_band) else float("nan"),
        "min_households": int(hh.min()),
        "max_households": int(hh.max()),
        "contiguous_share": float(per["contiguous"].mean()),
        "mean_pp": float(per["polsby_popper"].mean()),
        "barrier_share": bar_total / cut_total if cut_total > 0 else float("nan"),
        "cut_length_m": cut_total,
        # Overlap from summed areas carries floating-point noise; below a square millimetre it is none.
        "gap_area_m2": gap if gap > 1e-6 else 0.0,
        "overlap_area_m2": overlap if overlap > 1e-6 else 0.0,
    }
