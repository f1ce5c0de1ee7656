"""Box-grid atoms and edges shaped like the output of ``gis.atoms`` (for engine tests).

Cell (row r, column c) of an ``nrows x ncols`` box grid is the square
``[c*cell, (c+1)*cell] x [(nrows-1-r)*cell, (nrows-r)*cell]`` (row 0 is the northernmost) and has
``atom_id = r*ncols + c`` unless cells are dropped, in which case the remaining cells are numbered
0..n-1 in the same row-major order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box

CRS = "EPSG:4547"  # CGCS2000 / 3-degree Gauss-Kruger CM 114E: a projected metric CRS


def box_atoms(nrows: int, ncols: int, households: int | Sequence[int] | np.ndarray = 100, *,
              cell: float = 100.0,
              barriers: Iterable[tuple[int, int]] | Callable[[tuple[int, int], tuple[int, int]], bool] = (),
              sites: Mapping[int, str] | None = None, compounds: Mapping[int, str] | None = None,
              drop: Iterable[int] = (), origin: tuple[float, float] = (500000.0, 2500000.0),
              extra: Mapping[str, Mapping[int, object]] | None = None,
              ) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Atoms and edges of a box grid.

    ``households`` is per cell in row-major order of the full grid (before dropping). ``barriers`` is
    a set of (id, id) pairs of the full grid, or a predicate on ((r1, c1), (r2, c2)), whose shared side
    lies entirely on a road. ``sites``/``compounds``/``extra`` map full-grid ids to values.
    """
    full = nrows * ncols
    hh = np.broadcast_to(np.asarray(households, dtype=np.int64), (full,)) if np.ndim(households) == 0 \
        else np.asarray(households, dtype=np.int64).reshape(full)
    dropped = set(drop)
    keep = [i for i in range(full) if i not in dropped]
    new_id = {old: new for new, old in enumerate(keep)}
    if callable(barriers):
        pred = barriers
    else:
        pairs = {(min(a, b), max(a, b)) for a, b in barriers}

        def pred(p: tuple[int, int], q: tuple[int, int]) -> bool:
            a, b = p[0] * ncols + p[1], q[0] * ncols + q[1]
            return (min(a, b), max(a, b)) in pairs

    x0, y0 = origin
    rows = []
    for old in keep:
        r, c = divmod(old, ncols)
        rows.append({
            "atom_id": new_id[old], "kind": "block", "households": int(hh[old]),
            "population": int(hh[old]) * 3, "n_buildings": 1 if hh[old] else 0,
            "site": (sites or {}).get(old), "compound": (compounds or {}).get(old), "block": new_id[old],
            **{k: v.get(old) for k, v in (extra or {}).items()},
            "geometry": box(x0 + c * cell, y0 + (nrows - 1 - r) * cell, x0 + (c + 1) * cell,
                            y0 + (nrows - r) * cell),
        })
    atoms = gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS)
    erows = []
    for old in keep:
        r, c = divmod(old, ncols)
        for dr, dc in ((0, 1), (1, 0)):
            r2, c2 = r + dr, c + dc
            if r2 >= nrows or c2 >= ncols:
                continue
            other = r2 * ncols + c2
            if other in dropped:
                continue
            on = bool(pred((r, c), (r2, c2)))
            erows.append({"a": new_id[old], "b": new_id[other], "length": cell,
                          "barrier_length": cell if on else 0.0})
    edges = pd.DataFrame(erows, columns=["a", "b", "length", "barrier_length"])
    return atoms, edges


def groups(labels: pd.Series) -> list[set[int]]:
    """The division as a sorted list of atom-id sets (independent of label numbers)."""
    out: dict[int, set[int]] = {}
    for atom_id, label in labels.items():
        out.setdefault(int(label), set()).add(int(atom_id))
    return sorted(out.values(), key=min)


def street_region(seed: int):
    """A 10 x 12 box grid of uneven households (0-39 per atom) with roads every 4 columns and 5 rows,
    as one :class:`gis.partition.Region` in the urban band: what the search tests divide.
    """
    from gis.graph import build_graph
    from gis.partition import Band, Region

    rng = np.random.default_rng(seed)
    atoms, edges = box_atoms(10, 12, rng.integers(0, 40, 120),
                             barriers=lambda p, q: (p[1] % 4 == 3 and q[1] % 4 == 0) or (p[0] % 5 == 4))
    graph = build_graph(atoms, edges, id_col="atom_id", what="atoms", edges_what="edges")
    return Region(graph, range(graph.n), Band.urban(), 1.0, 0.3, 40)
