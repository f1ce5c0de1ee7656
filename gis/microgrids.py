"""Micro-grids (微网格): each grid's building parcels divided into groups of 30-100 households.

The same engine as :func:`gis.partition.divide` runs on the parcels of each grid separately, so a
micro-grid never crosses its grid's boundary. Parcels without households (empty land, sheds) are
joined to a neighbouring micro-grid: a micro-grid with no households exists only when its whole grid
has none.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.errors import InputError
from gis.graph import AtomGraph, align_labels, build_graph, contract, merge_empty, subgraph
from gis.partition import Band, Finding, Grid, PartitionSettings, divide_graph

log = logging.getLogger(__name__)

#: METIS starts per grid. A grid holds a dozen parcels or so, whose starts mostly coincide; the
#: partition's default (8, and 4x as many while the band is missed, which a dozen parcels often
#: cannot meet) tripled the time of the whole file run for no micro-grid more in band.
MICRO_RESTARTS = 2


def _absorb_empty(sub: AtomGraph, grids: list[Grid], geoms: np.ndarray, grid_label: object,
                  findings: list[Finding]) -> list[Grid]:
    """Join micro-grids without households to a neighbour (or, if cut off, to the nearest one)."""
    while True:
        empty = [i for i, g in enumerate(grids) if int(sub.households[g.members].sum()) == 0]
        if not empty or len(grids) == 1:
            return grids
        i = empty[0]
        owner = {p: j for j, g in enumerate(grids) for p in g.members}
        shared: dict[int, float] = {}
        for p in grids[i].members:
            for y, length_m in zip(sub.nbrs[p], sub.lengths[p], strict=True):
                j = owner[y]
                if j != i:
                    shared[j] = shared.get(j, 0.0) + length_m
        if shared:
            target = max(sorted(shared), key=lambda j: shared[j])
        else:
            # Cut off from every other parcel of the grid: the nearest micro-grid takes it, which leaves
            # that micro-grid in two pieces; say so rather than keep an empty micro-grid.
            piece = shapely.union_all(geoms[grids[i].members])
            dist = {j: float(shapely.distance(piece, shapely.union_all(geoms[g.members])))
                    for j, g in enumerate(grids) if j != i}
            target = min(sorted(dist), key=lambda j: dist[j])
            findings.append(Finding(
                "empty_piece_joined", "warning",
                f"parcels {', '.join(str(int(sub.ids[p])) for p in grids[i].members[:8])} of grid {grid_label} "
                "hold no households and touch no other parcel of the grid: joined to the nearest micro-grid, "
                "which is therefore in two pieces",
                tuple(int(sub.ids[p]) for p in grids[i].members), grid_label))
        grids[target] = Grid(sorted(grids[target].members + grids[i].members))
        del grids[i]


def _divide_merged(sub: AtomGraph, settings: PartitionSettings) -> tuple[list[Grid], list[Finding]]:
    """Divide one grid's parcels with every parcel of 0 households merged into a neighbour first.

    An empty parcel (a shed, a yard, a strip of land) changes no count, so it only slows the search
    and, cut off by itself, would be reported as an "island": merged into the neighbour it shares
    the longest boundary with, it goes wherever that neighbour goes and nobody hears of it.
    """
    merged, held = contract(sub, merge_empty(sub))
    n = merged.n
    grids, found = divide_graph(merged, settings, sites=[None] * n, site_keys=[None] * n, compounds=[None] * n,
                                units=None, locked=None, noun="parcel")
    for grid in grids:
        grid.members = sorted(p for c in grid.members for p in held[c])
    return grids, found


def divide_micro(parcels: gpd.GeoDataFrame, parcel_edges: pd.DataFrame, grid_labels_by_parcel: pd.Series,
                 band: Band | None = None, seed: int = 0) -> pd.Series:
    """Divide every grid's parcels into micro-grids.

    Parameters
    ----------
    parcels
        Building parcels in a projected metric CRS: ``parcel_id`` (unique int), ``households``,
        optional ``population``, geometry. Not modified.
    parcel_edges
        Adjacent parcel pairs: ``a``, ``b`` (parcel ids), ``length`` and ``barrier_length`` (metres).
    grid_labels_by_parcel
        ``parcel_id -> grid label`` for every parcel (usually the label of the parcel's atom).
    band
        Micro-grid band; :meth:`Band.micro` (30-100, target 60) when None.
    seed
        Seed of the engine.

    Returns
    -------
    pandas.Series
        ``parcel_id -> micro-grid label``: integers 0..M-1, numbered grid by grid (in sorted grid
        label order), so the micro-grids of one grid are consecutive. ``attrs['grid']`` maps each
        micro label to its grid label; ``attrs['findings']`` lists the :class:`~gis.partition.Finding`
        objects (oversized parcels, islands, infeasible bands, empty pieces joined).
    """
    band = band or Band.micro()
    if not isinstance(band, Band):
        raise InputError(f"band must be a Band, got {band!r}", field="band")
    # The widened pair polish (pair_zone) made villages' micro-grids 0.03 s -> 0.23 s: their grids hold
    # hundreds of parcels; micro-grids are a building or a courtyard, and their roundness is not what they
    # are judged by.
    settings = PartitionSettings(band=band, seed=seed, exclusive_sites=False, restarts=MICRO_RESTARTS,
                                 pair_zone=0)
    graph = build_graph(parcels, parcel_edges, id_col="parcel_id", what="parcels", edges_what="parcel edges")
    grid_of = align_labels(graph.ids, grid_labels_by_parcel, what="grid_labels_by_parcel")
    geoms = parcels.geometry.to_numpy() if isinstance(parcels, gpd.GeoDataFrame) else None
    by_grid: dict[object, list[int]] = {}
    for p, g in enumerate(grid_of):
        by_grid.setdefault(g, []).append(p)
    out = np.full(graph.n, -1, dtype=np.int64)
    micro_grid: dict[int, object] = {}
    findings: list[Finding] = []
    next_label = 0
    for grid_label in sorted(by_grid, key=lambda x: (str(type(x)), x)):
        members = by_grid[grid_label]
        sub = subgraph(graph, members)
        grids, found = _divide_merged(sub, settings)
        small = int(sub.households.sum()) < band.min
        found = [Finding(f.code, "info" if small or f.code == "atom_over_max" else f.severity,
                         f"micro-grids: {f.message}", f.atom_ids, grid_label) for f in found]
        sub_geoms = geoms[members] if geoms is not None else np.array([shapely.Point()] * sub.n)
        grids = _absorb_empty(sub, grids, sub_geoms, grid_label, found)
        findings.extend(found)
        for grid in sorted(grids, key=lambda g: g.members[0]):
            out[[members[p] for p in grid.members]] = next_label
            micro_grid[next_label] = grid_label
            next_label += 1
    labels = pd.Series(out, index=pd.Index(graph.ids, name="parcel_id"), name="micro_grid")
    labels.attrs["grid"] = micro_grid
    labels.attrs["findings"] = findings
    return labels
