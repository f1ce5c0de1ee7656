"""The methods compared: wangge's engine and anchor regionalisation / graph-partitioning methods.

Every method takes the same inputs — the atoms of one community (``atom_id``, ``households``,
geometry in metres), their adjacency ``edges`` (``a``, ``b``, ``length``, ``barrier_length``) and the
household :class:`gis.partition.Band` — and returns ``atom_id -> grid label``. The anchors see the
atom graph with households as node weights; none of them knows about exclusive sites, barriers or
compounds except where noted.

* ``wangge``: :func:`gis.partition.divide` with the band (exclusive sites carved out first).
* ``maxp``: spopt ``MaxPHeuristic``, threshold ``band.min`` households, centroid coordinates as the
  attributes (so the heuristic's heterogeneity term favours compact regions).
* ``skater``, ``azp``: spopt ``Skater`` / ``AZP`` with ``k = round(total / band.target)``, centroid
  coordinates as the attributes. Both only know ``k``; Skater's ``floor`` counts observations, not
  households, so it is left unset.
* ``metis``: pymetis ``part_graph(k, adjacency, vweights=households)`` (no edge weights, see
  :func:`run_metis`), ``contig`` on when the graph is connected (METIS rejects it otherwise).
* ``gerrychain``: ``recursive_tree_part`` to ``k`` parts of ``total / k`` households within the
  widest epsilon the band allows (widened when the atoms are too coarse), then a ReCom chain keeping
  the best plan by (share of parts in band, then metres of cut not on barriers).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from functools import partial

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.partition import Band, PartitionSettings, divide

log = logging.getLogger(__name__)

#: ReCom steps of the GerryChain anchor in a full run.
RECOM_STEPS = 200
SEED = 0

Method = Callable[[gpd.GeoDataFrame, pd.DataFrame, Band], pd.Series]


def n_parts(atoms: gpd.GeoDataFrame, band: Band) -> int:
    """Number of grids the k-based anchors are asked for: ``round(total / band.target)``, at least 1."""
    return max(1, round(int(atoms["households"].sum()) / band.target))


def _labels(atoms: gpd.GeoDataFrame, values) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=np.int64), index=pd.Index(atoms["atom_id"].to_numpy(), name="atom_id"),
                     name="grid")


def _positions(atoms: gpd.GeoDataFrame, edges: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Edge endpoints as row positions of ``atoms`` (atom ids need not be 0..n-1)."""
    pos = pd.Series(np.arange(len(atoms)), index=atoms["atom_id"].to_numpy())
    return pos[edges["a"].to_numpy()].to_numpy(), pos[edges["b"].to_numpy()].to_numpy()


def adjacency(atoms: gpd.GeoDataFrame, edges: pd.DataFrame) -> list[list[int]]:
    """Neighbour lists by row position."""
    a, b = _positions(atoms, edges)
    nbrs: list[list[int]] = [[] for _ in range(len(atoms))]
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        nbrs[x].append(y)
        nbrs[y].append(x)
    return nbrs


def _components(nbrs: list[list[int]]) -> int:
    seen = np.zeros(len(nbrs), dtype=bool)
    count = 0
    for s in range(len(nbrs)):
        if seen[s]:
            continue
        count += 1
        stack = [s]
        seen[s] = True
        while stack:
            for y in nbrs[stack.pop()]:
                if not seen[y]:
                    seen[y] = True
                    stack.append(y)
    return count


