"""Quick timing of ``gis.partition.divide`` on synthetic communities (not a timed test).

Run: ``.venv/bin/python benchmarks/partition_speed.py``. Prints seconds per run and the score.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "unit"))

from atomfixtures import box_atoms  # noqa: E402

from gis.partition import Band, PartitionSettings, divide  # noqa: E402
from gis.quality import division_quality  # noqa: E402


def synthetic(nrows: int, ncols: int, households: int, seed: int):
    """A box-grid community with roads every 5 columns and 6 rows and uneven households."""
    rng = np.random.default_rng(seed)
    weights = rng.gamma(0.8, 1.0, nrows * ncols)
    hh = np.floor(weights / weights.sum() * households).astype(int)
    hh[: households - hh.sum()] += 1
    return box_atoms(nrows, ncols, hh, cell=40.0,
                     barriers=lambda p, q: (p[1] % 5 == 4 and q[1] % 5 == 0) or (p[0] % 6 == 5 and q[0] % 6 == 0))


def main() -> None:
    for households in (5_000, 20_000):
        atoms, edges = synthetic(40, 50, households, seed=1)
        settings = PartitionSettings(band=Band.urban(), seed=0)
        divide(atoms, edges, settings)  # warm-up (imports, METIS library load)
        t0 = time.perf_counter()
        division = divide(atoms, edges, settings)
        seconds = time.perf_counter() - t0
        q = division_quality(atoms, edges, division.labels, settings.band)
        print(f"{len(atoms)} atoms, {households} households: {seconds:.2f} s, {q['n_grids']} grids, "
              f"in band {q['share_in_band']:.0%}, barrier share {q['barrier_share']:.0%}, "
              f"mean Polsby-Popper {q['mean_pp']:.2f}")


if __name__ == "__main__":
    main()
