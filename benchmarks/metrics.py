"""One scoring function for every method, built on :func:`gis.quality.division_quality`.

Exclusive sites: wangge makes each site (school, hospital, ...) its own exclusive grid, the anchors
know nothing of sites. All methods get the same atoms; a grid made only of site atoms is treated as
exclusive (outside the band) for every method, every other grid counts as comprehensive. So the
in-band share is over the same kind of grids for all, and an anchor that lumps a site into a
residential grid is scored on that grid's households like any other.

The boundary metrics leave out every shared edge of a site atom, for every method: the outline of an
exclusive grid is imposed by the site, not chosen by the partitioner, and counting it would charge
wangge for obeying the rule the anchors ignore. Polsby-Popper is averaged over comprehensive grids.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.partition import Band
from gis.quality import division_quality, grid_quality

#: A building counts as split when more than this share of its footprint (and more than
#: :data:`SPLIT_MIN_M2`) lies in a grid other than the one holding its representative point.
SPLIT_SHARE = 0.01
SPLIT_MIN_M2 = 0.01


def grid_polygons(atoms: gpd.GeoDataFrame, labels: pd.Series) -> gpd.GeoDataFrame:
    """The dissolved polygon of each grid (``label`` column), in the atoms' CRS."""
    lab = labels.reindex(atoms["atom_id"].to_numpy()).to_numpy()
    frame = gpd.GeoDataFrame({"label": lab}, geometry=atoms.geometry.to_numpy(), crs=atoms.crs)
    polys = [shapely.union_all(group.geometry.to_numpy()) for _, group in frame.groupby("label", sort=True)]
    return gpd.GeoDataFrame({"label": sorted(set(lab.tolist()))}, geometry=polys, crs=atoms.crs)


def buildings_split(buildings: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> int:
    """Buildings not wholly in one grid: representative point in no or several grids, or area elsewhere.

    Only the part of a footprint inside the community counts (a footprint may poke past the boundary).
    """
    if buildings.empty:
        return 0
    coverage = shapely.union_all(grids.geometry.to_numpy())
    tree = shapely.STRtree(grids.geometry.to_numpy())
    split = 0
    for geom in buildings.geometry.to_numpy():
        inside = shapely.intersection(geom, coverage)
        point = shapely.point_on_surface(inside) if not inside.is_empty else shapely.point_on_surface(geom)
        homes = tree.query(point, predicate="intersects")
        areas = [shapely.area(shapely.intersection(inside, grids.geometry.iloc[i]))
                 for i in tree.query(inside, predicate="intersects")]
        big = sorted(areas, reverse=True)
        elsewhere = sum(big[1:])
        if len(homes) != 1 or elsewhere > max(SPLIT_MIN_M2, SPLIT_SHARE * shapely.area(inside)):
            split += 1
    return split


def site_atoms(atoms: gpd.GeoDataFrame) -> pd.Series:
    """``atom_id -> bool``: the atom is an exclusive site (non-empty ``site``)."""
    if "site" not in atoms.columns:
        flags = np.zeros(len(atoms), dtype=bool)
    else:
        flags = atoms["site"].notna().to_numpy() & (atoms["site"].astype(object) != "").to_numpy()
    return pd.Series(flags, index=atoms["atom_id"].to_numpy())


def site_only_labels(atoms: gpd.GeoDataFrame, labels: pd.Series) -> set:
    """Labels of grids made only of site atoms (exclusive grids, outside the band)."""
    lab = labels.reindex(atoms["atom_id"].to_numpy()).to_numpy()
    frame = pd.DataFrame({"label": lab, "site": site_atoms(atoms).to_numpy()})
    every = frame.groupby("label")["site"].all()
    return set(every.index[every.to_numpy()].tolist())


def evaluate(atoms: gpd.GeoDataFrame, edges: pd.DataFrame, labels: pd.Series, band: Band,
             buildings: gpd.GeoDataFrame | None = None) -> dict:
    """Scores of one division, the same way for every method.

    Parameters
    ----------
    atoms, edges
        The case's atoms and adjacency (metric CRS).
    labels
        ``atom_id -> grid label`` for every atom.
    band
        Household band of comprehensive grids.
    buildings
        Footprints to check for splits; None skips the check (``buildings_split`` is NaN).

    Returns
    -------
    dict
        n_grids, in_band (share of comprehensive grids in the band), min_hh / max_hh (over
        comprehensive grids; all grids when there are none), violation (households outside the band
        summed over comprehensive grids), contiguous (share of grids in one piece), gap_m2 /
        overlap_m2 (of the dissolved grid polygons against the atoms), buildings_split, mean_pp
        (Polsby-Popper, over comprehensive grids), barrier_share (share of the boundary between grids
        on roads/rivers, site atoms' edges left out), off_barrier_m (metres of that boundary not on
        barriers), n_exclusive.
    """
    grids = grid_polygons(atoms, labels)
    exclusive = site_only_labels(atoms, labels)
    q = division_quality(atoms, edges, labels, band, exclusive=exclusive, grids=grids)
    per_grid = grid_quality(atoms, edges, labels, band, exclusive=exclusive)
    comprehensive = per_grid["in_band"].notna()
    pp = per_grid.loc[comprehensive, "polsby_popper"]
    comp = per_grid.loc[comprehensive, "households"]
    ranged = comp if len(comp) else per_grid["households"]
    site = site_atoms(atoms)
    cut = (labels.reindex(edges["a"].to_numpy()).to_numpy() != labels.reindex(edges["b"].to_numpy()).to_numpy())
    cut &= ~(site.reindex(edges["a"].to_numpy()).to_numpy() | site.reindex(edges["b"].to_numpy()).to_numpy())
    cut_m = float(edges["length"].to_numpy()[cut].sum())
    on_m = float(edges["barrier_length"].to_numpy()[cut].sum())
    return {
        "n_grids": q["n_grids"],
        "n_exclusive": len(exclusive),
        "in_band": q["share_in_band"],
        "min_hh": int(ranged.min()),
        "max_hh": int(ranged.max()),
        "violation": int(sum(band.violation(int(h)) for h in comp)),
        "contiguous": q["contiguous_share"],
        "gap_m2": q["gap_area_m2"],
        "overlap_m2": q["overlap_area_m2"],
        "buildings_split": buildings_split(buildings, grids) if buildings is not None else float("nan"),
        "mean_pp": float(pp.mean()) if len(pp) else q["mean_pp"],
        "barrier_share": on_m / cut_m if cut_m > 0 else float("nan"),
        "off_barrier_m": cut_m - on_m,
    }