def _spopt_frame(atoms: gpd.GeoDataFrame, edges: pd.DataFrame):
    """A 0..n-1 indexed frame with standardised centroid coordinates, and the rook-like W of the edges."""
    from libpysal.weights import W

    frame = gpd.GeoDataFrame({"households": atoms["households"].to_numpy(dtype=float)},
                             geometry=atoms.geometry.to_numpy(), crs=atoms.crs)
    cent = atoms.geometry.centroid
    for name, values in (("cx", cent.x.to_numpy()), ("cy", cent.y.to_numpy())):
        # One common scale for x and y keeps distances isotropic.
        frame[name] = values - values.mean()
    scale = float(np.hypot(frame["cx"], frame["cy"]).std()) or 1.0
    frame[["cx", "cy"]] = frame[["cx", "cy"]] / scale
    nbrs = adjacency(atoms, edges)
    w = W({i: nb for i, nb in enumerate(nbrs)}, {i: [1.0] * len(nb) for i, nb in enumerate(nbrs)},
          ids=list(range(len(atoms))), silence_warnings=True)
    return frame, w


# -- the methods ------------------------------------------------------------------------------------

def run_wangge(atoms: gpd.GeoDataFrame, edges: pd.DataFrame, band: Band) -> pd.Series:
    """wangge's engine with default settings."""
    return divide(atoms, edges, PartitionSettings(band=band, seed=SEED)).labels


def run_maxp(atoms: gpd.GeoDataFrame, edges: pd.DataFrame, band: Band) -> pd.Series:
    """spopt MaxPHeuristic: as many regions as possible, each with at least ``band.min`` households."""
    from spopt.region import MaxPHeuristic

    if int(atoms["households"].sum()) < band.min:
        return _labels(atoms, np.zeros(len(atoms)))  # no region can reach the threshold: one grid
    frame, w = _spopt_frame(atoms, edges)
    # MaxPHeuristic draws from numpy's and Python's global generators.
    np.random.seed(SEED)
    random.seed(SEED)
    model = MaxPHeuristic(frame, w, ["cx", "cy"], "households", band.min, top_n=2)
    model.solve()
    return _labels(atoms, _dense(model.labels_))


def run_skater(atoms: gpd.GeoDataFrame, edges: pd.DataFrame, band: Band) -> pd.Series:
    """spopt Skater with ``k`` clusters on centroid coordinates."""
    from spopt.region import Skater

    k = min(n_parts(atoms, band), len(atoms))
    if k == 1:
        return _labels(atoms, np.zeros(len(atoms)))
    frame, w = _spopt_frame(atoms, edges)
    model = Skater(frame, w, ["cx", "cy"], n_clusters=k, islands="increase")
    model.solve()
    return _labels(atoms, _dense(model.labels_))


def run_azp(atoms: gpd.GeoDataFrame, edges: pd.DataFrame, band: Band) -> pd.Series:
    """spopt AZP with ``k`` regions on centroid coordinates."""
    from spopt.region import AZP

    k = min(n_parts(atoms, band), len(atoms))
    if k == 1:
        return _labels(atoms, np.zeros(len(atoms)))
    frame, w = _spopt_frame(atoms, edges)
    model = AZP(frame, w, ["cx", "cy"], n_clusters=k, random_state=SEED)
    model.solve()
    return _labels(atoms, _dense(model.labels_))


def run_metis(atoms: gpd.GeoDataFrame, edges: pd.DataFrame, band: Band) -> pd.Series:
    """pymetis k-way partition balancing households, minimising shared length cut."""
    import pymetis

    k = min(n_parts(atoms, band), len(atoms))
    if k == 1:
        return _labels(atoms, np.zeros(len(atoms)))
    nbrs = adjacency(atoms, edges)
    # No edge weights: with atoms this coarse, METIS weighting cut length over balance leaves parts
    # empty (8 of 17 grids on 320499001001 with shared lengths as weights), which is no fair anchor.
    options = pymetis.Options(seed=SEED, contig=_components(nbrs) == 1)
    _, parts = pymetis.part_graph(k, adjacency=nbrs, vweights=atoms["households"].astype(int).tolist(),
                                  options=options)
    return _labels(atoms, _dense(parts))


