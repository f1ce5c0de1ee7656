"""Proofs that a grid cannot be brought into the household band, whatever the division.

The rules ask for 300-500 households per grid *in principle* (Jiangsu art. 6). Where atoms are coarse
(a village of a few large courtyards), no division reaches the band: 白塔村 holds 419 households, so
one grid is over 400, and two grids need one of them to hold 200-219, which no set of its atoms
holds (the closest are 197 and 222). The county may then file the grid with a written reason, and
the reviewer needs to see why the band is out of reach. This module gives that proof.

The proof relaxes the problem: grids need not be contiguous. If even then no split of the connected
stretch the grid lies in (comprehensive atoms between exclusive grids, over-max atoms and the edge,
as :func:`gis.checks.live_checks` counts them) has every grid in the band, no real division has.
For each number of grids ``k`` the stretch's total allows, one grid must hold a subset sum ``s`` of
the atoms' households in ``[min, max]`` with the rest ``total - s`` in ``[(k-1)·min, (k-1)·max]``;
subset sums are a bitset, so a stretch of thousands of households takes microseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gis.edits import Assignment, EditContext
from gis.errors import InputError
from gis.partition import Band


@dataclass(frozen=True)
class CountProof:
    """Why ``k`` grids cannot all be in the band."""

    k: int
    #: households one grid would need for the rest to fit (None when the totals alone rule ``k`` out)
    need: tuple[int, int] | None
    #: the closest households a set of atoms holds below and above ``need`` (None where there is none)
    nearest: tuple[int | None, int | None] | None


@dataclass(frozen=True)
class BandProof:
    """The band is out of reach for a grid: the stretch it lies in and, per number of grids, why."""

    grid: int
    households: int
    stretch_households: int
    stretch_atoms: int
    band: tuple[int, int]
    counts: tuple[CountProof, ...]

    def to_dict(self) -> dict:
        """JSON-ready."""
        return asdict(self)


def _subset_sums(households: Iterable[int]) -> int:
    """Bit ``s`` is set when some set of the atoms holds exactly ``s`` households."""
    bits = 1
    for h in households:
        bits |= bits << int(h)
    return bits


def _nearest(bits: int, lo: int, hi: int, total: int) -> tuple[int | None, int | None]:
    below = next((s for s in range(lo - 1, -1, -1) if bits >> s & 1), None)
    above = next((s for s in range(hi + 1, total + 1) if bits >> s & 1), None)
    return below, above


def prove_counts(households: Iterable[int], band: Band) -> tuple[CountProof, ...] | None:
    """Why no split of atoms holding ``households`` has every grid in ``band``; None when one may exist.

    Parameters
    ----------
    households
        Households of each atom of the stretch (whole numbers ≥ 0).
    band
        The band every grid should be in.

    Returns
    -------
    tuple of CountProof or None
        One entry per number of grids from 1 to ``ceil(total / min)``, or None when some number of
        grids passes the relaxed test (the band may be reachable: no proof).
    """
    values = [int(h) for h in households]
    if any(h < 0 for h in values):
        raise InputError("households must not be negative", field="households")
    total = sum(values)
    bits = _subset_sums(values)
    proofs = []
    for k in range(1, max(1, -(-total // band.min)) + 1):
        if not k * band.min <= total <= k * band.max:
            proofs.append(CountProof(k, None, None))
            continue
        lo, hi = max(band.min, total - (k - 1) * band.max), min(band.max, total - (k - 1) * band.min)
        window = ((1 << (hi - lo + 1)) - 1) << lo if hi >= lo else 0
        if bits & window:
            return None  # some set of atoms fits: the relaxation cannot rule k out
        proofs.append(CountProof(k, (lo, hi), _nearest(bits, lo, hi, total)))
    return tuple(proofs)


def prove_out_of_band(context: EditContext, labels: Assignment, band: Band, grid: int,
                      exclusive: Iterable[int] = ()) -> BandProof | None:
    """A proof that comprehensive grid ``grid`` cannot be in the band, or None when there is none.

    Parameters
    ----------
    context, labels
        The community and its assignment.
    band
        The band of comprehensive grids.
    grid
        Label of an out-of-band comprehensive grid.
    exclusive
        Labels of exclusive grids: their atoms cut stretches, as in :func:`gis.checks.live_checks`.

    Returns
    -------
    BandProof or None
        None when the grid is in the band, exclusive, absent, or the band may be reachable.
    """
    lab = np.asarray(labels.labels, dtype=np.int64)
    members = np.flatnonzero(lab == grid)
    excluded = set(int(x) for x in exclusive)
    if not len(members) or grid in excluded:
        return None
    households = int(context.households[members].sum())
    if band.contains(households):
        return None
    banded = (lab >= 0) & ~np.isin(lab, list(excluded)) & (context.households <= band.max)
    a, b = np.asarray(context.edge_a), np.asarray(context.edge_b)
    keep = banded[a] & banded[b]
    graph = coo_matrix((np.ones(int(keep.sum())), (a[keep], b[keep])), shape=(context.n, context.n))
    _, component = connected_components(graph, directed=False)
    seed = next((int(x) for x in members if banded[x]), None)
    if seed is None:  # every atom of the grid alone holds more than the maximum: the checks say so already
        return None
    stretch = np.flatnonzero(banded & (component == component[seed]))
    counts = prove_counts(context.households[stretch], band)
    if counts is None:
        return None
    return BandProof(int(grid), households, int(context.households[stretch].sum()), len(stretch),
                     (band.min, band.max), counts)
