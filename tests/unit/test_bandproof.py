"""Proofs that a grid cannot be in the household band (gis.bandproof): 白塔村's numbers, and no proof where
some split might fit."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
from shapely.geometry import box

from gis.bandproof import CountProof, prove_counts, prove_out_of_band
from gis.edits import Assignment, EditContext
from gis.partition import Band

RURAL = Band(200, 400, 300)


def test_baita_village_cannot_be_split_into_the_band():
    # 白塔村: 419 households in atoms of 197, 135, 44 and 43: one grid is over 400; two need 200-219 in one.
    proof = prove_counts([197, 135, 44, 43, 0], RURAL)
    assert proof == (CountProof(1, None, None), CountProof(2, (200, 219), (197, 222)), CountProof(3, None, None))


def test_no_proof_when_some_set_of_atoms_fits():
    assert prove_counts([100, 97, 120, 102], RURAL) is None  # 100 + 102 = 202 fits the window 200-219
    assert prove_counts([250, 250], RURAL) is None


def test_a_grid_of_a_community_is_proved_only_when_out_of_band():
    households = [0, 135, 0, 0, 197, 0, 44, 43, 0]
    atoms = gpd.GeoDataFrame({"atom_id": range(9), "households": households, "population": [h * 3 for h in households],
                              "kind": "block", "site": None, "compound": None},
                             geometry=[box(x, -y, x + 1, -y + 1) for y in range(3) for x in range(3)], crs=3857)
    edges = pd.DataFrame([(a, b, 1.0, 0.0) for a, b in [(0, 1), (0, 3), (1, 2), (1, 4), (2, 5), (3, 4), (3, 6),
                                                         (4, 5), (4, 7), (5, 8), (6, 7), (7, 8)]],
                         columns=["a", "b", "length", "barrier_length"])
    context = EditContext.build(atoms, edges)
    labels = Assignment([0, 0, 0, 0, 1, 0, 0, 0, 0])
    proof = prove_out_of_band(context, labels, RURAL, 1)
    assert proof is not None and proof.households == 197 and proof.stretch_households == 419
    assert prove_out_of_band(context, labels, RURAL, 0) is None  # 222: in the band
    assert prove_out_of_band(context, labels, RURAL, 1, exclusive=[1]) is None  # exclusive grids have no band