def run_gerrychain(atoms: gpd.GeoDataFrame, edges: pd.DataFrame, band: Band, *,
                   steps: int = RECOM_STEPS) -> pd.Series:
    """GerryChain recursive tree partition plus a short ReCom chain keeping the best plan."""
    import networkx as nx
    from gerrychain import Graph, MarkovChain, Partition
    from gerrychain.accept import always_accept
    from gerrychain.constraints import within_percent_of_ideal_population
    from gerrychain.partition import recursive_tree_part
    from gerrychain.proposals import recom
    from gerrychain.tree import bipartition_tree
    from gerrychain.updaters import Tally, cut_edges

    k = min(n_parts(atoms, band), len(atoms))
    if k == 1:
        return _labels(atoms, np.zeros(len(atoms)))
    nxg = nx.Graph()
    hh = atoms["households"].astype(int).to_numpy()
    nxg.add_nodes_from((i, {"households": int(hh[i])}) for i in range(len(atoms)))
    a, b = _positions(atoms, edges)
    off = (edges["length"] - edges["barrier_length"]).clip(lower=0).to_numpy()
    nxg.add_edges_from((int(x), int(y), {"off": float(o)}) for x, y, o in zip(a, b, off, strict=True))
    if not nx.is_connected(nxg):
        # Spanning trees need one component; an anchor that cannot run reports so rather than guessing.
        raise RuntimeError("atom graph is not connected")
    graph = Graph.from_networkx(nxg)
    total = int(hh.sum())
    ideal = total / k
    # Widest balance that keeps every part inside the band; coarse atoms may need more slack.
    epsilon = max(0.01, min(ideal - band.min, band.max - ideal) / ideal)
    rng = random.Random(SEED)
    assignment = None
    for _ in range(6):
        try:
            assignment = recursive_tree_part(graph, range(k), ideal, "households", epsilon,
                                             bipartition_tree_fn=partial(bipartition_tree, max_attempts=2000),
                                             rng=rng)
            break
        except Exception as exc:  # gerrychain raises several kinds when no balanced cut exists
            log.info("gerrychain: no plan within epsilon %.2f (%s); widening", epsilon, type(exc).__name__)
            epsilon *= 1.5
    if assignment is None:
        raise RuntimeError("recursive_tree_part found no plan")
    updaters = {"households": Tally("households", alias="households"), "cut_edges": cut_edges}
    initial = Partition(graph, assignment, updaters)

    off_of = {frozenset((int(x), int(y))): float(o) for x, y, o in zip(a, b, off, strict=True)}

    def key(p: Partition) -> tuple[float, float]:
        inside = np.mean([band.contains(int(v)) for v in p["households"].values()])
        cut_off = sum(off_of[frozenset(e)] for e in p["cut_edges"])
        return (-float(inside), float(cut_off))

    best, best_key = initial, key(initial)
    if steps > 0:
        proposal = partial(recom, pop_col="households", pop_target=ideal, epsilon=epsilon,
                           bipartition_tree_fn=partial(bipartition_tree, max_attempts=2000), rng=rng)
        chain = MarkovChain(proposal, [within_percent_of_ideal_population(initial, epsilon, pop_key="households")],
                            always_accept, initial, total_steps=steps, rng=rng)
        try:
            for p in chain:
                kk = key(p)
                if kk < best_key:
                    best, best_key = p, kk
        except Exception as exc:  # a stuck ReCom step ends the chain; the best plan so far stands
            log.info("gerrychain: chain stopped early (%s)", type(exc).__name__)
    return _labels(atoms, [best.assignment[i] for i in range(len(atoms))])


def _dense(values) -> np.ndarray:
    """Labels renumbered 0..k-1 (spopt may return strings or -1 for unassigned areas)."""
    codes, _ = pd.factorize(pd.Series(np.asarray(values)), sort=True)
    return codes


METHODS: dict[str, Method] = {
    "wangge": run_wangge,
    "maxp": run_maxp,
    "skater": run_skater,
    "azp": run_azp,
    "metis": run_metis,
    "gerrychain": run_gerrychain,
}
